"""The leaderboard's training tracks: real (tiny) training per scenario, rows a leaderboard reads."""

from __future__ import annotations

import json

import pytest

from training.leaderboard import build_leaderboard
from training.tracks import run_tracks


def test_each_algorithm_trains_per_scenario_with_one_budget_and_a_rerun_skips_done_jobs(tmp_path):
    out = tmp_path / "tracks.jsonl"
    ran = run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 1, tmp_path / "runs")
    assert ran == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_policy = {p: [r for r in rows if r["policy"] == p] for p in {r["policy"] for r in rows}}
    # ioht is not the generalisation source, so only per-scenario rows, 10 held-out seeds each
    # a budget other than the tracks' first (2000 rounds) is in the label: two budgets, two rows
    assert sorted(by_policy) == ["a2c-8r-per-scenario", "favor-8r-per-scenario"]
    assert all(len(v) == 10 for v in by_policy.values())
    a2c, favor = by_policy["a2c-8r-per-scenario"][0], by_policy["favor-8r-per-scenario"][0]
    # one budget in FL rounds: 8 env steps for a score-action algorithm, 8 x K picks for FAVOR
    assert a2c["timesteps"] == 8 and favor["timesteps"] == 8 * 5
    for r in (a2c, favor):
        assert r["budget_rounds"] == 8 and r["train_seed"] == 5 and r["trained_on"] == "ioht"
        assert r["train_wall_s"] > 0 and r["commit"] and r["date"] and "cores" in r["machine"]
    assert a2c["hyperparams"] == "training/hyperparams/a2c.yml#bcfl/IoV-v1"
    assert run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 1, tmp_path / "runs") == 0
    table = build_leaderboard([out], tmp_path / "board")
    assert {r["policy"] for r in table if r["scenario"] == "ALL"} == set(by_policy)


def test_a_runs_learning_curve_bins_its_training_episodes_by_steps():
    from training.tracks import budget_tag, learning_curve

    episodes = [
        {"timesteps": 10, "sim_time_s": 300.0, "reached": False},
        {"timesteps": 20, "sim_time_s": 100.0, "reached": True},
        {"timesteps": 95, "sim_time_s": 50.0, "reached": True},
    ]
    # 10 bins of 10 steps; bins without an episode are left out
    assert learning_curve(episodes, 100) == [[10, 300.0, 0.0], [20, 100.0, 1.0], [100, 50.0, 1.0]]
    assert (budget_tag(2000), budget_tag(100_000), budget_tag(1500)) == ("", "-100k", "-1500r")


def test_training_logs_every_finished_episode(tmp_path):
    from training.train import read_episode_log, train

    # episodes of 3 rounds: 12 steps of A2C end 4 episodes, each logged when it ends
    run = train(
        "a2c", "bcfl/IoHT-v1", 12, 0, 1, {"max_rounds": 3}, tmp_path, progress=False,
        hyperparams={"n_steps": 4},
    )  # fmt: skip
    episodes = read_episode_log(run)
    assert [e["timesteps"] for e in episodes] == [3, 6, 9, 12]
    assert all(e["sim_time_s"] > 0 and 0 <= e["accuracy"] <= 1 for e in episodes)


def test_ppo_on_feature_weights_trains_and_is_evaluated_in_its_own_action_space(tmp_path):
    out = tmp_path / "tracks.jsonl"
    assert run_tracks(out, ["ppo_weights"], [0], 8, ["ioht"], 1, tmp_path / "runs") == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and {r["policy"] for r in rows} == {"ppo_weights-8r-per-scenario"}
    assert "MlpPolicy" in rows[0]["hyperparams"] and "weights" in rows[0]["hyperparams"]
    assert all(r["rounds"] >= 1 for r in rows)


def test_a_track_list_outside_the_tracks_is_refused(tmp_path):
    import pytest

    with pytest.raises(ValueError, match=r"tracks=\['bogus'\] is not allowed"):
        run_tracks(tmp_path / "t.jsonl", ["a2c"], [0], 8, ["ioht"], 1, tracks=("bogus",))


