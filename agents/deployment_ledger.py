"""A bcfl ledger for a federated-learning deployment outside the simulator.

The same permissioned chain the simulator runs (:class:`bcfl_env.chain.PermissionedChain`):
the server's CA enrols every client, each round's selection is a signed task, each update a
signed transaction whose parameters go to the model store, a committee of server-side verifiers
screens, scores and certifies them in a block, and the aggregation the server records is
recomputed by ``bcfl audit --deep``. The file :meth:`save` writes is the one ``bcfl audit``
verifies.

Who signs what: the server holds the identity the CA issued to each client and signs its update
on its behalf when the reply arrives, so the ledger proves what the server received and did with
it, not that the client itself sent it. A deployment in which clients sign their own updates
keeps each client's key on the client (Flower's node authentication is the place for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.chain import PermissionedChain
from bcfl_env.chain.permissioned import UpdateCandidate
from bcfl_env.config import ChainConfig
from bcfl_env.provenance import recompute_model
from bcfl_env.untrusted import require_finite

__all__ = [
    "MAX_REPORTED_SAMPLES",
    "ClientUpdate",
    "DeploymentLedger",
    "RoundVerdict",
    "count_problem",
    "metric_problem",
    "report_problem",
]

Validate = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class ClientUpdate:
    """One reply to a training task: flat float32 parameters, sample count, reported metrics."""

    client: str
    params: np.ndarray
    samples: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class RoundVerdict:
    """What the verifiers decided and the global model the server aggregated from it."""

    accepted: list[str]
    rejected: list[tuple[str, str]]  # (client, reason)
    global_params: np.ndarray | None  # None: nothing accepted, the global model is unchanged


class DeploymentLedger:
    """Drive a permissioned chain from a deployment's server.

    Args:
        path: the SQLite file the ledger is saved to after every round.
        verifiers: committee size (server-side verifier identities, enrolled as RSUs).
        validate: scores a flat parameter vector on the server's own validation data (higher is
            better, e.g. accuracy); the verifiers accept an update scoring at least the global
            model's score minus ``score_margin``. ``None``: screening only (signatures, task,
            replay, finiteness), every screened update is accepted.
        score_margin: see ``validate``.
        seed: the election's and the keys' seeded part (keys also mix in OS randomness).
    """

    def __init__(
        self,
        path: str | Path,
        verifiers: int = 4,
        validate: Validate | None = None,
        score_margin: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.path = Path(path)
        self.validate = validate
        self.cfg = ChainConfig(
            committee_size=verifiers,
            score_margin=score_margin,
            verify_quality=validate is not None,
            norm_screen=False,
        )
        self.rule = AggregationRule("fedavg")
        rsus = [f"verifier-{i}" for i in range(verifiers)]
        self.chain = PermissionedChain(
            self.cfg, np.random.default_rng(seed), rsus, aggregation=self.rule
        )
        self.global_params: np.ndarray | None = None
        self.global_hash = ""
        self.version = 0
        self.round = 0

    @property
    def started(self) -> bool:
        return self.global_params is not None

    def start(self, clients: Sequence[str], initial: np.ndarray, now_s: float = 0.0) -> None:
        """Genesis: enrol the server, the verifiers and ``clients``; publish the initial model."""
        self.global_params = np.ascontiguousarray(initial, dtype=np.float32)
        self.chain.genesis(list(clients), self.global_params.tobytes(), now_s)
        self.global_hash = next(iter(self.chain.published))
        self.save()

    def enrol(self, client: str, now_s: float) -> None:
        """A client that connected after genesis (its certificate goes into the next block)."""
        if client not in self.chain.ca.issued:
            self.chain.enrol(client, "vehicle", now_s)

    def assign(self, round_: int, selected: Sequence[str], now_s: float) -> None:
        """The server's signed selection for ``round_``."""
        self.round = round_
        self.chain.assign_task(round_, self.global_hash, list(selected), now_s)

    def verify_round(
        self, round_: int, updates: Sequence[ClientUpdate], now_s: float
    ) -> RoundVerdict:
        """Screen, score and certify the updates; aggregate the accepted ones (FedAvg, the rule
        the audit recomputes) and record it; save the ledger."""
        if self.global_params is None:
            raise RuntimeError("call start() before verify_round()")
        refused: list[tuple[str, str]] = []
        plausible = []
        for u in updates:  # reports weigh the aggregate: check them before they weigh anything
            why = report_problem(u)
            if why is None:
                plausible.append(u)
            else:
                refused.append((u.client, f"bad_report: {why}"))
        txs = [
            self.chain.sign_update(
                u.client, round_, self.global_hash, np.asarray(u.params, np.float32).tobytes(),
                int(u.samples), {k: float(v) for k, v in u.metrics.items()},
            )
            for u in plausible
        ]  # fmt: skip
        outcome = self.chain.run_round(round_, txs, now_s, self._scores)
        accepted = outcome.accepted
        new = None
        if accepted:
            blobs = [self.chain.ledger.models.get(c.params_hash) for c in accepted]
            samples = np.array([int(c.payload["samples"]) for c in accepted])
            staleness = np.zeros(len(accepted), dtype=np.int64)
            blob = recompute_model(
                self.rule, self.global_params.tobytes(), blobs, samples, staleness
            )
            weights = self.rule.weights(samples, staleness)
            self.version += 1
            self.global_hash = self.chain.record_aggregation(
                round_, self.version, blob,
                [(c.tx.tx_id, float(w)) for c, w in zip(accepted, weights, strict=True)],
            )  # fmt: skip
            new = np.frombuffer(blob, dtype=np.float32).copy()
            self.global_params = new
        self.save()
        return RoundVerdict([c.sender for c in accepted], refused + list(outcome.rejected), new)

    def close(self, now_s: float) -> None:
        """Seal what is still pending (the last aggregation) in a final certified block."""
        if self.chain.pending:
            self.chain.run_round(self.round + 1, [], now_s, self._scores)
        self.save()

    def save(self) -> None:
        self.chain.ledger.save(self.path)

    def _scores(
        self, members: list[str], candidates: list[UpdateCandidate]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Proof of quality as the simulator's committee does it: each update is folded into the
        global model at its aggregation weight (its FedAvg share, ``(1 - w) g + w u``) and the
        result scored on the server's validation data, so a verifier judges what accepting it
        would do, not how a non-IID local model fares alone. One server, one data set: every
        verifier computes the same scores."""
        assert self.validate is not None and self.global_params is not None
        store = self.chain.ledger.models
        samples = np.array([float(c.payload["samples"]) for c in candidates])
        weights = self.rule.weights(samples, np.zeros(len(candidates), dtype=np.int64))
        g = self.global_params
        row = []
        for cand, w in zip(candidates, weights, strict=True):
            u = np.frombuffer(store.get(cand.params_hash), dtype=np.float32)
            folded = (1.0 - w) * g + w * u if u.shape == g.shape else u
            row.append(_safe_score(self.validate, folded.astype(np.float32)))
        baseline = _safe_score(self.validate, g)
        return (
            np.tile(np.asarray(row, dtype=np.float64), (len(members), 1)),
            np.full(len(members), baseline),
        )


MAX_REPORTED_SAMPLES = 10**9  # far above any client's data; larger counts are lies or overflow


def count_problem(name: str, value: object) -> str | None:
    """Why a reported sample count cannot weigh an aggregate (one line naming ``name``), or
    None: it must be an integral number in [1, MAX_REPORTED_SAMPLES]. The one rule for the
    deployment ledger and the Flower strategy's replies."""
    try:
        number = require_finite(value, name, 1, MAX_REPORTED_SAMPLES)
    except ValueError as exc:
        return f"{exc} (an integer in [1, {MAX_REPORTED_SAMPLES}])"
    if not number.is_integer():
        return f"{name}={value!r} must be an integer in [1, {MAX_REPORTED_SAMPLES}]"
    return None


def metric_problem(name: str, value: object) -> str | None:
    """Why a reported metric cannot be recorded (not a finite number), or None."""
    try:
        require_finite(value, name)
    except ValueError as exc:
        return str(exc)
    return None


def report_problem(update: ClientUpdate) -> str | None:
    """Why a client's report cannot weigh an aggregate (one line naming the field), or None: the
    sample count as :func:`count_problem` says and every metric finite."""
    why = count_problem("samples", update.samples)
    for key, value in update.metrics.items():
        why = why or metric_problem(key, value)
    return why


def _safe_score(validate: Validate, params: np.ndarray) -> float:
    """A score, or NaN (an unusable update) when the parameters are not finite."""
    if params.size == 0 or not np.isfinite(params).all():
        return float("nan")
    return float(validate(params))
