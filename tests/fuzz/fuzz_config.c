/* libFuzzer target: the configuration loader refuses any bad file with a
 * message, and never crashes or leaks. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/vigil-fuzz-config-%d.conf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct vg_config *cfg = NULL;
    char err[512] = "";
    int rc = vg_config_load(path, &cfg, err, sizeof(err));
    if (rc == 0)
        vg_config_free(cfg);
    else if (!err[0] || cfg)
        __builtin_trap(); /* a refusal names why and returns nothing */
    return 0;
}
