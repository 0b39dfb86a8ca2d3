import hashlib
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from bcfl_env.chain import (
    Ledger,
    LedgerIntegrityError,
    PermissionedChain,
    Transaction,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    quorum_size,
    verify_inclusion,
)
from bcfl_env.config import ChainConfig


# ---------------------------------------------------------------- Merkle (RFC 6962)
def test_merkle_known_vectors():
    # RFC 6962 section 2.1: MTH({}) = SHA-256(""), leaf = SHA-256(0x00 || d)
    assert merkle_root([]).hex() == hashlib.sha256(b"").hexdigest()
    assert (
        merkle_root([b""]).hex()
        == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    # the certificate-transparency test vector tree of 8 leaves (root of the first 8 entries)
    leaves = [
        bytes.fromhex(h)
        for h in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    assert (
        merkle_root(leaves).hex()
        == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert (
        merkle_root(leaves[:3]).hex()
        == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    )


def test_odd_leaf_is_promoted_not_duplicated():
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a, b, c]) == node_hash(node_hash(leaf_hash(a), leaf_hash(b)), leaf_hash(c))
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_inclusion_proofs_verify_and_fail_when_tampered(size):
    leaves = [f"leaf{i}".encode() for i in range(size)]
    root = merkle_root(leaves)
    for i in range(size):
        proof = inclusion_proof(leaves, i)
        assert verify_inclusion(leaves[i], i, size, proof, root)
        assert not verify_inclusion(b"evil", i, size, proof, root)
        if proof:
            bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
            assert not verify_inclusion(leaves[i], i, size, bad, root)


# ---------------------------------------------------------------- a small chain
VEHICLES = [f"veh{i}" for i in range(8)]


def score_fn(members, candidates):
    scores = np.array(
        [[0.1 if c.payload["metrics"]["loss"] > 1 else 0.9 for c in candidates] for _ in members]
    )
    return scores, np.full(len(members), 0.8)


def make_chain(faulty=(), behaviour="random", n_rsus=4, committee=None, **kw) -> PermissionedChain:
    cfg = ChainConfig(
        committee_size=committee or n_rsus, faulty_behavior=behaviour, election="round_robin", **kw
    )
    chain = PermissionedChain(
        cfg, np.random.default_rng(0), [f"rsu{i}" for i in range(n_rsus)], faulty
    )
    chain.genesis(VEHICLES, b"initial-model")
    return chain


def latest_model(chain):
    return chain.tasks.latest[1]


def run_round(chain, round_, selected, losses, extra=(), now=None):
    """The MBS selects, vehicles submit, the committee certifies, the MBS aggregates what passed."""
    now = float(round_ * 10) if now is None else now
    base = latest_model(chain)
    chain.assign_task(round_, base, selected, now)
    txs = [
        chain.sign_update(v, round_, base, f"{v}-{round_}".encode(), 10, {"loss": loss})
        for v, loss in zip(selected, losses, strict=False)
    ]
    outcome = chain.run_round(round_, [*txs, *extra], now, score_fn)
    if outcome.accepted:
        aggregate(chain, round_, f"global-{round_}".encode(), outcome.accepted)
    return outcome, txs


def aggregate(chain, round_, params, accepted):
    """The MBS's honest aggregation record for updates that all started from the latest model."""
    latest = chain.tasks.latest[0]
    k = len(accepted)
    staleness = chain.aggregation.staleness(latest, np.full(k, latest))
    weights = chain.aggregation.weights(np.full(k, 10), staleness)
    version = latest + chain.aggregation.versions_advanced(k)
    return chain.record_aggregation(
        round_,
        version,
        params,
        [(c.tx.tx_id, float(w)) for c, w in zip(accepted, weights, strict=True)],
    )


@pytest.fixture(scope="module")
def saved_ledger(tmp_path_factory):
    chain = make_chain()
    for r in range(1, 6):
        run_round(chain, r, VEHICLES[:4], [0.5, 0.5, 0.5, 5.0])
    chain.ledger.verify()
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    chain.ledger.save(path)
    return path


def test_honest_round_accepts_good_and_rejects_low_quality():
    chain = make_chain()
    outcome, _ = run_round(chain, 1, ["veh0", "veh1"], [0.5, 5.0])
    assert [c.sender for c in outcome.accepted] == ["veh0"]
    assert outcome.rejected == [("veh1", "low_quality")]
    assert outcome.committed and outcome.view == 0
    chain.ledger.verify()


def test_an_update_that_scores_nan_is_rejected_and_its_ballot_stays_json(tmp_path):
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0", "veh1"], 10.0)
    txs = [chain.sign_update(v, 1, base, v.encode(), 10, {"loss": 0.5}) for v in ("veh0", "veh1")]

    def broken_second(members, candidates):
        scores = np.full((len(members), len(candidates)), 0.9)
        scores[:, 1] = np.nan
        return scores, np.full(len(members), 0.8)

    outcome = chain.run_round(1, txs, 10.0, broken_second)
    assert [c.sender for c in outcome.accepted] == ["veh0"]
    assert outcome.rejected == [("veh1", "non_finite_update")]
    aggregate(chain, 1, b"global-1", outcome.accepted)
    run_round(chain, 2, ["veh2"], [0.5])
    chain.ledger.verify()
    chain.ledger.save(tmp_path / "l.sqlite")
    Ledger.load(tmp_path / "l.sqlite", verify=True)


def test_forged_signature_is_rejected_with_reason():
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0"], 10.0)
    good = chain.sign_update("veh0", 1, base, b"p", 10, {"loss": 0.5})
    forged = Transaction(good.body, bytes(64))
    outcome = chain.run_round(1, [forged], 10.0, score_fn)
    assert outcome.rejected == [("veh0", "bad_signature")]
    verdict_tx = [tx for tx in outcome.block.transactions if b'"kind":"verdict"' in tx.body]
    assert b"bad_signature" in verdict_tx[0].body
    chain.ledger.verify()


def test_unknown_and_revoked_certificates_are_rejected():
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0", "veh1"], 10.0)
    outsider = chain.sign_update(
        "stranger", 1, base, b"x", 10, {"loss": 0.5}
    )  # has a key, no certificate
    chain.revoke("veh1", "test", 10.0)
    revoked = chain.sign_update("veh1", 1, base, b"y", 10, {"loss": 0.5})
    outcome = chain.run_round(1, [outsider, revoked], 10.0, score_fn)
    assert ("stranger", "unknown_certificate") in outcome.rejected
    assert ("veh1", "revoked_certificate") in outcome.rejected


def test_replay_wrong_model_and_unselected_are_rejected():
    chain = make_chain()
    _, txs = run_round(chain, 1, ["veh0"], [0.5])
    base = latest_model(chain)
    chain.assign_task(2, base, ["veh1"], 20.0)
    wrong_base = chain.sign_update("veh1", 2, "00" * 32, b"z", 10, {"loss": 0.5})
    unselected = chain.sign_update("veh2", 2, base, b"w", 10, {"loss": 0.5})
    outcome = chain.run_round(2, [txs[0], wrong_base, unselected], 20.0, score_fn)
    reasons = dict(outcome.rejected)
    assert reasons == {"veh0": "replay", "veh1": "wrong_base_model", "veh2": "not_selected"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "malformed"),
        (None, "malformed"),
        ({"params": ["x"]}, "malformed"),
        ("junk", "malformed"),
    ],
)
def test_hostile_update_payloads_are_rejected_not_raised(payload, reason):
    chain = make_chain()
    chain.assign_task(1, latest_model(chain), ["veh0"], 10.0)
    tx = chain.identity("veh0").transaction("update", payload)
    outcome = chain.run_round(1, [tx], 10.0, score_fn)
    assert outcome.rejected == [("veh0", reason)]
    chain.ledger.verify()


