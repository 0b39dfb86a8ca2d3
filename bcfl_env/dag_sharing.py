"""Model sharing between vehicles through the DAG (``chain.dag=True``; IoV's hybrid chain).

The world calls three hooks:

* :meth:`DagSharing.start_model` when a vehicle is selected: it pulls the confirmed models that
  vehicles within V2V reach published last and starts training from
  ``(1 - mix) global + mix mean(neighbours)``, the mixing step of decentralised SGD (Lian et al.,
  "Can decentralized algorithms outperform centralized algorithms?", NeurIPS 2017) applied once
  before local training, as the IoV system lets a vehicle improve from its neighbours before it
  uploads (Lu et al., IEEE TVT 2020). Each pull costs the V2V transfer time (added before the
  vehicle's computation) and the sender's transmit energy;
* :meth:`DagSharing.publish` when local training ends: the trained models are published
  concurrently, each approving up to two tips its publisher checked (signature, certificate, and
  accuracy on 64 of its own samples against the global model's: the first verification stage);
* :meth:`DagSharing.anchor` every ``dag_anchor_every`` rounds: the DAG's summary goes on the
  permissioned chain in the round's certified block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bcfl_env.chain.crypto import sha256_hex
from bcfl_env.chain.dag import Dag, DagTransaction, signers_of
from bcfl_env.fl.evaluation import correctness
from bcfl_env.network.v2v import transfer_cost, v2v_range_m, v2v_rate_bps

if TYPE_CHECKING:
    from bcfl_env.world import World

__all__ = ["DagSharing"]

QUALITY_SAMPLES = 64


class DagSharing:
    def __init__(self, world: World) -> None:
        self.world = world
        cfg, ch = world.cfg.chain, world.cfg.network.channel
        self.cfg, self.radio = cfg, ch
        chain: Any = world.chain
        self.identities = chain.identities
        self.dag = Dag(
            chain.identity("mbs"), world.global_hash, alpha=cfg.dag_alpha,
            confirm_weight=cfg.dag_confirm_weight, quality_floor=cfg.dag_quality_floor,
            now_s=world.time_s,
        )  # fmt: skip
        self.params: dict[str, torch.Tensor] = {world.global_hash: world.fl.global_params.clone()}
        self.latest: dict[int, str] = {}  # identity -> its newest DAG transaction
        self.rng = world.seeds.generator("dag")
        self.signers = signers_of(self.identities)
        self.range_m = v2v_range_m(
            cfg.v2v_min_rate_bps, ch.rsu_bandwidth_hz, ch.carrier_hz, ch.tx_power_dbm,
            ch.noise_psd_dbm_hz, ch.noise_figure_db,
        )  # fmt: skip
        self.stats = {"published": 0, "pulled": 0, "bits": 0.0, "seconds": 0.0, "joules": 0.0}

    # ------------------------------------------------------------------ pulling
    def start_model(self, identity: int, slot: int) -> tuple[torch.Tensor, float]:
        """The start model of a selected vehicle and the seconds its pulls take."""
        world = self.world
        g = world.fl.global_params
        net = world.network
        xy = net.positions()
        present = net.present & (net.slot_identity >= 0)
        distance = np.linalg.norm(xy - xy[slot], axis=1)
        models, seconds = [], 0.0
        for other in np.flatnonzero(present & (distance <= self.range_m)):
            sender = int(net.slot_identity[other])
            tx_id = self.latest.get(sender)
            if sender == identity or tx_id is None or not self.dag.confirmed(tx_id):
                continue
            rate = v2v_rate_bps(
                float(distance[other]), self.radio.rsu_bandwidth_hz, self.radio.carrier_hz,
                self.radio.tx_power_dbm, self.radio.noise_psd_dbm_hz, self.radio.noise_figure_db,
            )  # fmt: skip
            t, joules = transfer_cost(world.payload_bits, rate, self.radio.tx_power_dbm)
            net.energy_left_j[sender] = max(float(net.energy_left_j[sender]) - float(joules), 0.0)
            models.append(self.params[self.dag.model_of(tx_id)])
            seconds += float(t)
            self.stats["pulled"] += 1
            self.stats["bits"] += float(world.payload_bits)
            self.stats["joules"] += float(joules)
        self.stats["seconds"] += seconds
        if not models:
            return g, 0.0
        mix = self.cfg.dag_mix
        return (1 - mix) * g + mix * torch.stack(models).mean(dim=0), seconds

    # ------------------------------------------------------------------ what the RSUs observe
    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """Per slot: confirmed latest models of other vehicles within V2V reach (what a pull could
        fetch now), and the vehicle's own latest model's cumulative weight / the confirmation
        weight, capped at 1 (0 before it published). Zeros for empty slots."""
        net = self.world.network
        present = net.present & (net.slot_identity >= 0)
        ids = net.slot_identity
        offers = np.zeros(len(ids), dtype=bool)
        level = np.zeros(len(ids))
        for slot in np.flatnonzero(present):
            tx_id = self.latest.get(int(ids[slot]))
            if tx_id is not None:
                weight = self.dag.cumulative_weight(tx_id)
                level[slot] = min(weight / self.dag.confirm_weight, 1.0)
                offers[slot] = self.dag.confirmed(tx_id)
        xy = net.positions()
        near = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2) <= self.range_m
        np.fill_diagonal(near, False)
        counts = (near & offers[None, :]).sum(axis=1) * present
        return counts.astype(np.float64), level

    # ------------------------------------------------------------------ publishing
    def publish(self, trained: list[tuple[int, torch.Tensor]], now_s: float) -> None:
        """Publish the trained models of ``(identity, params)``, concurrently."""
        chain: Any = self.world.chain
        entries, publishers = [], []
        for identity, params in trained:
            name = self.world.vehicle_ids[identity]
            if self.identities.status(name, "vehicle", now_s) is not None:
                continue  # revoked or expired: it may not publish
            digest = sha256_hex(self.world.fl.to_bytes(params))
            self.params.setdefault(digest, params.detach().clone())
            entries.append((chain.identity(name), digest, self._quality_for(identity)))
            publishers.append(identity)
        txs = self.dag.publish_concurrently(entries, now_s, self.rng, self.signers)
        for identity, tx in zip(publishers, txs, strict=True):
            self.latest[identity] = tx.tx_id
        self.stats["published"] += len(txs)

    def _quality_for(self, approver: int) -> Any:
        fl = self.world.fl
        idx = fl.partition.indices[approver][:QUALITY_SAMPLES]
        x, y = fl.x_train[idx], fl.y_train[idx]

        def quality(tx: DagTransaction) -> float:
            params = self.params.get(tx.decoded()["payload"]["model"])
            if params is None or len(idx) == 0:
                return -1.0
            hit, _ = correctness(fl.spec, torch.stack([params, fl.global_params]), x, y)
            acc = hit.mean(dim=1)
            return float(acc[0] - acc[1])

        return quality

    # ------------------------------------------------------------------ anchoring
    def anchor(self, round_: int) -> None:
        if round_ % self.cfg.dag_anchor_every == 0:
            chain: Any = self.world.chain
            chain.anchor_dag(self.dag.anchor())

    def verify(self) -> dict[str, int]:
        """Re-check the DAG and every anchor the chain's ledger holds."""
        anchors = [tx["payload"] for _, tx in self.world.chain.ledger.transactions("dag_anchor")]
        return self.dag.verify(self.signers, anchors)
