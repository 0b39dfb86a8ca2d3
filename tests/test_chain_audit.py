"""The audit trusts no one: validly signed lies by a colluding quorum, a lying MBS or a lying
vehicle each fail verification with their own message."""

import numpy as np
import pytest
from chain_forgery import forge, txs_of
from test_chain import VEHICLES, aggregate, latest_model, make_chain, run_round, score_fn

from bcfl_env.aggregation_rule import AggregationRule
from bcfl_env.chain import LedgerIntegrityError, PermissionedChain, quorum_size
from bcfl_env.config import ChainConfig
from bcfl_env.provenance import recompute_model


@pytest.fixture
def history():
    """Round 1: veh0 accepted, veh1 rejected, veh2 selected but late; round 2: veh2's late update
    and veh3 accepted; rounds 3-4: one update each. Aggregations land one block later."""
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0", "veh1", "veh2"], 10.0)
    r1 = [chain.sign_update(v, 1, base, f"{v}-1".encode(), 10, {"loss": loss})
          for v, loss in (("veh0", 0.5), ("veh1", 5.0))]  # fmt: skip
    late = chain.sign_update("veh2", 1, base, b"veh2-1", 10, {"loss": 0.5})
    out1 = chain.run_round(1, r1, 10.0, score_fn)
    aggregate(chain, 1, b"global-1", out1.accepted)
    chain.assign_task(2, latest_model(chain), ["veh3"], 20.0)
    veh3 = chain.sign_update("veh3", 2, latest_model(chain), b"veh3-2", 10, {"loss": 0.5})
    out2 = chain.run_round(2, [late, veh3], 20.0, score_fn)
    # veh2 started from version 0 and meets version 1; veh3 started from 1 and meets 2 (FedAsync)
    stale = chain.aggregation.staleness(1, np.array([0, 1]))
    weights = chain.aggregation.weights(np.array([10, 10]), stale)
    chain.record_aggregation(
        2, 3, b"global-2", [(c.tx.tx_id, w) for c, w in zip(out2.accepted, weights, strict=True)]
    )
    run_round(chain, 3, ["veh4"], [0.5])
    run_round(chain, 4, ["veh5"], [0.5])
    chain.ledger.verify()
    ids = {"veh0": r1[0].tx_id, "veh1": r1[1].tx_id, "veh2": late.tx_id, "veh3": veh3.tx_id}
    return chain, ids


def expect_failure(chain, height, pattern):
    with pytest.raises(LedgerIntegrityError, match=pattern) as err:
        chain.ledger.verify()
    assert err.value.height == height
    return str(err.value)


def test_the_honest_history_verifies_and_records_what_it_checked(history):
    chain, _ = history
    report = chain.ledger.verify()
    assert report.updates_accepted == 5 and report.updates_rejected == 1
    assert report.aggregations == 3  # the fourth waits for the next block


# ---------------------------------------------------------------- a lying MBS
def add_input(update_id, weight):
    """A consistent liar: one more input, and the version moves on by one more update."""

    def edit(txs, hdr):
        payload = txs_of(txs, "aggregation")[0]["payload"]
        payload["inputs"].append([update_id, weight])
        payload["version"] += 1

    return edit


def test_aggregating_a_rejected_update_fails(history):
    chain, ids = history
    forge(chain, 2, add_input(ids["veh1"], 0.5))
    expect_failure(chain, 2, "consumes update .* rejected as low_quality in block 1")


def test_consuming_an_update_twice_fails(history):
    chain, ids = history
    forge(chain, 3, add_input(ids["veh0"], 0.5))
    expect_failure(chain, 3, "consumed twice \\(first by the aggregation in block 2\\)")


def test_wrong_aggregation_weight_fails(history):
    chain, _ = history

    def inflate(txs, hdr):
        txs_of(txs, "aggregation")[0]["payload"]["inputs"][0][1] = 0.9

    forge(chain, 3, inflate)
    expect_failure(
        chain, 3, "weight of input 0 .* expected 0.353553391 from samples 10 and staleness 1"
    )


