#!/usr/bin/env python3
"""Runs interp_bench with repetitions and prints the Markdown table of
docs/benchmarks.md (medians of the repetitions, CPU time, geomean row).

    bench/report.py BUILD/bench/interp_bench [--repetitions N] [--min-time S]
    bench/report.py --json results.json      # re-render a saved run

Extra arguments after `--` go to interp_bench (e.g. --benchmark_filter=...).
"""
import argparse
import json
import math
import subprocess
import sys


def run_bench(binary, repetitions, min_time, extra):
    cmd = [binary, f"--benchmark_repetitions={repetitions}",
           "--benchmark_report_aggregates_only=true",
           f"--benchmark_min_time={min_time}", "--benchmark_format=json", *extra]
    print("$ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def medians(data):
    """{workload: {mode: (cpu_ns, ns_per_insn, insns)}} from the median rows."""
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        workload, mode = b["run_name"].split("/")
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        rows.setdefault(workload, {})[mode] = (
            b["cpu_time"] * scale, b["per_insn"] * 1e9, b["bpf_insns"])
    return rows


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def table(rows):
    cols = ["workload", "BPF insns/run", "native ns", "verified ns/run", "verified ns/insn",
            "checked ns/run", "checked ns/insn", "verified / native"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    acc = {k: [] for k in ("n", "v", "vi", "c", "ci", "r")}
    for name in sorted(rows):
        r = rows[name]
        n, v, c = r["native"][0], r["verified"][0], r["checked"][0]
        vi, ci, insns = r["verified"][1], r["checked"][1], r["verified"][2]
        for k, x in zip(acc, (n, v, vi, c, ci, v / n)):
            acc[k].append(x)
        lines.append(f"| {name} | {insns:,.0f} | {n:,.0f} | {v:,.0f} | {vi:.2f} | {c:,.0f} | {ci:.2f} "
                     f"| {v / n:.0f}x |")
    g = {k: geomean(x) for k, x in acc.items()}
    lines.append(f"| **geomean** | | {g['n']:,.0f} | {g['v']:,.0f} | **{g['vi']:.2f}** | {g['c']:,.0f} "
                 f"| **{g['ci']:.2f}** | {g['r']:.0f}x |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--json", help="render a saved --benchmark_format=json output instead of running")
    ap.add_argument("--repetitions", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--save", help="also write the raw JSON here")
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.json:
        with open(args.json) as f:
            data = json.load(f)
    elif args.binary:
        data = run_bench(args.binary, args.repetitions, args.min_time, extra)
        if args.save:
            with open(args.save, "w") as f:
                json.dump(data, f, indent=1)
    else:
        ap.error("give the interp_bench binary or --json FILE")
    print(table(medians(data)))


if __name__ == "__main__":
    main()
