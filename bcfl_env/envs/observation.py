"""Observation builder: one row per node slot plus one global row, all features in [0, 1].

Row i < N describes slot i (zeros when the slot is empty); row N holds the global features in its
first columns. Every feature is scaled to [0, 1] by a constant named in ``FEATURES`` so that a
policy sees comparable magnitudes; quantities that have no natural maximum saturate (x / (x + c)).

The env hands the (N + 1, F) matrix out in one of two layouts: ``"flat"`` (the default), the
matrix in row-major order as a 1-D vector, which Stable-Baselines3's policies and env checker
expect; or ``"matrix"``. :func:`as_matrix` turns either (or a batch of either) back into rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcfl_env.config import BCFLConfig
from bcfl_env.envs.features import FEATURE_SETS as _REGISTERED
from bcfl_env.envs.features import (
    NEUTRAL_ROUND_TRIP,
    ObservationContext,
    features_for,
    hidden_columns,
)
from bcfl_env.view import WorldView

__all__ = [
    "FEATURES",
    "FEATURE_SETS",
    "NEUTRAL_ROUND_TRIP",
    "ORACLE_FEATURES",
    "SERVER_FEATURES",
    "GLOBAL_FEATURES",
    "LAYOUTS",
    "as_matrix",
    "build_observation",
    "feature_columns",
    "in_layout",
    "layout_shape",
    "standardized_rows",
]

LAYOUTS = ("flat", "matrix")

# (name, unit and scaling, source) per column, from the registry in :mod:`.features`
FEATURE_SETS: dict[str, list[tuple[str, str, str]]] = {
    kind: [(f.name, f.doc, f.source) for f in features] for kind, features in _REGISTERED.items()
}
SERVER_FEATURES = FEATURE_SETS["server"]
ORACLE_FEATURES = FEATURE_SETS["oracle"]
FEATURES = SERVER_FEATURES  # the default set
GLOBAL_FEATURES: list[str] = [
    "round / max_rounds",
    "global test accuracy",
    "simulated time / sim_time_budget_s",
    "vehicles_per_round / num_vehicles",
    "vehicles present / num_vehicles",
    "target_accuracy",
]


def feature_columns(cfg: BCFLConfig) -> list[tuple[str, str, str]]:
    """(name, unit and scaling, source) of every column the env with ``cfg`` observes."""
    kind, dag = cfg.env.observation_features, cfg.chain.dag
    return [(f.name, f.doc, f.source) for f in features_for(kind, dag)]


def build_observation(
    view: WorldView, cfg: BCFLConfig, num_classes: int, features: str = "server"
) -> np.ndarray:
    """The (N + 1, F) observation from the world's read-only view (``features="oracle"`` adds
    true values for upper-bound studies; the view must then carry them)."""
    if features not in FEATURE_SETS:
        raise ValueError(f"observation_features={features!r} is not one of {sorted(FEATURE_SETS)}")
    columns = features_for(features, cfg.chain.dag)
    n, f = view.present.size, len(columns)
    obs = np.zeros((n + 1, f), dtype=np.float32)
    env = cfg.env
    context = ObservationContext(cfg, env.epoch_length_s, num_classes)
    cols = [feat.compute(view, context) for feat in columns]
    for index, value in hidden_columns(cfg, [feat.name for feat in columns]).items():
        cols[index] = np.full(n, value)
    obs[:n] = np.clip(np.stack(cols, axis=1), 0.0, 1.0) * view.present[:, None]
    glob = [
        min(view.round / env.max_rounds, 1.0),
        view.accuracy,
        min(view.time_s / env.sim_time_budget_s, 1.0),
        env.vehicles_per_round / env.num_vehicles,
        view.present.sum() / env.num_vehicles,
        env.target_accuracy,
    ]
    obs[n, : len(glob)] = glob
    return obs


def layout_shape(num_slots: int, num_features: int, layout: str) -> tuple[int, ...]:
    """Shape of one observation of ``num_slots`` slot rows plus the global row."""
    if layout not in LAYOUTS:
        raise ValueError(f"observation layout {layout!r} is not one of {LAYOUTS}")
    rows = num_slots + 1
    return (rows * num_features,) if layout == "flat" else (rows, num_features)


def in_layout(matrix: np.ndarray, layout: str) -> np.ndarray:
    """The (N + 1, F) ``matrix`` in ``layout`` (a view when flattening a contiguous array)."""
    if layout not in LAYOUTS:
        raise ValueError(f"observation layout {layout!r} is not one of {LAYOUTS}")
    return matrix.reshape(-1) if layout == "flat" else matrix


def as_matrix(observation: Any, num_slots: int, num_features: int) -> np.ndarray:
    """Rows view of one observation or a batch of them, in either layout.

    Returns shape (N + 1, F) for one observation and (B, N + 1, F) for a batch; a view when the
    input is a contiguous array, so writing into the result writes into the observation.

    Raises:
        ValueError: the shape fits neither layout for N slots and F features.
    """
    obs = np.asarray(observation)
    rows, flat = num_slots + 1, (num_slots + 1) * num_features
    if obs.shape[-2:] == (rows, num_features) and obs.ndim in (2, 3):
        return obs
    if obs.ndim in (1, 2) and obs.shape[-1] == flat:
        return obs.reshape(*obs.shape[:-1], rows, num_features)
    raise ValueError(
        f"observation shape {obs.shape} fits neither layout for {num_slots} slots and "
        f"{num_features} features: allowed ({flat},) or ({rows}, {num_features}), "
        "optionally with a leading batch axis"
    )


def standardized_rows(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Slot rows with every feature in units of its spread among the candidate slots.

    ``weights`` mode scores slots by these rows, so a weight says how much one standard deviation
    of a feature among today's candidates counts, whatever the feature's own scale, and a feature
    every candidate shares (``present``, ``in_flight`` among idle vehicles) adds nothing to any
    score. Centring does not change a ranking; it keeps the scores readable.

    Args:
        rows: (N, F) slot rows of the observation.
        candidates: indices of the eligible slots the statistics are taken over.

    Returns:
        (N, F) float64 rows, centred on the candidates' mean and divided by their standard
        deviation; a feature with no spread among them is 0 in every row.
    """
    values = rows.astype(np.float64)
    if len(candidates) == 0:
        return np.zeros_like(values)
    pool = values[candidates]
    spread = pool.std(axis=0)
    return (values - pool.mean(axis=0)) / np.where(spread > 1e-9, spread, np.inf)
