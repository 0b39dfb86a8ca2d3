"""SUMO mobility backend (``pip install bcfl-gym[sumo]``): positions from a libsumo simulation.

The road network is a SUMO ``.net.xml``: ``mobility.sumo_net_file``, or a grid generated with
SUMO's own ``netgenerate`` from the ``road`` section (rows, cols, block length, speed limit). It
offers the interface of :class:`~bcfl_env.network.mobility.Mobility` (``present``, ``speed_mps``,
``populate``, ``advance``, ``positions``, ``velocities``), so the rest of the world does not know
which backend moves the vehicles.

Vehicles drive shortest routes (``simulation.findRoute``) between random edges with a maximum
speed drawn from the same truncated Gaussian as the built-in backend; on reaching its destination a
vehicle leaves the area with ``departure_prob`` or continues on a new route; Poisson arrivals
enter on edges leaving boundary junctions. libsumo runs one simulation per process: a second SUMO
world in the same process makes the first one unusable (it raises), so run several in
``SubprocVecEnv`` workers.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import numpy as np

from bcfl_env.config import NetworkConfig
from bcfl_env.network.mobility import MobilityEvents, draw_speeds_mps
from bcfl_env.network.roads import RoadNetwork

__all__ = ["SumoMobility", "generate_grid_net", "roads_from_sumo_net"]


def _sumo_home() -> Path:
    try:
        import sumo
    except ImportError as exc:
        raise ValueError(
            "network.mobility.backend='sumo' needs the sumo extra: pip install 'bcfl-gym[sumo]'"
        ) from exc
    return Path(sumo.SUMO_HOME)


def generate_grid_net(rows: int, cols: int, block_m: float, speed_mps: float, path: Path) -> Path:
    """A rows x cols grid network written by SUMO's ``netgenerate``."""
    binary = _sumo_home() / "bin" / "netgenerate"
    cmd = [
        str(binary), "--grid", f"--grid.x-number={cols}", f"--grid.y-number={rows}",
        f"--grid.length={block_m}", f"--default.speed={speed_mps}", "--no-turnarounds", "false",
        "-o", str(path),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"netgenerate failed: {result.stderr.strip()[-500:]}")
    return path


def roads_from_sumo_net(path: Path) -> tuple[RoadNetwork, dict[str, int]]:
    """The SUMO network as a :class:`RoadNetwork` (junctions as nodes) and edge id -> from-node."""
    import sumolib

    net = sumolib.net.readNet(str(path))
    nodes = [n for n in net.getNodes() if n.getType() != "internal"]
    index = {n.getID(): i for i, n in enumerate(nodes)}
    g = nx.Graph()
    for node, i in index.items():
        x, y = net.getNode(node).getCoord()
        g.add_node(i, x=float(x), y=float(y))
    from_node: dict[str, int] = {}
    for edge in net.getEdges():
        u, v = index[edge.getFromNode().getID()], index[edge.getToNode().getID()]
        from_node[edge.getID()] = u
        if u != v:
            g.add_edge(
                u, v, length_m=float(edge.getLength()), speed_limit_mps=float(edge.getSpeed())
            )
    degree = dict(g.degree)
    top = max(degree.values())
    for i in g.nodes:
        g.nodes[i]["boundary"] = degree[i] < top
    return RoadNetwork.from_graph(g), from_node


