"""The vehicular network: roads, mobility, RSUs, channel and the fleet, advanced tick by tick.

The fleet is the set of vehicle identities (each with its own CPU, energy budget and, in the FL
engine, its own data). Slots are places in the observation; an identity occupies a slot while it
is inside the area, and a freed slot is reused by the next arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bcfl_env.config import NetworkConfig
from bcfl_env.network.availability import Availability
from bcfl_env.network.channel import Channel
from bcfl_env.network.infrastructure import Infrastructure
from bcfl_env.network.mobility import Mobility, truncated_normal
from bcfl_env.network.roads import RoadNetwork

if TYPE_CHECKING:
    from bcfl_env.network.sumo import SumoMobility

__all__ = ["NetworkEvents", "VehicularNetwork"]


@dataclass
class NetworkEvents:
    arrived: np.ndarray  # slots that received a new identity
    departed: np.ndarray  # slots whose identity left (identity given in departed_ids)
    departed_ids: np.ndarray
    handovers: np.ndarray  # slots whose serving RSU changed (including to or from none)
    # identities that went offline (network.availability); their jobs are lost
    went_offline: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class VehicularNetwork:
    """Everything below the chain and the FL engine, vectorised over slots.

    Args:
        cfg: the network section of the config.
        num_slots: observation slots N.
        fleet_size: identities that may enter the area (>= N).
        rngs: generators named ``mobility``, ``channel``, ``compute`` and ``fleet`` (and
            ``availability``, needed with ``network.availability.model="trace"``).
    """

    def __init__(
        self,
        cfg: NetworkConfig,
        num_slots: int,
        fleet_size: int,
        rngs: dict[str, np.random.Generator],
    ) -> None:
        self.cfg = cfg
        self.num_slots = num_slots
        self.fleet_size = fleet_size
        self._fleet_rng = rngs["fleet"]
        self.mobility: Mobility | SumoMobility
        if cfg.mobility.backend == "sumo":
            from bcfl_env.network.sumo import SumoMobility

            self.mobility = SumoMobility(cfg, num_slots, rngs["mobility"])
            self.roads = self.mobility.roads
        else:
            self.roads = RoadNetwork.from_config(cfg.road)
            self.mobility = Mobility(self.roads, cfg.mobility, num_slots, rngs["mobility"])
        self.infra = Infrastructure(self.roads, cfg.infra)
        self.channel = Channel(cfg.channel, num_slots, rngs["channel"])
        c = cfg.compute
        crng = rngs["compute"]
        if c.cpu_distribution == "lognormal":
            self.cpu_hz = crng.lognormal(np.log(c.cpu_mean_ghz * 1e9), c.cpu_log_sigma, fleet_size)
        else:
            self.cpu_hz = (
                truncated_normal(crng, c.cpu_mean_ghz, c.cpu_std_ghz, c.cpu_cut_std, fleet_size)
                * 1e9
            )
        self.cpu_hz = np.maximum(self.cpu_hz, 1e6)
        spread = crng.uniform(
            1 - c.energy_budget_spread, 1 + c.energy_budget_spread, size=fleet_size
        )
        # channel.model="fixed": each identity keeps its own link rate (drawn after every other
        # compute draw, so the default model's streams are unchanged)
        ch = cfg.channel
        self.fixed_rate_bps = (
            crng.lognormal(np.log(ch.fixed_rate_bps), ch.fixed_rate_sigma, fleet_size)
            if ch.model == "fixed"
            else None
        )
        self.availability = Availability(cfg.availability, fleet_size, rngs.get("availability"))
        self.energy_budget_j = c.energy_budget_j * spread
        self.energy_left_j = self.energy_budget_j.copy()
        self.slot_identity = np.full(num_slots, -1, dtype=np.int64)
        self.identity_slot = np.full(fleet_size, -1, dtype=np.int64)
        self.serving = np.full(num_slots, -1, dtype=np.int64)
        self.distance_m = np.full(num_slots, np.inf)
        self._last_xy = np.zeros((num_slots, 2))
        self.time_s = 0.0

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> NetworkEvents:
        slots = self.mobility.populate()
        self._assign_identities(slots)
        self._associate()
        self.channel.new_links(slots[self.serving[slots] >= 0])
        self.channel.link_rsu = self.serving.copy()
        self._last_xy = self.mobility.positions()
        empty = np.zeros(0, dtype=np.int64)
        return NetworkEvents(slots, empty, empty, empty)

    def _assign_identities(self, slots: np.ndarray) -> None:
        if slots.size == 0:
            return
        idle = np.flatnonzero(self.identity_slot < 0)
        if idle.size < slots.size:  # cannot happen while fleet_size >= num_slots
            raise RuntimeError("fleet exhausted: fleet_size must be at least num_vehicles")
        ids = self._fleet_rng.choice(idle, size=slots.size, replace=False)
        self.slot_identity[slots] = ids
        self.identity_slot[ids] = slots

    def _associate(self) -> np.ndarray:
        """Re-associate every slot; returns the positions it used."""
        xy = self.mobility.positions()
        self.serving, self.distance_m = self.infra.associate(xy, self.mobility.present)
        return xy

    def advance(self, dt_s: float) -> NetworkEvents:
        """Advance mobility, association and the channel by ``dt_s`` seconds."""
        previous = self.serving
        events = self.mobility.advance(dt_s)
        departed_ids = self.slot_identity[events.departed].copy()
        self.identity_slot[departed_ids] = -1
        self.slot_identity[events.departed] = -1
        self._assign_identities(events.arrived)
        xy = self._associate()
        moved = np.linalg.norm(xy - self._last_xy, axis=1)
        moved[events.arrived] = 0.0
        self._last_xy = xy
        self.channel.evolve(moved, self.mobility.speed_mps, dt_s, self.serving)
        handovers = np.flatnonzero((self.serving != previous) & self.mobility.present)
        self.time_s += dt_s
        went_offline = self.availability.advance(dt_s)
        return NetworkEvents(events.arrived, events.departed, departed_ids, handovers, went_offline)

    # ------------------------------------------------------------------ views
    @property
    def present(self) -> np.ndarray:
        return self.mobility.present

    def positions(self) -> np.ndarray:
        return self.mobility.positions()

    def slot_online(self) -> np.ndarray:
        """Slots whose identity is online now (checked in; ``network.availability``)."""
        ids = self.slot_identity
        if not self.availability.enabled:
            return ids >= 0
        return (ids >= 0) & self.availability.online[np.maximum(ids, 0)]

    def rates_bps(self, sharers: np.ndarray | None = None) -> np.ndarray:
        """Uplink rate per slot [bit/s]; ``sharers`` defaults to one upload per RSU."""
        if self.fixed_rate_bps is not None:  # a deployment's own links: no RSU shares them
            ids = self.slot_identity
            rate = self.fixed_rate_bps[np.maximum(ids, 0)]
            return np.where((ids >= 0) & (self.serving >= 0), rate, 0.0)
        share = np.ones(self.num_slots) if sharers is None else sharers
        return self.channel.rates_bps(self.distance_m, self.serving, share)

    def dwell_time_s(self) -> np.ndarray:
        return self.infra.dwell_time_s(
            self.mobility.positions(), self.mobility.velocities(), self.serving
        )

    def slot_cpu_hz(self) -> np.ndarray:
        ids = self.slot_identity
        return np.where(ids >= 0, self.cpu_hz[np.maximum(ids, 0)], 0.0)

    def spend_energy(self, identity: int, joules: float) -> float:
        """The one writer of ``energy_left_j``: take ``joules`` from a vehicle's battery (never
        below empty); returns the joules charged (the work's cost, even past empty) [J]."""
        left = self.energy_left_j
        left[identity] = max(left[identity] - joules, 0.0)
        return joules

    def slot_energy_fraction(self) -> np.ndarray:
        ids = np.maximum(self.slot_identity, 0)
        frac = self.energy_left_j[ids] / self.energy_budget_j[ids]
        return np.where(self.slot_identity >= 0, frac, 0.0)

    def summary(self) -> dict[str, float]:
        present = self.present
        rates = self.rates_bps()[present & (self.serving >= 0)]
        return {
            "time_s": self.time_s,
            "vehicles_present": int(present.sum()),
            "covered": int((self.serving >= 0).sum()),
            "mean_rate_mbps": float(rates.mean() / 1e6) if rates.size else 0.0,
            "rsus": self.infra.num_rsus,
            "road_nodes": self.roads.num_nodes,
        }
