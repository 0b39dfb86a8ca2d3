"""Vehicle mobility over fixed-size slots, vectorised with NumPy.

Vehicles drive along shortest paths between random nodes (re-routed on arrival) at speeds drawn
from a truncated Gaussian (mean 55 km/h, std 2.5 km/h, cut at 2 std: the free-flow model of
Ye, Liang, Li, Juang, "Machine learning for vehicular networks", IEEE VT Magazine 2018, also
used by Lu et al., IEEE TVT 2020). Vehicles enter the area at boundary nodes as a Poisson process
and may leave when they reach a boundary node, so the population changes while the slots are
reused. Routing is one lookup in a next-hop table, so a tick is a handful of array operations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from bcfl_env.config import MobilityConfig
from bcfl_env.network.roads import RoadNetwork

__all__ = ["Mobility", "MobilityEvents", "draw_speeds_mps", "truncated_normal"]


def truncated_normal(
    rng: np.random.Generator, mean: float, std: float, cut: float, size: int
) -> np.ndarray:
    """Draws from N(mean, std) truncated to mean +- cut x std (std 0 gives the mean).

    The draws are those of ``scipy.stats.truncnorm.rvs(-cut, cut, loc=mean, scale=std,
    size=size, random_state=rng)`` bit for bit (one uniform per draw through the inverse CDF, in
    scipy's log-space form for a symmetric cut), without its per-call overhead (about 0.4 ms,
    several per step); ``tests/test_network.py`` checks the equality against scipy.
    """
    if std == 0 or cut == 0:
        return np.full(size, float(mean))
    log_cdf_low, log_mass = _truncnorm_constants(float(cut))
    log_q = np.log(rng.uniform(size=size)) + log_mass
    # log(Phi(-cut) + q x mass) as scipy's two-term logsumexp computes it
    high, low = np.maximum(log_q, log_cdf_low), np.minimum(log_q, log_cdf_low)
    standard = special.ndtri_exp(np.log1p(np.exp(low - high)) + high)
    return standard * std + mean


@functools.lru_cache(maxsize=16)
def _truncnorm_constants(cut: float) -> tuple[float, float]:
    """log Phi(-cut) and the log of the mass within +- cut, as scipy's truncnorm has them."""
    low, high = np.array([-cut]), np.array([cut])
    log_mass = special.log1p(-special.ndtr(low) - special.ndtr(-high))
    return float(special.log_ndtr(low)[0]), float(log_mass[0])


def draw_speeds_mps(cfg: MobilityConfig, rng: np.random.Generator, k: int) -> np.ndarray:
    """k vehicle speeds [m/s] from the configured truncated Gaussian (floored at 0.1 km/h)."""
    kmh = truncated_normal(rng, cfg.speed_mean_kmh, cfg.speed_std_kmh, cfg.speed_cut_std, k)
    return np.maximum(kmh, 0.1) / 3.6


@dataclass
class MobilityEvents:
    """What happened in one tick, as slot indices."""

    arrived: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    departed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rejected_arrivals: int = 0  # Poisson arrivals that found every slot full