def test_aggregation_citing_a_nonexistent_update_fails(history):
    chain, _ = history
    forge(
        chain,
        3,
        lambda txs, hdr: txs_of(txs, "aggregation")[0]["payload"]["inputs"].__setitem__(
            0, ["ab" * 32, 0.5]
        ),
    )
    expect_failure(chain, 3, "aggregation cites update abab.*which no block holds")


def test_aggregation_from_a_stale_base_fails(history):
    chain, _ = history
    genesis_model = next(d for d, v in chain.published.items() if v == 0)
    forge(
        chain,
        3,
        lambda txs, hdr: txs_of(txs, "aggregation")[0]["payload"].__setitem__(
            "base_model", genesis_model
        ),
    )
    expect_failure(chain, 3, "aggregation starts from .* the latest global model is")


# ---------------------------------------------------------------- a colluding quorum
def test_accepting_an_update_from_an_unselected_vehicle_fails(history):
    chain, _ = history
    base = latest_model(chain)
    intruder = chain.sign_update("veh6", 2, next(iter(chain.published)), b"veh6", 10, {"loss": 0.5})

    def smuggle(txs, hdr):
        at = txs.index(txs_of(txs, "ballot")[0])
        txs.insert(at, {**intruder.decoded(), "_tx": intruder})
        for ballot in txs_of(txs, "ballot"):
            ballot["payload"]["votes"].append([intruder.tx_id, 0.9, True])
        txs_of(txs, "verdict")[0]["payload"]["accepted"].append(intruder.tx_id)

    assert base
    forge(chain, 2, smuggle)
    expect_failure(chain, 2, "update from 'veh6', whom no open task selected")


def test_an_update_for_the_wrong_round_fails(history):
    chain, _ = history
    forge(chain, 2, lambda txs, hdr: txs_of(txs, "update")[1]["payload"].__setitem__("round", 7))
    expect_failure(chain, 2, "update for round 7, the sender's task is for round 2")


def test_an_update_from_the_wrong_base_model_fails(history):
    chain, _ = history
    genesis_model = next(d for d, v in chain.published.items() if v == 0)
    forge(
        chain,
        2,
        lambda txs, hdr: txs_of(txs, "update")[1]["payload"].__setitem__(
            "base_model", genesis_model
        ),
    )
    expect_failure(chain, 2, "update starts from model .* the task names")


def test_a_ballot_citing_a_nonexistent_update_fails(history):
    chain, _ = history
    forge(
        chain,
        2,
        lambda txs, hdr: txs_of(txs, "ballot")[0]["payload"]["votes"].append(
            ["cd" * 32, 0.9, True]
        ),
    )
    expect_failure(chain, 2, "ballot cites update cdcd.*which is not in this block")


def test_rounds_that_go_backwards_fail(history):
    chain, _ = history
    forge(chain, 3, lambda txs, hdr: hdr.__setitem__("round", 1))
    expect_failure(chain, 3, "round: expected a round after 2, found 1")


def test_a_verdict_the_ballots_do_not_support_fails(history):
    chain, ids = history

    def accept_the_rejected(txs, hdr):
        verdict = txs_of(txs, "verdict")[0]["payload"]
        verdict["accepted"].append(ids["veh1"])
        verdict["rejected"] = [r for r in verdict["rejected"] if r[0] != ids["veh1"]]

    forge(chain, 1, accept_the_rejected)
    expect_failure(chain, 1, "verdict disagrees with the ballots under the 'quorum' rule")


def test_a_member_voting_on_its_own_update_fails(history):
    chain, ids = history

    def self_judge(txs, hdr):
        proposer_index = hdr["committee"].index(hdr["proposer"])
        seat = next(i for i in range(4) if i != proposer_index)
        replaced = hdr["committee"][seat]
        hdr["committee"][seat] = "veh2"
        ballot = next(b for b in txs_of(txs, "ballot") if b["sender"] == replaced)
        ballot["sender"] = "veh2"
        ballot.pop("_tx")
        for vote in ballot["payload"]["votes"]:
            vote[2] = True  # including on veh2's own late update

    forge(chain, 2, self_judge)
    expect_failure(chain, 2, "member 'veh2' votes on its own update")


