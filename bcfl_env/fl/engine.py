"""The FL engine the world drives: data per identity, global model, batched rounds, scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.config import FLConfig
from bcfl_env.fl.aggregation import apply_rule
from bcfl_env.fl.attacks import label_flip_map, poison_updates
from bcfl_env.fl.data import Dataset, load_dataset
from bcfl_env.fl.evaluation import ForwardPass, correctness, forward_together, logits
from bcfl_env.fl.models import ModelSpec, make_model
from bcfl_env.fl.partition import Partition, partition
from bcfl_env.fl.privacy import clip_and_noise, epsilon
from bcfl_env.fl.screening import OUT_OF_BOUND, unlearning_share
from bcfl_env.fl.training import (
    BatchPlan,
    LocalBatches,
    SGDConfig,
    batched_local_train,
    gather_batches,
    make_batch_plan,
    stack_batches,
    train_on_batches,
)

__all__ = ["FLEngine", "TrainResult", "TrainingTask", "train_together"]


@dataclass(frozen=True)
class TrainingTask:
    """A round of local training drawn but not yet run: who trains from which model, and how."""

    identities: np.ndarray
    bases: torch.Tensor  # (K, P) received models
    plan: BatchPlan | None  # None: nobody trains
    label_map: torch.Tensor | None  # label-flipping attackers' substitution, if any


class TrainResult:
    """What one batched round of local training produced, row k for identity k."""

    def __init__(
        self, identities: np.ndarray, params: torch.Tensor, losses: np.ndarray, samples: np.ndarray
    ) -> None:
        self.identities = identities
        self.params = params
        self.losses = losses
        self.samples = samples


class FLEngine:
    """Real federated learning over ``fleet_size`` identities.

    Args:
        cfg: the FL section of the config.
        fleet_size: identities holding a data shard.
        rng: the world's ``fl`` generator (splits, partition, batch order).
        torch_seed: seeds the engine's torch generator (model init, noise).
        attack_rng: chooses the malicious identities.
        validation_shards: number of disjoint validation subsets (one per committee seat).
    """

    def __init__(
        self,
        cfg: FLConfig,
        fleet_size: int,
        rng: np.random.Generator,
        torch_seed: int,
        attack_rng: np.random.Generator,
        validation_shards: int = 4,
    ) -> None:
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "fl.device='cuda' was asked for but torch sees no CUDA device; use 'cpu'"
            )
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        self.rng = rng
        self.generator = torch.Generator().manual_seed(torch_seed)
        self.data: Dataset = load_dataset(
            cfg.dataset, rng, cfg.data_root, synthetic_alpha=cfg.synthetic_alpha, synthetic_beta=cfg.synthetic_beta,
            synthetic_devices=fleet_size, synthetic_samples=cfg.synthetic_samples,
        )  # fmt: skip
        if self.data.owner is not None:
            idx = [np.flatnonzero(self.data.owner == k) for k in range(fleet_size)]
            self.partition = Partition.from_indices(idx, self.data.y_train, self.data.num_classes)
        else:
            self.partition = partition(
                self.data.y_train, fleet_size, rng, cfg.partition, cfg.alpha, cfg.shards_per_vehicle,
                cfg.quantity_sigma, self.data.num_classes,
            )  # fmt: skip
        self.spec: ModelSpec = make_model(
            cfg.model, self.data.input_shape, self.data.num_classes, cfg.hidden
        )
        t = lambda a: torch.as_tensor(a, device=self.device)  # noqa: E731
        self.x_train, self.y_train = t(self.data.x_train), t(self.data.y_train)
        self.x_val, self.y_val = t(self.data.x_val), t(self.data.y_val)
        self.x_test, self.y_test = t(self.data.x_test), t(self.data.y_test)
        shards = max(1, min(validation_shards, len(self.data.y_val)))
        self.val_shards = np.array_split(rng.permutation(len(self.data.y_val)), shards)
        count = int(round(cfg.malicious_fraction * fleet_size))
        self.malicious = np.zeros(fleet_size, dtype=bool)
        if count:
            self.malicious[attack_rng.choice(fleet_size, size=count, replace=False)] = True
        self.sgd = SGDConfig(
            cfg.local_epochs, cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay
        )
        self.global_params = self.spec.init(self.generator).to(self.device)
        self.version = 0
        self.aggregations = 0
        self._rule = AggregationRule.from_config(cfg)
        self.participations = np.zeros(fleet_size, dtype=np.int64)
        self.accuracy, self.loss = self.evaluate_global()

    # ------------------------------------------------------------------ helpers
    @property
    def num_params(self) -> int:
        return self.spec.num_params

    @property
    def sizes(self) -> np.ndarray:
        return self.partition.sizes

    @staticmethod
    def to_bytes(params: torch.Tensor) -> bytes:
        return params.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()

    def accuracy_gain_on_own_data(
        self, identity: int, params: torch.Tensor, samples: int
    ) -> float | None:
        """Accuracy of ``params`` minus the global model's on the first ``samples`` of the
        vehicle's own data (None: it holds none); a vehicle's check of a neighbour's model."""
        idx = self.partition.indices[identity][:samples]
        if len(idx) == 0:
            return None
        hit, _ = correctness(
            self.spec,
            torch.stack([params, self.global_params]),
            self.x_train[idx],
            self.y_train[idx],
        )
        acc = hit.mean(dim=1)
        return float(acc[0] - acc[1])

    # ------------------------------------------------------------------ rounds
    def train(self, identities: np.ndarray, bases: torch.Tensor) -> TrainResult:
        """Local training of ``identities`` from their received models ``bases`` (K, P), batched.

        DP (when configured) privatises every honest update. Model-poisoning vehicles
        (``sign_flip``, ``scaled``, ``gaussian``, ``free_ride``) submit their poison as it is: an
        attacker does not clip and noise its own update. ``label_flip`` is data poisoning through
        the vehicle's ordinary pipeline, DP included. :func:`train_together` does the same for
        several engines in one batched call.
        """
        return self.run_training(self.prepare_training(identities, bases))

    def run_training(self, task: TrainingTask) -> TrainResult:
        """Run a prepared round of local training on this engine alone."""
        if task.plan is None:
            return self.finish_training(task, task.bases[:0], torch.zeros(0))
        trained, losses = batched_local_train(
            self.spec, task.bases, self.x_train, self.y_train, task.plan, self.sgd, task.label_map
        )
        return self.finish_training(task, trained, losses)

    def prepare_training(self, identities: np.ndarray, bases: torch.Tensor) -> TrainingTask:
        """Draw the batch plan of a round of local training (the first half of :meth:`train`)."""
        identities = np.asarray(identities, dtype=np.int64)
        if identities.size == 0:
            return TrainingTask(identities, bases[:0], None, None)
        plan = make_batch_plan(
            [self.partition.indices[i] for i in identities],
            self.sgd.epochs,
            self.sgd.batch_size,
            self.rng,
        )
        bad = torch.as_tensor(self.malicious[identities], device=self.device)
        label_map = (
            label_flip_map(bad, self.data.num_classes).to(self.device)
            if self.cfg.attack == "label_flip" and bool(bad.any())
            else None
        )
        return TrainingTask(identities, bases, plan, label_map)

    def local_batches(self, task: TrainingTask) -> LocalBatches:
        """The task's mini-batches gathered from this engine's training set."""
        assert task.plan is not None
        return gather_batches(self.x_train, self.y_train, task.plan, task.label_map)

    def finish_training(
        self, task: TrainingTask, trained: torch.Tensor, losses: torch.Tensor
    ) -> TrainResult:
        """Privacy and attacks applied to the trained rows (the second half of :meth:`train`)."""
        identities, bases = task.identities, task.bases
        if identities.size == 0:
            return TrainResult(identities, bases[:0], np.zeros(0), np.zeros(0, dtype=np.int64))
        bad = torch.as_tensor(self.malicious[identities], device=self.device)
        private = clip_and_noise(
            bases, trained, self.cfg.dp, self.cfg.dp_clip, self.cfg.noise_multiplier, self.generator
        )
        poisoned = poison_updates(
            self.cfg.attack, bases, trained, bad, self.cfg.attack_scale, self.generator
        )
        trained = (
            torch.where(bad[:, None], poisoned, private) if poisoned is not trained else private
        )
        self.participations[identities] += 1
        return TrainResult(
            identities, trained, losses.cpu().numpy(), self.partition.sizes[identities]
        )

    def score(
        self,
        params: torch.Tensor,
        shards: list[int],
        mix: np.ndarray,
        unlearning_limit: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Proof of quality: each seat's validation accuracy of the updated model and of the global one.

        The updated model is the global model with this update folded in at its aggregation weight
        ``mix`` (``(1 - mix) g + mix u``), so a seat judges what accepting the update would do rather
        than how a non-IID local model fares on its own. One forward pass over the validation pool
        covers all U candidates plus the global model; each seat averages over its own disjoint
        subset. The score is accuracy minus any rise in mean validation loss [nats] over the
        global model's, so a poisoned update that cannot lower accuracy further (a model already
        at chance) still scores low; an update with non-finite parameters scores -inf. With
        ``unlearning_limit``, a seat also scores :data:`OUT_OF_BOUND` any update whose unlearning
        share on its subset exceeds the limit (the label screen, :func:`unlearning_share`).
        Returns (scores (seats, U), baseline accuracy (seats,)).
        """
        stacked = self.score_models(params, mix)
        ((hit, loss),) = forward_together([ForwardPass(self.spec, stacked, self.x_val, self.y_val)])
        return self.scores_from(hit, loss, params, shards, unlearning_limit)

    def score_models(self, params: torch.Tensor, mix: np.ndarray) -> torch.Tensor:
        """The models :meth:`score` evaluates: each update folded into the global model at its
        weight ``mix`` (U rows), then the global model itself (one row)."""
        w = torch.as_tensor(mix, dtype=params.dtype, device=params.device)[:, None]
        updated = (1 - w) * self.global_params[None] + w * params
        return torch.cat([updated, self.global_params[None]], dim=0)

    def scores_from(
        self,
        hit: torch.Tensor,
        loss: torch.Tensor,
        params: torch.Tensor,
        shards: list[int],
        unlearning_limit: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score` from the validation pass over :meth:`score_models` (per-sample
        correctness and loss, (U + 1, N) each)."""
        hit_np, loss_np = hit.cpu().numpy(), loss.cpu().numpy()
        acc, nll = [], []
        for s in shards:
            subset = self.val_shards[s % len(self.val_shards)]
            acc.append(hit_np[:, subset].mean(axis=1))
            nll.append(loss_np[:, subset].mean(axis=1))
        acc_m, nll_m = np.stack(acc), np.stack(nll)
        penalty = np.maximum(nll_m[:, :-1] - nll_m[:, -1:], 0.0)
        scores = acc_m[:, :-1] - penalty
        # an update with NaN or infinite parameters (diverged or crafted) breaks the model it
        # joins, whatever its accuracy reads: it scores -inf
        broken = ~torch.isfinite(params).all(dim=1).cpu().numpy()
        if unlearning_limit is not None:
            shares = self._unlearning_shares(params, shards)
            scores = np.where(shares > unlearning_limit, np.minimum(scores, OUT_OF_BOUND), scores)
        scores[:, broken] = -np.inf
        return scores, acc_m[:, -1]

    def _unlearning_shares(self, params: torch.Tensor, shards: list[int]) -> np.ndarray:
        """(seats, U) unlearning share of each update on each seat's validation subset."""
        z = logits(self.spec, torch.cat([params, self.global_params[None]]), self.x_val)
        delta = torch.nan_to_num(z[:-1] - z[-1:])  # a broken update scores -inf anyway
        shares = []
        for s in shards:
            subset = torch.as_tensor(self.val_shards[s % len(self.val_shards)], device=delta.device)
            shares.append(
                unlearning_share(delta[:, subset], self.y_val[subset], self.data.num_classes)
            )
        return torch.stack(shares).cpu().numpy()

    @property
    def rule(self) -> AggregationRule:
        """The aggregation rule, as the MBS records it on chain."""
        return self._rule

    def mixing_weights(self, samples: np.ndarray, staleness: np.ndarray) -> np.ndarray:
        """Each update's weight in the next aggregation: alpha s(staleness), or its FedAvg share."""
        return self._rule.weights(samples, staleness)

    def aggregate(
        self,
        params: torch.Tensor,
        samples: np.ndarray,
        staleness: np.ndarray,
        evaluate: bool = True,
    ) -> np.ndarray:
        """Fold accepted updates into the global model; returns each update's weight.
        ``evaluate=False`` leaves a due evaluation (:attr:`evaluation_due`) to the caller, who
        batches it with other worlds' (:meth:`test_pass`, :meth:`evaluated`)."""
        if params.shape[0] == 0:
            return np.zeros(0)
        new, weights = apply_rule(self._rule, self.global_params, params, samples, staleness)
        self.global_params = new.detach()
        self.aggregations += 1
        self.version += self._rule.versions_advanced(params.shape[0])
        if evaluate and self.evaluation_due:
            self.accuracy, self.loss = self.evaluate_global()
        return weights

    @property
    def evaluation_due(self) -> bool:
        """The last aggregation is one the global model is evaluated after (``eval_every``)."""
        return self.aggregations > 0 and self.aggregations % self.cfg.eval_every == 0

    def staleness(self, base_versions: np.ndarray) -> np.ndarray:
        """Each update's staleness if aggregated now in this order (see :class:`AggregationRule`)."""
        return self._rule.staleness(self.version, base_versions)

    def evaluate_global(self) -> tuple[float, float]:
        """(accuracy, mean loss) of the global model on the test set."""
        return self.evaluated(*forward_together([self.test_pass()])[0])

    def test_pass(self) -> ForwardPass:
        """The forward pass :meth:`evaluate_global` runs (for :func:`forward_together`)."""
        return ForwardPass(self.spec, self.global_params[None], self.x_test, self.y_test)

    @staticmethod
    def evaluated(hit: torch.Tensor, loss: torch.Tensor) -> tuple[float, float]:
        """(accuracy, mean loss) of the one model of a :meth:`test_pass`."""
        return float(hit.mean(dim=1)[0]), float(loss.mean(dim=1)[0])

    def epsilon(self, identities: np.ndarray | list[int] | None = None) -> float:
        """Largest epsilon among ``identities`` (all when None) for the configured delta."""
        counts = (
            self.participations
            if identities is None
            else self.participations[np.asarray(identities, dtype=np.int64)]
        )
        top = int(counts.max()) if counts.size else 0
        return epsilon(self.cfg.dp, self.cfg.noise_multiplier, top, self.cfg.dp_delta)


