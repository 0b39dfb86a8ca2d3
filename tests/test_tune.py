"""bcfl tune: an Optuna study per algorithm with the same budget, scored on validation seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.suite import SUITES
from training.tune import SEARCH_SPACES, VALIDATION_RANGE, VALIDATION_SEEDS, load_tuned, tune


def test_validation_seeds_are_never_held_out() -> None:
    held_out = {seed for scenarios in SUITES.values() for s in scenarios for seed in s.seeds}
    assert set(VALIDATION_SEEDS) <= set(VALIDATION_RANGE)
    assert not held_out & set(VALIDATION_RANGE)


def test_every_learned_algorithm_of_the_tracks_has_a_search_space() -> None:
    from training.tracks import ALGOS

    # FAVOR trains its own double DQN (agents/favor.py) with its paper's settings
    assert set(ALGOS) - {"favor"} == set(SEARCH_SPACES)


def test_a_study_writes_its_best_trial_as_data_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ppo.yml"
    storage = tmp_path / "study.db"
    entry = tune(
        "ppo", "iov-smoke", trials=2, steps=32, storage=storage, out=out, runs_dir=tmp_path
    )
    table = yaml.safe_load(out.read_text())
    assert table["iov-smoke"] == entry
    assert entry["tuning"]["trials"] == 2 and entry["tuning"]["validation_seeds"] == [500, 501, 502]
    params = entry["hyperparams"]
    assert params["n_steps"] in (128, 256, 512) and 1e-4 <= params["learning_rate"] <= 3e-3
    assert load_tuned("ppo", "iov-smoke", tmp_path) == params
    # a larger budget on the same storage runs only the missing trial
    runs_before = len(list(tmp_path.glob("bcfl-IoV-v1__ppo__*")))
    tune("ppo", "iov-smoke", trials=3, steps=32, storage=storage, out=out, runs_dir=tmp_path)
    assert len(list(tmp_path.glob("bcfl-IoV-v1__ppo__*"))) == runs_before + 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algo": "favor"}, "algo='favor' is not allowed"),
        ({"algo": "ppo", "scenario": "nowhere"}, "scenario 'nowhere' is in no suite"),
        ({"algo": "ppo", "trials": 0}, "trials=0 and steps=20000"),
        ({"algo": "ppo", "validation_episodes": 31}, "validation_episodes=31 is out of range"),
    ],
)
def test_bad_requests_are_refused_by_name(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        tune(**{"runs_dir": tmp_path, **kwargs})


def test_a_tuned_track_without_a_study_says_what_to_run(tmp_path: Path) -> None:
    from training.tracks import _train

    scenario = next(s for s in SUITES["smoke"])
    with pytest.raises(ValueError, match="bcfl tune a2c --scenario iov-smoke"):
        _train("a2c", scenario, 0, 8, tmp_path, tuned=True)


def test_tuned_and_shipped_runs_are_two_rows() -> None:
    from training.leaderboard_page import track_of
    from training.tracks import _row

    shipped = _row("ppo", "generalisation", {}, {})["policy"]
    tuned = _row("ppo", "generalisation", {}, {}, tuned=True)["policy"]
    assert (shipped, tuned) == ("ppo-trained-on-iov", "ppo-tuned-trained-on-iov")
    assert track_of(tuned) == track_of(shipped) == "generalisation"