def test_oversized_update_is_rejected():
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0"], 10.0)
    tx = chain.sign_update("veh0", 1, base, b"p", 10, {"x" * 10_000: 0.5})
    outcome = chain.run_round(1, [tx], 10.0, score_fn)
    assert outcome.rejected == [("?", "oversized")]


def test_identity_without_certificate_cannot_be_selected():
    chain = make_chain()
    from bcfl_env.chain import ChainError

    with pytest.raises(ChainError, match="unknown_certificate"):
        chain.assign_task(1, latest_model(chain), ["ghost"], 10.0)


def test_seed_keys_and_blocks_are_deterministic_per_seed():
    a, b = make_chain(key_source="seed"), make_chain(key_source="seed")
    run_round(a, 1, ["veh0"], [0.5])
    run_round(b, 1, ["veh0"], [0.5])
    assert a.ledger.head_hash == b.ledger.head_hash


def test_what_the_ca_records_of_a_certificate_is_what_parsing_its_der_gives():
    """The CA records an issued certificate from its own inputs (it does not parse and verify
    what it just signed): every field must equal what anyone parsing the DER reads, for the
    root, issues at fractional times, a renewal and a certificate capped at the last time X.509
    can write."""
    from bcfl_env.chain import parse_certificate
    from bcfl_env.chain.ca import MAX_SIM_S, CertificateAuthority
    from bcfl_env.chain.crypto import KeyPair

    rng = np.random.default_rng(3)
    ca = CertificateAuthority(rng, validity_s=86_400.5)
    keys = [KeyPair.from_rng(rng) for _ in range(3)]
    infos = [
        ca.root,
        ca.issue("veh0", "vehicle", keys[0], 0.0),
        ca.issue("rsu1", "rsu", keys[1], 1234.75),
        ca.renew("veh0", keys[0], 90_000.2),
    ]
    ca.validity_s = MAX_SIM_S * 2
    infos.append(ca.issue("mbs", "mbs", keys[2], 17.9))
    assert infos[-1].not_after_s == MAX_SIM_S
    for info in infos:
        assert info == parse_certificate(info.der, ca.public_key)


