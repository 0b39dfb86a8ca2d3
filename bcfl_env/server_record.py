"""What the MBS knows of each vehicle: reported sizes and losses, measured round trips and when
it last selected the vehicle. The observation's reported and measured columns come from here,
never from the vehicles' true state."""

from __future__ import annotations

import numpy as np

__all__ = ["ServerRecord"]


class ServerRecord:
    """The server's per-identity record.

    Malicious vehicles may misreport: their reported data size is inflated and their reported
    loss deflated by ``misreport`` (1 for honest vehicles).

    Args:
        true_sizes: each identity's true number of local samples.
        misreport: each identity's misreporting factor (>= 1; 1 is honest).
    """

    def __init__(self, true_sizes: np.ndarray, misreport: np.ndarray) -> None:
        fleet = len(true_sizes)
        self.reported_sizes = np.maximum(np.round(true_sizes * misreport), 1).astype(np.int64)
        self._loss_divisor = misreport
        self.reported_loss = np.zeros(fleet)
        self.round_trip_s = np.full(fleet, np.nan)  # selection to arrival, as measured [s]
        self.last_selected_round = np.full(fleet, -1, dtype=np.int64)

    def selected(self, identity: int, round_: int) -> None:
        self.last_selected_round[identity] = round_

    def report_loss(self, identity: int, true_loss: float) -> float:
        """Record the loss a vehicle reports after training; returns the reported value."""
        reported = self.reported_loss_of(identity, true_loss)
        self.reported_loss[identity] = reported
        return reported

    def reported_loss_of(self, identity: int, true_loss: float) -> float:
        """The loss the vehicle puts in its update transaction."""
        return float(true_loss / self._loss_divisor[identity])

    def arrived(self, identity: int, round_trip_s: float) -> None:
        self.round_trip_s[identity] = round_trip_s
