"""Non-IID partitioners over vehicles and per-vehicle data statistics.

* ``iid``: a uniform random split.
* ``dirichlet``: per class, proportions ~ Dir(alpha) across vehicles (Hsu, Qi, Brown 2019).
* ``shards``: sort by label, cut into 2 x vehicles shards, deal k per vehicle (McMahan et al. 2017).
* ``quantity``: IID labels, log-normal sizes (sigma) (Li et al., "Federated learning on non-IID data
  silos", ICDE 2022).
Every vehicle gets at least one sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Partition", "partition"]


@dataclass(frozen=True)
class Partition:
    indices: list[np.ndarray]  # per vehicle, indices into the training set
    sizes: np.ndarray
    histograms: np.ndarray  # (vehicles, classes) label counts
    entropy: np.ndarray  # label entropy per vehicle [nats]

    @classmethod
    def from_indices(
        cls, indices: list[np.ndarray], labels: np.ndarray, num_classes: int
    ) -> Partition:
        hist = np.stack([np.bincount(labels[i], minlength=num_classes) for i in indices]).astype(
            np.float64
        )
        p = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        return cls(indices, hist.sum(axis=1).astype(np.int64), hist, ent)


def _fill_empty(
    parts: list[list[int]] | list[np.ndarray], rng: np.random.Generator
) -> list[np.ndarray]:
    out = [np.asarray(p, dtype=np.int64) for p in parts]
    for k in range(len(out)):
        while out[k].size == 0:
            donor = int(np.argmax([p.size for p in out]))
            take = rng.integers(out[donor].size)
            out[k] = out[donor][take : take + 1]
            out[donor] = np.delete(out[donor], take)
    return out


def partition(
    labels: np.ndarray,
    vehicles: int,
    rng: np.random.Generator,
    kind: str = "dirichlet",
    alpha: float = 0.5,
    shards_per_vehicle: int = 2,
    quantity_sigma: float = 1.0,
    num_classes: int | None = None,
) -> Partition:
    """Split ``len(labels)`` training samples over ``vehicles``.

    Raises:
        ValueError: more vehicles than samples, alpha <= 0, or an unknown kind.
    """
    n = len(labels)
    classes = int(num_classes or labels.max() + 1)
    if vehicles < 1:
        raise ValueError(f"vehicles={vehicles} is out of range: allowed [1, {n}]")
    if vehicles > n:
        raise ValueError(
            f"vehicles={vehicles} is out of range: allowed [1, {n}] (more vehicles than samples)"
        )
    if kind == "iid":
        parts = np.array_split(rng.permutation(n), vehicles)
    elif kind == "dirichlet":
        if not alpha > 0:
            raise ValueError(f"fl.alpha={alpha} is out of range: allowed (0, inf)")
        buckets: list[list[int]] = [[] for _ in range(vehicles)]
        for c in range(classes):
            idx = rng.permutation(np.flatnonzero(labels == c))
            share = rng.dirichlet(np.full(vehicles, alpha))
            cuts = (np.cumsum(share)[:-1] * idx.size).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                buckets[k].extend(chunk.tolist())
        parts = [np.sort(np.asarray(b, dtype=np.int64)) for b in buckets]
    elif kind == "shards":
        count = vehicles * shards_per_vehicle
        if count > n:
            raise ValueError(
                f"fl.shards_per_vehicle={shards_per_vehicle} x {vehicles} vehicles exceeds {n} samples"
            )
        order = np.argsort(labels, kind="stable")
        shards = np.array_split(order, count)
        deal = rng.permutation(count).reshape(vehicles, shards_per_vehicle)
        parts = [np.sort(np.concatenate([shards[s] for s in row])) for row in deal]
    elif kind == "quantity":
        weights = rng.lognormal(0, quantity_sigma, size=vehicles)
        cuts = (np.cumsum(weights / weights.sum())[:-1] * n).astype(int)
        parts = [np.sort(p) for p in np.split(rng.permutation(n), cuts)]
    else:
        raise ValueError(
            f"fl.partition={kind!r} is not allowed: choose one of ['iid', 'dirichlet', 'shards', 'quantity']"
        )
    return Partition.from_indices(_fill_empty(parts, rng), labels, classes)
