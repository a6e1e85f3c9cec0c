#!/usr/bin/env python3
"""Summarises an in-run A/B of `jit_bench --verbose --other-latch-offsets=...`.

Reads the "Every series" lines of jit_bench's verbose output on stdin and
prints per workload: the median over the default aligned placements ("A"),
over the "/otherlatch" placements ("B": the options --other-* changed), over
the kernel's copies, and the ratios A/B, A/kernel, B/kernel, A/native.
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s+(\S+)\s+(native|jit|kernel|interp)\s+(\S*)\s+([\d.]+) \[")


def main() -> int:
    series: dict[str, dict[str, list[float]]] = {}
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        name, engine, label, ns = m.group(1), m.group(2), m.group(3), float(m.group(4))
        if engine == "interp" or name == "(empty":
            continue
        if engine == "jit":
            group = "B" if label.endswith("/otherlatch") else ("noalign" if "/noalign" in label else "A")
        else:
            group = engine
        series.setdefault(name, {}).setdefault(group, []).append(ns)
    if not series:
        print("ab.py: no series on stdin (run jit_bench with --verbose)", file=sys.stderr)
        return 1
    med = lambda g, s: statistics.median(s[g]) if s.get(g) else float("nan")
    print(f"{'workload':<12} {'A ns':>8} {'B ns':>8} {'kernel':>8} {'A/B':>6} {'A/kern':>7} {'B/kern':>7} {'A/nat':>6}")
    ratios: dict[str, list[float]] = {"A/B": [], "A/kern": [], "B/kern": [], "A/nat": []}
    for name, s in series.items():
        a, b, k, n = med("A", s), med("B", s), med("kernel", s), med("native", s)
        print(f"{name:<12} {a:8.0f} {b:8.0f} {k:8.0f} {a / b:6.3f} {a / k:7.3f} {b / k:7.3f} {a / n:6.2f}")
        for key, v in (("A/B", a / b), ("A/kern", a / k), ("B/kern", b / k), ("A/nat", a / n)):
            if v == v:  # not NaN (the kernel rejects binsearch)
                ratios[key].append(v)
    geo = {k: statistics.geometric_mean(v) if v else float("nan") for k, v in ratios.items()}
    print(f"{'geomean':<12} {'':>8} {'':>8} {'':>8} {geo['A/B']:6.3f} {geo['A/kern']:7.3f} {geo['B/kern']:7.3f} {geo['A/nat']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
