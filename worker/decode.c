#include "decode.h"

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
