"""The v1 observation rebuilt from what a federated-learning server knows about its clients.

The simulator's server feature set (:data:`bcfl_env.envs.observation.SERVER_FEATURES`) is made of
quantities a real server has: what clients report about themselves, what it measured in earlier
rounds, and its own record of accepted and rejected updates. :class:`ClientBook` keeps that record
for a deployment (the Flower strategy of :mod:`agents.flower` feeds it) and
:meth:`ClientBook.observation` lays it out as the same (N + 1, F) matrix, so a selector trained in
the simulator, or any baseline, reads it unchanged. No Flower import here.

A client that reports nothing gets the neutral value of each missing feature
(:data:`NEUTRAL`), never an error. What a deployment has no notion of (the distance to an RSU)
is neutral for everyone, so it does not change any ranking.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from bcfl_env.chain.reputation import Reputation
from bcfl_env.config import BCFLConfig
from bcfl_env.envs.features import NEUTRAL
from bcfl_env.envs.observation import GLOBAL_FEATURES, SERVER_FEATURES

__all__ = ["NEUTRAL", "PROPERTY_KEYS", "ClientBook", "ClientRecord", "ServerScales"]

FEATURE_NAMES = [name for name, _, _ in SERVER_FEATURES]

# What a client may report about itself (Flower: the reply to the strategy's query message).
PROPERTY_KEYS: dict[str, str] = {
    "num-examples": "local training samples",
    "energy-fraction": "remaining energy / budget in [0, 1] (0: cannot train)",
    "uplink-bps": "expected uplink rate [bit/s]",
    "online-s": "how much longer it expects to stay connected [s]",
}


@dataclass(frozen=True)
class ServerScales:
    """The constants that scale a deployment's quantities to the features' [0, 1] range.

    Args:
        epoch_s: the time one round is expected to take [s]: round trips and time online are
            scaled as t / (t + epoch_s), as in the simulator.
        max_rounds: the rounds of the run (the staleness and round columns divide by it).
        time_budget_s: the run's time budget [s] (the global row's clock column).
        uplink_scale_bps: the rate that maps to 1 in the uplink column.
        target_accuracy: the accuracy the run aims for (a global column).
    """

    epoch_s: float = 5.0
    max_rounds: int = 100
    time_budget_s: float = 3600.0
    uplink_scale_bps: float = 20e6 * 20.0
    target_accuracy: float = 0.9

    @classmethod
    def for_config(cls, cfg: BCFLConfig) -> ServerScales:
        """The scales the simulator uses for ``cfg``: a selector trained on that config reads a
        deployment's observation on the same scale."""
        env = cfg.env
        return cls(
            epoch_s=env.epoch_length_s,
            max_rounds=env.max_rounds,
            time_budget_s=env.sim_time_budget_s,
            uplink_scale_bps=cfg.network.channel.rsu_bandwidth_hz * 20.0,
            target_accuracy=env.target_accuracy,
        )

    def __post_init__(self) -> None:
        for name in ("epoch_s", "time_budget_s", "uplink_scale_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} is out of range: allowed > 0 and finite")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds={self.max_rounds!r} is out of range: allowed >= 1")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(
                f"target_accuracy={self.target_accuracy!r} is out of range: allowed (0, 1]"
            )


@dataclass
class ClientRecord:
    """What the server knows about one client; ``None`` where it knows nothing."""

    slot: int
    num_examples: float | None = None
    energy_fraction: float | None = None
    uplink_bps: float | None = None
    online_s: float | None = None
    last_selected: int = -1
    last_loss: float | None = None
    round_trip_s: float | None = None


