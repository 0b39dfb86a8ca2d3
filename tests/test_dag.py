"""The vehicles' DAG: acyclicity, seeded tip selection, confirmation, tamper detection, anchors on
the permissioned chain, and transactions from unknown or revoked vehicles refused."""

from __future__ import annotations

import numpy as np
import pytest

from bcfl_env.chain import ChainError, LedgerIntegrityError, PermissionedChain
from bcfl_env.chain.crypto import canonical_bytes, sha256_hex
from bcfl_env.chain.dag import Dag, DagIntegrityError, DagTransaction, signers_of
from bcfl_env.config import ChainConfig

VEHICLES = [f"veh{i}" for i in range(6)]


def _chain() -> PermissionedChain:
    chain = PermissionedChain(
        ChainConfig(committee_size=4, election="round_robin", key_source="seed"),
        np.random.default_rng(0),
        [f"rsu{i}" for i in range(4)],
    )
    chain.genesis(VEHICLES, b"initial-model")
    return chain


def _model(i: int) -> str:
    return sha256_hex(f"model-{i}".encode())


def _good(tx: DagTransaction) -> float:
    return 0.9


def _grow(chain, n=12, seed=0, alpha=0.5, quality=_good):
    dag = Dag(chain.identity("mbs"), sha256_hex(b"initial-model"), alpha=alpha, confirm_weight=3)
    rng = np.random.default_rng(seed)
    signers = signers_of(chain.identities)
    for epoch in range(0, n, 3):  # three vehicles publish in each epoch, concurrently
        entries = [
            (chain.identity(VEHICLES[i % 6]), _model(i), quality)
            for i in range(epoch, min(n, epoch + 3))
        ]
        dag.publish_concurrently(entries, 1.0 + epoch, rng, signers)
    return dag, signers


def test_a_grown_dag_verifies_and_is_acyclic():
    chain = _chain()
    dag, signers = _grow(chain)
    report = dag.verify(signers)
    assert report["transactions"] == 13 and report["tips"] >= 1
    for i, tx in enumerate(dag.txs[1:], start=1):
        parents = tx.decoded()["payload"]["approves"]
        assert 1 <= len(parents) <= 2 and all(dag.index[p] < i for p in parents)


def test_tip_selection_is_deterministic_under_a_seed_and_follows_weight():
    chain = _chain()
    a, _ = _grow(chain, seed=3)
    b, _ = _grow(chain, seed=3)
    c, _ = _grow(chain, seed=4)
    assert [t.tx_id for t in a.txs] == [t.tx_id for t in b.txs]
    assert [t.tx_id for t in a.txs] != [t.tx_id for t in c.txs]
    assert len(a.tips()) >= 2  # concurrent publishing leaves several tips


def test_a_walk_prefers_the_heavy_side_as_alpha_grows():
    chain = _chain()
    dag = Dag(chain.identity("mbs"), sha256_hex(b"initial-model"), alpha=0.0)
    rng, signers = np.random.default_rng(0), signers_of(chain.identities)
    heavy, light = dag.publish_concurrently(
        [(chain.identity("veh0"), _model(0), _good), (chain.identity("veh1"), _model(1), _good)],
        1.0, rng, signers,
    )  # fmt: skip
    # four transactions build on the heavy branch only
    for i in range(4):
        dag.add(
            _approving(
                chain, dag, VEHICLES[2 + i % 3], heavy.tx_id if i == 0 else dag.txs[-1].tx_id, i
            ),
            signers,
        )
    assert dag.cumulative_weight(heavy.tx_id) == 5 and dag.cumulative_weight(light.tx_id) == 1
    for alpha, least in ((0.0, 0.3), (2.0, 0.99)):
        dag.alpha = alpha
        walks = [dag._walk(np.random.default_rng(s)) for s in range(400)]
        share = sum(w == dag.txs[-1].tx_id for w in walks) / len(walks)
        assert share >= least, (alpha, share)


def _approving(chain, dag, sender, parent, i):
    body = canonical_bytes(
        {"kind": "dag_model", "sender": sender,
         "payload": {"model": _model(100 + i), "approves": [parent], "time_s": 2.0 + i,
                     "checks": [{"signature": True, "certificate": True, "score": 0.9}]}}
    )  # fmt: skip
    return DagTransaction(body, chain.identity(sender).sign(body))


def test_confirmation_follows_cumulative_weight():
    chain = _chain()
    dag, _ = _grow(chain, n=12)
    assert dag.cumulative_weight(dag.genesis_id) == len(dag.txs)  # everything approves genesis
    for tip in dag.tips():
        assert dag.cumulative_weight(tip) == 1 and not dag.confirmed(tip)
    confirmed = [t.tx_id for t in dag.txs if dag.confirmed(t.tx_id)]
    assert dag.genesis_id in confirmed and len(confirmed) < len(dag.txs)
    for tx_id in confirmed:
        assert dag.cumulative_weight(tx_id) >= 3


def test_a_model_failing_the_quality_check_is_never_approved():
    chain = _chain()
    bad_model = _model(999)
    dag = Dag(chain.identity("mbs"), sha256_hex(b"initial-model"), confirm_weight=2)
    rng, signers = np.random.default_rng(0), signers_of(chain.identities)

    def quality(tx):
        return -1.0 if tx.decoded()["payload"]["model"] == bad_model else 0.9

    poisoned = dag.publish(chain.identity("veh5"), bad_model, 1.0, rng, signers, quality)
    for i in range(10):
        dag.publish(chain.identity(VEHICLES[i % 5]), _model(i), 2.0 + i, rng, signers, quality)
    assert dag.cumulative_weight(poisoned.tx_id) == 1  # orphaned
    dag.verify(signers)


