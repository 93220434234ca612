/*
 * reports.c - GET /v1/stats, /v1/status and /v1/receipts/{receipt}.
 */
#include <stdio.h>
#include <string.h>

#include "listener.h"
#include "receipt.h"
#include "routes.h"
#include "sql.h"

/* Answers the single JSON text the statement returns. */
static void answer_json(struct vg_qreq *r, const char *stmt, int n, const char *const *p)
{
    PGresult *res;
    if (vg_qreq_db(r, stmt, n, p, &res))
        return;
    r->reply.status = 200;
    vg_buf_append(&r->reply.body, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
}

void vg_qreport_stats(struct vg_qreq *r)
{
    const char *kind, *from, *to;
    if (vg_qreq_text(r, "kind", 64, 1, &kind) || vg_qreq_time(r, "from", &from) ||
        vg_qreq_time(r, "to", &to))
        return;
    const char *p[4] = {vg_qreq_tenant(r), kind, from, to};
    answer_json(r, VG_SQL_STATS, 4, p);
}

void vg_qreport_status(struct vg_qreq *r)
{
    const char *p[2] = {vg_qreq_tenant(r), r->env->worker_group};
    answer_json(r, VG_SQL_STATUS, 2, p);
}

/*
 * Landed once the listener's snapshot of ops.consumer_offsets has passed
 * every position: no query per waiter, the listener wakes them all.
 */
void vg_qreport_receipt(struct vg_qreq *r)
{
    int64_t wait_ms;
    static _Thread_local struct vg_receipt rc;
    if (vg_qreq_int(r, "wait_ms", 0, 0, r->cfg->query_max_wait_ms, &wait_ms))
        return;
    if (!r->arg_long || vg_receipt_decode(r->arg_long, strlen(r->arg_long), &rc))
        return (void)vg_qreq_error(r, 400, "invalid_parameter", "receipt",
                                   "not a receipt of the producer");
    struct vg_listener *l = r->env->listener;
    if (!vg_listener_ready(l)) {
        vg_qreq_error(r, 503, "database_unavailable", NULL, "the offsets cannot be read now");
        r->reply.retry_after_s = 1;
        return;
    }
    /* Not landed: wait (wait.h) and run again when a commit moves the
     * listener's generation, or at the deadline. */
    int64_t now = vg_mono_ms();
    if (!r->wait_until)
        r->wait_until = now + wait_ms;
    uint64_t gen = vg_listener_generation(l);
    int landed = vg_listener_landed(l, &rc);
    if (!landed && now < r->wait_until && !r->no_wait) {
        r->suspend = 1;
        r->wait_gen = gen;
        r->wake_ms = r->wait_until;
        return;
    }
    r->reply.status = 200;
    vg_buf_printf(&r->reply.body, "{\"landed\":%s}", landed ? "true" : "false");
}
