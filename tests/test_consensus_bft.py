"""The rotating-leader BFT protocol: quorum certificates hold exactly the signatures cast, a
faulty leader costs a recorded view change, and more than f refusing members stop the chain."""

from typing import get_args

import numpy as np
import pytest
from test_chain import make_chain, run_round

from bcfl_env.chain import BEHAVIOURS, CONSENSUS, ELECTIONS, PermissionedChain
from bcfl_env.config import ChainConfig, ConsensusKind, ElectionRule, FaultBehaviour


def test_registries_hold_exactly_the_configs_choices():
    assert set(CONSENSUS) == set(get_args(ConsensusKind))
    assert set(ELECTIONS) == set(get_args(ElectionRule))
    assert set(BEHAVIOURS) - {"honest"} == set(get_args(FaultBehaviour))


def test_one_always_reject_member_of_four_does_not_sign_and_the_block_commits():
    chain = make_chain(["rsu3"], "always_reject")
    outcome, _ = run_round(chain, 1, ["veh0"], [0.5])
    assert outcome.committed and [c.sender for c in outcome.accepted] == ["veh0"]
    assert sorted(m for m, _ in outcome.block.qc) == ["rsu0", "rsu1", "rsu2"]
    chain.ledger.verify()


def test_two_always_reject_members_of_four_sign_nothing_and_no_block_commits():
    chain = make_chain(["rsu2", "rsu3"], "always_reject")
    height = chain.ledger.height
    for r in (1, 2, 3):
        outcome, _ = run_round(chain, r, [f"veh{r}"], [0.5])
        assert not outcome.committed and outcome.block is None
        assert outcome.accepted == [] and outcome.rejected == [(f"veh{r}", "no_quorum")]
        assert outcome.view == 4  # every leader tried
        assert outcome.consensus_s >= 4 * chain.cfg.view_change_timeout_s
    assert chain.ledger.height == height  # liveness lost, visibly: no block was certified
    chain.ledger.verify()


def test_a_faulty_leader_costs_a_recorded_view_change():
    honest = make_chain()
    baseline, _ = run_round(honest, 1, ["veh0", "veh1"], [0.5, 5.0])
    leader = baseline.block.header_fields()["proposer"]  # the leader of view 0 at height 1
    chain = make_chain([leader], "always_accept")  # proposes accepting the poisoned update
    outcome, _ = run_round(chain, 1, ["veh0", "veh1"], [0.5, 5.0])
    assert outcome.committed and outcome.view == 1
    header = outcome.block.header_fields()
    assert header["view"] == 1 and header["proposer"] != leader
    changes = [
        tx.decoded()["payload"] for tx in outcome.block.transactions if tx.kind == "view_change"
    ]
    assert [(c["view"], c["leader"]) for c in changes] == [(0, leader)]
    assert [c.sender for c in outcome.accepted] == ["veh0"]  # the poisoned update stayed out
    assert outcome.consensus_s >= baseline.consensus_s + chain.cfg.view_change_timeout_s
    assert chain.ledger.verify().view_changes == 1


@pytest.mark.parametrize("election", ["reputation", "round_robin"])
def test_the_committee_rotates_when_there_are_more_rsus_than_seats(election):
    chain = PermissionedChain(
        ChainConfig(committee_size=4, election=election), np.random.default_rng(0),
        [f"rsu{i}" for i in range(6)],
    )  # fmt: skip
    chain.genesis([f"veh{i}" for i in range(8)], b"model")
    committees = set()
    for r in range(1, 9):
        committees.add(tuple(chain.committee))
        run_round(chain, r, [f"veh{r % 8}"], [0.5])
    assert len(committees) >= 3
    chain.ledger.verify()
