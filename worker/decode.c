#include "decode.h"

#include <stdio.h>

#include "command.h"
#include "err.h"

int vg_decode_event(struct vg_msg *m, struct vg_event *ev)
{
    char why[sizeof(m->why.error)];
    enum vg_topic topic = m->kind == VG_MSG_SIGNAL ? VG_TOPIC_HEARTBEATS : VG_TOPIC_EVENTS;
    int rc = vg_envelope_decode(m->rkm->payload, m->rkm->len, topic, ev, &m->body, why,
                                sizeof(why));
    if (rc == 0)
        return 0;
    vg_msg_refuse(m, rc == VG_EPARSE ? "decode" : "validate", "%s", why);
    return VG_EPARSE;
}

int vg_decode_command(struct vg_msg *m, const struct vg_command_trust *trust)
{
    const rd_kafka_message_t *rkm = m->rkm;
    struct vg_command c = {0};
    char err[256];
    int rc;
    if (rkm->err) {
        snprintf(err, sizeof(err), "%s", rd_kafka_message_errstr(rkm));
        rc = VG_EPARSE;
    } else {
        rc = vg_command_parse(rkm->payload, rkm->len, trust, &c, err, sizeof(err));
    }
    if (rc) {
        vg_msg_refuse(m, "command", "%s", err);
        return rc;
    }
    m->body = c.msg; /* the batch owns it from here; the rest points into it */
    return 0;
}
