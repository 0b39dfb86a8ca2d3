"""Uploads in flight over the channel, vectorised over slots.

Each tick an active upload sends ``rate x dt`` bits (interpolated so a completion time falls
inside the tick). It fails when the vehicle leaves the coverage of the RSU it started with
(handover: the source survey's unreliable vehicle links) or leaves the area (departure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UploadStep", "UploadTracker"]


@dataclass
class UploadStep:
    completed: np.ndarray  # slot indices
    completed_at_s: np.ndarray  # completion times [s]
    failed: np.ndarray  # slot indices
    failed_reason: list[str]


class UploadTracker:
    def __init__(self, num_slots: int) -> None:
        self.active = np.zeros(num_slots, dtype=bool)
        self.bits_left = np.zeros(num_slots)
        self.rsu = np.full(num_slots, -1, dtype=np.int64)
        self.started_at_s = np.zeros(num_slots)

    def start(
        self,
        slots: np.ndarray,
        bits: np.ndarray | float,
        serving: np.ndarray,
        now_s: np.ndarray | float,
    ) -> np.ndarray:
        """Begin uploads; returns the slots that could not start because they had no RSU."""
        serving_now = serving[slots]
        ok = serving_now >= 0
        go = slots[ok]
        self.active[go] = True
        self.bits_left[go] = np.broadcast_to(np.asarray(bits, dtype=np.float64), slots.shape)[ok]
        self.rsu[go] = serving_now[ok]
        self.started_at_s[go] = np.broadcast_to(np.asarray(now_s, dtype=np.float64), slots.shape)[
            ok
        ]
        return slots[~ok]

    def sharers(self, serving: np.ndarray, num_rsus: int) -> np.ndarray:
        """Concurrent uploads at each slot's serving RSU, counting the slot itself."""
        counts = np.bincount(self.rsu[self.active], minlength=num_rsus)
        own = counts[np.maximum(serving, 0)]
        return np.where(self.active, own, own + 1)

    def cancel(self, slots: np.ndarray) -> None:
        self.active[slots] = False

    def tick(
        self,
        rates_bps: np.ndarray,
        serving: np.ndarray,
        present: np.ndarray,
        start_s: float,
        dt_s: float,
    ) -> UploadStep:
        """Advance every active upload over ``[start_s, start_s + dt_s]``."""
        act = self.active
        departed = act & ~present
        handover = act & present & (serving != self.rsu)
        failed = np.flatnonzero(departed | handover)
        reasons = ["departure" if departed[i] else "handover" for i in failed]
        self.active[failed] = False
        go = self.active
        # an upload that began inside this tick transmits only from its own start
        begin = np.maximum(self.started_at_s, start_s)
        window = np.clip(start_s + dt_s - begin, 0.0, dt_s)
        sent = rates_bps * window
        done = go & (sent >= self.bits_left)
        done_idx = np.flatnonzero(done)
        finish = begin[done_idx] + self.bits_left[done_idx] / np.maximum(
            rates_bps[done_idx], 1e-300
        )
        self.bits_left[go] -= sent[go]
        self.active[done_idx] = False
        self.bits_left[done_idx] = 0.0
        return UploadStep(done_idx, finish, failed, reasons)