class SumoMobility:
    """Vehicle slots driven by libsumo (see the module docstring)."""

    _active: ClassVar[SumoMobility | None] = None

    def __init__(self, cfg: NetworkConfig, num_slots: int, rng: np.random.Generator) -> None:
        import libsumo

        self._sumo: Any = libsumo
        self.cfg = cfg.mobility
        self.num_slots = num_slots
        self.rng = rng
        self.static = False
        self._tmp = tempfile.TemporaryDirectory(prefix="bcfl-sumo-")
        if self.cfg.sumo_net_file:
            net_file = Path(self.cfg.sumo_net_file)
            if not net_file.is_file():
                raise ValueError(f"network.mobility.sumo_net_file={str(net_file)!r}: no such file")
        else:
            road = cfg.road
            net_file = generate_grid_net(road.rows, road.cols, road.block_length_m, road.speed_limit_kmh / 3.6,
                                         Path(self._tmp.name) / "grid.net.xml")  # fmt: skip
        try:
            self.roads, from_node = roads_from_sumo_net(net_file)
        except Exception as exc:  # sumolib raises XML parser errors of several types
            raise ValueError(
                f"network.mobility.sumo_net_file={str(net_file)!r} is not a SUMO network "
                f"(.net.xml): {type(exc).__name__}: {exc}"
            ) from None
        if SumoMobility._active is not None:
            SumoMobility._active._close()
        libsumo.start([
            "sumo", "-n", str(net_file), "--step-length", str(self.cfg.tick_s), "--no-step-log", "--no-warnings",
            "--seed", str(int(rng.integers(0, 2**31 - 1))), "--time-to-teleport", "-1",
        ])  # fmt: skip
        SumoMobility._active = self
        self.edges = sorted(e for e in libsumo.edge.getIDList() if not e.startswith(":"))
        boundary = set(self.roads.boundary.tolist())
        self.entry_edges = [e for e in self.edges if from_node.get(e) in boundary] or self.edges
        self.present = np.zeros(num_slots, dtype=bool)
        self.speed_mps = np.zeros(num_slots)
        self._max_speed = np.zeros(num_slots)
        self._vid: list[str | None] = [None] * num_slots
        self._xy = np.zeros((num_slots, 2))
        self._heading = np.zeros(num_slots)
        self._counter = 0
        self._time = 0.0

    # ------------------------------------------------------------------ helpers
    def _check(self) -> None:
        if SumoMobility._active is not self:
            raise RuntimeError(
                "another SUMO world was started in this process; libsumo runs one simulation per process "
                "(use SubprocVecEnv to run several)"
            )

    def _close(self) -> None:
        try:
            self._sumo.close()
        finally:
            SumoMobility._active = None

    def _insert(self, slot: int, start_edge: str | None = None) -> bool:
        """Put a vehicle into ``slot`` on a shortest route; False when no route was found."""
        for _ in range(10):
            start = start_edge or self.edges[int(self.rng.integers(len(self.edges)))]
            goal = self.edges[int(self.rng.integers(len(self.edges)))]
            if goal == start:
                continue
            route = self._sumo.simulation.findRoute(start, goal).edges
            if len(route) < 2:
                continue
            self._counter += 1
            vid, rid = f"v{slot}_{self._counter}", f"r{slot}_{self._counter}"
            self._sumo.route.add(rid, list(route))
            pos = "random" if start_edge is None else "base"
            self._sumo.vehicle.add(vid, rid, departPos=pos, departSpeed="max", departLane="best")
            self._sumo.vehicle.setMaxSpeed(vid, float(self._max_speed[slot]))
            self._vid[slot] = vid
            return True
        return False

    def _draw_speed(self) -> float:
        return float(draw_speeds_mps(self.cfg, self.rng, 1)[0])

    def _sync(self) -> None:
        """Read positions and speeds of every vehicle in a slot (after a simulation step)."""
        live = set(self._sumo.vehicle.getIDList())
        for slot, vid in enumerate(self._vid):
            if vid is None or vid not in live:
                continue
            self._xy[slot] = self._sumo.vehicle.getPosition(vid)
            self.speed_mps[slot] = self._sumo.vehicle.getSpeed(vid)
            self._heading[slot] = np.deg2rad(self._sumo.vehicle.getAngle(vid))

    def _step(self, dt_s: float) -> set[str]:
        self._time += dt_s
        self._sumo.simulation.step(self._time)
        return set(self._sumo.simulation.getArrivedIDList())

    # ------------------------------------------------------------------ Mobility interface
    def populate(self) -> np.ndarray:
        self._check()
        count = int(round(self.cfg.initial_occupancy * self.num_slots))
        slots = (
            np.sort(self.rng.choice(self.num_slots, size=count, replace=False))
            if count
            else np.zeros(0, np.int64)
        )
        filled = []
        for slot in slots:
            self._max_speed[slot] = self._draw_speed()
            if self._insert(int(slot)):
                filled.append(int(slot))
        self._step(self.cfg.tick_s)  # SUMO inserts vehicles on the next step
        out = np.array(filled, dtype=np.int64)
        self.present[out] = True
        self._sync()
        return out

    def advance(self, dt_s: float) -> MobilityEvents:
        self._check()
        arrived_ids = self._step(dt_s)
        departed = []
        for slot, vid in enumerate(self._vid):
            if vid is None or vid not in arrived_ids:
                continue
            # leave the area, or continue on a new route (visible after the next step)
            if self.rng.random() < self.cfg.departure_prob or not self._insert(slot):
                self._vid[slot] = None
                self.present[slot] = False
                departed.append(slot)
        arrivals = int(self.rng.poisson(self.cfg.arrival_rate_per_s * dt_s))
        free = np.flatnonzero(~self.present)
        take = min(arrivals, free.size)
        new = (
            np.sort(self.rng.choice(free, size=take, replace=False))
            if take
            else np.zeros(0, np.int64)
        )
        entered = []
        for new_slot in new.tolist():
            self._max_speed[new_slot] = self._draw_speed()
            edge = self.entry_edges[int(self.rng.integers(len(self.entry_edges)))]
            if self._insert(new_slot, edge):
                self.present[new_slot] = True
                entered.append(new_slot)
                # SUMO shows it after the next step; until then it stands at the edge's start
                self._xy[new_slot] = self._sumo.lane.getShape(f"{edge}_0")[0]
                self.speed_mps[new_slot] = 0.0
        self._sync()
        return MobilityEvents(
            np.array(entered, dtype=np.int64),
            np.array(departed, dtype=np.int64),
            arrivals - len(entered),
        )

    def positions(self) -> np.ndarray:
        return self._xy.copy()

    def velocities(self) -> np.ndarray:
        # SUMO's angle: degrees clockwise from north
        return (
            np.stack([np.sin(self._heading), np.cos(self._heading)], axis=1)
            * self.speed_mps[:, None]
        )

    def close(self) -> None:
        if SumoMobility._active is self:
            self._close()
        self._tmp.cleanup()