def test_a_view_without_its_recorded_view_changes_fails(history):
    chain, _ = history

    def skip_a_leader(txs, hdr):
        hdr["view"] = 1
        hdr["proposer"] = hdr["committee"][(1 + 1) % 4]
        txs_of(txs, "verdict")[0]["sender"] = hdr["proposer"]
        txs_of(txs, "verdict")[0].pop("_tx")

    forge(chain, 1, skip_a_leader)
    expect_failure(
        chain,
        1,
        "consensus: view changes: a block in view 1 records views \\[0\\] as failed, found \\[\\]",
    )


# ---------------------------------------------------------------- quorum certificates
def test_a_short_quorum_certificate_fails(history):
    chain, _ = history
    block = chain.ledger.blocks[2]
    block.qc = block.qc[: quorum_size(4) - 1]
    expect_failure(chain, 2, "quorum certificate: 2 signatures, expected at least 3")


def test_a_signature_from_a_non_member_fails(history):
    chain, _ = history
    block = chain.ledger.blocks[2]
    outsider = next(v for v in VEHICLES if v not in block.header_fields()["committee"])
    block.qc = [
        *block.qc[:2],
        (outsider, chain.identity(outsider).sign(bytes.fromhex(block.block_hash))),
    ]
    expect_failure(
        chain, 2, f"quorum certificate: '{outsider}' is not a \\(new\\) committee member"
    )


# ---------------------------------------------------------------- the deep audit
def _float_params(values):
    return np.asarray(values, dtype=np.float32).tobytes()


def test_deep_audit_recomputes_models_and_catches_a_lying_mbs():
    """The MBS aggregates honestly in rounds 1 and 3 and lies in round 2; weights and provenance
    are right throughout, so only recomputing the model finds the lie."""
    rule = AggregationRule("fedasync", async_alpha=0.5)
    chain = PermissionedChain(
        ChainConfig(election="round_robin"), np.random.default_rng(0),
        [f"rsu{i}" for i in range(4)], aggregation=rule,
    )  # fmt: skip
    model = np.zeros(16, dtype=np.float32)
    chain.genesis(VEHICLES, _float_params(model))
    for r in (1, 2, 3):
        base = latest_model(chain)
        chain.assign_task(r, base, ["veh0", "veh1"], 10.0 * r)
        updates = [np.full(16, r + k, dtype=np.float32) for k in (0.25, 0.5)]
        txs = [chain.sign_update(v, r, base, _float_params(u), 10, {"loss": 0.5})
               for v, u in zip(("veh0", "veh1"), updates, strict=True)]  # fmt: skip
        outcome = chain.run_round(r, txs, 10.0 * r, score_fn)
        latest = chain.tasks.latest[0]
        staleness = rule.staleness(latest, np.array([latest, latest]))
        new = np.frombuffer(recompute_model(rule, _float_params(model), [_float_params(u) for u in updates],
                                            np.array([10, 10]), staleness), dtype=np.float32)  # fmt: skip
        model = new + np.float32(1e-3) if r == 2 else new  # the lie
        weights = rule.weights(np.array([10, 10]), staleness)
        chain.record_aggregation(r, latest + 2, _float_params(model),
                                 [(c.tx.tx_id, w) for c, w in zip(outcome.accepted, weights, strict=True)])  # fmt: skip
    run_round(chain, 4, ["veh2"], [0.5])
    report = chain.ledger.verify()
    assert report.aggregations == 3 and report.models_recomputed == 0
    with pytest.raises(LedgerIntegrityError, match="global model does not recompute") as err:
        chain.ledger.verify(recompute=recompute_model)
    assert err.value.height == 3  # round 2's aggregation lands in block 3