# ---------------------------------------------------------------- tamper evidence
def _flip(path, table, column, where, position):
    con = sqlite3.connect(path)
    (blob,) = con.execute(f"SELECT {column} FROM {table} WHERE {where}").fetchone()
    data = bytearray(blob)
    data[position % len(data)] ^= 0x01
    con.execute(f"UPDATE {table} SET {column}=? WHERE {where}", (bytes(data),))
    con.commit()
    con.close()


def test_saved_ledger_loads_and_verifies(saved_ledger):
    ledger = Ledger.load(saved_ledger, verify=True)
    assert ledger.height == 5


@pytest.mark.parametrize(
    ("table", "column", "where"),
    [
        ("blocks", "header", "height=3"),
        ("blocks", "qc", "height=2"),
        ("txs", "body", "height=2 AND idx=1"),  # an update
        ("txs", "signature", "height=4 AND idx=2"),
        ("txs", "body", "height=0 AND idx=3"),  # an enrolment: the certificate
        ("models", "data", "rowid=3"),
        ("meta", "value", "key='root_cert'"),
    ],
)
def test_any_flipped_byte_is_detected(saved_ledger, tmp_path, table, column, where):
    con = sqlite3.connect(saved_ledger)
    (size,) = con.execute(f"SELECT length({column}) FROM {table} WHERE {where}").fetchone()
    con.close()
    positions = np.random.default_rng(0).choice(size, size=min(size, 25), replace=False)
    for pos in positions:
        copy = tmp_path / f"copy-{pos}.sqlite"
        copy.write_bytes(saved_ledger.read_bytes())
        _flip(copy, table, column, where, int(pos))
        with pytest.raises(LedgerIntegrityError):
            Ledger.load(copy, verify=True)


