"""``make bench``: run every speed benchmark, write ``benchmarks/RESULTS.md`` and the raw samples
as ``benchmarks/results.json``.

Each benchmark runs in its own process with one torch thread unless it measures threads itself;
every ratio in the summary comes from samples of both sides taken by the same benchmark in this
run (interleaved where the benchmark says so). The GPU variant needs an NVIDIA device
(``benchmarks/gpu_check.sh``); without one it is marked not run.

Usage: python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.machine import cpu_model

HERE = Path(__file__).resolve().parent

# (name, script, arguments, writes JSON, what it measures)
BENCHMARKS: list[tuple[str, str, list[str], bool, str]] = [
    ("round", "bench_round.py", [], True, "whole FL round: engine vs per-client loop vs Flower"),
    ("load", "bench_load.py", [], True, "throughput with torch defaults and with the cores busy"),
    ("vec", "bench_vec.py", [], True, "native vector env (B worlds per call) vs one env"),
    ("async", "bench_async.py", [], True, "make_vec async workers vs one env"),
    ("scale", "bench_scale.py", [], True, "steps/s and memory as N and K grow"),
    (
        "world",
        "bench_world.py",
        ["--repeats", "30"],
        True,
        "one world advance at 100-10,000 vehicles",
    ),  # fmt: skip
    ("kernel", "bench_fl.py", [], False, "local-training kernel: batched vs sequential"),
    ("env", "bench_env.py", [], False, "IoV steps/s and where the time goes"),
    ("chain", "bench_chain.py", [], False, "ledger verification and the deep audit"),
    ("committee", "bench_committee.py", [], False, "committee false rejection and acceptance"),
]
QUICK = {"round": ["--ks", "10", "--rounds", "3"], "load": ["--repeats", "1", "--steps", "60"],
         "vec": ["--repeats", "1", "--steps", "3", "--single-steps", "30", "--sizes", "1", "8", "--profile-b", "8"],
         "async": ["--repeats", "1", "--steps", "40"], "scale": ["--steps", "5"],
         "world": ["--repeats", "5"]}  # fmt: skip


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    import numpy
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}  # fmt: skip
    try:
        import flwr

        versions["flwr"] = flwr.__version__
    except ImportError:
        versions["flwr"] = "not installed"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "platform": platform.platform(),
        "versions": versions,
    }


def run(name: str, script: str, args: list[str], wants_json: bool, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / script), *args]
    path = out / f"{name}.json"
    if wants_json:
        cmd += ["--json", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    if name == "load":  # it sets thread counts itself
        env.pop("OMP_NUM_THREADS")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    record: dict[str, Any] = {
        "command": " ".join(["python", f"benchmarks/{script}", *args]),
        "seconds": time.perf_counter() - start,
        "returncode": proc.returncode,
        "stdout": proc.stdout,
    }
    if proc.returncode != 0:
        record["stderr"] = proc.stderr[-4000:]
    elif wants_json:
        record["data"] = json.loads(path.read_text())
    return record


def summary(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """(figure, bcfl-gym, reference, ratio, target, met) rows from the benchmarks' data."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    data = {k: v.get("data") for k, v in results.items()}
    if data.get("round"):
        for k, r in data["round"]["rounds"].items():
            e, lo = r["engine_median_s"] * 1e3, r["loop_median_s"] * 1e3
            rows.append((f"whole round, K={k}: engine vs plain loop", f"{e:.2f} ms", f"{lo:.1f} ms", f"{lo / e:.1f}x", ">= 20x", met(lo / e >= 20)))  # fmt: skip
            if r.get("flower_s"):
                f = r["flower_median_s"] * 1e3
                rows.append((f"whole round, K={k}: engine vs Flower", f"{e:.2f} ms", f"{f:.0f} ms", f"{f / e:.0f}x", ">= 100x", met(f / e >= 100)))  # fmt: skip
        t = data["round"]["time_to_target"]
        for side in ("loop", "flower"):
            if f"{side}_s" in t:
                rows.append((f"training time to 90 % (K=10 of 100): engine vs {side}", f"{t['engine_s']:.2f} s ({t['engine_rounds']} rounds)", f"{t[side + '_s']:.2f} s ({t[side + '_rounds']} rounds)", f"{t[side + '_s'] / t['engine_s']:.0f}x", "reported", ""))  # fmt: skip
    if data.get("load"):
        m = data["load"]["medians"]
        q = m["quiet, 1 thread"]
        for name in ("defaults", "defaults, cores busy"):
            rows.append((f"IoV steps/s, {name} vs quiet single-thread", f"{m[name]:.0f}/s", f"{q:.0f}/s", f"{m[name] / q:.0%}", ">= 50 %", met(m[name] / q >= 0.5)))  # fmt: skip
    if data.get("vec"):
        v = data["vec"]
        one = statistics.median(v["single"])
        for b in v["sizes"]:
            target = {64: ">= 10x", 128: ""}.get(b, "reported")
            ok = v["ratio"][str(b)] >= 10 if b == 64 else None
            rows.append((f"native vector env, B={b}, vs one env (world-steps/s)", f"{statistics.median(v['vector'][str(b)]):.0f}/s", f"{one:.0f}/s", f"{v['ratio'][str(b)]:.2f}x", target or "reported", "" if ok is None else met(ok)))  # fmt: skip
        big = str(max(v["sizes"]))
        rows.append((f"native vector env, B={big}, peak memory", f"{max(v['rss_mb'][big]):.0f} MB", "", "", "< 2 GiB", met(max(v["rss_mb"][big]) < 2048)))  # fmt: skip
        if v.get("reference"):
            gain = statistics.median(
                [a / b for a, b in zip(v["single"], v["reference"], strict=True)]
            )
            rows.append((f"one env vs main at {v['reference_commit']}", f"{one:.0f}/s", f"{statistics.median(v['reference']):.0f}/s", f"{gain:.2f}x", ">= 2x", met(gain >= 2)))  # fmt: skip
        split = v.get("workers") or {}
        if split.get("rates"):
            rows.append((f"B={split['b']} worlds on {split['count']} worker processes vs one env", f"{statistics.median(split['rates']):.0f}/s", f"{one:.0f}/s", f"{split['ratio']:.2f}x", "reported", ""))  # fmt: skip
    if data.get("async"):
        v = data["async"]
        rows.append((f"make_vec async x{v['workers']} vs one env", f"{statistics.median(v['vector']):.0f}/s", f"{statistics.median(v['single']):.0f}/s", f"{v['ratio']:.2f}x", ">= 1.8x", met(v["ratio"] >= 1.8)))  # fmt: skip
    if data.get("world"):
        w = statistics.median(data["world"]["advance_s"]["10000"]) * 1e3
        rows.append(("world advance, 10,000 vehicles", f"{w:.1f} ms", "", "", "<= 20 ms", met(w <= 20)))  # fmt: skip
    if data.get("scale"):
        s = {(r["sweep"], r["n"], r["k"]): r for r in data["scale"]}
        city = s.get(("city", 1000, 50))
        if city:
            rows.append(("iov-city (1,000 slots, K=50, digits)", f"{city['steps_per_s']:.1f} steps/s", "", "", ">= 50 steps/s", met(city["steps_per_s"] >= 50)))  # fmt: skip
            rows.append(("shipped SlotSetPolicy acting on 1,000 slots", f"{city['policy_ms']:.2f} ms", "", "", "runs unchanged", "met"))  # fmt: skip
        n_lo, n_hi = s.get(("n", 100, 10)), s.get(("n", 10000, 10))
        if n_lo and n_hi:
            r = n_lo["steps_per_s"] / n_hi["steps_per_s"]
            rows.append(("step cost, N=10,000 vs N=100 (K=10)", f"{n_hi['steps_per_s']:.1f}/s", f"{n_lo['steps_per_s']:.1f}/s", f"{r:.1f}x slower", "nearly flat in N", met(r <= 1.5)))  # fmt: skip
        k_lo, k_hi = s.get(("k", 1000, 10)), s.get(("k", 1000, 100))
        if k_lo and k_hi:
            r = k_lo["steps_per_s"] / k_hi["steps_per_s"]
            rows.append(("step cost, K=100 vs K=10 (N=1,000)", f"{k_hi['steps_per_s']:.1f}/s", f"{k_lo['steps_per_s']:.1f}/s", f"{r:.1f}x slower", "grows with K", met(r > 1)))  # fmt: skip
    rows.append(("GPU round (MLP K=10,000; CNN K=1,000 on an H200)", "not run", "", "", "<= 5 ms; <= 20 ms", "no GPU lent to this run (benchmarks/gpu_check.sh)"))  # fmt: skip
    return rows


