"""Run folders: pruned checkpoints, manifests that record what ran, resume from the newest intact
checkpoint, labels, progress and a CLI that explains itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from training.train import train

ROLLOUTS = {"n_steps": 128, "batch_size": 64}


def _params(run_zip):
    import io
    import zipfile

    with zipfile.ZipFile(run_zip) as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(
        "ppo", "bcfl/IoV-v1", 512, 3, 1, {"max_rounds": 12}, out, checkpoint_every=128,
        hyperparams=ROLLOUTS, keep_checkpoints=2,
    )  # fmt: skip


def test_only_the_newest_checkpoints_are_kept(whole):
    names = sorted(p.name for p in (whole / "checkpoints").glob("*.zip"))
    assert names == ["model_256_steps.zip", "model_384_steps.zip"]
    # and every file of a pruned checkpoint went with it
    assert not list((whole / "checkpoints").glob("model_128_steps.*"))


def test_resume_falls_back_to_the_newest_intact_checkpoint(whole, tmp_path):
    torn = tmp_path / "torn"
    shutil.copytree(whole, torn)
    (torn / "model.state.json").write_text('{"version": 2, "num_')  # a write cut short
    zip_384 = torn / "checkpoints" / "model_384_steps.zip"
    zip_384.write_bytes(zip_384.read_bytes()[:200])  # a truncated copy
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        resumed = train("ppo", "bcfl/IoV-v1", None, 3, 1, {}, tmp_path, resume=torn)
    # resumed from 256 steps, it ends exactly where the uninterrupted run ended
    a, b = _params(whole / "model.zip"), _params(resumed / "model.zip")
    assert all(torch.equal(a[k], b[k]) for k in a)
    for path in (torn / "checkpoints").glob("*.state.json"):
        path.write_text("{")
    (torn / "model.state.json").write_text("{")
    with pytest.raises(ValueError, match="no intact checkpoint"), pytest.warns(UserWarning):
        train("ppo", "bcfl/IoV-v1", None, 3, 1, {}, tmp_path, resume=torn)


def test_manifest_records_what_ran_after_a_resume(whole, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    train("ppo", "bcfl/IoV-v1", 640, 3, 1, {}, tmp_path, resume=copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["timesteps"] == 640 and manifest["trained_timesteps"] == 640
    assert [(s["from_step"], s["to_step"]) for s in manifest["sessions"]] == [(0, 512), (512, 640)]
    assert manifest["hyperparams_entry"] == "bcfl/IoV-v1"


def test_a_missing_hyperparameter_entry_is_said_not_silent(tmp_path):
    with pytest.warns(UserWarning, match="a2c.yml has no entry for bcfl/IIoT-v1"):
        run = train("a2c", "bcfl/IIoT-v1", 16, 0, 1, {"max_rounds": 4}, tmp_path)
    assert json.loads((run / "manifest.json").read_text())["hyperparams_entry"] == "bcfl/IoV-v1"


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run(
        [sys.executable, "-m", "training.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def test_labels_default_to_the_run_name_and_progress_is_opt_in_off_a_terminal(whole, tmp_path):
    res = _cli("evaluate", "--policy", str(whole / "model.zip"), "--suite", "smoke", cwd=tmp_path)
    assert res.returncode == 0 and res.stderr == ""  # not a terminal: quiet
    row = json.loads((tmp_path / "results" / "results.jsonl").read_text().splitlines()[0])
    assert row["policy"] == whole.name
    res = _cli(
        "evaluate", "--policy", "random", "--suite", "iov", "--episodes", "2", "--progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0 and "evaluating random on iov" in res.stderr and "2/2" in res.stderr


def test_every_cli_option_is_described_with_its_choices_and_default(tmp_path):
    import argparse

    from training.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help, f"bcfl {name} {action.option_strings or action.dest}: no help"
    res = _cli("train", "--help", cwd=tmp_path)
    text = " ".join(res.stdout.split())
    assert "{ppo,a2c,sac,td3,dqn,maskable_ppo}" in text and "(default: ppo)" in text
    assert "bcfl/IoV-v1" in text and "(default: 3)" in text  # --keep-checkpoints
    text = " ".join(_cli("evaluate", "--help", cwd=tmp_path).stdout.split())
    assert "(default: default)" in text and "favor" in text and "iov-all" in text


def test_the_demo_says_what_it_does_and_how_long_it_takes(tmp_path, capsys):
    from training.demo import main

    assert main(out=tmp_path / "demo", episodes=1, timesteps=512) == 0
    text = capsys.readouterr().out
    for phase in ("[1/3] training PPO", "about 10 minutes on 2 quiet cores", "[2/3]", "[3/3]"):
        assert phase in text
    assert (tmp_path / "demo" / "leaderboard.md").is_file()
    assert len(list((tmp_path / "demo" / "runs").glob("*/checkpoints/*.zip"))) <= 3


# ---------------------------------------------------------------- resume and evaluate trust nothing
def test_a_truncated_state_npz_falls_back_to_the_next_intact_checkpoint(whole, tmp_path):
    torn = tmp_path / "torn-npz"
    shutil.copytree(whole, torn)
    npz = torn / "model.state.npz"
    npz.write_bytes(npz.read_bytes()[: len(npz.read_bytes()) // 2])  # a save killed mid-write
    with pytest.warns(UserWarning, match="skipping checkpoint model"):
        resumed = train("ppo", "bcfl/IoV-v1", None, 3, 1, {}, tmp_path, resume=torn)
    a, b = _params(whole / "model.zip"), _params(resumed / "model.zip")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_replay_longer_than_an_episode_is_refused_at_once(whole, tmp_path):
    import time

    crafted = tmp_path / "long-replay"
    shutil.copytree(whole, crafted)
    state_path = crafted / "model.state.json"
    state = json.loads(state_path.read_text())
    env_state = state["envs"][0]
    env_state["actions"] = (
        [env_state["actions"][0]] * 100_000 if env_state["actions"] else [[0.0] * 20] * 100_000
    )
    env_state["action_dtypes"] = ["float32"] * 100_000
    state_path.write_text(json.dumps(state))
    for other in (crafted / "checkpoints").glob("*.state.json"):
        other.write_text("{")  # no fallback: the crafted one is the only candidate
    start = time.perf_counter()
    with pytest.raises(ValueError, match="longer than an episode"), pytest.warns(UserWarning):
        train("ppo", "bcfl/IoV-v1", None, 3, 1, {}, tmp_path, resume=crafted)
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("policy", "NoSuchPolicy", "policy"),
        ("hyperparams_raw", [1, 2], "hyperparams_raw"),
        ("algo", "nope", "algo"),
    ],
)
def test_a_crafted_manifest_is_a_one_line_error_in_evaluate(whole, tmp_path, field, value, message):
    run = tmp_path / "crafted"
    shutil.copytree(whole, run)
    manifest = json.loads((run / "manifest.json").read_text())
    if field == "policy":
        manifest["hyperparams_raw"]["policy"] = value
    else:
        manifest[field] = value
    (run / "manifest.json").write_text(json.dumps(manifest))
    res = _cli("evaluate", "--policy", str(run / "model.zip"), "--suite", "smoke", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_warm_start_begins_from_the_given_weights_and_says_so(tmp_path):
    """``init_from``: the run's policy starts as the shipped selector (with a zero learning rate
    it ends there too), and the manifest names the file and its hash."""
    import hashlib

    from agents.registry import SHIPPED_SELECTOR

    run = train(
        "ppo", "bcfl/IoV-v1", 16, 0, 1, {"max_rounds": 4}, tmp_path, init_from="shipped",
        hyperparams={"n_steps": 16, "batch_size": 16, "learning_rate": 0.0},
    )  # fmt: skip
    ours, shipped = _params(run / "model.zip"), _params(SHIPPED_SELECTOR)
    assert ours.keys() == shipped.keys()
    assert all(torch.equal(ours[k], shipped[k]) for k in ours)
    manifest = json.loads((run / "model.zip").with_name("manifest.json").read_text())
    digest = hashlib.sha256(SHIPPED_SELECTOR.read_bytes()).hexdigest()
    assert manifest["init_from"] == {"path": str(SHIPPED_SELECTOR), "sha256": digest}
    # a cold start differs: the warm start really loaded something
    cold = train(
        "ppo", "bcfl/IoV-v1", 16, 0, 1, {"max_rounds": 4}, tmp_path / "cold",
        hyperparams={"n_steps": 16, "batch_size": 16, "learning_rate": 0.0},
    )  # fmt: skip
    assert not all(torch.equal(_params(cold / "model.zip")[k], shipped[k]) for k in shipped)


@pytest.mark.parametrize(
    ("init_from", "extra", "message"),
    [
        ("no/such/model.zip", {}, "init_from='no/such/model.zip': no such model file"),
        ("shipped", {"policy": "MlpPolicy", "policy_kwargs": {}}, "its policy is SlotSetPolicy"),
        ("corrupt", {}, "is not a readable ppo model"),
    ],
)
def test_a_warm_start_that_does_not_fit_is_a_clear_error(tmp_path, init_from, extra, message):
    from agents.registry import SHIPPED_SELECTOR

    if init_from == "corrupt":
        init_from = tmp_path / "model.zip"
        init_from.write_bytes(SHIPPED_SELECTOR.read_bytes()[:5000])
        shutil.copy(SHIPPED_SELECTOR.with_name("manifest.json"), tmp_path / "manifest.json")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train(
            "ppo", "bcfl/IoV-v1", 16, 0, 1, {"max_rounds": 4}, tmp_path / "runs",
            init_from=init_from, hyperparams={"n_steps": 16, "batch_size": 16, **extra},
        )  # fmt: skip
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
