"""The leaderboard's training tracks: real (tiny) training per scenario, rows a leaderboard reads."""

from __future__ import annotations

import json

from training.leaderboard import build_leaderboard
from training.tracks import run_tracks


def test_each_algorithm_trains_per_scenario_with_one_budget_and_a_rerun_skips_done_jobs(tmp_path):
    out = tmp_path / "tracks.jsonl"
    ran = run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 1, tmp_path / "runs")
    assert ran == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_policy = {p: [r for r in rows if r["policy"] == p] for p in {r["policy"] for r in rows}}
    # ioht is not the generalisation source, so only per-scenario rows, 10 held-out seeds each
    assert sorted(by_policy) == ["a2c-per-scenario", "favor-per-scenario"]
    assert all(len(v) == 10 for v in by_policy.values())
    a2c, favor = by_policy["a2c-per-scenario"][0], by_policy["favor-per-scenario"][0]
    # one budget in FL rounds: 8 env steps for a score-action algorithm, 8 x K picks for FAVOR
    assert a2c["timesteps"] == 8 and favor["timesteps"] == 8 * 5
    for r in (a2c, favor):
        assert r["budget_rounds"] == 8 and r["train_seed"] == 5 and r["trained_on"] == "ioht"
        assert r["train_wall_s"] > 0 and r["commit"] and r["date"] and "cores" in r["machine"]
    assert a2c["hyperparams"] == "training/hyperparams/a2c.yml#bcfl/IoV-v1"
    assert run_tracks(out, ["a2c", "favor"], [5], 8, ["ioht"], 1, tmp_path / "runs") == 0
    table = build_leaderboard([out], tmp_path / "board")
    assert {r["policy"] for r in table if r["scenario"] == "ALL"} == set(by_policy)