def write_markdown(path: Path, info: dict[str, Any], results: dict[str, dict[str, Any]], total_s: float) -> None:  # fmt: skip
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python benchmarks/run_all.py`) on {info['date']} in {total_s / 60:.1f} minutes.",  # fmt: skip
        "",
        f"Machine: {info['cpu']}, {info['cores']} CPUs, load average before the run "
        + ", ".join(f"{x:.2f}" for x in info["load_before"])
        + f"; {info['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + ".",
        "",
        "Every ratio comes from samples of both sides taken in this run; figures are medians. Raw",
        "samples: `benchmarks/results.json`.",
        "",
        "| figure | bcfl-gym | reference | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in summary(results)]
    lines += ["", "## Each benchmark", ""]
    for name, record in results.items():
        status = "" if record["returncode"] == 0 else f" (FAILED, exit {record['returncode']})"
        lines += [f"### {name}{status}", "", f"`{record['command']}` ({record['seconds']:.0f} s)", "", "```", record["stdout"].rstrip()]  # fmt: skip
        if record.get("stderr"):
            lines += ["--- stderr (last lines) ---", record["stderr"].rstrip()]
        lines += ["```", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small settings (a smoke run)")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--only", nargs="+", default=None, help="benchmark names to run")
    args = parser.parse_args(argv)
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, extra, wants_json, what in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            extra = QUICK.get(name, extra) if args.quick else extra
            print(f"[{time.perf_counter() - start:6.0f} s] {name}: {what}", flush=True)
            results[name] = run(name, script, extra, wants_json, Path(tmp))
            if results[name]["returncode"] != 0:
                print(results[name].get("stderr", ""), file=sys.stderr)
    total = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": info, "seconds": total, "benchmarks": results}, indent=1))  # fmt: skip
    write_markdown(args.out / "RESULTS.md", info, results, total)
    print(
        f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results.json'} in {total / 60:.1f} min"
    )
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
