"""One simulated world: a clock coupling the vehicular network, the FL engine and the chain.

A decision epoch (one env step) runs:

1. the selection becomes a signed task on chain (who trains, from which global model);
2. each selected vehicle computes (``t = n E cycles / f``) and then uploads its update over the
   channel; the network advances tick by tick, and an upload fails on handover or departure;
3. vehicles whose computation ends in this epoch train for real, batched in one pass;
4. each finished upload is a signed update transaction; the round's committee (elected at the end
   of the previous round) screens it (certificate, signature, replay, task, base model), scores it
   on its own validation data and signs a ballot; the consensus protocol certifies a block whose
   verdict follows from the ballots (a faulty leader costs a view change; with more than f faulty
   members no block may be certified, and then nothing is accepted this round);
5. the MBS aggregates only what a certified block accepted (FedAsync with staleness, or FedAvg);
   its signed aggregation goes into the next block; the global model is evaluated.

Asynchronous mode: an epoch lasts ``epoch_s``; work still in flight at its end arrives in a later
epoch with its staleness. Decisions are time-slotted (a fixed epoch, as in the DRL node selection
of Lu et al., IEEE TVT 2020), not event-driven: the agent decides every ``epoch_s`` whatever has
arrived. Each accepted update is its own global version (FedAsync, Xie et al., 2019), and the
latency a selection costs is the time it keeps the selected vehicles busy. Synchronous mode: the epoch lasts until every selected vehicle is done or
``sync_deadline_s`` passes (stragglers are dropped with reason ``deadline``).

Accounting: every selected vehicle ends each step in exactly one of accepted, rejected (with a
reason), dropped (with a reason: handover, coverage, energy, departure, deadline, failure) or in flight.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from bcfl_env.chain import PermissionedChain, RoundOutcome, Transaction, UpdateCandidate
from bcfl_env.chain.service import ChainService
from bcfl_env.config import BCFLConfig
from bcfl_env.dag_sharing import DagSharing
from bcfl_env.fl import FLEngine
from bcfl_env.fl.engine import TrainingTask, TrainResult
from bcfl_env.fl.evaluation import ForwardPass, forward_together
from bcfl_env.fl.screening import OUT_OF_BOUND, NormScreen
from bcfl_env.jobs import Job, JobStage
from bcfl_env.mechanism import FleetView, Mechanism
from bcfl_env.network import (
    UploadTracker,
    VehicularNetwork,
    compute_energy_j,
    compute_time_s,
    transmit_energy_j,
)
from bcfl_env.seeding import SeedTree
from bcfl_env.server_record import ServerRecord
from bcfl_env.view import OracleView, WorldView

__all__ = ["EpochStart", "Phases", "RoundReport", "World", "run_phases_together"]

T = TypeVar("T")
# A phase that pauses at each forward pass it needs (sent back: per-sample correctness and loss)
# so that a vector env can answer many worlds' passes in one batched call.
Phases = Generator[ForwardPass, tuple[torch.Tensor, torch.Tensor], T]
# the arrived updates (stacked), their weights and their validation pass (hit, loss), computed
# before the chain's round
ScoredAhead = tuple[torch.Tensor, np.ndarray, torch.Tensor, torch.Tensor]


def run_phases_together(runs: Sequence[Phases[T]]) -> list[T]:
    """Drive every run to its end, answering the forward passes all of them wait on at once
    with one :func:`forward_together` call; returns each run's result, in order."""
    results: dict[int, T] = {}
    waiting: dict[int, ForwardPass] = {}
    for i, run in enumerate(runs):
        try:
            waiting[i] = next(run)
        except StopIteration as stop:
            results[i] = stop.value
    while waiting:
        order = list(waiting)
        answers = forward_together([waiting[i] for i in order])
        for i, answer in zip(order, answers, strict=True):
            try:
                waiting[i] = runs[i].send(answer)
            except StopIteration as stop:
                results[i] = stop.value
                del waiting[i]
    return [results[i] for i in range(len(runs))]


