"""Availability: the per-node on/off process with a daily rhythm (``network.availability``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env  # noqa: F401 - registers the ids
from bcfl_env import unwrap
from bcfl_env.config import AvailabilityConfig, make_config
from bcfl_env.network.availability import Availability, lognormal_sigma

TRACE = {"num_vehicles": 100, "network__availability__model": "trace"}


def _simulate(
    cfg: AvailabilityConfig, nodes: int, dt: float, seconds: float, seed: int
) -> tuple[Availability, np.ndarray]:
    """Advance ``nodes`` nodes for ``seconds`` in steps of ``dt``; (model, states (steps, nodes))."""
    avail = Availability(cfg, nodes, np.random.default_rng(seed))
    states = np.empty((int(seconds / dt), nodes), dtype=bool)
    for k in range(states.shape[0]):
        avail.advance(dt)
        states[k] = avail.online
    return avail, states


def _runs(states: np.ndarray, value: bool) -> list[int]:
    """Lengths (in steps) of the runs of ``value`` that start and end inside the window."""
    lengths = []
    for node in states.T:
        edges = np.flatnonzero(np.diff(node.astype(np.int8)) != 0) + 1
        bounds = np.r_[0, edges, node.size]
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            if start > 0 and end < node.size and node[start] == value:
                lengths.append(end - start)
    return lengths


def test_always_keeps_every_node_online_and_draws_nothing() -> None:
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    avail = Availability(AvailabilityConfig(), 50, rng)
    assert avail.online.all() and avail.advance(3600.0).size == 0 and avail.online.all()
    assert rng.bit_generator.state == before


def test_trace_reproduces_the_fitted_shares_sessions_and_daily_rhythm() -> None:
    cfg = AvailabilityConfig(model="trace", start_hour=0.0)
    dt = 5.0
    avail, states = _simulate(cfg, nodes=4000, dt=dt, seconds=86400, seed=1)
    # each node online for its own share of the day: the mean share is Beta(a, b)'s mean
    mean_share = cfg.share_beta_a / (cfg.share_beta_a + cfg.share_beta_b)
    assert states.mean() == pytest.approx(mean_share, rel=0.15)
    # each node follows its own share: by quartile of share, the time online matches it
    frac = states.mean(axis=0)
    edges = np.quantile(avail.share, [0.5, 0.75, 1.0])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        group = (avail.share >= lo) & (avail.share <= hi)
        assert frac[group].mean() == pytest.approx(avail.share[group].mean(), rel=0.2)
    assert frac[avail.share < edges[0]].mean() < 0.1 * frac[avail.share > edges[1]].mean()
    # sessions: the fitted median, in steps of dt
    sessions = np.array(_runs(states, True)) * dt
    assert np.median(sessions) == pytest.approx(cfg.session_median_s, rel=0.15)
    # the daily rhythm: the share online is higher in the hours after the peak of the rate of
    # coming online than twelve hours away (sessions delay it by an hour or two)
    hourly = states.reshape(24, -1).mean(axis=1)
    peak = int(cfg.peak_hour) + 2
    near_peak = hourly[[(peak + d) % 24 for d in (-1, 0, 1)]].mean()
    near_trough = hourly[[(peak + 12 + d) % 24 for d in (-1, 0, 1)]].mean()
    assert near_peak / near_trough > 1.3


def test_lognormal_sigma_matches_median_and_mean() -> None:
    sigma = lognormal_sigma(283.0, 2206.0)
    draws = 283.0 * np.exp(sigma * np.random.default_rng(2).standard_normal(400_000))
    assert np.median(draws) == pytest.approx(283.0, rel=0.02)
    assert draws.mean() == pytest.approx(2206.0, rel=0.1)


@pytest.mark.parametrize("what", ["session", "gap"])
def test_a_mean_below_the_median_is_refused_by_name(what: str) -> None:
    with pytest.raises(ValueError, match=f"network.availability.{what}_mean_s"):
        make_config("iov", **{f"network__availability__{what}_mean_s": 10.0})


def test_offline_nodes_are_neither_seen_nor_selectable_and_lose_their_jobs() -> None:
    env = gym.make("bcfl/IoV-v1", **TRACE)
    offline_drops = 0
    for seed in range(10):
        if offline_drops:
            break
        env.reset(seed=seed)
        world = unwrap(env).world
        for _ in range(60):
            online = world.network.slot_online()
            view = world.view()
            assert not (view.present & ~online).any()  # the server sees checked-in nodes only
            assert not (world.eligible_slots() & ~online).any()
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            report = world.last_report
            for identity, reason in report.dropped:
                if reason == "offline":
                    offline_drops += 1
                    assert identity not in report.completed
            if terminated or truncated:
                break
    assert offline_drops > 0  # churn happens at these rates within a few episodes


def test_trace_episodes_are_reproducible_from_the_seed() -> None:
    def run() -> tuple[list[list[int]], float]:
        env = gym.make("bcfl/IoV-v1", **TRACE)
        env.reset(seed=7)
        env.action_space.seed(7)
        world = unwrap(env).world
        picks = []
        for _ in range(10):
            env.step(env.action_space.sample())
            picks.append(world.last_report.selected)
        return picks, world.network.availability.start_hour

    assert run() == run()


def test_a_sync_round_with_nobody_to_select_waits_out_its_window() -> None:
    env = gym.make("bcfl/IoV-v1", fl_mode="sync", fl__aggregation="fedavg")
    env.reset(seed=0)
    world = unwrap(env).world
    before = world.time_s
    world.step(np.zeros(0, dtype=np.int64))  # nobody selected: nothing can end the round early
    assert world.time_s - before >= world.cfg.env.sync_deadline_s


def test_the_fit_recovers_the_process_that_generated_a_trace(benchmark_script) -> None:
    """Round trip: traces drawn from the trace model, written in FLASH's timers format, fitted
    back by benchmarks/fit_heterogeneity.py, give the model's parameters."""
    cfg = AvailabilityConfig(model="trace", start_hour=0.0)
    nodes, dt = 400, 10.0
    _, states = _simulate(cfg, nodes=nodes, dt=dt, seconds=3 * 86400, seed=5)
    times = np.arange(1, states.shape[0] + 1) * dt
    timers = {}
    for node in range(nodes):
        flips = np.flatnonzero(np.diff(np.r_[False, states[:, node], False].astype(np.int8)))
        ready = [[times[a], times[b - 1]] for a, b in zip(flips[::2], flips[1::2], strict=True)]
        timers[str(node)] = {
            "isSuccess": True, "trace_start": 0.0, "trace_end": float(times[-1]), "ready_time": ready,
        }  # fmt: skip
    fit = benchmark_script("fit_heterogeneity").availability_fit(timers, merge_gap_s=0.0)
    assert fit["devices"] == nodes
    assert fit["share_mean"] == pytest.approx(0.09, rel=0.25)
    assert fit["session_median_s"] == pytest.approx(cfg.session_median_s, rel=0.25)
    # the calibration: the model's rate rhythm (A = 0.5 at 11 h) makes the share online swing
    # by the FLASH trace's 0.22 with its peak near the trace's 13 h (the fitter reads the
    # trace's clock from its origin; this one starts at hour 0)
    assert fit["daily_amplitude"] == pytest.approx(0.22, abs=0.1)
    assert abs((fit["peak_hour"] - 13.0 + 12) % 24 - 12) < 3.0


