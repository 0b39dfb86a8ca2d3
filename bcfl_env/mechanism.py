"""The hook protocol through which a mechanism beside the FL round attaches to the world.

The world calls a mechanism at fixed points of its step pipeline and hands it narrow, typed
values (never itself): the DAG's model sharing (:mod:`bcfl_env.dag_sharing`) is the first. A
mechanism never writes world state: what it costs (pull time, transmit energy) it returns, and
the world charges it through its one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

__all__ = ["FleetView", "Mechanism", "StartModel"]


@dataclass(frozen=True)
class FleetView:
    """Where the vehicles are now, per slot: positions [m], presence, and identity (-1: empty)."""

    positions: np.ndarray
    present: np.ndarray
    slot_identity: np.ndarray


@dataclass
class StartModel:
    """A selected vehicle's start model, the time fetching it costs [s] and the energy it costs
    other identities [(identity, J)], which the world charges."""

    params: torch.Tensor
    pull_s: float = 0.0
    energy_j: list[tuple[int, float]] = field(default_factory=list)


class Mechanism(Protocol):
    """Hooks, in the order the world's step calls them."""

    def start_model(
        self, identity: int, slot: int, global_params: torch.Tensor, fleet: FleetView
    ) -> StartModel:
        """Select: the model a selected vehicle starts training from."""
        ...

    def on_trained(self, trained: list[tuple[int, torch.Tensor]], now_s: float) -> None:
        """Train: the models vehicles just trained, as ``(identity, params)``."""
        ...

    def on_round_end(self, round_: int) -> None:
        """Before certification: the round's uploads are in (the DAG anchors here)."""
        ...

    def observed(self, fleet: FleetView) -> dict[str, np.ndarray]:
        """What the mechanism adds to the server's view: ``WorldView`` field -> one value per
        slot (the DAG fills ``dag_neighbours`` and ``dag_confirmation``)."""
        ...
