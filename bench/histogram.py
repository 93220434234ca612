#!/usr/bin/env python3
"""bench/histogram.py BEFORE AFTER: p50 and p99 in ms of a Prometheus histogram.

BEFORE and AFTER hold the _bucket lines of vigil_worker_e2e_seconds scraped
from every worker (summed here) before and after a run; the run's own
observations are the difference. Quantiles are interpolated linearly inside
a bucket, as PromQL's histogram_quantile does; a quantile in the +Inf bucket
is reported as the highest finite bound (a lower bound of the truth).
"""
import re
import sys


def load(path):
    acc = {}
    for line in open(path):
        m = re.match(r'.*le="([^"]+)"\} (\d+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            acc[le] = acc.get(le, 0) + int(m.group(2))
    return acc


def quantile(bounds, cum, x):
    total = cum[-1] if cum else 0
    if total == 0:
        return 0.0
    want = x * total
    lo, prev = 0.0, 0
    for le, c in zip(bounds, cum):
        if c >= want:
            if le == float("inf"):
                return lo * 1000
            return (lo + (le - lo) * (want - prev) / max(c - prev, 1)) * 1000
        lo, prev = le, c
    return lo * 1000


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    bounds = sorted(b)
    cum = [b[k] - a.get(k, 0) for k in bounds]
    print("%.1f %.1f" % (quantile(bounds, cum, 0.5), quantile(bounds, cum, 0.99)))


if __name__ == "__main__":
    main()