class Mobility:
    """Positions of up to ``num_slots`` vehicles on a :class:`RoadNetwork`.

    State arrays (one entry per slot): ``present``, ``src`` and ``dst`` nodes of the current edge,
    ``progress_m`` along it and ``edge_m`` its length, ``goal`` node of the route, ``speed_mps``.
    """

    def __init__(
        self, roads: RoadNetwork, cfg: MobilityConfig, num_slots: int, rng: np.random.Generator
    ) -> None:
        self.roads = roads
        self.cfg = cfg
        self.num_slots = num_slots
        self.rng = rng
        n = num_slots
        self.present = np.zeros(n, dtype=bool)
        self.src = np.zeros(n, dtype=np.int64)
        self.dst = np.zeros(n, dtype=np.int64)
        self.goal = np.zeros(n, dtype=np.int64)
        self.progress_m = np.zeros(n)
        self.edge_m = np.full(n, roads.length_m[0, 0])  # length of the edge src -> dst
        self.speed_mps = np.zeros(n)
        self.static = cfg.backend == "static"
        self._static_xy = np.zeros((n, 2))
        self._is_boundary = np.zeros(roads.num_nodes, dtype=bool)
        self._is_boundary[roads.boundary] = True

    # ------------------------------------------------------------------ population
    def populate(self) -> np.ndarray:
        """Fill ``initial_occupancy`` of the slots; returns the filled slot indices."""
        count = int(round(self.cfg.initial_occupancy * self.num_slots))
        slots = (
            np.sort(self.rng.choice(self.num_slots, size=count, replace=False))
            if count
            else np.zeros(0, np.int64)
        )
        self._spawn(slots, anywhere=True)
        return slots

    def _spawn(self, slots: np.ndarray, anywhere: bool) -> None:
        if slots.size == 0:
            return
        roads, k = self.roads, slots.size
        self.present[slots] = True
        if self.static:
            nodes = self.rng.integers(0, roads.num_nodes, size=k)
            jitter = self.rng.uniform(-0.25, 0.25, size=(k, 2)) * _typical_edge(roads)
            self._static_xy[slots] = roads.xy[nodes] + jitter
            self.speed_mps[slots] = 0.0
            return
        start = (
            self.rng.integers(0, roads.num_nodes, size=k)
            if anywhere
            else self.rng.choice(roads.boundary, size=k)
        )
        goal = self._draw_goals(start)
        self.src[slots] = start
        self.goal[slots] = goal
        self.dst[slots] = roads.next_hop[start, goal]
        length = roads.length_m[self.src[slots], self.dst[slots]]
        self.edge_m[slots] = length
        self.progress_m[slots] = self.rng.uniform(0, 1, size=k) * length if anywhere else 0.0
        self.speed_mps[slots] = self._draw_speeds(k)

    def _draw_speeds(self, k: int) -> np.ndarray:
        return draw_speeds_mps(self.cfg, self.rng, k)

    def _draw_goals(self, start: np.ndarray) -> np.ndarray:
        n = self.roads.num_nodes
        goal = self.rng.integers(0, n - 1, size=start.size)
        return goal + (goal >= start)  # any node but the start

    # ------------------------------------------------------------------ dynamics
    def advance(self, dt_s: float) -> MobilityEvents:
        """Move every present vehicle by ``dt_s`` seconds; handle arrivals and departures."""
        events = MobilityEvents()
        if self.static:
            return events
        roads = self.roads
        moving = self.present.copy()
        self.progress_m[moving] += self.speed_mps[moving] * dt_s
        departed: list[np.ndarray] = []
        # A vehicle may pass several junctions in one tick; each pass is vectorised over vehicles.
        for _ in range(64):
            length = self.edge_m
            over = moving & (self.progress_m >= length)
            if not over.any():
                break
            idx = np.flatnonzero(over)
            self.progress_m[idx] -= length[idx]
            node = self.dst[idx]
            at_goal = node == self.goal[idx]
            leave = (
                at_goal
                & self._is_boundary[node]
                & (self.rng.random(idx.size) < self.cfg.departure_prob)
            )
            gone = idx[leave]
            if gone.size:
                self.present[gone] = False
                moving[gone] = False
                departed.append(gone)
            stay = idx[~leave]
            stay_node = node[~leave]
            reroute = stay[self.goal[stay] == stay_node]
            if reroute.size:
                self.goal[reroute] = self._draw_goals(self.dst[reroute])
            self.src[stay] = stay_node
            self.dst[stay] = roads.next_hop[stay_node, self.goal[stay]]
            self.edge_m[stay] = roads.length_m[stay_node, self.dst[stay]]
        events.departed = np.concatenate(departed) if departed else np.zeros(0, dtype=np.int64)
        arrivals = int(self.rng.poisson(self.cfg.arrival_rate_per_s * dt_s))
        free = np.flatnonzero(~self.present)
        take = min(arrivals, free.size)
        slots = (
            np.sort(self.rng.choice(free, size=take, replace=False))
            if take
            else np.zeros(0, np.int64)
        )
        self._spawn(slots, anywhere=False)
        events.arrived = slots
        events.rejected_arrivals = arrivals - take
        return events

    # ------------------------------------------------------------------ views
    def positions(self) -> np.ndarray:
        """(num_slots, 2) positions [m]; rows of empty slots are meaningless (mask with ``present``)."""
        if self.static:
            return self._static_xy.copy()
        xy = self.roads.xy
        a, b = xy[self.src], xy[self.dst]
        length = self.edge_m
        frac = np.clip(self.progress_m / np.where(np.isfinite(length), length, 1.0), 0.0, 1.0)
        return a + (b - a) * frac[:, None]

    def velocities(self) -> np.ndarray:
        """(num_slots, 2) velocity vectors [m/s]."""
        if self.static:
            return np.zeros((self.num_slots, 2))
        xy = self.roads.xy
        d = xy[self.dst] - xy[self.src]
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        return d / np.maximum(norm, 1e-9) * self.speed_mps[:, None]


def _typical_edge(roads: RoadNetwork) -> float:
    finite = roads.length_m[np.isfinite(roads.length_m)]
    return float(np.median(finite)) if finite.size else 1.0
