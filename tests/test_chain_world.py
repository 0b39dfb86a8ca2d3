"""The chain inside the world: rotation at the defaults, no self-judging in any election mode,
liveness with f faulty members, and the deep audit of a real episode."""

import sqlite3
import subprocess
import sys

import gymnasium as gym
import pytest

from bcfl_env.provenance import recompute_model


def run(rounds, seed=0, **overrides):
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0, **overrides)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    infos = [env.step(env.action_space.sample())[4] for _ in range(rounds)]
    return env.unwrapped, infos


def test_the_committee_rotates_at_the_iov_defaults():
    env, infos = run(12)
    cfg = env.config
    assert cfg.chain.committee_size < cfg.network.infra.num_rsus
    committees = {tuple(info["committee"]) for info in infos}
    assert len(committees) >= 4
    assert all(info["block_committed"] for info in infos)


@pytest.mark.parametrize("election", ["reputation", "round_robin", "top_trainers"])
def test_no_member_judges_its_own_update_in_any_election_mode(election):
    env, infos = run(20, election=election, malicious_fraction=0.2, faulty_fraction=0.2)
    ledger = env.ledger
    senders = {tx["tx_id"]: tx["sender"] for _, tx in ledger.transactions("update")}
    judged_own = [
        (tx["sender"], vote[0])
        for _, tx in ledger.transactions("ballot")
        for vote in tx["payload"]["votes"]
        if senders[vote[0]] == tx["sender"] and vote[2] is not None
    ]
    assert judged_own == []
    vehicle_seats = [m for info in infos for m in info["committee"] if m.startswith("veh")]
    if election == "top_trainers":
        assert vehicle_seats  # vehicles do serve, so the rule is exercised
        for info in infos:  # and a committee vehicle was not selected in the round it served
            ids = {f"veh{i}" for i in info["selected_ids"]}
            assert not ids & set(info["committee"])
    else:
        assert not vehicle_seats
    ledger.verify()


def test_one_always_reject_member_of_four_does_not_stop_learning():
    # one faulty RSU of six: at most one faulty member in any committee of four (f = 1)
    env, infos = run(15, faulty_fraction=1 / 6, faulty_behavior="always_reject")
    assert all(info["block_committed"] for info in infos)
    assert sum(len(info["accepted"]) for info in infos) > 0
    faulty = next(iter(env.world.chain.faulty))
    for block in env.ledger.blocks[1:]:
        assert faulty not in dict(block.qc)  # it never signs; the block commits without it
    env.ledger.verify()


def test_more_than_f_always_reject_members_stop_the_chain_visibly():
    env, infos = run(6, faulty_fraction=0.5, faulty_behavior="always_reject")  # 3 of 6 RSUs
    stalled = [info for info in infos if not info["block_committed"]]
    assert stalled  # some committee held two or more of them
    for info in stalled:
        assert info["accepted"] == [] and info["consensus_s"] >= 4.0
    env.ledger.verify()


def test_deep_audit_of_a_real_episode_and_the_cli(tmp_path):
    env, _ = run(8)
    report = env.ledger.verify(recompute=recompute_model)
    assert report.models_recomputed == report.aggregations >= 5
    path = tmp_path / "ledger.sqlite"
    env.ledger.save(path)
    ok = subprocess.run(
        [sys.executable, "-m", "training.cli", "audit", "--deep", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "global models recomputed from their inputs" in ok.stdout
    tampered = tmp_path / "tampered.sqlite"
    tampered.write_bytes(path.read_bytes())
    con = sqlite3.connect(tampered)
    height, idx = next(
        (h, i)
        for h, b in enumerate(env.ledger.blocks)
        for i, tx in enumerate(b.transactions)
        if tx.kind == "aggregation"
    )
    (body,) = con.execute("SELECT body FROM txs WHERE height=? AND idx=?", (height, idx)).fetchone()
    con.execute(
        "UPDATE txs SET body=? WHERE height=? AND idx=?",
        (bytes(body).replace(b'"inputs":[["', b'"inputs":[["0'), height, idx),
    )
    con.commit()
    con.close()
    bad = subprocess.run(
        [sys.executable, "-m", "training.cli", "audit", "--deep", str(tampered)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 1 and f"block {height}" in bad.stderr