def _finite_nonneg(value: object) -> float | None:
    """A reported number, or None where it is missing, not a number, negative or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


class ClientBook:
    """The server's record of its clients, one observation slot each, in order of first sight.

    Args:
        num_slots: N, the number of slots (the most clients a selection sees); a client beyond
            it is left out of selection (:attr:`overflow` counts them).
        budget: K, the clients selected per round.
        scales: the constants that scale quantities to [0, 1].
    """

    def __init__(self, num_slots: int, budget: int, scales: ServerScales | None = None) -> None:
        if num_slots < 1:
            raise ValueError(f"num_slots={num_slots} is out of range: allowed >= 1")
        if not 1 <= budget <= num_slots:
            raise ValueError(
                f"clients_per_round={budget} is out of range: allowed [1, {num_slots}]"
            )
        self.num_slots, self.budget = num_slots, budget
        self.scales = scales or ServerScales()
        self.clients: dict[int, ClientRecord] = {}
        self.by_slot: dict[int, int] = {}
        self.reputation = Reputation()
        self.overflow: set[int] = set()

    # ------------------------------------------------------------------ what the server learns
    def see(self, node_ids: Iterable[int]) -> list[int]:
        """Give new clients a slot; return the ones never seen before (their properties are
        unknown)."""
        new = []
        for node in node_ids:
            if node in self.clients or node in self.overflow:
                continue
            if len(self.clients) >= self.num_slots:
                self.overflow.add(node)
                continue
            slot = len(self.clients)
            self.clients[node] = ClientRecord(slot)
            self.by_slot[slot] = node
            new.append(node)
        return new

    def report_properties(self, node: int, properties: Mapping[str, object]) -> None:
        """What a client said about itself; unusable values are ignored (left neutral)."""
        record = self.clients.get(node)
        if record is None:
            return
        size = _finite_nonneg(properties.get("num-examples"))
        if size is not None:
            record.num_examples = size
        energy = _finite_nonneg(properties.get("energy-fraction"))
        if energy is not None:
            record.energy_fraction = min(energy, 1.0)
        rate = _finite_nonneg(properties.get("uplink-bps"))
        if rate is not None:
            record.uplink_bps = rate
        online = _finite_nonneg(properties.get("online-s"))
        if online is not None:
            record.online_s = online

    def selected(self, nodes: Iterable[int], round_: int) -> None:
        for node in nodes:
            self.clients[node].last_selected = round_

    def outcome(
        self,
        node: int,
        accepted: bool,
        loss: object = None,
        round_trip_s: object = None,
        num_examples: object = None,
    ) -> None:
        """One update's fate and what its reply carried (loss, its round trip, sample count)."""
        record = self.clients.get(node)
        if record is None:
            return
        self.reputation.record(str(node), accepted)
        value = _finite_nonneg(loss)
        if value is not None:
            record.last_loss = value
        trip = _finite_nonneg(round_trip_s)
        if trip is not None:
            record.round_trip_s = trip
        size = _finite_nonneg(num_examples)
        if size is not None:
            record.num_examples = size

    def timed_out(self, node: int, waited_s: float) -> None:
        """No reply before the deadline: a rejection, and the round trip is at least the wait."""
        record = self.clients.get(node)
        if record is None:
            return
        self.reputation.record(str(node), False)
        record.round_trip_s = max(record.round_trip_s or 0.0, waited_s)

    # ------------------------------------------------------------------ the observation
    def observation(
        self, connected: Iterable[int], round_: int, accuracy: float, time_s: float
    ) -> np.ndarray:
        """The (N + 1, F) observation: a row per slot (zeros for a client not connected now) and
        the global row, laid out as :func:`bcfl_env.envs.observation.build_observation` does."""
        s = self.scales
        online = {node for node in connected if node in self.clients}
        obs = np.zeros((self.num_slots + 1, len(FEATURE_NAMES)), dtype=np.float32)
        sizes = [r.num_examples for r in self.clients.values() if r.num_examples is not None]
        largest = max(sizes, default=0.0)
        for node in online:
            r = self.clients[node]
            row = dict(NEUTRAL)
            row["present"] = 1.0
            if r.uplink_bps is not None:
                row["uplink_rate"] = r.uplink_bps / s.uplink_scale_bps
            if r.num_examples is not None and largest > 0:
                row["data_size"] = r.num_examples / largest
            row["staleness"] = (
                (round_ - r.last_selected) / s.max_rounds if r.last_selected >= 0 else 1.0
            )
            row["reputation"] = self.reputation.score(str(node))
            if r.energy_fraction is not None:
                row["energy_left"] = r.energy_fraction
            row["in_flight"] = 0.0  # rounds are synchronous: nothing is outstanding here
            if r.online_s is not None:
                row["dwell_time"] = r.online_s / (r.online_s + s.epoch_s)
            if r.last_loss is not None:
                row["last_loss"] = r.last_loss / (r.last_loss + 1.0)
            if r.round_trip_s is not None:
                row["round_trip"] = r.round_trip_s / (r.round_trip_s + s.epoch_s)
            obs[r.slot] = [row[name] for name in FEATURE_NAMES]
        np.clip(obs, 0.0, 1.0, out=obs)
        glob = [
            min(round_ / s.max_rounds, 1.0),
            min(max(accuracy, 0.0), 1.0),
            min(time_s / s.time_budget_s, 1.0),
            self.budget / self.num_slots,
            len(online) / self.num_slots,
            s.target_accuracy,
        ]
        assert len(glob) == len(GLOBAL_FEATURES)
        obs[self.num_slots, : len(glob)] = glob
        return obs

    def nodes_of(self, slots: Iterable[int]) -> list[int]:
        return [self.by_slot[int(slot)] for slot in slots]
