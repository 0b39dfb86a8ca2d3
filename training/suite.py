"""The fixed scenario suite: named scenarios with held-out evaluation seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SUITES", "Scenario"]

HELD_OUT_SEEDS = (1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009)


@dataclass(frozen=True)
class Scenario:
    name: str
    env_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = HELD_OUT_SEEDS


DEFAULT = [
    Scenario("iov-default", "bcfl/IoV-v1"),
    Scenario(
        "iov-dense",
        "bcfl/IoV-v1",
        {"network__mobility__arrival_rate_per_s": 1.0, "network__mobility__initial_occupancy": 1.0},
    ),
    Scenario("iov-noniid", "bcfl/IoV-v1", {"fl__alpha": 0.1}),
    Scenario("iov-poison20", "bcfl/IoV-v1", {"malicious_fraction": 0.2}),
    Scenario(
        "iov-faulty-committee",
        "bcfl/IoV-v1",
        {"faulty_fraction": 0.25, "faulty_behavior": "random"},
    ),
    Scenario("iiot", "bcfl/IIoT-v1"),
    Scenario("ioht", "bcfl/IoHT-v1"),
]

SUITES: dict[str, list[Scenario]] = {
    "default": DEFAULT,
    "iov": [DEFAULT[0]],
    "iov-all": [s for s in DEFAULT if s.env_id == "bcfl/IoV-v1"],
    "smoke": [Scenario("iov-smoke", "bcfl/IoV-v1", {"max_rounds": 4}, (1000,))],
    # the default IoV scenario seen with oracle features: the same dynamics and seeds, so a
    # policy that needs true values ranks against the others on "iov-default"
    "iov-oracle": [Scenario("iov-default", "bcfl/IoV-v1", {"observation_features": "oracle"})],
}