def test_the_compute_spread_is_the_log_sd_of_measured_latencies(benchmark_script) -> None:
    latencies = np.exp(np.random.default_rng(3).normal(np.log(170.0), 0.78, 5000))
    entries = [
        {"Phone Model": f"m{i}", "ResNet Latency": float(x)} for i, x in enumerate(latencies)
    ]
    entries.append({"Phone Model": "not measured", "ResNet Latency": 0.0})
    fit = benchmark_script("fit_heterogeneity").compute_spread(entries)
    assert fit["devices"] == 5000
    assert fit["log_sigma"] == pytest.approx(0.78, rel=0.05)
    assert fit["median_ms"] == pytest.approx(170.0, rel=0.05)


def test_the_heterogeneity_in_code_matches_the_docs_table() -> None:
    import re
    from pathlib import Path

    from training.suite import SUITES, TRACE_HETEROGENEITY

    text = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text()
    table = text.split("### Where each parameter comes from")[1].split("###")[0]
    documented = {
        key: float(value)
        for key, value in re.findall(r"^\| `([a-z_.]+)` \| ([0-9.]+) \|", table, re.M)
    }
    measured = {
        key.replace("__", "."): value
        for key, value in TRACE_HETEROGENEITY.items()
        if not isinstance(value, str) and not key.endswith("time_scale")
    }
    assert documented == measured
    for scenario in SUITES["v2"]:
        assert {k: scenario.overrides[k] for k in TRACE_HETEROGENEITY} == TRACE_HETEROGENEITY
    # the availability section's defaults are the fit
    defaults = AvailabilityConfig()
    for key, value in documented.items():
        if key.startswith("network.availability."):
            assert getattr(defaults, key.rsplit(".", 1)[1]) == value, key


def test_committed_v1_results_still_validate_against_suite_v1(tmp_path) -> None:
    import json
    from pathlib import Path

    from training.leaderboard import check_submission

    root = Path(__file__).resolve().parents[1] / "results" / "leaderboard"
    summary = check_submission([root / "v1-baselines.jsonl", root / "v1-planner.jsonl"], "default")
    assert summary.startswith("OK") and summary.endswith("v1")
    # a v1 row offered to suite v2 (its scenario renamed into v2) is refused by its version
    row = json.loads((root / "v1-baselines.jsonl").read_text().splitlines()[0])
    path = tmp_path / "row.jsonl"
    path.write_text(json.dumps({**row, "scenario": "iov-trace"}) + "\n")
    with pytest.raises(ValueError, match="suite version 1, expected 2"):
        check_submission([path], "v2")


def test_the_v2_scenario_table_matches_the_suite() -> None:
    import re
    from pathlib import Path

    from training.suite import SUITES

    text = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text()
    section = text.split("## Suite v2")[1].split("###")[0]
    row = next(line for line in section.splitlines() if line.startswith("| iov-trace |"))
    documented = dict(re.findall(r"`([a-z_]+)=([^`]+)`", row))
    scenario = next(s for s in SUITES["v2"] if s.name == "iov-trace")
    assert documented and all(
        float(value) == scenario.overrides[key] for key, value in documented.items()
    )
    sync = next(s for s in SUITES["v2"] if s.name == "iov-trace-sync")
    assert {**scenario.overrides, "fl_mode": "sync", "fl__aggregation": "fedavg"} == sync.overrides
