#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void vg_batch_init(struct vg_batch *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
    b->msgs = vg_xcalloc(cap, sizeof(*b->msgs));
    b->partcap = 16;
    b->parts = vg_xcalloc(b->partcap, sizeof(*b->parts));
}

static struct vg_part *part_for(struct vg_batch *b, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < b->nparts; i++)
        if (b->parts[i].partition == partition && !strcmp(b->parts[i].topic, topic))
            return &b->parts[i];
    if (b->nparts == b->partcap) {
        b->partcap *= 2;
        b->parts = vg_xrealloc(b->parts, b->partcap * sizeof(*b->parts));
    }
    struct vg_part *p = &b->parts[b->nparts++];
    p->topic = topic;
    p->partition = partition;
    p->expected = -1;
    p->first = -1;
    p->next = -1;
    p->high = -1;
    return p;
}

int vg_batch_add(struct vg_batch *b, rd_kafka_message_t *rkm, enum vg_msg_kind kind)
{
    if (b->n == 0)
        b->opened_ms = vg_mono_ms();
    struct vg_msg *m = &b->msgs[b->n++];
    memset(m, 0, sizeof(*m));
    m->rkm = rkm;
    m->kind = kind;
    struct vg_part *p = part_for(b, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    if (p->first < 0 || rkm->offset < p->first)
        p->first = rkm->offset;
    if (rkm->offset + 1 > p->next)
        p->next = rkm->offset + 1;
    return b->n >= b->cap;
}

void vg_batch_clear(struct vg_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->msgs[i].body);
        rd_kafka_message_destroy(b->msgs[i].rkm);
    }
    b->n = 0;
    b->nparts = 0;
}

void vg_batch_free(struct vg_batch *b)
{
    vg_batch_clear(b);
    free(b->msgs);
    free(b->parts);
    memset(b, 0, sizeof(*b));
}

void vg_msg_refuse(struct vg_msg *m, const char *stage, const char *fmt, ...)
{
    va_list ap;
    m->refused = 1;
    m->why.stage = stage;
    va_start(ap, fmt);
    vsnprintf(m->why.error, sizeof(m->why.error), fmt, ap);
    va_end(ap);
}
