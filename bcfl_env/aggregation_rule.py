"""The aggregation rule as one record: what the FL engine applies and what the chain's audit checks.

The MBS records this rule in the genesis block; the audit recomputes every aggregation weight
from it (and, with ``--deep``, every global model), so the formula lives here once and both the
FL engine and the chain read it. It imports nothing from ``fl``, ``chain`` or ``network``.

Weights (what an aggregation transaction records per input):

* ``fedasync``: ``alpha * s(t)``, the mixing weight of ``x <- (1 - a) x + a x_new`` (Xie, Koyejo,
  Gupta, "Asynchronous federated optimization", 2019). Each update is its own global version, so
  staleness ``t`` counts the updates applied since the update's base model (the i-th update of a
  batch meets the version i updates later); ``s`` is constant, polynomial ``(t + 1)^-a`` or hinge
  (1 if ``t <= b``, else ``1 / (a (t - b) + 1)``);
* every synchronous rule (``fedavg``, ``median``, ``trimmed_mean``, ``krum``): the input's share of
  the samples, ``n_i / sum n`` (McMahan et al., AISTATS 2017); the robust rules record it for
  reference and do not use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np

__all__ = ["AggregationKind", "AggregationRule", "StalenessFn"]

AggregationKind = Literal["fedasync", "fedavg", "median", "trimmed_mean", "krum"]
StalenessFn = Literal["polynomial", "constant", "hinge"]


@dataclass(frozen=True)
class AggregationRule:
    """One aggregation rule with its parameters (see the module docstring for the weights)."""

    rule: str
    async_alpha: float = 0.5
    staleness_fn: str = "polynomial"
    staleness_a: float = 0.5
    staleness_b: float = 4.0
    trim_fraction: float = 0.1
    krum_f: int = 1

    def __post_init__(self) -> None:
        if self.rule not in get_args(AggregationKind):
            raise ValueError(
                f"aggregation rule={self.rule!r} is not allowed: choose one of {list(get_args(AggregationKind))}"
            )
        if self.staleness_fn not in get_args(StalenessFn):
            raise ValueError(
                f"staleness_fn={self.staleness_fn!r} is not allowed: choose one of {list(get_args(StalenessFn))}"
            )

    @classmethod
    def from_config(cls, fl: Any) -> AggregationRule:
        """The rule of an ``FLConfig`` (duck-typed: any object with the same field names)."""
        return cls(
            rule=fl.aggregation, async_alpha=float(fl.async_alpha), staleness_fn=fl.staleness_fn,
            staleness_a=float(fl.staleness_a), staleness_b=float(fl.staleness_b),
            trim_fraction=float(fl.trim_fraction), krum_f=int(fl.krum_f),
        )  # fmt: skip

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AggregationRule:
        """Rebuild a rule written by :meth:`to_record`; raises ``ValueError`` on anything else."""
        if not isinstance(record, Mapping) or set(record) != set(cls.__dataclass_fields__):
            raise ValueError(
                f"aggregation rule record must hold {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**dict(record))

    @property
    def is_async(self) -> bool:
        return self.rule == "fedasync"

    def versions_advanced(self, inputs: int) -> int:
        """Global versions one aggregation of ``inputs`` updates advances: FedAsync applies each
        update as its own version (Xie et al., 2019); a synchronous rule makes one version."""
        return inputs if self.is_async else 1

    def staleness(self, version_before: int, base_versions: np.ndarray) -> np.ndarray:
        """Staleness of each input, in global versions: under FedAsync the i-th update of a batch
        (arrival order) meets version ``version_before + i``; synchronously all meet
        ``version_before``."""
        bases = np.asarray(base_versions, dtype=np.int64)
        offset = np.arange(bases.size) if self.is_async else np.zeros(bases.size, dtype=np.int64)
        return version_before + offset - bases

    def staleness_factor(self, staleness: np.ndarray) -> np.ndarray:
        """``s(t)`` per input, float64."""
        t = np.asarray(staleness, dtype=np.float64)
        if self.staleness_fn == "constant":
            return np.ones_like(t)
        if self.staleness_fn == "polynomial":
            return (t + 1.0) ** (-self.staleness_a)
        return np.where(
            t <= self.staleness_b, 1.0, 1.0 / (self.staleness_a * (t - self.staleness_b) + 1.0)
        )

    def weights(self, samples: np.ndarray, staleness: np.ndarray) -> np.ndarray:
        """Each input's recorded weight, float64 (see the module docstring)."""
        if self.is_async:
            return self.async_alpha * self.staleness_factor(staleness)
        n = np.asarray(samples, dtype=np.float64)
        return n / max(float(n.sum()), 1.0)
