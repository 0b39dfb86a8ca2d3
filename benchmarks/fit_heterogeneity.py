"""Fit suite v2's device heterogeneity from published measurements kept on local disk.

The parameters of ``training/suite.py``'s ``TRACE_HETEROGENEITY`` (and the defaults of
``network.availability``) come from two files of the FLHetBench repository (Zhang et al., CVPR
2024; https://github.com/Carkham/FLHetBench, ``data/``), which this script never downloads: pass
local copies.

* ``training_latency.json``: a training latency per phone model (AI-Benchmark and the authors'
  own measurements); the spread of compute time across devices is the standard deviation of the
  log latencies (models with no measurement, latency 0, are left out).
* ``cached_timers.json``: the FLASH trace of smartphone states (Yang et al., WWW 2021): per device,
  the intervals in which it was ready to train (idle, charging, Wi-Fi). Ready intervals less than
  ``--merge-gap-s`` apart are one session. Per device: its share of time online; over all
  devices: online sessions and offline gaps (median and mean), a Beta fitted to the shares by
  moments, and the share online by hour of the trace's clock with a cosine fit (amplitude and
  peak hour; the clock's time zone is not stated, so the phase is the trace's, not local time).

``--max-devices N`` reads the first N entries of the timers file and ``--skip`` leaves out named
ones: the suite's fit read the first 51 entries but 647 and 901 (which the research index that
the fit was made through cut at page boundaries), 49 entries of which 36 have a trace. Prints the fitted values and, with ``--json``, writes them.

Usage: python benchmarks/fit_heterogeneity.py --latency training_latency.json
                                              --timers cached_timers.json
                                              [--max-devices 51 --skip 647 901]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def compute_spread(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Log-normal spread of the training latencies (> 0) of ``entries``."""
    latency = np.array([float(e.get("ResNet Latency") or 0.0) for e in entries])
    latency = latency[latency > 0]
    if latency.size < 2:
        raise ValueError("training latencies: need at least two positive 'ResNet Latency' values")
    logs = np.log(latency)
    return {
        "devices": int(latency.size),
        "median_ms": float(np.median(latency)),
        "p10_ms": float(np.quantile(latency, 0.1)),
        "p90_ms": float(np.quantile(latency, 0.9)),
        "log_sigma": float(logs.std(ddof=1)),
    }


def _sessions(ready: list[list[float]], merge_gap_s: float) -> np.ndarray:
    merged: list[list[float]] = []
    for start, end in sorted(ready):
        if merged and start - merged[-1][1] <= merge_gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=float).reshape(-1, 2)


def availability_fit(
    timers: dict[str, Any],
    max_devices: int | None = None,
    merge_gap_s: float = 60.0,
    skip: tuple[str, ...] = (),
) -> dict[str, float]:
    """Shares, sessions, gaps and the daily rhythm of the devices of a FLASH timers file."""
    shares, sessions, gaps = [], [], []
    online_by_hour, seen_by_hour = np.zeros(24), np.zeros(24)
    entries = [(k, e) for k, e in list(timers.items())[:max_devices] if k not in skip]
    for _, entry in entries:
        if not entry.get("isSuccess") or entry.get("trace_start") is None:
            continue
        start, end = float(entry["trace_start"]), float(entry["trace_end"])
        merged = _sessions(entry.get("ready_time") or [], merge_gap_s)
        shares.append(float((merged[:, 1] - merged[:, 0]).sum() / (end - start)))
        sessions.extend(merged[:, 1] - merged[:, 0])
        gaps.extend(merged[1:, 0] - merged[:-1, 1])
        for t in np.arange(start, end, 600.0):
            hour = int((t % 86400) // 3600)
            seen_by_hour[hour] += 1
            online_by_hour[hour] += bool(((merged[:, 0] <= t) & (merged[:, 1] > t)).any())
    if len(shares) < 2 or not sessions or not gaps:
        raise ValueError("timers: need at least two devices with a trace, sessions and gaps")
    share = np.array(shares)
    mean, var = share.mean(), share.var(ddof=1)
    k = mean * (1 - mean) / var - 1
    profile = online_by_hour / np.maximum(seen_by_hour, 1)
    hours = np.arange(24) + 0.5
    design = np.c_[np.ones(24), np.cos(2 * np.pi * hours / 24), np.sin(2 * np.pi * hours / 24)]
    coef, *_ = np.linalg.lstsq(design, profile, rcond=None)
    sess, gap = np.array(sessions), np.array(gaps)
    return {
        "devices": len(shares),
        "entries_read": len(entries),
        "share_mean": float(mean),
        "share_median": float(np.median(share)),
        "share_beta_a": float(mean * k),
        "share_beta_b": float((1 - mean) * k),
        "session_median_s": float(np.median(sess)),
        "session_mean_s": float(sess.mean()),
        "gap_median_s": float(np.median(gap)),
        "gap_mean_s": float(gap.mean()),
        "daily_amplitude": float(math.hypot(coef[1], coef[2]) / coef[0]),
        "peak_hour": float((math.atan2(coef[2], coef[1]) * 24 / (2 * math.pi)) % 24),
        "hourly_peak_to_trough": float(profile.max() / max(profile.min(), 1e-12)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=Path, required=True, help="training_latency.json")
    parser.add_argument("--timers", type=Path, required=True, help="cached_timers.json")
    parser.add_argument("--max-devices", type=int, default=None)
    parser.add_argument("--skip", nargs="*", default=[], help="device ids to leave out")
    parser.add_argument("--merge-gap-s", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    fit = {
        "compute": compute_spread(json.loads(args.latency.read_text())),
        "availability": availability_fit(
            json.loads(args.timers.read_text()),
            args.max_devices,
            args.merge_gap_s,
            tuple(args.skip),
        ),
    }
    for section, values in fit.items():
        for key, value in values.items():
            print(f"{section:>12}  {key:<22} {value:.4g}")
    if args.json:
        args.json.write_text(json.dumps(fit, indent=2) + "\n")


if __name__ == "__main__":
    main()