def test_transactions_from_unknown_or_revoked_vehicles_are_refused():
    chain = _chain()
    dag, signers = _grow(chain, n=3)
    ghost = chain.identities.of("ghost")  # a key without a certificate
    with pytest.raises(ChainError, match="may not publish"):
        dag.publish(ghost, _model(1), 10.0, np.random.default_rng(0), signers, _good)
    chain.revoke("veh2", "misbehaviour", 20.0)
    with pytest.raises(ChainError, match="revoked"):
        dag.publish(
            chain.identity("veh2"), _model(2), 21.0, np.random.default_rng(0), signers, _good
        )
    # before its revocation the same vehicle's transactions stay valid
    dag.verify(signers)


def _replace(dag, index, edit, resign_as=None, chain=None):
    data = dag.txs[index].decoded()
    edit(data)
    body = canonical_bytes(data)
    signer = chain.identity(resign_as) if resign_as else None
    sig = signer.sign(body) if signer else dag.txs[index].signature
    dag.txs[index] = DagTransaction(body, sig)


@pytest.mark.parametrize(
    "attack",
    ["model", "approval", "signature", "self_signed_forgery", "cycle", "check", "time"],
)
def test_any_tampered_dag_transaction_is_detected(attack):
    chain = _chain()
    dag, signers = _grow(chain, n=8)
    i = 5
    sender = dag.txs[i].decoded()["sender"]
    if attack == "model":  # rewrite what was published, keep the old signature
        _replace(dag, i, lambda d: d["payload"].update(model=_model(77)))
    elif attack == "approval":  # point an approval elsewhere
        _replace(dag, i, lambda d: d["payload"].update(approves=[dag.txs[1].tx_id]))
    elif attack == "signature":
        tx = dag.txs[i]
        dag.txs[i] = DagTransaction(tx.body, bytes(64))
    elif attack == "self_signed_forgery":  # another vehicle signs in the sender's name
        other = next(v for v in VEHICLES if v != sender)
        _replace(dag, i, lambda d: d["payload"].update(model=_model(78)), other, chain)
    elif attack == "cycle":  # the sender approves a later transaction (re-signed by the sender)
        later = dag.txs[7].tx_id
        _replace(dag, i, lambda d: d["payload"].update(approves=[later], checks=d["payload"]["checks"][:1]),
                 sender, chain)  # fmt: skip
    elif attack == "check":  # approves something its own recorded check failed

        def fail(d):
            d["payload"]["checks"][0]["signature"] = False

        _replace(dag, i, fail, sender, chain)
    else:  # approves a transaction from its future
        _replace(dag, i, lambda d: d["payload"].update(time_s=0.5), sender, chain)
    with pytest.raises(DagIntegrityError) as err:
        dag.verify(signers)
    assert err.value.index == i


def test_anchors_are_recorded_in_certified_blocks_and_checked_against_the_dag():
    chain = _chain()
    dag, signers = _grow(chain, n=6)
    chain.anchor_dag(dag.anchor())
    chain.assign_task(1, chain.tasks.latest[1], ["veh0"], 10.0)
    outcome = chain.run_round(1, [], 10.0, lambda m, c: (np.zeros((len(m), 0)), np.zeros(len(m))))
    assert outcome.committed
    for i in range(6, 9):
        dag.publish(
            chain.identity(VEHICLES[i % 6]),
            _model(i),
            20.0 + i,
            np.random.default_rng(i),
            signers,
            _good,
        )
    chain.anchor_dag(dag.anchor())
    chain.assign_task(2, chain.tasks.latest[1], ["veh1"], 30.0)
    chain.run_round(2, [], 30.0, lambda m, c: (np.zeros((len(m), 0)), np.zeros(len(m))))
    chain.ledger.verify()
    anchors = [tx["payload"] for _, tx in chain.ledger.transactions("dag_anchor")]
    assert [a["count"] for a in anchors] == [7, 10]
    assert dag.verify(signers, anchors)["anchors"] == 2
    # a DAG rewritten after it was anchored no longer matches the chain's record
    _replace(dag, 3, lambda d: d["payload"].update(model=_model(55)),
             dag.txs[3].decoded()["sender"], chain)  # fmt: skip
    with pytest.raises(DagIntegrityError, match="anchor 0"):
        dag._check_anchor(0, anchors[0])


def test_the_chain_refuses_a_shrinking_or_malformed_anchor():
    chain = _chain()
    dag, _ = _grow(chain, n=4)
    chain.anchor_dag(dag.anchor())
    chain.anchor_dag({**dag.anchor(), "count": 2})  # claims the DAG shrank
    chain.assign_task(1, chain.tasks.latest[1], ["veh0"], 10.0)
    chain.run_round(1, [], 10.0, lambda m, c: (np.zeros((len(m), 0)), np.zeros(len(m))))
    with pytest.raises(LedgerIntegrityError, match="earlier one"):
        chain.ledger.verify()


def test_a_forged_genesis_is_detected():
    chain = _chain()
    dag, signers = _grow(chain, n=3)
    _replace(
        dag, 0, lambda d: d["payload"].update(model=_model(5))
    )  # keeps the MBS's old signature
    with pytest.raises(DagIntegrityError) as err:
        dag.verify(signers)
    assert err.value.index in (0, 1)
