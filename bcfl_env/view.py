"""A read-only view of the world for the env layer: per-slot arrays of what the system knows.

The observation reads this record, never ``world.network``, ``world.fl`` or ``world.chain``;
true values no server knows sit apart in :class:`OracleView`, filled only on request, so a
feature built from them is visibly an oracle feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["OracleView", "WorldView"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class OracleView:
    """True per-slot values (upper-bound studies only)."""

    cpu_hz: np.ndarray  # [Hz]
    label_entropy: np.ndarray  # [nats]
    true_round_trip_s: np.ndarray  # compute + upload time from true CPU and data size [s]


@dataclass(frozen=True)
class WorldView:
    """What the system knows after a step, one entry per slot (zeros where a slot is empty)."""

    round: int
    time_s: float
    accuracy: float
    present: np.ndarray  # bool: a vehicle occupies the slot (association)
    served: np.ndarray  # bool: inside an RSU's coverage
    distance_m: np.ndarray  # to the serving RSU [m] (measured)
    rate_bps: np.ndarray  # uplink rate from channel state [bit/s] (measured)
    dwell_s: np.ndarray  # time to leave coverage from position and velocity [s] (measured)
    reported_size: np.ndarray  # local samples the vehicle declares (reported)
    largest_reported_size: float
    energy_fraction: np.ndarray  # reported remaining energy / budget (reported)
    reported_loss: np.ndarray  # loss reported with its last update [nats] (reported)
    round_trip_s: np.ndarray  # last measured selection-to-arrival time [s]; NaN before any
    last_selected_round: np.ndarray  # -1 if never (on-chain tasks)
    reputation: np.ndarray  # beta reputation (on-chain)
    in_flight: np.ndarray  # bool: holds an open task (on-chain)
    oracle: OracleView | None = None
    # with the DAG on (chain.dag=True), else None:
    dag_neighbours: np.ndarray | None = None  # confirmed neighbour models within V2V reach
    dag_confirmation: np.ndarray | None = None  # own last DAG model's weight / threshold, <= 1

    @classmethod
    def build(cls, **arrays: Any) -> WorldView:
        """A view whose arrays are copies the env layer cannot write through."""
        frozen: dict[str, Any] = {
            k: _frozen(v) if isinstance(v, np.ndarray) else v for k, v in arrays.items()
        }
        return cls(**frozen)
