"""The fixed scenario suite: named scenarios with held-out evaluation seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SUITES",
    "SUITE_VERSION",
    "Scenario",
    "scenario_ceiling",
    "scenario_reference",
    "scenario_target",
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


def scenario_reference(name: str) -> tuple[float, float]:
    """(reference time, simulated-time budget) of the scenario called ``name`` in any suite.

    Raises:
        ValueError: a scenario no suite defines.
    """
    scenario, cfg = _scenario_config(name)
    return scenario.reference_time_s, cfg.env.sim_time_budget_s


def scenario_ceiling(name: str) -> float | None:
    """The planner's stored IQM time to target of a suite scenario (None: not measured, or a
    scenario no suite defines)."""
    for scenarios in SUITES.values():
        for s in scenarios:
            if s.name == name:
                return s.ceiling_time_s
    return None


def scenario_target(name: str) -> float | None:
    """The target accuracy of a suite scenario, None for one no suite defines."""
    try:
        return float(_scenario_config(name)[1].env.target_accuracy)
    except ValueError:
        return None


def _scenario_config(name: str) -> tuple[Scenario, Any]:
    from bcfl_env.config import make_config
    from bcfl_env.envs.registration import ENV_IDS

    for scenarios in SUITES.values():
        for s in scenarios:
            if s.name == name:
                return s, make_config(ENV_IDS[s.env_id], None, **s.overrides)
    known = sorted({s.name for scenarios in SUITES.values() for s in scenarios})
    raise ValueError(f"scenario {name!r} is in no suite: choose one of {known}")
