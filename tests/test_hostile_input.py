"""Hostile input, second pass: each reproduction from the attack on main, as a test.

An outsider, a client or a submission gets a recorded rejection or a one-line error naming the
field, never an exception out of a round, an audit or a CLI.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from test_chain import latest_model, make_chain, score_fn

import bcfl_env
from bcfl_env.chain import ChainError, Ledger, LedgerIntegrityError, Transaction
from bcfl_env.chain.crypto import canonical_bytes
from bcfl_env.chain.dag import Dag, DagTransaction, signers_of


def _signed(identity, body: bytes) -> Transaction:
    return Transaction(body, identity.sign(body))


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _honest_and(chain, hostile_body: bytes):
    """One honest update and one hostile, both signed by enrolled vehicles, in one round."""
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0", "veh1"], 10.0)
    honest = chain.sign_update("veh0", 1, base, b"veh0-1", 10, {"loss": 0.5})
    hostile = _signed(chain.identity("veh1"), hostile_body)
    return honest, hostile, chain.run_round(1, [honest, hostile], 10.0, score_fn)


# ---------------------------------------------------------------- one parser for untrusted JSON
@pytest.mark.parametrize(
    "text",
    [
        _deep(1500),
        b'{"a": 1e400}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": ' + b"9" * 400 + b"}",
        b"\xff\xfe",
        b'{"a": 1' + b" " * 2_000_000 + b"}",
    ],
)
def test_the_untrusted_parser_refuses_what_it_cannot_bound(text):
    from bcfl_env.untrusted import UntrustedInputError, parse_untrusted

    with pytest.raises(UntrustedInputError):
        parse_untrusted(text, max_bytes=1_000_000)


def test_the_untrusted_parser_reads_ordinary_json():
    from bcfl_env.untrusted import parse_untrusted

    assert parse_untrusted(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


# ---------------------------------------------------------------- screening
def test_a_deeply_nested_update_is_rejected_as_malformed_and_the_round_goes_on():
    chain = make_chain()
    body = b'{"kind":"update","payload":' + _deep(1500) + b',"sender":"veh1"}'
    honest, _, outcome = _honest_and(chain, body)
    assert [c.sender for c in outcome.accepted] == ["veh0"]
    assert [why for _, why in outcome.rejected] == ["malformed"]
    chain.ledger.verify()


def test_an_update_with_a_metric_beyond_any_float_is_rejected_as_malformed():
    chain = make_chain()
    base = latest_model(chain)
    huge = "1" + "0" * 400
    payload = (
        f'{{"kind":"update","payload":{{"base_model":"{base}","metrics":{{"loss":{huge}}},'
        f'"params":"{base}","round":1,"samples":10}},"sender":"veh1"}}'
    ).encode()
    _, _, outcome = _honest_and(chain, payload)
    assert [c.sender for c in outcome.accepted] == ["veh0"]
    assert [why for _, why in outcome.rejected] == ["malformed"]  # sender unreadable: "?"
    chain.ledger.verify()


# ---------------------------------------------------------------- the vehicles' DAG
@pytest.fixture
def dag_and_signers():
    chain = make_chain()
    dag = Dag(chain.identity("mbs"), "0" * 64)
    return chain, dag, signers_of(chain.identities)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"approves":[],"checks":[],"model":' + _deep(3000) + b',"time_s":1.0}',
        b'{"approves":[],"checks":[],"model":"' + b"a" * 64 + b'","time_s":1' + b"0" * 400 + b"}",
        b'{"approves":[],"checks":[],"model":"' + b"z" * 64 + b'","time_s":1.0}',
    ],
    ids=["deep", "huge-time", "non-hex-model"],
)
def test_the_dag_refuses_hostile_transactions_with_a_chain_error(dag_and_signers, payload):
    chain, dag, signers = dag_and_signers
    body = b'{"kind":"dag_model","payload":' + payload + b',"sender":"veh0"}'
    tx = DagTransaction(body, chain.identity("veh0").sign(body))
    with pytest.raises(ChainError, match="malformed"):
        dag.add(tx, signers)


# ---------------------------------------------------------------- the audit CLI
@pytest.fixture
def saved(tmp_path):
    env = gym.make("bcfl/IoV-v1", max_rounds=3)
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    path = tmp_path / "ledger.db"
    bcfl_env.unwrap(env).ledger.save(path)
    return path, bcfl_env.unwrap(env).ledger.head_hash


def _bcfl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("head", ["", "abc", "0" * 16])
def test_expect_head_refuses_an_empty_or_short_hash(saved, head):
    path, _ = saved
    result = _bcfl("audit", "--expect-head", head, str(path))
    assert result.returncode == 2
    assert "--expect-head" in result.stderr and "64 hex" in result.stderr


def test_the_audit_prints_the_full_head(saved):
    path, head = saved
    result = _bcfl("audit", "--expect-head", head, str(path))
    assert result.returncode == 0 and head in result.stdout


# ---------------------------------------------------------------- crafted ledger files
def _set(path, sql: str, *params) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, params)
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        ("UPDATE blocks SET qc=? WHERE height=1", _deep(5000)),
        ("UPDATE blocks SET header=? WHERE height=1", _deep(5000)),
        ("UPDATE meta SET value=? WHERE key='signed_head'", _deep(5000)),
    ],
    ids=["qc", "header", "signed-head"],
)
def test_a_deeply_nested_ledger_field_fails_the_audit_as_an_integrity_error(saved, sql, value):
    path, _ = saved
    _set(path, sql, value)
    with pytest.raises(LedgerIntegrityError):
        Ledger.load(path).verify()


def test_a_timestamp_beyond_any_float_fails_the_audit_as_an_integrity_error(saved):
    path, _ = saved
    con = sqlite3.connect(path)
    (header,) = con.execute("SELECT header FROM blocks WHERE height=1").fetchone()
    con.close()
    fields = json.loads(header)
    text = (
        canonical_bytes(fields)
        .decode()
        .replace(
            f'"timestamp_s":{json.dumps(fields["timestamp_s"])}', '"timestamp_s":1' + "0" * 400
        )
    )
    _set(path, "UPDATE blocks SET header=? WHERE height=1", text.encode())
    with pytest.raises(LedgerIntegrityError):
        Ledger.load(path).verify()


def test_a_flipped_byte_in_the_schema_fails_as_an_integrity_error(saved, tmp_path):
    """Bytes of the schema's SQL text, each flipped to invalid UTF-8 in turn: the audit either
    still passes (SQLite ignores that byte) or fails with an integrity error, never another."""
    path, _ = saved
    data = path.read_bytes()
    start = data.find(b"CREATE TABLE")
    outcomes = set()
    for offset in range(start, start + 400, 7):
        flipped = bytearray(data)
        flipped[offset] ^= 0x80
        copy = tmp_path / f"flipped{offset}.db"
        copy.write_bytes(bytes(flipped))
        try:
            Ledger.load(copy).verify()
            outcomes.add("passes")
        except LedgerIntegrityError:
            outcomes.add("integrity error")
    assert "integrity error" in outcomes


# ---------------------------------------------------------------- certificates
@pytest.mark.parametrize("validity_s", [1.0, 8.47, 12.0])
def test_certificates_too_short_for_the_renewal_cycle_are_refused(validity_s):
    with pytest.raises(ValueError, match=r"chain.cert_validity_s=.* allowed at least 36"):
        gym.make("bcfl/IoV-v1", chain__cert_validity_s=validity_s)


def test_an_honest_run_with_the_shortest_allowed_certificates_passes_its_own_audit():
    shortest = bcfl_env.make_config("iov").shortest_cert_validity_s
    env = gym.make("bcfl/IoV-v1", chain__cert_validity_s=shortest, max_rounds=30)
    env.reset(seed=0)
    for _ in range(30):
        env.step(env.action_space.sample())
    ledger = bcfl_env.unwrap(env).ledger
    ledger.verify()
    renewals = sum(1 for _, tx in ledger.transactions("enrol")) - len(
        list(ledger.blocks[0].transactions)
    )
    assert renewals > 0  # certificates expired and were renewed along the way


# ---------------------------------------------------------------- smaller items
def test_an_array_valued_override_names_the_key():
    with pytest.raises(ValueError, match="num_vehicles"):
        gym.make("bcfl/IoV-v1", num_vehicles=np.array([4, 5]))


def test_two_spellings_of_one_key_are_a_conflict_not_last_wins():
    with pytest.raises(
        ValueError, match=r"num_vehicles.*env__num_vehicles|env__num_vehicles.*num_vehicles"
    ):
        gym.make("bcfl/IoV-v1", num_vehicles=4, env__num_vehicles=9)


def test_a_sumo_net_file_that_is_not_a_network_is_a_clear_error(tmp_path):
    bogus = tmp_path / "passwd"
    bogus.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ValueError, match="sumo_net_file"):
        env = gym.make(
            "bcfl/IoV-v1",
            network__mobility__backend="sumo",
            network__mobility__sumo_net_file=str(bogus),
        )
        env.reset(seed=0)


@pytest.mark.parametrize("action", [np.inf, 1.7, "3", b"1", True, np.array([2, 3])])
def test_discrete_selection_refuses_what_is_not_one_integer_pick(action):
    env = bcfl_env.DiscreteSelection(gym.make("bcfl/IoV-v1"))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="integer"):
        env.step(action)


def test_an_action_tensor_that_requires_grad_is_taken_by_value():
    torch = pytest.importorskip("torch")
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    action = torch.zeros(20, requires_grad=True)
    _, _, _, _, info = env.step(action)
    assert len(info["selected"]) == 5


def test_a_save_killed_mid_write_leaves_no_temporary_behind_the_next_save(tmp_path):
    import os
    import signal

    script = (
        "import gymnasium as gym, bcfl_env, os, sys\n"
        "env = gym.make('bcfl/IoV-v1', max_rounds=3); env.reset(seed=0)\n"
        "ledger = bcfl_env.unwrap(env).ledger\n"
        "from bcfl_env.chain import storage\n"
        "real = storage._save\n"
        "def stalled(path, stored):\n"
        "    real(path, stored); print('written', flush=True); sys.stdin.read()\n"
        "storage._save = stalled\n"
        f"ledger.save({str(tmp_path / 'ledger.db')!r})\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "written"
    os.kill(child.pid, signal.SIGKILL)  # killed before the temporary was linked into place
    child.wait()
    assert list(tmp_path.glob("ledger.db.*.tmp*")), "the kill left a temporary"
    env = gym.make("bcfl/IoV-v1", max_rounds=3)
    env.reset(seed=0)
    bcfl_env.unwrap(env).ledger.save(tmp_path / "ledger.db")
    assert not list(tmp_path.glob("ledger.db.*.tmp*"))
    Ledger.load(tmp_path / "ledger.db").verify()


# ---------------------------------------------------------------- who signed is bound in
def test_removing_one_signature_from_a_quorum_certificate_is_detected():
    chain = make_chain()
    from test_chain import run_round

    for r in (1, 2, 3):
        run_round(chain, r, [f"veh{r}"], [0.5])
    block = chain.ledger.blocks[2]
    assert len(block.qc) == 4
    block.qc = block.qc[:-1]  # three remain: still a quorum of four
    with pytest.raises(LedgerIntegrityError, match="prev_qc") as err:
        chain.ledger.verify()
    assert err.value.height == 3


def test_removing_one_signature_from_the_head_blocks_certificate_is_detected():
    chain = make_chain()
    from test_chain import run_round

    run_round(chain, 1, ["veh1"], [0.5])
    head = chain.ledger.blocks[-1]
    head.qc = head.qc[:-1]
    with pytest.raises(LedgerIntegrityError, match="head block's quorum certificate"):
        chain.ledger.verify()


def test_a_colluding_quorum_cannot_drop_a_valid_update_as_a_bad_signature():
    from chain_forgery import forge, txs_of
    from test_chain import run_round

    chain = make_chain()
    _, (update,) = run_round(chain, 1, ["veh0"], [0.5])
    dropped = update.tx_id

    def drop_as_bad_signature(decoded, header):
        decoded[:] = [d for d in decoded if d.get("_tx") is None or d["_tx"].tx_id != dropped]
        for ballot in txs_of(decoded, "ballot"):
            ballot["payload"]["votes"] = [v for v in ballot["payload"]["votes"] if v[0] != dropped]
            ballot.pop("_tx")
        (verdict,) = txs_of(decoded, "verdict")
        verdict["payload"]["accepted"] = []
        verdict["payload"]["rejected"] = [
            [dropped, "veh0", "bad_signature", update.body.hex(), update.signature.hex()]
        ]
        verdict.pop("_tx")

    height = chain.ledger.height
    forge(chain, height, drop_as_bad_signature)
    with pytest.raises(
        LedgerIntegrityError,
        match="as 'bad_signature'; screening its recorded bytes gives 'acceptance'",
    ):
        chain.ledger.verify()


def test_every_refusal_an_honest_committee_records_passes_its_re_screening():
    chain = make_chain()
    base = latest_model(chain)
    chain.assign_task(1, base, ["veh0"], 10.0)
    honest = chain.sign_update("veh0", 1, base, b"veh0-1", 10, {"loss": 0.5})
    forged = Transaction(honest.body, bytes(64))  # a bad signature
    unselected = chain.sign_update("veh1", 1, base, b"veh1-1", 10, {"loss": 0.5})
    outcome = chain.run_round(1, [forged, honest, unselected], 10.0, score_fn)
    assert sorted(why for _, why in outcome.rejected) == ["bad_signature", "not_selected"]
    report = chain.ledger.verify()
    assert report.refusals_rechecked == 2