def test_the_oracle_reference_trains_on_oracle_features_and_sits_beside_the_same_recipe(
    tmp_path, benchmark_script
):
    import shutil
    from pathlib import Path

    import gymnasium as gym
    from stable_baselines3 import PPO

    from training.leaderboard_page import track_of

    committed = tmp_path / "committed"
    committed.mkdir()
    results = Path(__file__).resolve().parents[1] / "results" / "leaderboard"
    for name in ("v1-baselines.jsonl", "v1-planner.jsonl"):
        shutil.copy(results / name, committed / name)
    runs = tmp_path / "runs"
    assert run_tracks(committed / "v1-t.jsonl", ["ppo"], [0], 8, ["ioht"], 1, runs) == 1
    oracle = tmp_path / "v1-oracle.jsonl"
    assert run_tracks(oracle, ["ppo_oracle"], [0], 8, ["ioht"], 1, runs) == 1
    rows = [json.loads(line) for line in oracle.read_text().splitlines()]
    assert {r["policy"] for r in rows} == {"ppo_oracle-8r-per-scenario"} and len(rows) == 10
    assert "'env__observation_features': 'oracle'" in rows[0]["hyperparams"]
    assert track_of(rows[0]["policy"]) == "reference (oracle features)"
    # the model saw the oracle columns: its input is wider than the server's observation
    newest = max(runs.glob("*/model.zip"), key=lambda p: p.stat().st_mtime)  # the oracle run
    model = PPO.load(newest)
    server_width = gym.make("bcfl/IoHT-v1").observation_space.shape[0]
    assert model.observation_space.shape[0] > server_width
    # another reference run's rows join on the oracle's scenarios only
    planner_rows = [
        json.loads(x) for x in (committed / "v1-planner.jsonl").read_text().splitlines()
    ]
    blind = tmp_path / "v1-planner-no-foresight.jsonl"
    blind.write_text(
        "".join(json.dumps({**r, "policy": "planner-no-foresight"}) + "\n" for r in planner_rows)
    )
    assert {r["scenario"] for r in planner_rows} > {"ioht"}
    table = benchmark_script("oracle_headroom").compare(
        oracle, tmp_path / "table", 8, committed, [blind]
    )
    shown = {(r["policy"], r["scenario"]) for r in table if r["scenario"] != "ALL"}
    policies = ("random", "oort", "planner", "planner-no-foresight")
    policies += ("ppo-8r-per-scenario", "ppo_oracle-8r-per-scenario")
    assert shown == {(p, "ioht") for p in policies}
    assert (tmp_path / "table" / "leaderboard.md").is_file()


def test_a_per_scenario_job_on_the_generalisation_source_reuses_that_tracks_episodes(tmp_path):
    """The generalisation track's job on iov-default trains the per-scenario job's model and
    evaluates it there too: reused, its rows are the rows training that job again writes."""
    from training.tracks import reused_job

    runs = tmp_path / "runs"
    fresh = tmp_path / "fresh.jsonl"  # the per-scenario job trained on its own
    assert (
        run_tracks(fresh, ["a2c"], [5], 8, ["iov-default"], 1, runs, tracks=("per-scenario",)) == 1
    )
    source = tmp_path / "generalisation.jsonl"  # the generalisation track's job, another run
    assert run_tracks(source, ["a2c"], [5], 8, [], 1, runs, tracks=("generalisation",)) == 1
    out = tmp_path / "per-scenario.jsonl"
    ran = run_tracks(
        out, ["a2c"], [5], 8, ["iov-default"], 1, runs, tracks=("per-scenario",), reuse=[source]
    )
    assert ran == 0  # nothing trained
    with pytest.raises(ValueError, match="needs tracks=\\['per-scenario'\\]"):
        run_tracks(out, ["a2c"], [5], 8, ["iov-default"], 1, runs, reuse=[source])
    reused = [json.loads(line) for line in out.read_text().splitlines()]
    trained = [json.loads(line) for line in fresh.read_text().splitlines()]
    assert [r.pop("reused_from") for r in reused] == [
        "generalisation.jsonl: a2c-8r-trained-on-iov"
    ] * 10
    for row in reused + trained:  # two runs of one job differ in how long they took, no more
        assert row.pop("train_wall_s") > 0
    assert reused == trained
    # a source that lacks a held-out seed, or ran another budget or scenario, is not reused
    spec = ("a2c", "iov-default", 5, 8, str(runs), False, "default")
    assert reused_job([source], spec) is not None
    assert reused_job([source], ("a2c", "iov-default", 5, 9, *spec[4:])) is None
    assert reused_job([source], ("a2c", "ioht", 5, 8, *spec[4:])) is None
    lines = source.read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["seed"] != trained[0]["seed"]]
    source.write_text("\n".join(kept) + "\n")
    assert reused_job([source], spec) is None


def test_the_per_scenario_track_trains_on_suite_v2_and_its_rows_validate_there(tmp_path):
    from training.suite import HELD_OUT_SEEDS_V2

    out = tmp_path / "v2-tracks.jsonl"
    runs = tmp_path / "runs"
    with pytest.raises(ValueError, match="per-scenario track only"):
        run_tracks(out, ["ppo"], [5], 8, ["iov-trace"], 1, runs, suite="v2")
    with pytest.raises(ValueError, match=r"\['iov-default'\] are not in suite 'v2'"):
        run_tracks(
            out, ["ppo"], [5], 8, ["iov-default"], 1, runs, tracks=("per-scenario",), suite="v2"
        )
    with pytest.raises(ValueError, match="suite='v3' is not allowed"):
        run_tracks(out, ["ppo"], [5], 8, None, 1, runs, tracks=("per-scenario",), suite="v3")
    ran = run_tracks(
        out, ["ppo"], [5], 8, ["iov-trace"], 1, runs, tracks=("per-scenario",), suite="v2"
    )
    assert ran == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["seed"] for r in rows) == sorted(HELD_OUT_SEEDS_V2)
    assert {(r["policy"], r["trained_on"], r["suite_version"]) for r in rows} == {
        ("ppo-8r-per-scenario", "iov-trace", 2)
    }
    table = build_leaderboard([out], tmp_path / "board")  # scored against suite v2's references
    assert {r["scenario"] for r in table} == {"iov-trace", "ALL"}


