"""Model sharing between vehicles through the DAG (``chain.dag=True``; IoV's hybrid chain).

A :class:`~bcfl_env.mechanism.Mechanism`; the world calls its hooks:

* :meth:`DagSharing.start_model` when a vehicle is selected: it pulls the confirmed models that
  vehicles within V2V reach published last and starts training from
  ``(1 - mix) global + mix mean(neighbours)``, the mixing step of decentralised SGD (Lian et al.,
  "Can decentralized algorithms outperform centralized algorithms?", NeurIPS 2017) applied once
  before local training, as the IoV system lets a vehicle improve from its neighbours before it
  uploads (Lu et al., IEEE TVT 2020). Each pull costs the V2V transfer time (added before the
  vehicle's computation) and the sender's transmit energy, which the world charges;
* :meth:`DagSharing.on_trained` when local training ends: the trained models are published
  concurrently, each approving up to two tips its publisher checked (signature, certificate, and
  accuracy on 64 of its own samples against the global model's: the first verification stage);
* :meth:`DagSharing.on_round_end` every ``dag_anchor_every`` rounds: the DAG's summary goes on
  the permissioned chain in the round's certified block.

It holds no reference to the world: it reads the chain through :class:`ChainService`, the
vehicles' positions through a :class:`~bcfl_env.mechanism.FleetView`, and the FL engine through
two functions (a model's bytes, and a vehicle's accuracy gain on its own data).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bcfl_env.chain.crypto import sha256_hex
from bcfl_env.chain.dag import Dag, DagTransaction, signers_of
from bcfl_env.chain.service import ChainService
from bcfl_env.config import ChainConfig, ChannelConfig
from bcfl_env.mechanism import FleetView, StartModel
from bcfl_env.network.v2v import transfer_cost, v2v_range_m, v2v_rate_bps

__all__ = ["DagSharing"]

QUALITY_SAMPLES = 64


class DagSharing:
    """The DAG mechanism (see the module docstring).

    Args:
        cfg: the chain's config (the ``dag_*`` fields).
        radio: the channel config (V2V range and rates).
        chain: the permissioned chain: identities, the DAG's anchors, the ledger.
        vehicle_ids: chain name of each identity.
        genesis_model: the hash and parameters of the global model version 0.
        payload_bits: bits of one model transfer.
        rng: the DAG's generator (tip selection).
        model_bytes: the canonical bytes of a model (what its hash covers).
        gain_on_own_data: ``(identity, params, samples) -> accuracy gain or None``.
        now_s: simulated time at creation [s].
    """

    def __init__(
        self,
        cfg: ChainConfig,
        radio: ChannelConfig,
        chain: ChainService,
        vehicle_ids: list[str],
        genesis_model: tuple[str, torch.Tensor],
        payload_bits: float,
        rng: np.random.Generator,
        model_bytes: Callable[[torch.Tensor], bytes],
        gain_on_own_data: Callable[[int, torch.Tensor, int], float | None],
        now_s: float = 0.0,
    ) -> None:
        self.cfg, self.radio, self.chain = cfg, radio, chain
        self.vehicle_ids = vehicle_ids
        self.identities = chain.identities
        genesis_hash, genesis_params = genesis_model
        self.dag = Dag(
            chain.identity("mbs"), genesis_hash, alpha=cfg.dag_alpha,
            confirm_weight=cfg.dag_confirm_weight, quality_floor=cfg.dag_quality_floor,
            now_s=now_s,
        )  # fmt: skip
        self.params: dict[str, torch.Tensor] = {genesis_hash: genesis_params.clone()}
        self.latest: dict[int, str] = {}  # identity -> its newest DAG transaction
        self.payload_bits = payload_bits
        self.rng = rng
        self.model_bytes = model_bytes
        self.gain_on_own_data = gain_on_own_data
        self.signers = signers_of(self.identities)
        self.range_m = v2v_range_m(
            cfg.v2v_min_rate_bps, radio.rsu_bandwidth_hz, radio.carrier_hz, radio.tx_power_dbm,
            radio.noise_psd_dbm_hz, radio.noise_figure_db,
        )  # fmt: skip
        self.stats = {"published": 0, "pulled": 0, "bits": 0.0, "seconds": 0.0, "joules": 0.0}

    # ------------------------------------------------------------------ pulling
    def start_model(
        self, identity: int, slot: int, global_params: torch.Tensor, fleet: FleetView
    ) -> StartModel:
        """The start model of a selected vehicle, the seconds its pulls take and the senders'
        transmit energy."""
        xy = fleet.positions
        present = fleet.present & (fleet.slot_identity >= 0)
        distance = np.linalg.norm(xy - xy[slot], axis=1)
        models, seconds, energy = [], 0.0, []
        for other in np.flatnonzero(present & (distance <= self.range_m)):
            sender = int(fleet.slot_identity[other])
            tx_id = self.latest.get(sender)
            if sender == identity or tx_id is None or not self.dag.confirmed(tx_id):
                continue
            rate = v2v_rate_bps(
                float(distance[other]), self.radio.rsu_bandwidth_hz, self.radio.carrier_hz,
                self.radio.tx_power_dbm, self.radio.noise_psd_dbm_hz, self.radio.noise_figure_db,
            )  # fmt: skip
            t, joules = transfer_cost(self.payload_bits, rate, self.radio.tx_power_dbm)
            energy.append((sender, float(joules)))
            models.append(self.params[self.dag.model_of(tx_id)])
            seconds += float(t)
            self.stats["pulled"] += 1
            self.stats["bits"] += float(self.payload_bits)
            self.stats["joules"] += float(joules)
        self.stats["seconds"] += seconds
        if not models:
            return StartModel(global_params, 0.0, energy)
        mix = self.cfg.dag_mix
        start = (1 - mix) * global_params + mix * torch.stack(models).mean(dim=0)
        return StartModel(start, seconds, energy)

    # ------------------------------------------------------------------ what the RSUs observe
    def observed(self, fleet: FleetView) -> dict[str, np.ndarray]:
        """Per slot: confirmed latest models of other vehicles within V2V reach (what a pull could
        fetch now), and the vehicle's own latest model's cumulative weight / the confirmation
        weight, capped at 1 (0 before it published). Zeros for empty slots."""
        present = fleet.present & (fleet.slot_identity >= 0)
        ids = fleet.slot_identity
        offers = np.zeros(len(ids), dtype=bool)
        level = np.zeros(len(ids))
        for slot in np.flatnonzero(present):
            tx_id = self.latest.get(int(ids[slot]))
            if tx_id is not None:
                weight = self.dag.cumulative_weight(tx_id)
                level[slot] = min(weight / self.dag.confirm_weight, 1.0)
                offers[slot] = self.dag.confirmed(tx_id)
        xy = fleet.positions
        near = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2) <= self.range_m
        np.fill_diagonal(near, False)
        counts = (near & offers[None, :]).sum(axis=1) * present
        return {"dag_neighbours": counts.astype(np.float64), "dag_confirmation": level}

    # ------------------------------------------------------------------ publishing
    def on_trained(self, trained: list[tuple[int, torch.Tensor]], now_s: float) -> None:
        """Publish the trained models of ``(identity, params)``, concurrently."""
        entries, publishers = [], []
        for identity, params in trained:
            name = self.vehicle_ids[identity]
            if self.identities.status(name, "vehicle", now_s) is not None:
                continue  # revoked or expired: it may not publish
            digest = sha256_hex(self.model_bytes(params))
            self.params.setdefault(digest, params.detach().clone())
            entries.append((self.chain.identity(name), digest, self._quality_for(identity)))
            publishers.append(identity)
        txs = self.dag.publish_concurrently(entries, now_s, self.rng, self.signers)
        for identity, tx in zip(publishers, txs, strict=True):
            self.latest[identity] = tx.tx_id
        self.stats["published"] += len(txs)

    def _quality_for(self, approver: int) -> Callable[[DagTransaction], float]:
        def quality(tx: DagTransaction) -> float:
            params = self.params.get(tx.decoded()["payload"]["model"])
            if params is None:
                return -1.0
            gain = self.gain_on_own_data(approver, params, QUALITY_SAMPLES)
            return -1.0 if gain is None else gain

        return quality

    # ------------------------------------------------------------------ anchoring
    def on_round_end(self, round_: int) -> None:
        if round_ % self.cfg.dag_anchor_every == 0:
            self.chain.anchor_dag(self.dag.anchor())

    def verify(self) -> dict[str, int]:
        """Re-check the DAG and every anchor the chain's ledger holds."""
        anchors = [tx["payload"] for _, tx in self.chain.ledger.transactions("dag_anchor")]
        return self.dag.verify(self.signers, anchors)