def test_audit_command_exit_codes(saved_ledger, tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "bcfl_env.chain.audit", str(saved_ledger)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(saved_ledger.read_bytes())
    _flip(bad, "txs", "signature", "height=1 AND idx=0", 5)
    res = subprocess.run(
        [sys.executable, "-m", "bcfl_env.chain.audit", str(bad)], capture_output=True, text=True
    )
    assert res.returncode == 1 and "block 1" in res.stderr


def test_verify_names_first_bad_block():
    chain = make_chain()
    for r in range(1, 4):
        run_round(chain, r, ["veh0"], [0.5])
    block = chain.ledger.blocks[2]
    block.qc[0] = (block.qc[0][0], bytes(64))
    with pytest.raises(LedgerIntegrityError) as err:
        chain.ledger.verify()
    assert err.value.height == 2 and "quorum certificate" in str(err.value)


# ---------------------------------------------------------------- BFT thresholds
@pytest.mark.parametrize("behaviour", ["always_accept", "random"])
def test_f_faulty_of_3f_plus_1_never_accept_what_honest_reject(behaviour):
    for f in (1, 2):
        n = 3 * f + 1
        faulty = [f"rsu{i}" for i in range(f)]
        chain = make_chain(faulty, behaviour, n_rsus=n)
        for r in range(1, 8):
            outcome, _ = run_round(chain, r, ["veh0", "veh1"], [5.0, 5.0])  # both poisoned
            assert outcome.accepted == []
            assert outcome.committed and not outcome.safety_violated  # liveness with f faulty
        chain.ledger.verify()


def test_more_than_f_faulty_accept_poison():
    n, faulty = 4, ["rsu0", "rsu1", "rsu2"]  # 3 > f = 1: a quorum of liars
    chain = make_chain(faulty, "always_accept", n_rsus=n)
    outcome, _ = run_round(chain, 1, ["veh0"], [5.0])
    assert [c.sender for c in outcome.accepted] == ["veh0"]  # the one-third takeover


def test_equivocation_within_f_yields_evidence_and_revocation():
    chain = make_chain(["rsu1"], "equivocate")
    outcome, _ = run_round(chain, 1, ["veh0"], [0.5])
    assert outcome.conflicting and not outcome.safety_violated  # 1 signature < quorum 3
    run_round(chain, 2, ["veh1"], [0.5])
    kinds = [tx.decoded()["kind"] for tx in chain.ledger.blocks[-1].transactions]
    assert "evidence" in kinds and "revoke" in kinds
    assert chain.ca.status("rsu1", "rsu", 25.0) == "revoked_certificate"
    report = chain.ledger.verify()
    assert report.evidence == 1 and report.revocations == 1


def test_equivocation_beyond_f_is_a_fork_that_verification_reports():
    chain = make_chain(["rsu0", "rsu1", "rsu2"], "equivocate")
    outcome, _ = run_round(chain, 1, ["veh0"], [0.5])
    assert outcome.safety_violated  # two blocks at height 1 each with a valid quorum: a fork
    assert quorum_size(4) == 3
    run_round(chain, 2, ["veh1"], [0.5])  # the evidence goes on chain
    with pytest.raises(LedgerIntegrityError, match="fork: two certified blocks at height 1"):
        chain.ledger.verify()


# ---------------------------------------------------------------- rollback and truncation
def _truncate(src, dst, keep_height, drop_head=False):
    dst.write_bytes(src.read_bytes())
    con = sqlite3.connect(dst)
    con.execute("DELETE FROM blocks WHERE height > ?", (keep_height,))
    con.execute("DELETE FROM txs WHERE height > ?", (keep_height,))
    if drop_head:
        con.execute("DELETE FROM meta WHERE key='signed_head'")
    con.commit()
    con.close()


def test_truncating_the_last_blocks_is_detected(saved_ledger, tmp_path):
    copy = tmp_path / "short.sqlite"
    _truncate(saved_ledger, copy, 3)
    with pytest.raises(LedgerIntegrityError, match="signed head names height 5.*ledger ends at 3"):
        Ledger.load(copy, verify=True)
    _truncate(saved_ledger, copy, 3, drop_head=True)
    with pytest.raises(LedgerIntegrityError, match="no signed head"):
        Ledger.load(copy, verify=True)
    _truncate(saved_ledger, copy, -1, drop_head=True)  # every block gone
    with pytest.raises(LedgerIntegrityError, match="no genesis block"):
        Ledger.load(copy, verify=True)


def test_a_forged_signed_head_is_detected(saved_ledger, tmp_path):
    import json

    copy = tmp_path / "forged.sqlite"
    _truncate(saved_ledger, copy, 3)
    con = sqlite3.connect(copy)
    (raw,) = con.execute("SELECT value FROM meta WHERE key='signed_head'").fetchone()
    head = json.loads(raw)
    ledger = Ledger.load(saved_ledger)
    head.update(height=3, head=ledger.blocks[3].block_hash)  # claim the shorter chain
    con.execute("UPDATE meta SET value=? WHERE key='signed_head'", (json.dumps(head).encode(),))
    con.commit()
    con.close()
    with pytest.raises(LedgerIntegrityError, match="signed head: invalid signature"):
        Ledger.load(copy, verify=True)


def test_audit_rejects_a_chain_shorter_or_other_than_expected(saved_ledger):
    ledger = Ledger.load(saved_ledger)

    def audit(*extra):
        return subprocess.run(
            [sys.executable, "-m", "bcfl_env.audit", str(saved_ledger), *extra],
            capture_output=True, text=True,
        )  # fmt: skip

    assert audit("--min-height", "5", "--expect-head", ledger.head_hash).returncode == 0
    short = audit("--min-height", "9")
    assert short.returncode == 1 and "height 5 is below the expected minimum 9" in short.stderr
    other = audit("--expect-head", "ab" * 32)
    assert other.returncode == 1 and "head" in other.stderr


@pytest.mark.parametrize(
    ("table", "column", "where", "value"),
    [
        ("blocks", "header", "height=2", "a text cell"),
        ("blocks", "qc", "height=2", b"null"),
        ("txs", "body", "height=1 AND idx=0", b"null"),
        ("txs", "signature", "height=1 AND idx=0", 12345),
        ("models", "data", "rowid=2", "text"),
        ("meta", "value", "key='signed_head'", b"\xff not json"),
    ],
)
def test_malformed_cells_are_integrity_errors_not_crashes(
    saved_ledger, tmp_path, table, column, where, value
):
    copy = tmp_path / "cells.sqlite"
    copy.write_bytes(saved_ledger.read_bytes())
    con = sqlite3.connect(copy)
    con.execute("PRAGMA ignore_check_constraints=1")
    con.execute(f"UPDATE {table} SET {column}=? WHERE {where}", (value,))
    con.commit()
    con.close()
    with pytest.raises(LedgerIntegrityError):
        Ledger.load(copy, verify=True)


@pytest.mark.parametrize("cell", ["qc", "signed_head"])
def test_a_re_encoded_unhashed_cell_is_detected(saved_ledger, tmp_path, cell):
    # found by fuzzing: the quorum certificate and the signed head are not covered by a block
    # hash, and hex or JSON decoding would read an upper-cased digit or re-spaced JSON the same
    copy = tmp_path / "reencoded.sqlite"
    copy.write_bytes(saved_ledger.read_bytes())
    con = sqlite3.connect(copy)
    if cell == "qc":
        (qc,) = con.execute("SELECT qc FROM blocks WHERE height=2").fetchone()
        first_letter = next(i for i, b in enumerate(qc) if chr(b) in "abcdef")
        edited = (
            qc[:first_letter] + qc[first_letter : first_letter + 1].upper() + qc[first_letter + 1 :]
        )
        con.execute("UPDATE blocks SET qc=? WHERE height=2", (edited,))
    else:
        import json

        (head,) = con.execute("SELECT value FROM meta WHERE key='signed_head'").fetchone()
        edited = json.dumps(json.loads(head), sort_keys=True, indent=1).encode()
        con.execute("UPDATE meta SET value=? WHERE key='signed_head'", (edited,))
    con.commit()
    con.close()
    with pytest.raises(LedgerIntegrityError, match="canonical"):
        Ledger.load(copy, verify=True)


def test_a_root_certificate_cryptography_cannot_read_is_an_integrity_error(saved_ledger, tmp_path):
    # found by fuzzing: one flipped bit in the certificate's version field made cryptography
    # raise its own InvalidVersion, which is not a ValueError, out of Ledger.load
    copy = tmp_path / "root.sqlite"
    copy.write_bytes(saved_ledger.read_bytes())
    con = sqlite3.connect(copy)
    (der,) = con.execute("SELECT value FROM meta WHERE key='root_cert'").fetchone()
    flipped = bytearray(der)
    flipped[10] ^= 1
    con.execute("UPDATE meta SET value=? WHERE key='root_cert'", (bytes(flipped),))
    con.commit()
    con.close()
    with pytest.raises(LedgerIntegrityError):
        Ledger.load(copy, verify=True)
