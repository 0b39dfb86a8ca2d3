"""Named, independent random generators spawned from one seed.

Each subsystem draws from its own generator, keyed by name rather than by spawn order, so adding a
draw in one subsystem (say the channel) never shifts another (say mobility).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["SUBSYSTEMS", "SeedTree"]

SUBSYSTEMS = ("mobility", "channel", "compute", "fl", "chain", "fleet", "attack")


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


class SeedTree:
    """One ``SeedSequence`` per world with a child generator per named subsystem."""

    def __init__(self, seed: int | np.random.SeedSequence | None) -> None:
        if isinstance(seed, np.random.SeedSequence):
            self.root = seed
        else:
            if seed is not None and (
                isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
            ):
                raise ValueError(f"seed={seed!r} must be a non-negative integer or None")
            self.root = np.random.SeedSequence(seed)

    def sequence(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(
            self.root.entropy, spawn_key=(*self.root.spawn_key, _name_key(name))
        )

    def generator(self, name: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def torch_seed(self, name: str) -> int:
        return int(self.sequence(name).generate_state(1, dtype=np.uint64)[0] % (2**63 - 1))