def _episode(policy, scenario, seed, train_seed):
    return {
        "policy": policy, "track": "per-scenario", "scenario": scenario, "seed": seed,
        "train_seed": train_seed, "trained_on": scenario, "return": 1.0, "time_to_target_s": 50.0,
        "rounds_to_target": 5, "final_accuracy": 0.9, "sim_time_s": 50.0, "rounds": 5,
        "energy_j": 1.0, "poisoned_accepted": 0,
    }  # fmt: skip


def test_a_run_moves_from_pending_to_the_leaderboard_once_every_scenario_has_it(tmp_path):
    from training.promote import promote
    from training.suite import SUITES
    from training.tracks import curves_path

    pending, final = tmp_path / "pending" / "a2c.jsonl", tmp_path / "v1-tracks-100k.jsonl"
    pending.parent.mkdir()
    label = "a2c-100k-per-scenario"
    scenarios = SUITES["default"]
    rows = [_episode(label, s.name, seed, 0) for s in scenarios for seed in s.seeds]
    rows += [_episode(label, s.name, seed, 1) for s in scenarios[:2] for seed in s.seeds]
    pending.write_text("".join(json.dumps(r) + "\n" for r in rows))
    curves = [
        {"policy": "a2c-100k", "trained_on": s.name, "train_seed": t, "timesteps": 10,
         "points": [[10, 50.0, 1.0]]}
        for t in (0, 1) for s in (scenarios if t == 0 else scenarios[:2])
    ]  # fmt: skip
    curves_path(pending).parent.mkdir()
    curves_path(pending).write_text("".join(json.dumps(c) + "\n" for c in curves))

    assert promote(pending, final) == [(label, 0)]  # seed 1 lacks five scenarios: it stays
    moved = [json.loads(line) for line in final.read_text().splitlines()]
    assert moved == rows[:70]
    assert [json.loads(line) for line in pending.read_text().splitlines()] == rows[70:]
    moved_curves = [json.loads(line) for line in curves_path(final).read_text().splitlines()]
    assert moved_curves == curves[:7]
    kept_curves = [json.loads(line) for line in curves_path(pending).read_text().splitlines()]
    assert kept_curves == curves[7:]
    assert promote(pending, final) == []
    # a run the leaderboard already holds is refused, not counted twice
    pending.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        ValueError, match=r"already holds the runs \[\('a2c-100k-per-scenario', 0\)\]"
    ):
        promote(pending, final)
    # a seed missing from one scenario keeps the run pending
    pending.write_text("".join(json.dumps(r) + "\n" for r in rows[1:70]))
    assert promote(pending, tmp_path / "other.jsonl") == []
    # a pending file whose every run moved is removed, its curves too
    pending.write_text("".join(json.dumps(r) + "\n" for r in rows[:70]))
    curves_path(pending).write_text("".join(json.dumps(c) + "\n" for c in curves[:7]))
    assert promote(pending, tmp_path / "third.jsonl") == [(label, 0)]
    assert not pending.exists() and not curves_path(pending).exists()
    with pytest.raises(ValueError, match="suite='v9' is not allowed"):
        promote(pending, final, suite="v9")
    # files users share are data: a bad line is refused by file, line and field
    pending.write_text("".join(json.dumps(r) + "\n" for r in rows[:70]))
    curves_path(pending).write_text('{"policy": "a2c-100k", "trained_on": "iiot"}\n')
    with pytest.raises(ValueError, match="a2c.jsonl:1: train_seed=None must be a int"):
        promote(pending, tmp_path / "other.jsonl")
    pending.write_text(json.dumps({**rows[0], "seed": "1000"}) + "\n")
    with pytest.raises(ValueError, match="a2c.jsonl:1: seed='1000' must be an integer"):
        promote(pending, tmp_path / "other.jsonl")


def test_a_failing_job_costs_that_job_and_the_run_names_it_at_the_end(tmp_path):
    out, runs = tmp_path / "tracks.jsonl", tmp_path / "runs"
    # tuned a2c has no entry for ioht, so that job fails; FAVOR keeps its paper's settings
    with pytest.raises(RuntimeError, match=r"1 of 2 training jobs failed[\s\S]*a2c on ioht seed 5"):
        run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 2, runs, tuned=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["policy"] for r in rows} == {"favor-tuned-8r-per-scenario"}  # its rows are kept
    with pytest.raises(RuntimeError, match="1 of 1 training jobs failed"):  # only a2c is retried
        run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 2, runs, tuned=True)
