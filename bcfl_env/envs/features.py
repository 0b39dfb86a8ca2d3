"""Observation features: one function per column, registered in column order.

Each feature reads the world's read-only view (:class:`~bcfl_env.view.WorldView`) and returns one
value per slot, scaled to [0, 1]. Its ``source`` says how a real system would know it:

* ``on-chain``: the ledger and the chain's own records (tasks, reputation);
* ``measured``: what the RSUs and the MBS measure (association, channel state, position and
  velocity beacons, the round trips they timed);
* ``reported``: what the vehicle declares about itself (a malicious vehicle may lie; see
  ``fl.misreport_factor``);
* ``oracle``: true values no server knows, only with ``observation_features="oracle"``.

The default (``"server"``) set is every non-oracle feature; ``"oracle"`` appends the oracle ones.
Features that need a part of the system that is off by default (``requires="dag"``: the vehicles'
DAG, ``chain.dag=True``) join a set only when that part is on, after the server columns, so the
server columns keep their places (:func:`features_for`). To add a feature: one function decorated with ``@feature(source=..., doc=...)`` here (it becomes
the next column of its set, which changes F: bump the env version) and a test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bcfl_env.config import BCFLConfig
from bcfl_env.view import OracleView, WorldView

__all__ = [
    "FEATURE_SETS",
    "features_for",
    "NEUTRAL",
    "NEUTRAL_ROUND_TRIP",
    "hidden_columns",
    "REGISTRY",
    "Feature",
    "ObservationContext",
    "feature",
]

SOURCES = ("on-chain", "measured", "reported", "oracle")
NEUTRAL_ROUND_TRIP = 0.5  # t = one epoch: what the server assumes before it has timed one

# The value of a feature a server cannot know for a node, in the feature's [0, 1] scale: what a
# deployment's server observes (agents.server_observation) and what ``env.hidden_features`` shows.
NEUTRAL: dict[str, float] = {
    "rsu_distance": 0.5,  # no road-side unit in a deployment: mid-coverage for every client
    "uplink_rate": 0.5,  # no reported link rate: the middle of the scale
    "data_size": 0.5,  # no reported sample count: the middle of the fleet's range
    "energy_left": 1.0,  # no reported battery: mains-powered, never out of energy
    "dwell_time": 1.0,  # no reported time online: it stays connected
    "last_loss": 0.0,  # never trained: the simulator's value before a first update
    "round_trip": NEUTRAL_ROUND_TRIP,  # never timed: one epoch, as the simulator assumes
}


@dataclass(frozen=True)
class ObservationContext:
    cfg: BCFLConfig
    epoch_s: float  # the decision epoch (async) or the sync deadline [s]
    num_classes: int


@dataclass(frozen=True)
class Feature:
    name: str
    doc: str
    source: str
    compute: Callable[[WorldView, ObservationContext], np.ndarray]
    requires: str | None = None  # "dag": only with chain.dag=True


REGISTRY: dict[str, Feature] = {}
REQUIREMENTS = ("dag",)


def feature(
    source: str, doc: str, requires: str | None = None
) -> Callable[[Callable[[WorldView, ObservationContext], np.ndarray]], Feature]:
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is not one of {SOURCES}")
    if requires is not None and requires not in REQUIREMENTS:
        raise ValueError(f"requires={requires!r} is not one of {REQUIREMENTS}")

    def register(fn: Callable[[WorldView, ObservationContext], np.ndarray]) -> Feature:
        entry = Feature(fn.__name__, doc, source, fn, requires)
        REGISTRY[entry.name] = entry
        return entry

    return register


def _saturate(t: np.ndarray, scale: float) -> np.ndarray:
    """t / (t + scale), 1 where t is infinite."""
    finite = np.isfinite(t)
    return np.where(finite, t / np.where(finite, t + scale, 1.0), 1.0)


@feature("measured", "1 if a vehicle occupies the slot")
def present(v: WorldView, c: ObservationContext) -> np.ndarray:
    return np.ones(v.present.size)


@feature("measured", "distance to the serving RSU / coverage radius [m/m]; 1 when unserved")
def rsu_distance(v: WorldView, c: ObservationContext) -> np.ndarray:
    return np.where(v.served, v.distance_m / c.cfg.network.infra.rsu_coverage_m, 1.0)


@feature("measured", "uplink rate from channel state / (RSU bandwidth x 20 bit/s/Hz)")
def uplink_rate(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.rate_bps / (c.cfg.network.channel.rsu_bandwidth_hz * 20.0)


@feature("reported", "reported local samples / largest reported in the fleet")
def data_size(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.reported_size / max(v.largest_reported_size, 1.0)


@feature("on-chain", "rounds since last selected / max_rounds (1 if never)")
def staleness(v: WorldView, c: ObservationContext) -> np.ndarray:
    last = v.last_selected_round
    return np.where(last >= 0, (v.round - last) / c.cfg.env.max_rounds, 1.0)


@feature("on-chain", "beta reputation on chain")
def reputation(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.reputation


@feature("reported", "reported remaining energy / budget [J/J]")
def energy_left(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.energy_fraction


@feature("on-chain", "1 while the vehicle holds an open task")
def in_flight(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.in_flight.astype(np.float64)


@feature("measured", "time to leave RSU coverage from position and velocity, t / (t + epoch) [s/s]")
def dwell_time(v: WorldView, c: ObservationContext) -> np.ndarray:
    return _saturate(v.dwell_s, c.epoch_s)


@feature("reported", "training loss reported with its last update l / (l + 1) [nats]")
def last_loss(v: WorldView, c: ObservationContext) -> np.ndarray:
    return v.reported_loss / (v.reported_loss + 1.0)


@feature(
    "measured", "last measured selection-to-arrival time t / (t + epoch); 0.5 before any [s/s]"
)
def round_trip(v: WorldView, c: ObservationContext) -> np.ndarray:
    measured = np.isfinite(v.round_trip_s)
    return np.where(measured, _saturate(v.round_trip_s, c.epoch_s), NEUTRAL_ROUND_TRIP)


@feature(
    "on-chain",
    "confirmed DAG models of vehicles within V2V reach (position beacons), n / (n + 2)",
    requires="dag",
)
def dag_neighbours(v: WorldView, c: ObservationContext) -> np.ndarray:
    n = _dag(v.dag_neighbours)
    return n / (n + 2.0)


@feature(
    "on-chain",
    "cumulative weight of the vehicle's last DAG model / confirmation weight, capped at 1; 0 if none",
    requires="dag",
)
def dag_confirmation(v: WorldView, c: ObservationContext) -> np.ndarray:
    return _dag(v.dag_confirmation)


def _dag(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        raise ValueError("DAG features need a view built with the DAG on (chain.dag=True)")
    return values


def _oracle(v: WorldView) -> OracleView:
    if v.oracle is None:
        raise ValueError("oracle features need a view built with oracle=True")
    return v.oracle


@feature("oracle", "true CPU frequency / (mean + cut x std) [Hz/Hz]")
def cpu_frequency(v: WorldView, c: ObservationContext) -> np.ndarray:
    k = c.cfg.network.compute
    return _oracle(v).cpu_hz / ((k.cpu_mean_ghz + k.cpu_cut_std * k.cpu_std_ghz) * 1e9)


@feature("oracle", "true label entropy / ln(classes)")
def label_entropy(v: WorldView, c: ObservationContext) -> np.ndarray:
    return _oracle(v).label_entropy / math.log(c.num_classes)


@feature("oracle", "compute + upload time from true CPU and data size, t / (t + epoch) [s/s]")
def true_round_trip(v: WorldView, c: ObservationContext) -> np.ndarray:
    return _saturate(_oracle(v).true_round_trip_s, c.epoch_s)


def hidden_columns(cfg: BCFLConfig, names: list[str]) -> dict[int, float]:
    """Column index -> neutral value of each feature ``env.hidden_features`` hides.

    Raises:
        ValueError: a name that is not a column of this env, or one without a neutral value.
    """
    raw = cfg.env.hidden_features
    if not raw:
        return {}
    hidden = {}
    for name in (part.strip() for part in raw.split(",")):
        if name not in NEUTRAL or name not in names:
            allowed = sorted(set(NEUTRAL) & set(names))
            raise ValueError(
                f"env.hidden_features: {name!r} is not allowed: choose among {allowed} "
                "(comma-separated)"
            )
        hidden[names.index(name)] = NEUTRAL[name]
    return hidden


def features_for(kind: str, dag: bool = False) -> list[Feature]:
    """The columns of feature set ``kind``: the server features, then the DAG ones when the DAG
    is on, then (``"oracle"``) the oracle ones."""
    if kind not in ("server", "oracle"):
        raise ValueError(f"observation_features={kind!r} is not one of ['oracle', 'server']")
    plain = [f for f in REGISTRY.values() if f.requires is None]
    server = [f for f in plain if f.source != "oracle"]
    extra = [f for f in REGISTRY.values() if f.requires == "dag"] if dag else []
    oracle = [f for f in plain if f.source == "oracle"] if kind == "oracle" else []
    return server + extra + oracle


# the sets without optional parts (what every env has; the DAG adds its columns after the server's)
FEATURE_SETS: dict[str, list[Feature]] = {kind: features_for(kind) for kind in ("server", "oracle")}
