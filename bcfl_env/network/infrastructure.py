"""RSUs at intersections and a macro base station (MBS) covering the whole area."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from bcfl_env.config import InfraConfig
from bcfl_env.network.roads import RoadNetwork

__all__ = ["Infrastructure"]


class Infrastructure:
    """RSU positions and vehicle-to-RSU association.

    RSUs sit at intersections chosen by farthest-point sampling (deterministic: the first is the
    junction nearest the centre), which spreads them evenly over any road graph. Each vehicle is
    served by the nearest RSU whose coverage disc contains it, or by none (-1).
    """

    def __init__(self, roads: RoadNetwork, cfg: InfraConfig) -> None:
        self.cfg = cfg
        n_nodes = roads.num_nodes
        count = min(cfg.num_rsus, n_nodes)
        if count < cfg.num_rsus:
            raise ValueError(
                f"network.infra.num_rsus={cfg.num_rsus} is out of range: allowed [1, {n_nodes}] "
                "(one RSU per intersection at most)"
            )
        centre = roads.xy.mean(axis=0)
        chosen = [int(np.argmin(np.linalg.norm(roads.xy - centre, axis=1)))]
        dist = np.linalg.norm(roads.xy - roads.xy[chosen[0]], axis=1)
        while len(chosen) < count:
            nxt = int(np.argmax(dist))
            chosen.append(nxt)
            dist = np.minimum(dist, np.linalg.norm(roads.xy - roads.xy[nxt], axis=1))
        self.rsu_nodes = np.array(chosen, dtype=np.int64)
        self.rsu_xy = roads.xy[self.rsu_nodes]
        lo, hi = roads.xy.min(axis=0), roads.xy.max(axis=0)
        self.mbs_xy = (lo + hi) / 2
        self._tree = cKDTree(self.rsu_xy)

    @property
    def num_rsus(self) -> int:
        return int(self.rsu_xy.shape[0])

    def associate(
        self, positions: np.ndarray, present: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Serving RSU index per slot (-1 when out of coverage or absent) and the distance to it [m].

        The nearest RSU by brute force over the few RSUs (a k-d tree query costs more in call
        overhead, several times a step); a slot equidistant from two RSUs, as a vehicle on a
        junction of a symmetric grid can be, asks the tree, so ties break as they always have.
        """
        dx = positions[:, None, 0] - self.rsu_xy[None, :, 0]
        dy = positions[:, None, 1] - self.rsu_xy[None, :, 1]
        squared = dx * dx + dy * dy  # the tree's own arithmetic: equal distances, bit for bit
        idx = squared.argmin(axis=1)
        nearest = np.take_along_axis(squared, idx[:, None], axis=1)
        dist = np.sqrt(nearest[:, 0])
        tied = np.flatnonzero((squared == nearest).sum(axis=1) > 1)
        if tied.size:
            dist[tied], idx[tied] = self._tree.query(positions[tied], k=1)
        covered = present & (dist <= self.cfg.rsu_coverage_m)
        serving = np.where(covered, idx, -1).astype(np.int64)
        return serving, np.where(covered, dist, np.inf)

    def dwell_time_s(
        self, positions: np.ndarray, velocities: np.ndarray, serving: np.ndarray
    ) -> np.ndarray:
        """Time until each vehicle leaves its serving RSU's disc on its current heading [s].

        Solves |p + v t - r| = R for the positive root; inf for a vehicle at rest, 0 when unserved.
        """
        r = self.rsu_xy[np.maximum(serving, 0)]
        rel = positions - r
        a = (velocities**2).sum(axis=1)
        b = 2 * (rel * velocities).sum(axis=1)
        c = (rel**2).sum(axis=1) - self.cfg.rsu_coverage_m**2
        disc = np.maximum(b * b - 4 * a * c, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (-b + np.sqrt(disc)) / (2 * a)
        t = np.where(a > 0, np.maximum(t, 0.0), np.inf)
        return np.where(serving >= 0, t, 0.0)