def train_together(work: list[tuple[FLEngine, TrainingTask]]) -> list[TrainResult]:
    """Run the local training of several engines' tasks (worlds of one config) in one batched
    call; result i is what ``engine_i.train`` would have returned for task i.

    Each engine draws its own plan (:meth:`FLEngine.prepare_training`) and applies its own
    privacy and attacks (:meth:`FLEngine.finish_training`) with its own generators, so a world
    draws exactly what it draws alone; only the SGD steps are shared, row by row.
    """
    busy = [i for i, (_, task) in enumerate(work) if task.plan is not None]
    trained: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    if busy:
        first = work[busy[0]][0]
        for i in busy[1:]:
            if work[i][0].spec != first.spec or work[i][0].sgd != first.sgd:
                raise ValueError("train_together needs engines with one model and one optimiser")
        batches = stack_batches([work[i][0].local_batches(work[i][1]) for i in busy])
        params, losses = train_on_batches(
            first.spec, torch.cat([work[i][1].bases for i in busy]), batches, first.sgd
        )
        sizes = [work[i][1].identities.size for i in busy]
        for i, p, loss in zip(busy, params.split(sizes), losses.split(sizes), strict=True):
            trained[i] = (p, loss)
    return [
        engine.finish_training(task, *trained.get(i, (task.bases[:0], torch.zeros(0))))
        for i, (engine, task) in enumerate(work)
    ]
