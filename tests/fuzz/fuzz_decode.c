/* libFuzzer target: the worker's envelope decoder takes any bytes a topic may hold. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = VG_MSG_EVENT; kind <= VG_MSG_SIGNAL; kind++) {
        rd_kafka_message_t rkm;
        memset(&rkm, 0, sizeof(rkm));
        rkm.payload = (void *)data;
        rkm.len = size;
        struct vg_msg m = {.rkm = &rkm, .kind = (enum vg_msg_kind)kind};
        struct vg_event ev;
        if (vg_decode_event(&m, &ev) == 0) {
            /* What is accepted is whole: the fields the stages read are there. */
            if (!ev.tenant || !ev.event_id || !ev.type || ev.occurred_us == VG_NO_TIME)
                __builtin_trap();
        } else if (!m.refused || !m.why.error[0]) {
            __builtin_trap(); /* a refusal always says why */
        }
        json_decref(m.body);
    }
    return 0;
}
