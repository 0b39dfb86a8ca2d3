"""The fixed scenario suite: named scenarios with held-out evaluation seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HELD_OUT_SEEDS_V2",
    "SUITES",
    "SUITE_VERSION",
    "TRACE_HETEROGENEITY",
    "Scenario",
    "find_scenario",
    "scenario_ceiling",
    "scenario_reference",
    "scenario_target",
    "suite_version",
]

HELD_OUT_SEEDS = (1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009)


@dataclass(frozen=True)
class Scenario:
    """A named scenario. ``reference_time_s`` is the fixed yardstick the leaderboard divides by:
    the random policy's IQM time to target on the held-out seeds (failed episodes at the time
    budget), measured once per suite version, so a row's normalised score never depends on the
    other rows in a results file."""

    name: str
    env_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = HELD_OUT_SEEDS
    reference_time_s: float = 0.0
    # the planner's IQM time to target on the held-out seeds (agents/planner.py): the ceiling
    # the normalised score divides the headroom by; None until measured for this suite version
    ceiling_time_s: float | None = None
    # the suite version whose references these are (``suite_version`` in every result row)
    version: int = 1


# Reference times: random selection's IQM on HELD_OUT_SEEDS, measured on suite version 1
# (bcfl/*-v1, 2026-11-30). Re-measure and bump the version when the dynamics change.
# Ceiling times: the planner's IQM (agents/planner.py, 32 candidates x 12 epochs) on the same
# seeds, measured 2026-12-06 (benchmarks/planner_ceiling.py -> results/leaderboard/v1-planner.jsonl).
SUITE_VERSION = 1
DEFAULT = [
    Scenario("iov-default", "bcfl/IoV-v1", reference_time_s=133.1, ceiling_time_s=83.7),
    Scenario(
        "iov-dense",
        "bcfl/IoV-v1",
        {"network__mobility__arrival_rate_per_s": 1.0, "network__mobility__initial_occupancy": 1.0},
        reference_time_s=130.6,
        ceiling_time_s=78.7,
    ),
    Scenario(
        "iov-noniid",
        "bcfl/IoV-v1",
        {"fl__alpha": 0.1},
        reference_time_s=799.3,
        ceiling_time_s=144.9,
    ),
    Scenario(
        "iov-poison20",
        "bcfl/IoV-v1",
        {"malicious_fraction": 0.2},
        reference_time_s=172.5,
        ceiling_time_s=106.4,
    ),
    Scenario(
        "iov-faulty-committee",
        "bcfl/IoV-v1",
        {"faulty_fraction": 0.25, "faulty_behavior": "random"},
        reference_time_s=144.1,
        ceiling_time_s=92.9,
    ),
    Scenario("iiot", "bcfl/IIoT-v1", reference_time_s=690.2, ceiling_time_s=86.3),
    Scenario("ioht", "bcfl/IoHT-v1", reference_time_s=39.2, ceiling_time_s=22.3),
]

CITY: dict[str, Any] = {
    "num_vehicles": 1000,
    "fleet_size": 1000,
    "vehicles_per_round": 50,
    "network__road__rows": 10,
    "network__road__cols": 10,
    "network__infra__num_rsus": 24,
    "network__mobility__arrival_rate_per_s": 10.0,
    "network__mobility__initial_occupancy": 0.8,
    "max_rounds": 200,
}

SUITES: dict[str, list[Scenario]] = {
    "default": DEFAULT,
    "iov": [DEFAULT[0]],
    "iov-all": [s for s in DEFAULT if s.env_id == "bcfl/IoV-v1"],
    # the smoke scenario is the default IoV one cut to 4 rounds: it keeps that reference
    "smoke": [Scenario("iov-smoke", "bcfl/IoV-v1", {"max_rounds": 4}, (1000,), 133.1)],
    # scale: 1,000 slots filled by a city's traffic, K = 50, a 10 x 10 grid and 24 RSUs; the
    # digits set is shared by 1,000 vehicles (about one sample each: many weak contributions)
    "city": [Scenario("iov-city", "bcfl/IoV-v1", CITY, reference_time_s=400.5)],
    # the default IoV scenario seen with oracle features: the same dynamics and seeds, so a
    # policy that needs true values ranks against the others on "iov-default"
    "iov-oracle": [
        Scenario(
            "iov-default", "bcfl/IoV-v1", {"observation_features": "oracle"}, reference_time_s=133.1
        )
    ],
}


# ---------------------------------------------------------------------------------- suite v2
# Heterogeneity measured on real devices (docs/scenarios.md, "Suite v2", where each value is
# derived): compute time per sample log-normal across devices with the spread of 978 phone
# models' training latencies (FLHetBench's training_latency.json: AI-Benchmark and the authors'
# own measurements), and availability with churn and a daily rhythm fitted to the FLASH trace of
# smartphone states (Yang et al., WWW 2021, via FLHetBench's cached_timers.json). Link rates
# follow the V2I channel model of the IoV preset (3GPP TR 36.885).
TRACE_HETEROGENEITY: dict[str, Any] = {
    "network__compute__cpu_distribution": "lognormal",
    "network__compute__cpu_log_sigma": 0.78,
    "network__availability__model": "trace",
    "network__availability__share_beta_a": 0.236,
    "network__availability__share_beta_b": 2.385,
    "network__availability__session_median_s": 283.0,
    "network__availability__session_mean_s": 2206.0,
    "network__availability__gap_median_s": 1335.0,
    "network__availability__gap_mean_s": 15196.0,
    "network__availability__daily_amplitude": 0.5,
    "network__availability__peak_hour": 11.0,
    # the trace's clock runs 24 times faster (a day per simulated hour): this task's rounds
    # take seconds, a phone's minutes (docs/scenarios.md says why and what it changes)
    "network__availability__time_scale": 24.0,
}
# Choices, not measurements: about one phone in eleven is online at a time, so 100 slots (and
# 100 identities, each with its own data) and K = 3 leave a choice among the few online. Labels
# are near-IID (alpha 10): with so few phones online, each holding ~18 samples, label-skewed
# updates fail the committee's quality check once the model is good and training stalls (at
# alpha 1, seed 2002 had every update rejected as low_quality after round 150), so the suite
# isolates the device heterogeneity it measures (docs/scenarios.md)
TRACE_SCALE: dict[str, Any] = {
    "num_vehicles": 100,
    "fleet_size": 100,
    "vehicles_per_round": 3,
    "max_rounds": 300,
    "fl__alpha": 10.0,
}
HELD_OUT_SEEDS_V2 = tuple(range(2000, 2030))
# References: random selection's IQM on HELD_OUT_SEEDS_V2 (bcfl evaluate --suite v2 ->
# results/leaderboard/v2-baselines.jsonl, 2026-12-06); ceilings: the planner's IQM on the same
# seeds (benchmarks/planner_ceiling.py --suite v2 -> results/leaderboard/v2-planner.jsonl)
V2 = [
    Scenario(
        "iov-trace",
        "bcfl/IoV-v1",
        {**TRACE_SCALE, **TRACE_HETEROGENEITY},
        HELD_OUT_SEEDS_V2,
        reference_time_s=317.5,
        ceiling_time_s=256.1,
        version=2,
    ),
    Scenario(
        "iov-trace-sync",
        "bcfl/IoV-v1",
        {**TRACE_SCALE, **TRACE_HETEROGENEITY, "fl_mode": "sync", "fl__aggregation": "fedavg"},
        HELD_OUT_SEEDS_V2,
        reference_time_s=142.3,
        ceiling_time_s=100.5,
        version=2,
    ),
]
SUITES["v2"] = V2


def suite_version(suite: str) -> int:
    """The version a suite's results carry (``suite_version`` in every row).

    Raises:
        ValueError: a suite that does not exist.
    """
    if suite not in SUITES:
        raise ValueError(f"suite {suite!r} is not allowed: choose one of {sorted(SUITES)}")
    return SUITES[suite][0].version


def scenario_reference(name: str, version: int = SUITE_VERSION) -> tuple[float, float]:
    """(reference time, simulated-time budget) of the scenario called ``name`` in the suites of
    ``version``.

    Raises:
        ValueError: a scenario no suite of that version defines.
    """
    scenario, cfg = _scenario_config(name, version)
    return scenario.reference_time_s, cfg.env.sim_time_budget_s


def scenario_ceiling(name: str, version: int = SUITE_VERSION) -> float | None:
    """The planner's stored IQM time to target of a suite scenario (None: not measured, or a
    scenario no suite of ``version`` defines)."""
    found = find_scenario(name, version)
    return found.ceiling_time_s if found else None


def scenario_target(name: str, version: int = SUITE_VERSION) -> float | None:
    """The target accuracy of a suite scenario, None for one no suite defines."""
    try:
        return float(_scenario_config(name, version)[1].env.target_accuracy)
    except ValueError:
        return None


def find_scenario(name: str, version: int = SUITE_VERSION) -> Scenario | None:
    """The scenario called ``name`` in the suites of ``version`` (None: no such scenario)."""
    for scenarios in SUITES.values():
        for s in scenarios:
            if s.name == name and s.version == version:
                return s
    return None


def _scenario_config(name: str, version: int = SUITE_VERSION) -> tuple[Scenario, Any]:
    from bcfl_env.config import make_config
    from bcfl_env.envs.registration import ENV_IDS

    found = find_scenario(name, version)
    if found is not None:
        return found, make_config(ENV_IDS[found.env_id], None, **found.overrides)
    known = sorted({s.name for ss in SUITES.values() for s in ss if s.version == version})
    raise ValueError(
        f"scenario {name!r} is in no suite of version {version}: choose one of {known}"
    )
