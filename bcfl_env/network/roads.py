"""Road graphs (networkx). Nodes carry ``x``, ``y`` [m]; edges ``length_m`` and ``speed_limit_mps``."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from bcfl_env.config import RoadConfig

__all__ = ["RoadNetwork", "build_road_graph"]


def _grid(cfg: RoadConfig) -> nx.Graph:
    g = nx.Graph()
    for r in range(cfg.rows):
        for c in range(cfg.cols):
            g.add_node(
                r * cfg.cols + c,
                x=c * cfg.block_length_m,
                y=r * cfg.block_length_m,
                boundary=r in (0, cfg.rows - 1) or c in (0, cfg.cols - 1),
            )
    for r in range(cfg.rows):
        for c in range(cfg.cols):
            if c + 1 < cfg.cols:
                g.add_edge(r * cfg.cols + c, r * cfg.cols + c + 1)
            if r + 1 < cfg.rows:
                g.add_edge(r * cfg.cols + c, (r + 1) * cfg.cols + c)
    return g


def _ring(cfg: RoadConfig) -> nx.Graph:
    g = nx.Graph()
    n = cfg.ring_nodes
    for i in range(n):
        angle = 2 * math.pi * i / n
        g.add_node(
            i,
            x=cfg.ring_radius_m * (1 + math.cos(angle)),
            y=cfg.ring_radius_m * (1 + math.sin(angle)),
            boundary=i % 3 == 0,
        )  # every third junction is a ramp in and out of the area
    for i in range(n):
        g.add_edge(i, (i + 1) % n)
    return g


def _highway(cfg: RoadConfig) -> nx.Graph:
    g = nx.Graph()
    n = cfg.highway_segments + 1
    step = cfg.highway_length_m / cfg.highway_segments
    for i in range(n):
        g.add_node(i, x=i * step, y=0.0, boundary=i in (0, n - 1))
    for i in range(n - 1):
        g.add_edge(i, i + 1)
    return g


def _graphml(cfg: RoadConfig) -> nx.Graph:
    path = Path(cfg.graphml_path or "")
    if not path.is_file():
        raise ValueError(f"network.road.graphml_path={str(path)!r}: no such file")
    raw = nx.read_graphml(path)
    g = nx.Graph()
    mapping = {node: i for i, node in enumerate(raw.nodes)}
    for node, data in raw.nodes(data=True):
        if "x" not in data or "y" not in data:
            raise ValueError(
                f"network.road.graphml_path: node {node!r} lacks 'x' and 'y' attributes [m]"
            )
        g.add_node(mapping[node], x=float(data["x"]), y=float(data["y"]), boundary=False)
    for u, v in raw.edges:
        g.add_edge(mapping[u], mapping[v])
    for node in g.nodes:
        g.nodes[node]["boundary"] = g.degree[node] <= 1 or g.degree[node] < max(
            dict(g.degree).values()
        )
    return g


def build_road_graph(cfg: RoadConfig) -> nx.Graph:
    """Build the configured road graph with edge lengths and speed limits."""
    g = {"grid": _grid, "ring": _ring, "highway": _highway, "graphml": _graphml}[cfg.kind](cfg)
    if g.number_of_nodes() < 2 or not nx.is_connected(g):
        raise ValueError("network.road: the road graph must be connected with at least two nodes")
    limit = cfg.speed_limit_kmh / 3.6
    for u, v in g.edges:
        du = np.hypot(g.nodes[u]["x"] - g.nodes[v]["x"], g.nodes[u]["y"] - g.nodes[v]["y"])
        g.edges[u, v]["length_m"] = float(max(du, 1e-3))
        g.edges[u, v]["speed_limit_mps"] = limit
    if not any(nx.get_node_attributes(g, "boundary").values()):
        for node in g.nodes:
            g.nodes[node]["boundary"] = True
    return g


@dataclass(frozen=True)
class RoadNetwork:
    """Array view of a road graph for vectorised mobility.

    Attributes:
        graph: the networkx graph.
        xy: node coordinates, shape (n_nodes, 2) [m].
        length_m: edge length matrix (inf where no edge), shape (n_nodes, n_nodes) [m].
        next_hop: ``next_hop[a, b]`` is the neighbour of ``a`` on a shortest path to ``b``.
        boundary: indices of nodes where vehicles enter and leave the area.
    """

    graph: nx.Graph
    xy: np.ndarray
    length_m: np.ndarray
    speed_limit_mps: np.ndarray
    next_hop: np.ndarray
    boundary: np.ndarray

    @classmethod
    def from_config(cls, cfg: RoadConfig) -> RoadNetwork:
        """The network ``cfg`` describes. A generated layout is built once per process and shared
        (read-only) by every reset; a GraphML file is read again each time, as it may change."""
        if cfg.kind == "graphml":
            return cls.from_graph(build_road_graph(cfg))
        return _generated(cfg)

    @classmethod
    def from_graph(cls, g: nx.Graph) -> RoadNetwork:
        n = g.number_of_nodes()
        nodes = sorted(g.nodes)
        if nodes != list(range(n)):
            g = nx.convert_node_labels_to_integers(g, ordering="sorted")
        xy = np.array([[g.nodes[i]["x"], g.nodes[i]["y"]] for i in range(n)], dtype=np.float64)
        length = np.full((n, n), np.inf)
        limit = np.zeros((n, n))
        for u, v, d in g.edges(data=True):
            length[u, v] = length[v, u] = d["length_m"]
            limit[u, v] = limit[v, u] = d["speed_limit_mps"]
        # Next-hop table from all-pairs shortest paths: routing becomes one array lookup per vehicle.
        next_hop = np.zeros((n, n), dtype=np.int64)
        for src, paths in nx.all_pairs_dijkstra_path(g, weight="length_m"):
            for dst, path in paths.items():
                next_hop[src, dst] = path[1] if len(path) > 1 else src
        boundary = np.array(
            [i for i in range(n) if g.nodes[i].get("boundary", False)], dtype=np.int64
        )
        return cls(g, xy, length, limit, next_hop, boundary)

    @property
    def num_nodes(self) -> int:
        return int(self.xy.shape[0])

    @property
    def extent(self) -> tuple[float, float, float, float]:
        lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


@functools.lru_cache(maxsize=16)
def _generated(cfg: RoadConfig) -> RoadNetwork:
    # all-pairs routing costs milliseconds per reset and depends on the config alone
    roads = RoadNetwork.from_graph(build_road_graph(cfg))
    for array in (roads.xy, roads.length_m, roads.speed_limit_mps, roads.next_hop, roads.boundary):
        array.flags.writeable = False
    nx.freeze(roads.graph)
    return roads
