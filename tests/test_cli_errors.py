"""Every user mistake on the command line is one line naming the problem and exit 2."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["leaderboard", "missing.jsonl"], "missing.jsonl"),
        (["train", "--resume", "nowhere"], "nowhere"),
        (["train", "--env", "bcfl/Nope-v0", "--timesteps", "8"], "bcfl/Nope-v0"),
        (
            ["train", "--timesteps", "8", "--hyperparams", "policy_kwargs=__import__('os')"],
            "policy_kwargs",
        ),
        (["evaluate", "--policy", "no/such/model.zip", "--suite", "smoke"], "no/such/model.zip"),
        (["audit", "missing.sqlite"], "missing.sqlite"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, args, needle):
    res = subprocess.run(
        [sys.executable, "-m", "training.cli", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (1, 2) if args[0] == "audit" else res.returncode == 2
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("runs/*"))  # a failed run leaves no empty run folder


@pytest.mark.parametrize("content", ["", "{}", "[1, 2]", '{"timesteps": "many"}'])
def test_resume_from_a_broken_manifest_names_the_file_in_one_line(tmp_path, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(content)
    res = subprocess.run(
        [sys.executable, "-m", "training.cli", "train", "--resume", str(run)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2
    assert "manifest.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
