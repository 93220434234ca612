/*
 * vigilctl keys new --tenant T: a new tenant key and the line that admits
 * it. The producer stores no keys, only their SHA-256 (producer.tenants,
 * keys_sha256), so the key is printed once here and kept nowhere.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ctl.h"
#include "util.h"

#define KEY_BYTES 32 /* 256 bits of randomness */

static int parse(struct ctl *c, const char **tenant)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    *tenant = NULL;
    if (c->argc < 2 || strcmp(c->argv[1], "new")) {
        fprintf(stderr, "usage: vigilctl keys new --tenant TENANT\n");
        return 2;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(c->argc - 1, c->argv + 1, "", opts, NULL)) != -1) {
        if (ch != 't')
            return 2;
        *tenant = optarg;
    }
    if (optind != c->argc - 1 || !*tenant || !**tenant || strlen(*tenant) > 64 ||
        strpbrk(*tenant, "\"\\ \t\r\n")) {
        fprintf(stderr, "vigilctl keys new: --tenant wants the tenant's id (1 to 64 characters, "
                        "no quotes, backslashes or spaces)\n");
        return 2;
    }
    return 0;
}

int vg_ctl_keys(struct ctl *c)
{
    const char *tenant;
    int rc = parse(c, &tenant);
    if (rc)
        return rc;
    unsigned char raw[KEY_BYTES], digest[VG_SHA256_LEN];
    char key[2 * KEY_BYTES], hex[2 * VG_SHA256_LEN + 1];
    vg_random_bytes(raw, sizeof(raw));
    size_t n = vg_base64url_encode(raw, sizeof(raw), key);
    key[n] = '\0';
    vg_sha256(key, n, digest);
    vg_hex(digest, sizeof(digest), hex);
    if (c->json) {
        vg_ctl_out_set(c, "key", json_pack("{s:s, s:s, s:s}", "tenant", tenant, "key", key,
                                           "sha256", hex));
        return 0;
    }
    printf("tenant:  %s\n"
           "key:     %s\n"
           "         (give it to the tenant; it is shown once and stored nowhere)\n\n"
           "Add its hash to the tenant's keys_sha256 in producer.tenants, then reload the\n"
           "producers (SIGHUP, or a rollout on Kubernetes):\n\n"
           "    {\n"
           "      id = \"%s\";\n"
           "      keys_sha256 = [ \"%s\" ];\n"
           "      ...\n"
           "    }\n\n"
           "(a tenant's existing keys stay valid: append the hash to the list, and remove\n"
           "the old hash once every client uses the new key)\n",
           tenant, key, tenant, hex);
    return 0;
}
