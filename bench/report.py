#!/usr/bin/env python3
"""bench/report.py FIGURES MODE RUNID RESULTS_DIR COMMIT

Turns the "name value" lines bench/run wrote into bench/results/latest.json
(every figure a number, the targets of issue 7, the ratios and whether each
target is met) and the table bench/results/latest.md, and keeps dated copies
RUNID-MODE.json and RUNID-MODE.md beside them. A piece run alone (bench/run
--only PIECE, MODE the piece's name) writes only its dated copies, with the
figures and targets it measured.
"""
import json
import os
import platform
import sys

# (name, what it checks, ratio or figure, comparison, bound)
TARGETS = [
    ("pipeline_vs_per_event", "pipeline_events_per_s / per_event_baseline_per_s", ">=", 10),
    ("pipeline_vs_copy", "pipeline_events_per_s / copy_ceiling_rows_per_s", ">=", 0.5),
    ("producer_vs_kcat", "producer_events_per_s / kcat_produce_per_s", ">=", 0.7),
    ("segment_vs_producer", "segment_batch_events_per_s / producer_events_per_s", ">=", 0.8),
    ("e2e_p99_ms", "e2e_p99_ms", "<=", 200),
    ("sweep_sessions_per_s", "sweep_sessions_per_s", ">=", 100000),
    ("worker_max_rss_kib", "worker_max_rss_kib", "<=", 64 * 1024),
    ("producer_max_rss_kib", "producer_max_rss_kib", "<=", 128 * 1024),
    ("notifier_deliveries_per_s", "notifier_deliveries_per_s", ">=", 2000),
    # vigil-query (issue 13, bench/query.sh)
    ("query_nocache_vs_pgbench",
     "query_session_reads_per_s_nocache / pgbench_session_selects_per_s", ">=", 0.7),
    ("query_local_vs_pgbench",
     "query_session_reads_per_s_local / pgbench_session_selects_per_s", ">=", 1.5),
    ("query_nocache_p99_ms", "query_session_reads_p99_ms_nocache", "<=", 10),
    ("query_local_p99_ms", "query_session_reads_p99_ms_local", "<=", 10),
    ("query_redis_p99_ms", "query_session_reads_p99_ms_redis", "<=", 10),
    ("receipt_landed_p99_ms", "receipt_landed_p99_ms", "<=", 250),
]

# The figures of the table, in order, with their unit.
ROWS = [
    ("pipeline_events_per_s", "events/s", "Kafka to raw, staging, vault, sessions, offsets (2 workers)"),
    ("copy_ceiling_rows_per_s", "rows/s", "plain COPY into a table shaped like raw.events"),
    ("per_event_baseline_per_s", "events/s", "PL/pgSQL function per event, own transaction"),
    ("producer_events_per_s", "events/s", "HTTP batches of 100, durable acks"),
    ("segment_batch_events_per_s", "events/s", "Segment's POST /v1/batch, batches of 100, gzip, durable acks"),
    ("producer_single_req_per_s", "events/s", "one event per request, keep-alive"),
    ("kcat_produce_per_s", "events/s", "kcat -P, acks=all, same envelopes"),
    ("e2e_p50_ms", "ms", "receipt to commit at 5,000 events/s (worker histogram)"),
    ("e2e_p99_ms", "ms", "receipt to commit at 5,000 events/s (worker histogram)"),
    ("e2e_backlog", "messages", "not yet committed when the 5,000 events/s load stopped"),
    ("e2e_low_p50_ms", "ms", "receipt to commit at 1,000 events/s (below saturation)"),
    ("e2e_low_p99_ms", "ms", "receipt to commit at 1,000 events/s (below saturation)"),
    ("sweep_sessions_per_s", "sessions/s", "timeout_sessions over idle sessions (count: sweep_sessions)"),
    ("heartbeats_per_s", "heartbeats/s", "heartbeat-only pipeline load over 100,000 live sessions"),
    ("producer_heartbeats_per_s", "heartbeats/s", "POST .../heartbeat, one per request, 32 connections"),
    ("worker_max_rss_kib", "KiB", "peak VmHWM of the workers"),
    ("producer_max_rss_kib", "KiB", "peak VmHWM of the producer"),
    ("db_events_before", "events", "already in raw.event_ids when the run began (estimate)"),
    ("notifier_deliveries_per_s", "deliveries/s", "webhooks to a local receiver that answers at once"),
    ("notifier_e2e_p50_ms", "ms", "a session's end to its webhook (summary delay of 2 s included)"),
    ("notifier_e2e_p99_ms", "ms", "a session's end to its webhook (summary delay of 2 s included)"),
    ("query_session_reads_per_s_nocache", "reads/s", "GET /v1/sessions/{id}, cache off, 32 connections"),
    ("query_session_reads_per_s_local", "reads/s", "the same, in-process cache"),
    ("query_session_reads_per_s_redis", "reads/s", "the same, Redis cache alone"),
    ("query_session_reads_p99_ms_nocache", "ms", "p99 of those reads, cache off"),
    ("query_session_reads_p99_ms_local", "ms", "p99, in-process cache"),
    ("query_session_reads_p99_ms_redis", "ms", "p99, Redis"),
    ("pgbench_session_selects_per_s", "selects/s", "pgbench, the same primary-key select, 32 connections"),
    ("receipt_landed_p50_ms", "ms", "producer's 202 to landed:true, at 1,000 events/s"),
    ("receipt_landed_p99_ms", "ms", "producer's 202 to landed:true, at 1,000 events/s"),
]


