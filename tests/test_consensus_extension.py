"""A consensus kind is one module, it owns its quorum rule, and the audit rebuilds the protocol
from the parameters genesis recorded (never from its own defaults)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_chain import make_chain, run_round

from bcfl_env.chain import CONSENSUS, LedgerIntegrityError
from bcfl_env.chain.consensus import (
    RotatingLeaderBFT,
    make_consensus,
    register_consensus,
    unregister_consensus,
)
from bcfl_env.config import ChainConfig


class Unanimous(RotatingLeaderBFT):
    """Test-defined kind: the rotating leader, but every member must sign."""

    kind = "unanimous"

    def quorum(self, committee_size: int) -> int:
        return committee_size


@pytest.fixture
def unanimous() -> Iterator[type[Unanimous]]:
    register_consensus(Unanimous)
    yield Unanimous
    unregister_consensus(Unanimous.kind)


def _strip_one_signature(chain) -> int:
    """Drop one signature from the newest block's certificate (the hash does not cover it)."""
    block = chain.ledger.blocks[-1]
    block.qc = block.qc[:-1]
    return len(block.qc)


def test_a_consensus_kind_defined_here_is_configurable_and_audited_with_its_own_quorum(unanimous):
    chain = make_chain(consensus="unanimous")
    outcome, _ = run_round(chain, 1, ["veh0"], [0.5])
    assert outcome.committed and len(outcome.block.qc) == 4  # every member signed
    assert outcome.block.header_fields()["quorum"] == 4
    chain.ledger.verify()
    left = _strip_one_signature(chain)
    assert left == 3  # still a PBFT quorum of 4: only the kind's own rule refuses it
    with pytest.raises(LedgerIntegrityError, match="3 signatures, expected at least 4"):
        chain.ledger.verify()


def test_an_unregistered_kind_is_refused_by_the_config_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"chain.consensus='unanimous' is not allowed.*'bft'"):
        ChainConfig(consensus="unanimous")


def test_a_ledger_with_non_default_consensus_parameters_is_audited_with_them():
    chain = make_chain(bft_max_faulty=0)  # 4 members, none assumed faulty: quorum 4, not 3
    outcome, _ = run_round(chain, 1, ["veh0"], [0.5])
    genesis = chain.ledger.blocks[0].header_fields()
    assert genesis["rules"]["consensus_params"] == {"bft_max_faulty": 0}
    assert len(outcome.block.qc) == 4
    chain.ledger.verify()  # audited with quorum 4, as recorded
    # the audit's consensus check under the default parameters gives the other verdict
    header = outcome.block.header_fields()
    default = make_consensus(ChainConfig())
    assert default.check_block(header, 1, []) == "quorum: expected 3 for 4 members, found 4"
    assert CONSENSUS["bft"].from_record({"bft_max_faulty": 0}).check_block(header, 1, []) is None
    _strip_one_signature(chain)  # 3 signatures: enough for the default, not for this ledger
    with pytest.raises(LedgerIntegrityError, match="3 signatures, expected at least 4"):
        chain.ledger.verify()


def test_a_default_genesis_records_no_consensus_parameters():
    chain = make_chain()
    assert "consensus_params" not in chain.ledger.blocks[0].header_fields()["rules"]


def test_recorded_parameters_the_protocol_does_not_have_fail_the_audit():
    with pytest.raises(ValueError, match=r"has no parameters \['pow_mean_block_s'\]"):
        CONSENSUS["bft"].from_record({"pow_mean_block_s": 1.0})


def test_more_assumed_faults_than_the_committee_tolerates_are_refused():
    with pytest.raises(ValueError, match=r"chain.bft_max_faulty=2 is out of range.*at most 1"):
        ChainConfig(bft_max_faulty=2)