@dataclass
class RoundReport:
    """What one decision epoch did; the env turns it into ``info`` and the reward."""

    round: int
    selected: list[int] = field(default_factory=list)  # identities selected this epoch
    selected_slots: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)  # identities whose update arrived
    accepted: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    latency_s: float = 0.0  # what the selection costs in time (see World.step)
    epoch_s: float = 0.0  # simulated wall time of the epoch
    busy_s: float = 0.0  # vehicle-seconds of work (compute and upload) during the epoch
    energy_j: float = 0.0
    consensus_s: float = 0.0
    accuracy: float = 0.0
    loss: float = 0.0
    staleness: list[int] = field(default_factory=list)
    poisoned_accepted: int = 0
    poisoned_rejected: int = 0
    committee: list[str] = field(default_factory=list)
    safety_violated: bool = False
    block_committed: bool = True  # False: the committee certified no block this round
    view: int = 0  # consensus view that committed (> 0 after view changes)
    handovers: int = 0


@dataclass
class EpochStart:
    """An epoch between its selection and its end (see :meth:`World.begin_epoch`)."""

    slots: np.ndarray
    selected: list[int]  # identities selected, before anyone moved
    start_s: float
    busy_before_s: float
    energy_before_j: float
    horizon_s: float
    dropped: list[tuple[int, str]]  # dropped at selection (energy)
    due: list[Job]  # jobs whose local training runs this epoch, row k of ``training``
    training: TrainingTask


@dataclass
class ClockProgress:
    """What advancing the clock produced: uploads that arrived, jobs dropped (with a reason) and
    handovers, in the order they happened."""

    arrived: list[Job] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)
    handovers: int = 0


@dataclass
class Certified:
    """What the committee's round decided about the arrived updates."""

    completed: list[int]  # identities whose update arrived, in arrival order
    committee: list[str]
    committed: bool
    view: int
    rejected: list[tuple[int, str]]
    accepted: list[tuple[Job, UpdateCandidate]]  # in block order
    poisoned_accepted: int
    poisoned_rejected: int
    consensus_s: float
    safety_violated: bool