def num(v):
    try:
        f = float(v)
    except ValueError:
        return None
    return int(f) if f.is_integer() and "." not in v else f


def main():
    fig_path, mode, runid, results, commit = sys.argv[1:6]
    figures = {}
    # A piece run alone (--only=...) updates the figures of the last run.
    latest = os.path.join(results, "latest.json")
    if mode.startswith("only-") and os.path.exists(latest):
        with open(latest) as f:
            figures.update(json.load(f).get("figures", {}))
    for line in open(fig_path):
        name, _, value = line.strip().partition(" ")
        if name:
            figures[name] = num(value)

    def value(expr):
        if "/" in expr:
            a, b = (x.strip() for x in expr.split("/"))
            if figures.get(a) is None or not figures.get(b):
                return None  # a piece run alone, before the other figure's first run
            return round(figures[a] / figures[b], 3)
        return figures.get(expr)

    piece = mode not in ("quick", "full")
    targets = {}
    for name, expr, op, bound in TARGETS:
        v = value(expr)
        if piece and v is None:
            continue
        met = v is not None and (v >= bound if op == ">=" else v <= bound)
        targets[name] = {"value": v, "target": f"{op} {bound}", "bound": bound, "met": met, "of": expr}

    doc = {
        "run": runid,
        "mode": mode,
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "note": "everything co-located"},
        "figures": figures,
        "targets": targets,
    }
    for d in (doc["figures"],):
        for k, v in list(d.items()):
            if v is None:
                d[k] = 0
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"

    md = [f"Run {runid} ({mode}), commit {commit}, {os.cpu_count()} CPUs, everything co-located.", ""]
    md += ["| figure | value | unit | what |", "|---|---:|---|---|"]
    for name, unit, what in ROWS:
        v = figures.get(name)
        if piece and v is None:
            continue
        md.append(f"| `{name}` | {fmt(v)} | {unit} | {what} |")
    md += ["", "| target | value | bound | met |", "|---|---:|---|---|"]
    for name, t in targets.items():
        md.append(f"| `{t['of']}` | {fmt(t['value'])} | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    md.append("")
    table = "\n".join(md)

    for base in ([] if piece else ["latest"]) + [f"{runid}-{mode}"]:
        with open(os.path.join(results, base + ".json"), "w") as f:
            f.write(text)
        with open(os.path.join(results, base + ".md"), "w") as f:
            f.write(table)


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if v >= 10 or v == 0 else f"{v:,.3f}"
    return f"{v:,}"


if __name__ == "__main__":
    main()
