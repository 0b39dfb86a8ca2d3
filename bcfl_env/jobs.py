"""One selected vehicle's work, from selection to outcome, with an explicit stage."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

__all__ = ["Job", "JobStage"]


class JobStage(Enum):
    """Where a job is: computing, trained (waiting for its computation's end time to upload),
    uploading, or arrived at the MBS (then screened by the committee)."""

    COMPUTE = "compute"
    TRAINED = "trained"
    UPLOADING = "uploading"
    ARRIVED = "arrived"


@dataclass
class Job:
    """One selected vehicle's task: the model it starts from, when its computation ends, and
    what it has produced and spent so far."""

    identity: int
    slot: int
    task_round: int
    base_version: int
    base_hash: str
    base_params: torch.Tensor
    compute_done_s: float
    compute_energy_j: float
    selected_s: float = 0.0
    stage: JobStage = JobStage.COMPUTE
    params: torch.Tensor | None = None
    loss: float = 0.0
    arrived_s: float = 0.0
    energy_j: float = 0.0
    norm: float = float("nan")  # norm of the update's change, as the committee measured it
    fails: bool = False  # network.failure_prob: the node crashes when its computation ends

    def trained_params(self) -> torch.Tensor:
        """The trained parameters (a job past the ``TRAINED`` stage has them)."""
        if self.params is None:
            raise RuntimeError(f"job of vehicle {self.identity} has not trained ({self.stage})")
        return self.params