class World:
    """The coupled simulation behind every preset.

    Args:
        cfg: the whole config tree.
        seed: root of the world's :class:`~bcfl_env.seeding.SeedTree`.
        key_secret: mixed into the chain's keys (``chain.key_source="secret"``); None: fresh.
    """

    def __init__(self, cfg: BCFLConfig, seed: int | None, key_secret: bytes | None = None) -> None:
        self.cfg = cfg
        self.seeds = SeedTree(seed)
        env = cfg.env
        self.num_slots = env.num_vehicles
        self.fleet_size = env.resolved_fleet_size
        rngs = {
            name: self.seeds.generator(name)
            for name in ("mobility", "channel", "compute", "fleet", "availability")
        }
        self.network = VehicularNetwork(cfg.network, self.num_slots, self.fleet_size, rngs)
        self.fl = FLEngine(
            cfg.fl, self.fleet_size, self.seeds.generator("fl"), self.seeds.torch_seed("fl"),
            self.seeds.generator("attack"), validation_shards=self.network.infra.num_rsus,
        )  # fmt: skip
        chain_rng = self.seeds.generator("chain")
        self.rsu_ids = [f"rsu{i}" for i in range(self.network.infra.num_rsus)]
        faulty_count = int(round(cfg.chain.faulty_fraction * len(self.rsu_ids)))
        faulty = (
            sorted(chain_rng.choice(self.rsu_ids, size=faulty_count, replace=False).tolist())
            if faulty_count
            else []
        )
        self.vehicle_ids = [f"veh{j}" for j in range(self.fleet_size)]
        # poisoning vehicles also misbehave when elected to a committee (top_trainers mode)
        faulty += [self.vehicle_ids[j] for j in np.flatnonzero(self.fl.malicious)]
        self.chain: ChainService = PermissionedChain(
            cfg.chain,
            chain_rng,
            self.rsu_ids,
            faulty,
            aggregation=self.fl.rule,
            key_secret=key_secret,
        )
        self.chain.genesis(self.vehicle_ids, self.fl.to_bytes(self.fl.global_params))
        self._reputation_index = {name: i for i, name in enumerate(self.vehicle_ids)}
        self._reputation_cache = np.array(
            [self.chain.reputation.score(n) for n in self.vehicle_ids]
        )
        self.chain.reputation.pop_changed()
        self.global_hash = next(iter(self.chain.published))
        self.norm_screen = NormScreen(
            cfg.chain.norm_factor, cfg.fl.dp, cfg.fl.dp_clip, cfg.fl.noise_multiplier,
            self.fl.num_params,
        )  # fmt: skip
        self.uploads = UploadTracker(self.num_slots)
        self._failure_rng = self.seeds.generator("failure")  # drawn only when failure_prob > 0
        if cfg.network.upload_payload_mbit is not None:
            self.payload_bits = cfg.network.upload_payload_mbit * 1e6
        else:
            self.payload_bits = float(self.fl.num_params * 32)
        self.jobs: dict[int, Job] = {}
        self.time_s = 0.0
        self.busy_s = 0.0  # vehicle-seconds of work since reset
        self.round = 0
        # malicious vehicles inflate their reported data size and deflate their reported loss
        lie = np.where(self.fl.malicious, cfg.fl.misreport_factor, 1.0)
        self.record = ServerRecord(self.fl.sizes, lie)
        self.pending_arrivals: list[Job] = []  # arrived while the committee agreed: next epoch
        self.network.reset()
        self.last_report = RoundReport(round=0, accuracy=self.fl.accuracy, loss=self.fl.loss)
        self.dag_sharing = (
            DagSharing(
                cfg.chain,
                cfg.network.channel,
                self.chain,
                self.vehicle_ids,
                (self.global_hash, self.fl.global_params),
                self.payload_bits,
                self.seeds.generator("dag"),
                self.fl.to_bytes,
                self.fl.accuracy_gain_on_own_data,
                self.time_s,
            )  # fmt: skip
            if cfg.chain.dag
            else None
        )
        # mechanisms beside the FL round, called at the pipeline's hooks (bcfl_env.mechanism)
        self.mechanisms: list[Mechanism] = [self.dag_sharing] if self.dag_sharing else []

    # ------------------------------------------------------------------ eligibility
    def eligible_slots(self) -> np.ndarray:
        """Slots that may be selected now: present, online (``network.availability``), idle,
        enrolled, with energy left and, under contract rules, with a reputation the contract
        accepts."""
        ids = self.network.slot_identity
        present = self.network.present & self.network.slot_online()
        busy = self.in_flight_slots()
        energy = self.network.slot_energy_fraction() > 0
        serving = set(self.chain.committee)  # committee vehicles judge, they do not train (BFLC)
        on_committee = np.array([self.vehicle_ids[i] in serving for i in np.maximum(ids, 0)])
        eligible = present & ~busy & energy & ~on_committee
        if (
            self.cfg.chain.contract_rules
        ):  # the contract distributes the model to reputable vehicles only
            rep = self._reputations(ids)
            eligible &= rep >= self.cfg.chain.contract_min_reputation
        return eligible

    def _reputations(self, ids: np.ndarray) -> np.ndarray:
        """On-chain reputation of the identities ``ids``, from a per-identity cache that only the
        identities recorded since the last call refresh (a scan over every slot costs 10 ms a
        step at 10,000 vehicles)."""
        reputation = self.chain.reputation
        for name in reputation.pop_changed():
            index = self._reputation_index.get(name)
            if index is not None:
                self._reputation_cache[index] = reputation.score(name)
        return self._reputation_cache[np.maximum(ids, 0)]

    def in_flight_slots(self) -> np.ndarray:
        mask = np.zeros(self.num_slots, dtype=bool)
        for job in [*self.jobs.values(), *self.pending_arrivals]:
            if job.slot >= 0 and self.network.slot_identity[job.slot] == job.identity:
                mask[job.slot] = True
        return mask

    # ------------------------------------------------------------------ one epoch
    def step(self, slots: np.ndarray) -> RoundReport:
        """Run one decision epoch with the vehicles in ``slots`` selected (already validated).

        The phases, in order: select, train, advance the clock, (mechanisms' round end),
        certify, aggregate, advance the clock through the committee's agreement. Each phase
        returns what it produced; the report is assembled from those at the end. A vector env
        runs the same phases for many worlds, with the training of all of them in one call and
        their forward passes (validation, test) in one more (:meth:`begin_epoch`,
        :meth:`complete_training`, :meth:`end_epoch_phases` with :func:`run_phases_together`).
        """
        epoch = self.begin_epoch(slots)
        self.complete_training(epoch, self.fl.run_training(epoch.training))
        return self.end_epoch(epoch)

    def begin_epoch(self, slots: np.ndarray) -> EpochStart:
        """Phase 1: select, and draw the local training due this epoch (not yet run)."""
        self.round += 1
        start_s, busy_before, energy_before = self.time_s, self.busy_s, self._energy_spent()
        horizon = start_s + self.cfg.env.epoch_length_s
        selected = [int(i) for i in self.network.slot_identity[slots]]  # before anyone moves
        dropped = self._select(slots)
        due = self._due_jobs(horizon)
        bases = (
            torch.stack([j.base_params for j in due]) if due else self.fl.global_params[None][:0]
        )
        training = self.fl.prepare_training(np.array([j.identity for j in due], np.int64), bases)
        return EpochStart(
            slots, selected, start_s, busy_before, energy_before, horizon, dropped, due, training
        )

    def end_epoch(self, epoch: EpochStart) -> RoundReport:
        """Phases 3 to 6, once the epoch's training is complete: advance the clock, certify,
        aggregate, advance through the committee's agreement; returns the epoch's report."""
        return run_phases_together([self.end_epoch_phases(epoch)])[0]

    def end_epoch_phases(self, epoch: EpochStart) -> Phases[RoundReport]:
        """:meth:`end_epoch`, pausing at the committee's validation pass and the global
        model's evaluation (see :func:`run_phases_together`)."""
        sync = self.cfg.env.fl_mode == "sync"
        dropped = list(epoch.dropped)
        arrived, self.pending_arrivals = self.pending_arrivals, []
        # a sync round with nobody in it (no node online and idle to select) does not end at
        # once: the server waits out the round's window for nodes to check in
        waits = sync and not self.jobs and not arrived
        progress = self._advance_clock(epoch.horizon_s, stop_when_idle=sync and not waits)
        arrived += progress.arrived
        dropped += progress.dropped
        if sync:  # the round ends at its deadline: stragglers are dropped
            dropped += [self._drop(identity, "deadline") for identity in list(self.jobs)]
        for mechanism in self.mechanisms:
            mechanism.on_round_end(self.round)
        certified = yield from self._certify(arrived)
        staleness = yield from self._aggregate(certified.accepted)
        # the network keeps moving while the committee agrees; uploads finishing now count next epoch
        agreement = ClockProgress()
        if certified.consensus_s > 0:
            agreement = self._advance_clock(self.time_s + certified.consensus_s)
            self.pending_arrivals = agreement.arrived
        epoch_s, busy_s = self.time_s - epoch.start_s, self.busy_s - epoch.busy_before_s
        report = RoundReport(
            round=self.round,
            selected=epoch.selected,
            selected_slots=[int(s) for s in epoch.slots],
            completed=certified.completed,
            accepted=[j.identity for j, _ in certified.accepted],
            rejected=certified.rejected,
            dropped=dropped + agreement.dropped,
            in_flight=sorted(set(self.jobs) | {j.identity for j in self.pending_arrivals}),
            # Sync: the round lasts until its slowest vehicle is done. Async: the epoch length
            # is fixed, so what a selection costs is the time it keeps vehicles busy, per slot.
            latency_s=epoch_s if sync else busy_s / self.cfg.env.vehicles_per_round,
            epoch_s=epoch_s,
            busy_s=busy_s,
            energy_j=self._energy_spent() - epoch.energy_before_j,
            consensus_s=certified.consensus_s,
            accuracy=self.fl.accuracy,
            loss=self.fl.loss,
            staleness=staleness,
            poisoned_accepted=certified.poisoned_accepted,
            poisoned_rejected=certified.poisoned_rejected,
            committee=certified.committee,
            safety_violated=certified.safety_violated,
            block_committed=certified.committed,
            view=certified.view,
            handovers=progress.handovers + agreement.handovers,
        )
        self.last_report = report
        return report

    def _energy_spent(self) -> float:
        return float((self.network.energy_budget_j - self.network.energy_left_j).sum())

    def fleet(self) -> FleetView:
        """Where the vehicles are now (what a mechanism may read)."""
        net = self.network
        return FleetView(net.positions(), net.present, net.slot_identity)

    # ------------------------------------------------------------------ phase: select
    def _select(self, slots: np.ndarray) -> list[tuple[int, str]]:
        """Task the selected vehicles on chain and start their jobs; returns those dropped
        because their battery cannot pay for the computation."""
        ids = self.network.slot_identity[slots]
        dropped: list[tuple[int, str]] = []
        if slots.size == 0:
            return dropped
        self.chain.assign_task(
            self.round, self.global_hash, [self.vehicle_ids[i] for i in ids], self.time_s
        )
        sizes = self.fl.sizes[ids]
        cpu = self.network.cpu_hz[ids]
        epochs = self.cfg.fl.local_epochs
        t_compute = compute_time_s(sizes, epochs, self.cfg.network.compute.cycles_per_sample, cpu)
        e_compute = compute_energy_j(sizes, epochs, self.cfg.network.compute, cpu)
        fleet = self.fleet() if self.mechanisms else None  # nobody moves while selecting
        failure_prob = self.cfg.network.failure_prob
        for k, (identity, slot) in enumerate(zip(ids, slots, strict=True)):
            identity = int(identity)
            self.record.selected(identity, self.round)
            if self.network.energy_left_j[identity] < e_compute[k]:
                self.chain.cancel_task(self.vehicle_ids[identity])
                dropped.append((identity, "energy"))
                continue
            start, pull_s = self.fl.global_params, 0.0
            for mechanism in self.mechanisms:  # e.g. neighbours' confirmed models over V2V
                assert fleet is not None
                fetched = mechanism.start_model(identity, int(slot), start, fleet)
                for sender, joules in fetched.energy_j:
                    self.network.spend_energy(sender, joules)
                start, pull_s = fetched.params, pull_s + fetched.pull_s
            self.jobs[identity] = Job(
                identity, int(slot), self.round, self.fl.version, self.global_hash, start,
                self.time_s + pull_s + float(t_compute[k]), float(e_compute[k]), self.time_s,
                fails=failure_prob > 0 and bool(self._failure_rng.random() < failure_prob),
            )  # fmt: skip
        return dropped

    # ------------------------------------------------------------------ phase: train
    def _due_jobs(self, horizon_s: float) -> list[Job]:
        """Jobs whose computation ends by ``horizon_s``: their local training runs this epoch."""
        due = [
            j
            for j in self.jobs.values()
            if j.stage is JobStage.COMPUTE and j.compute_done_s <= horizon_s
        ]
        return sorted(due, key=lambda j: j.identity)

    def complete_training(self, epoch: EpochStart, result: TrainResult) -> None:
        """Phase 2: hand the epoch's trained models (``result``, row k for due job k) to their
        jobs and to the mechanisms."""
        due = epoch.due
        if not due:
            return
        for k, job in enumerate(due):
            job.params = result.params[k]
            job.loss = float(result.losses[k])
            job.stage = JobStage.TRAINED
            self.record.report_loss(job.identity, job.loss)
        trained = [(j.identity, result.params[k]) for k, j in enumerate(due)]
        for mechanism in self.mechanisms:
            mechanism.on_trained(trained, max(j.compute_done_s for j in due))

    # ------------------------------------------------------------------ phase: advance the clock
    def _advance_clock(self, until_s: float, stop_when_idle: bool = False) -> ClockProgress:
        """The one clock loop: advance the network tick by tick to ``until_s`` (or until no job
        is left, with ``stop_when_idle``); returns what happened meanwhile."""
        tick = self.cfg.network.mobility.tick_s
        progress = ClockProgress()
        while self.time_s < until_s - 1e-9:
            if stop_when_idle and not self.jobs:
                break
            self._tick(min(tick, until_s - self.time_s), progress)
        return progress

    def _tick(self, dt: float, progress: ClockProgress) -> None:
        t0 = self.time_s
        self.busy_s += dt * len(self.jobs)  # every job still computing or uploading [s]
        events = self.network.advance(dt)
        progress.handovers += int(events.handovers.size)
        self.time_s = t0 + dt
        for identity in events.departed_ids:
            if int(identity) in self.jobs:
                progress.dropped.append(self._drop(int(identity), "departure"))
        for identity in events.went_offline:  # it stopped being idle, charging or on Wi-Fi
            if int(identity) in self.jobs:
                progress.dropped.append(self._drop(int(identity), "offline"))
        # computations that finished in this tick start their upload (needs an RSU)
        starting = [
            j
            for j in self.jobs.values()
            if j.stage is JobStage.TRAINED and j.compute_done_s <= self.time_s
        ]
        for job in starting:
            self._charge(job, job.compute_energy_j)
            if job.identity not in self.jobs:
                continue
            if job.fails:  # it computed, then crashed: no update reaches anyone
                progress.dropped.append(self._drop(job.identity, "failure"))
                continue
            failed = self.uploads.start(
                np.array([job.slot]),
                self.payload_bits,
                self.network.serving,
                max(job.compute_done_s, t0),
            )
            if failed.size:
                progress.dropped.append(self._drop(job.identity, "coverage"))
            else:
                job.stage = JobStage.UPLOADING
        if not self.uploads.active.any():
            return
        sharers = self.uploads.sharers(self.network.serving, self.network.infra.num_rsus)
        rates = self.network.rates_bps(sharers)
        step = self.uploads.tick(rates, self.network.serving, self.network.present, t0, dt)
        slot_job = {j.slot: j for j in self.jobs.values() if j.stage is JobStage.UPLOADING}
        tx_power = self.cfg.network.channel.tx_power_dbm
        for slot, reason in zip(step.failed, step.failed_reason, strict=True):
            job = slot_job[int(slot)]
            self._charge(
                job,
                float(transmit_energy_j(tx_power, self.time_s - self.uploads.started_at_s[slot])),
            )
            if job.identity in self.jobs:
                progress.dropped.append(self._drop(job.identity, reason))
        for slot, when in zip(step.completed, step.completed_at_s, strict=True):
            job = slot_job[int(slot)]
            self._charge(
                job, float(transmit_energy_j(tx_power, when - self.uploads.started_at_s[slot]))
            )
            job.stage, job.arrived_s = JobStage.ARRIVED, float(when)
            self.record.arrived(job.identity, job.arrived_s - job.selected_s)
            del self.jobs[job.identity]
            progress.arrived.append(job)

    def _charge(self, job: Job, joules: float) -> None:
        job.energy_j += self.network.spend_energy(job.identity, joules)

    def _drop(self, identity: int, reason: str) -> tuple[int, str]:
        """End a job without an update (its task is cancelled on chain); returns the outcome."""
        job = self.jobs.pop(identity)
        if job.stage is JobStage.UPLOADING:
            self.uploads.cancel(np.array([job.slot]))
        self.chain.cancel_task(self.vehicle_ids[identity])
        return identity, reason

    # ------------------------------------------------------------------ phase: certify
    def _certify(self, arrived: list[Job]) -> Phases[Certified]:
        """Each arrived update is signed and sent to the round's committee, which screens,
        scores and certifies; returns its decisions (accepted pairs in block order).

        The validation pass the members score with is run before the round, over every arrived
        update (pausing for it, so a vector env batches it across worlds); the members use it
        when the updates that pass screening are exactly those, in that order (the usual case),
        and run their own pass otherwise. Either way a score is the same computation on the
        same models: the pass only moves earlier."""
        arrived.sort(key=lambda j: (j.arrived_s, j.identity))
        txs: list[Transaction] = []
        by_sender: dict[str, Job] = {}
        for job in arrived:
            name = self.vehicle_ids[job.identity]
            txs.append(self.chain.sign_update(
                name, job.task_round, job.base_hash, self.fl.to_bytes(job.trained_params()),
                int(self.record.reported_sizes[job.identity]),
                {"loss": self.record.reported_loss_of(job.identity, job.loss)},
            ))  # fmt: skip
            by_sender[name] = job
        ahead: tuple[list[Job], ScoredAhead] | None = None
        if arrived and self.cfg.chain.verify_quality:
            stacked, mix = self._score_inputs(arrived)
            hit, loss = yield ForwardPass(
                self.fl.spec, self.fl.score_models(stacked, mix), self.fl.x_val, self.fl.y_val
            )
            ahead = (list(arrived), (stacked, mix, hit, loss))

        def score_fn(
            members: list[str], candidates: list[UpdateCandidate]
        ) -> tuple[np.ndarray, np.ndarray]:
            # one job per sender; identical parameters (free riders) must not collide
            jobs = [by_sender[c.sender] for c in candidates]
            same = ahead is not None and [id(j) for j in ahead[0]] == [id(j) for j in jobs]
            return self._committee_scores(members, jobs, ahead[1] if ahead and same else None)

        outcome: RoundOutcome = self.chain.run_round(self.round, txs, self.time_s, score_fn)
        rejected: list[tuple[int, str]] = []
        poisoned_rejected = 0
        for sender, reason in outcome.rejected:
            rejected_job = by_sender.get(sender)
            identity = rejected_job.identity if rejected_job else -1
            rejected.append((identity, reason))
            if rejected_job is not None and self.fl.malicious[identity]:
                poisoned_rejected += 1
        accepted = [(by_sender[c.sender], c) for c in outcome.accepted]
        self.norm_screen.record(np.array([j.norm for j, _ in accepted]))
        return Certified(
            completed=[j.identity for j in arrived],
            committee=outcome.committee,
            committed=outcome.committed,
            view=outcome.view,
            rejected=rejected,
            accepted=accepted,
            poisoned_accepted=int(sum(self.fl.malicious[j.identity] for j, _ in accepted)),
            poisoned_rejected=poisoned_rejected,
            consensus_s=outcome.consensus_s,
            safety_violated=outcome.safety_violated,
        )

    def _score_inputs(self, jobs: list[Job]) -> tuple[torch.Tensor, np.ndarray]:
        """The updates of ``jobs`` (stacked) and their aggregation weights if accepted in order."""
        stacked = torch.stack([j.trained_params() for j in jobs])
        samples = self.record.reported_sizes[[j.identity for j in jobs]]
        staleness = self.fl.staleness(np.array([j.base_version for j in jobs]))
        return stacked, self.fl.mixing_weights(samples, staleness)

    def _committee_scores(
        self, members: list[str], jobs: list[Job], ahead: ScoredAhead | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each member's score of each update on its own validation data (and the norm screen).
        ``ahead``: these jobs' updates, weights and validation pass, computed before the round."""
        seats = [self._seat(m) for m in members]
        limit = self.cfg.chain.label_screen_limit if self.cfg.chain.label_screen else None
        if ahead is None:
            stacked, mix = self._score_inputs(jobs)
            scores, baseline = self.fl.score(stacked, seats, mix, limit)
        else:
            stacked, _, hit, loss = ahead
            scores, baseline = self.fl.scores_from(hit, loss, stacked, seats, limit)
        if self.cfg.chain.norm_screen:
            norms = self.norm_screen.norms(stacked, torch.stack([j.base_params for j in jobs]))
            for job, norm in zip(jobs, norms, strict=True):
                job.norm = float(norm)
            outside = self.norm_screen.outside(norms)
            scores[:, outside] = np.where(
                np.isfinite(scores[:, outside]), OUT_OF_BOUND, scores[:, outside]
            )
        return scores, baseline

    # ------------------------------------------------------------------ phase: aggregate
    def _aggregate(self, accepted: list[tuple[Job, UpdateCandidate]]) -> Phases[list[int]]:
        """The MBS aggregates only what a certified block accepted, evaluates the global model
        when due (pausing for the pass) and records the aggregation on chain; returns the
        staleness of each aggregated update."""
        if not accepted:
            return []
        jobs = [j for j, _ in accepted]
        params = torch.stack([j.trained_params() for j in jobs])
        staleness = self.fl.staleness(np.array([j.base_version for j in jobs]))
        samples = self.record.reported_sizes[[j.identity for j in jobs]]
        weights = self.fl.aggregate(params, samples, staleness, evaluate=False)
        if self.fl.evaluation_due:
            self.fl.accuracy, self.fl.loss = self.fl.evaluated(*(yield self.fl.test_pass()))
        inputs = [(c.tx.tx_id, float(w)) for (_, c), w in zip(accepted, weights, strict=True)]
        self.global_hash = self.chain.record_aggregation(
            self.round, self.fl.version, self.fl.to_bytes(self.fl.global_params), inputs
        )
        return [int(s) for s in staleness]

    def _seat(self, member: str) -> int:
        """Validation subset of a committee member: RSU i holds subset i."""
        if member.startswith("rsu"):
            return int(member[3:])
        return int(member[3:]) if member.startswith("veh") else 0

    # ------------------------------------------------------------------ views for the env layer
    def view(self, oracle: bool = False) -> WorldView:
        """What the system knows now, per slot (see :mod:`bcfl_env.view`); ``oracle`` adds true
        values for upper-bound studies."""
        net = self.network
        ids = np.maximum(net.slot_identity, 0)
        # a node that is offline has not checked in: the server does not see it
        present = net.present & net.slot_online()
        rates = net.rates_bps(self.uploads.sharers(net.serving, net.infra.num_rsus))
        truth = None
        if oracle:
            cfg = self.cfg
            compute_s = compute_time_s(
                self.fl.sizes[ids], cfg.fl.local_epochs, cfg.network.compute.cycles_per_sample,
                np.maximum(net.cpu_hz[ids], 1.0),
            )  # fmt: skip
            # out of coverage: no upload possible; count it as ten epochs
            upload_s = np.where(
                rates > 0,
                self.payload_bits / np.maximum(rates, 1e-9),
                10 * cfg.env.epoch_length_s,
            )
            truth = OracleView(
                net.cpu_hz[ids].copy(), self.fl.partition.entropy[ids].copy(), compute_s + upload_s
            )
        columns: dict[str, np.ndarray] = {}
        for mechanism in self.mechanisms:
            columns.update(mechanism.observed(self.fleet()))
        record = self.record
        return WorldView.build(
            round=self.round,
            time_s=self.time_s,
            accuracy=self.fl.accuracy,
            present=present,
            served=net.serving >= 0,
            distance_m=net.distance_m,
            rate_bps=rates,
            dwell_s=net.dwell_time_s(),
            reported_size=record.reported_sizes[ids],
            largest_reported_size=float(record.reported_sizes.max()),
            energy_fraction=net.slot_energy_fraction(),
            reported_loss=record.reported_loss[ids],
            round_trip_s=record.round_trip_s[ids],
            last_selected_round=record.last_selected_round[ids],
            reputation=self._reputations(ids),
            in_flight=self.in_flight_slots(),
            oracle=truth,
            **columns,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "sim_time_s": self.time_s,
            "accuracy": self.fl.accuracy,
            "block_height": self.chain.ledger.height,
            **self.network.summary(),
        }
