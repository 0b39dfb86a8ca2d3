"""Leaderboard statistics a reader can trust: fixed references, failed episodes never counted as
reached, duplicates refused, rows ranked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.leaderboard import (
    _plot_profiles,
    build_leaderboard,
    normalised_times,
    read_rows,
    summary_lines,
)

ROOT = Path(__file__).resolve().parents[1]


def _row(policy, scenario, seed, time_s, sim_time_s=None):
    reached = time_s is not None
    end = time_s if reached else sim_time_s
    return {
        "policy": policy, "scenario": scenario, "seed": seed, "return": 1.0,
        "time_to_target_s": time_s, "rounds_to_target": 5 if reached else None,
        "final_accuracy": 0.9 if reached else 0.5, "sim_time_s": end, "rounds": 5,
        "energy_j": 1.0, "poisoned_accepted": 0, "curve": [[0.0, 0.1], [end, 0.9 if reached else 0.5]],
    }  # fmt: skip


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _score(table, policy):
    return next(
        r["normalised_time_iqm"] for r in table if r["policy"] == policy and r["scenario"] == "ALL"
    )


def test_a_rows_score_does_not_change_when_other_rows_are_added(tmp_path):
    rng = np.random.default_rng(0)
    randoms = [
        _row("random", "iov-default", 1000 + s, float(rng.uniform(110, 150))) for s in range(10)
    ]
    alone = build_leaderboard([_write(tmp_path / "a.jsonl", randoms)], tmp_path / "a")
    fast = [_row("ppo", "iov-default", 1000 + s, float(rng.uniform(60, 80))) for s in range(10)]
    together = build_leaderboard([_write(tmp_path / "b.jsonl", randoms + fast)], tmp_path / "b")
    assert _score(alone, "random") == _score(together, "random")
    # and the yardstick is the suite's reference: random's own IQM sits near 1
    assert 0.9 < _score(alone, "random") < 1.1


def test_an_episode_that_never_reached_the_target_is_charged_the_budget_and_never_counted(tmp_path):
    rows = [
        _row("p", "iov-default", 1000, 100.0),
        _row("p", "iov-default", 1001, None, sim_time_s=300.0),
    ]
    norm = normalised_times(rows, {"iov-default": (133.1, 3600.0)})
    assert norm[1] == pytest.approx(3600.0 / 133.1)  # the penalty, not the 300 s it ran
    table = build_leaderboard([_write(tmp_path / "r.jsonl", rows)], tmp_path)
    row = next(r for r in table if r["scenario"] == "iov-default")
    assert row["reached"] == 0.5
    # the performance profile never counts the failed episode as reached, at any tau
    from matplotlib.figure import Figure

    captured = {}
    original = Figure.savefig

    def keep(self, *a, **k):
        captured["lines"] = [line.get_ydata() for line in self.axes[0].lines]
        return original(self, *a, **k)

    Figure.savefig = keep
    try:
        for r, n in zip(rows, norm, strict=True):
            r["normalised_time"] = float(n)
        _plot_profiles(rows, tmp_path / "p.png")
    finally:
        Figure.savefig = original
    assert max(captured["lines"][0]) == 0.5


def test_duplicate_episodes_are_refused(tmp_path):
    rows = [_row("random", "iov-default", 1000, 120.0)] * 2
    with pytest.raises(ValueError, match="duplicate episodes .*random/iov-default/seed 1000"):
        build_leaderboard([_write(tmp_path / "d.jsonl", rows)], tmp_path)


def test_rows_are_ranked_by_the_suite_score(tmp_path):
    rows = [_row("zz-fast", "iov-default", 1000 + s, 60.0 + s) for s in range(4)]
    rows += [_row("aa-slow", "iov-default", 1000 + s, 200.0 + s) for s in range(4)]
    table = build_leaderboard([_write(tmp_path / "k.jsonl", rows)], tmp_path)
    assert [r["policy"] for r in table if r["scenario"] == "ALL"] == ["zz-fast", "aa-slow"]


def test_a_scenario_outside_the_suite_needs_a_reference(tmp_path):
    rows = [_row("p", "nowhere", 1, 10.0)]
    with pytest.raises(ValueError, match="scenario 'nowhere' is in no suite"):
        build_leaderboard([_write(tmp_path / "n.jsonl", rows)], tmp_path)
    table = build_leaderboard(
        [_write(tmp_path / "n.jsonl", rows)], tmp_path, {"nowhere": (20.0, 100.0)}
    )
    assert _score(table, "p") == pytest.approx(0.5)


def test_check_validates_a_submission_and_names_the_first_problem(tmp_path):
    import subprocess
    import sys

    from training.evaluate import evaluate_policy

    results = tmp_path / "sub.jsonl"
    evaluate_policy("random", "smoke", None, results, "random", progress=False)

    def check(path):
        return subprocess.run(
            [sys.executable, "-m", "training.cli", "leaderboard", str(path), "--check", "smoke"],
            capture_output=True, text=True,
        )  # fmt: skip

    ok = check(results)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 1 episodes, 1 policy")
    row = json.loads(results.read_text())
    for name, broken, needle in (
        ("old", {**row, "suite_version": 0}, "suite version 0, expected 1"),
        ("foreign", {**row, "scenario": "iov-default"}, "not in suite 'smoke'"),
        ("unseeded", {**row, "seed": 7}, "seeds missing [1000] and not held out [7]"),
    ):
        res = check(_write(tmp_path / f"{name}.jsonl", [broken]))
        assert (
            res.returncode == 2
            and needle in res.stderr
            and len(res.stderr.strip().splitlines()) == 1
        )
    res = check(_write(tmp_path / "twice.jsonl", [row, row]))
    assert res.returncode == 2 and "duplicate episodes" in res.stderr


def test_the_committed_leaderboard_regenerates_from_the_committed_results(tmp_path):
    from pathlib import Path

    from training.leaderboard_page import leaderboard_text

    root = Path(__file__).resolve().parents[1]
    results = root / "results" / "leaderboard"
    assert sorted(results.glob("v1-*.jsonl")), "no committed results"
    regenerated = leaderboard_text(results, Path("results") / "leaderboard", tables=tmp_path)
    assert regenerated == (root / "LEADERBOARD.md").read_text()


def test_probability_of_improvement_over_a_baseline():
    from training.leaderboard import probability_of_improvement

    rows = []
    for seed in range(5):
        rows.append({"policy": "fast", "scenario": "s", "normalised_time": 0.5 + seed / 100})
        rows.append({"policy": "oort", "scenario": "s", "normalised_time": 0.8 + seed / 100})
        rows.append({"policy": "same", "scenario": "s", "normalised_time": 0.8 + seed / 100})
    p = probability_of_improvement(rows, "oort")
    assert p["fast"] == 1.0 and p["oort"] == 0.5 and p["same"] == 0.5
    assert probability_of_improvement(rows, "absent") == {}


@pytest.mark.filterwarnings("ignore:random_state is deprecated:FutureWarning")
def test_the_interval_of_p_better_than_oort_is_rliables_and_the_same_on_every_run():
    """The counts-based bootstrap agrees with rliable's own interval for the probability of
    improvement (its stratified independent bootstrap, 5,000 resamples each) on three scenarios of
    unequal episode counts, brackets the point estimate, and collapses where one policy is
    always faster."""
    from rliable import library, metrics

    from training.leaderboard import probability_of_improvement, probability_of_improvement_interval

    rng = np.random.default_rng(7)
    rows = []
    for k, scenario in enumerate(["a", "b", "c"]):
        for t in rng.normal(0.8 - 0.05 * k, 0.15, size=30):  # three training seeds' episodes
            rows.append({"policy": "learned", "scenario": scenario, "normalised_time": float(t)})
        for t in rng.normal(0.85, 0.15, size=10):
            rows.append({"policy": "oort", "scenario": scenario, "normalised_time": float(t)})
        for t in rng.uniform(0.1, 0.2, size=10):
            rows.append({"policy": "fast", "scenario": scenario, "normalised_time": float(t)})
    ours = probability_of_improvement_interval(rows, "oort", reps=5000)
    assert ours == probability_of_improvement_interval(rows, "oort", reps=5000)
    assert ours["fast"] == (1.0, 1.0)
    point = probability_of_improvement(rows, "oort")["learned"]
    assert ours["learned"][0] < point < ours["learned"][1]

    def matrix(policy):
        return -np.array(
            [[r["normalised_time"] for r in rows if r["policy"] == policy and r["scenario"] == s]
             for s in "abc"]
        ).T  # fmt: skip

    _, theirs = library.get_interval_estimates(
        {"pair": (matrix("learned"), matrix("oort"))}, metrics.probability_of_improvement,
        reps=5000, random_state=np.random.RandomState(0),
    )  # fmt: skip
    assert np.allclose(ours["learned"], theirs["pair"].ravel(), atol=0.01)


def test_the_city_scenario_has_a_thousand_slots_and_the_shipped_policy_acts_on_it():
    import gymnasium as gym

    from agents import load_selector
    from agents.base import SlotSpec
    from training.suite import SUITES

    (city,) = SUITES["city"]
    assert city.reference_time_s > 0
    env = gym.make(city.env_id, **city.overrides)
    base = env.unwrapped
    assert (base.num_slots, base.budget) == (1000, 50)
    obs, _ = env.reset(seed=city.seeds[0])
    policy = load_selector("shipped", SlotSpec.of(env))
    action, _ = policy.predict(obs)
    obs, _, _, _, info = env.step(action)
    assert len(info["selected"]) == 50 and env.observation_space.contains(obs)


def test_suite_intervals_come_from_rliables_stratified_bootstrap(tmp_path):
    from rliable import library, metrics

    from training.leaderboard import BOOTSTRAP_REPS, _pooled_iqm, _stratified_bootstrap

    rng = np.random.default_rng(1)
    scores = rng.lognormal(size=(10, 3))
    assert _pooled_iqm(scores)[0] == pytest.approx(metrics.aggregate_iqm(scores))
    # rliable's class, resampling runs within each task: every resampled column holds only
    # that task's own values
    bootstrap = _stratified_bootstrap(scores, 0)
    assert isinstance(bootstrap, library.StratifiedBootstrap)

    def within_tasks(x):
        assert all(set(x[:, j]) <= set(scores[:, j]) for j in range(3))
        return _pooled_iqm(x)

    bootstrap.conf_int(within_tasks, reps=50, method="percentile")
    rows = [
        _row("p", s, 1000 + k, float(scores[k, j] * ref))
        for j, (s, ref) in enumerate((("iov-default", 133.1), ("iiot", 690.2), ("ioht", 39.2)))
        for k in range(10)
    ]
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - checking it is left alone
    table = build_leaderboard([_write(tmp_path / "s.jsonl", rows)], tmp_path)
    untouched = np.random.get_state()[1]  # noqa: NPY002
    np.testing.assert_array_equal(untouched, before)  # the user's global RNG is never drawn
    suite = next(r for r in table if r["scenario"] == "ALL")
    assert suite["normalised_time_iqm"] == pytest.approx(metrics.aggregate_iqm(scores))
    ci = _stratified_bootstrap(scores[:, [1, 2, 0]], 0).conf_int(  # scenarios by name
        _pooled_iqm, reps=BOOTSTRAP_REPS, method="percentile"
    )
    assert (suite["normalised_ci_low"], suite["normalised_ci_high"]) == pytest.approx(
        (ci[0, 0], ci[1, 0])
    )
    # rliable's own entry point (it resamples from the global RNG) agrees within bootstrap noise
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002 - a fixed draw, so the test is not flaky
    _, theirs = library.get_interval_estimates(
        {"p": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=BOOTSTRAP_REPS
    )
    np.random.set_state(state)  # noqa: NPY002
    assert abs(theirs["p"][0, 0] - suite["normalised_ci_low"]) < 0.05
    assert abs(theirs["p"][1, 0] - suite["normalised_ci_high"]) < 0.08
    again = build_leaderboard([_write(tmp_path / "s.jsonl", rows)], tmp_path / "again")
    suite_again = next(r for r in again if r["scenario"] == "ALL")
    for key in ("normalised_time_iqm", "normalised_ci_low", "normalised_ci_high"):
        assert suite_again[key] == suite[key]  # reproducible run to run


def test_an_uneven_number_of_episodes_per_scenario_is_named_not_resampled(tmp_path):
    rows = [_row("p", "iov-default", 1000 + s, 100.0 + s) for s in range(3)]
    rows += [_row("p", "ioht", 1000, 30.0)]
    with pytest.raises(
        ValueError, match=r"p: episodes per scenario differ \({'ioht': 1, 'iov-default': 3}\)"
    ):
        build_leaderboard([_write(tmp_path / "u.jsonl", rows)], tmp_path)


def test_training_seeds_aggregate_under_one_policy_and_repeats_are_refused(tmp_path):
    rows = [
        {**_row("ppo-per-scenario", "iov-default", 1000 + s, 100.0 + s + t), "train_seed": t}
        for t in range(3)
        for s in range(4)
    ]
    table = build_leaderboard([_write(tmp_path / "t.jsonl", rows)], tmp_path)
    assert next(r for r in table if r["scenario"] == "ALL")["episodes"] == 12
    with pytest.raises(ValueError, match="ppo-per-scenario/iov-default/seed 1000/training seed 0"):
        build_leaderboard([_write(tmp_path / "r.jsonl", rows + rows[:1])], tmp_path)


def test_check_wants_every_training_seed_on_every_held_out_seed(tmp_path):
    from training.leaderboard import check_submission

    base = {**_row("ppo-per-scenario", "iov-smoke", 1000, 100.0), "suite_version": 1}
    ok = [{**base, "train_seed": t} for t in (0, 1)]
    assert check_submission([_write(tmp_path / "ok.jsonl", ok)], "smoke").startswith(
        "OK: 2 episodes"
    )
    short = [ok[0], {**base, "train_seed": 1, "seed": 7}]
    with pytest.raises(
        ValueError, match=r"ppo-per-scenario \(training seed 1\)/iov-smoke: seeds missing \[1000\]"
    ):
        check_submission([_write(tmp_path / "short.jsonl", short)], "smoke")


def _smoke_row() -> dict:
    return {
        **_row("mine", "iov-smoke", 1000, 120.0), "max_rounds": 4, "suite_version": 1,
        "bcfl_env": "0.1.0",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"time_to_target_s": -1000.0, "sim_time_s": 10.0}, "time_to_target_s"),
        ({"time_to_target_s": 0.0}, "time_to_target_s"),
        ({"time_to_target_s": "fast"}, "time_to_target_s"),
        ({"sim_time_s": -5.0}, "sim_time_s"),
        ({"final_accuracy": 7.5}, "final_accuracy"),
        ({"seed": "1000"}, "seed"),
        ({"seed": 1000.7}, "seed"),
        ({"seed": True}, "seed"),
        ({"policy": ["a", "b"]}, "policy"),
        ({"policy": "evil|name"}, "policy"),
        ({"policy": "two\nlines"}, "policy"),
        ({"poisoned_accepted": -1}, "poisoned_accepted"),
    ],
)
def test_check_refuses_impossible_rows_in_one_line(tmp_path, change, needle):
    from training.leaderboard import check_submission

    with pytest.raises(ValueError, match=needle) as err:
        check_submission([_write(tmp_path / "bad.jsonl", [{**_smoke_row(), **change}])], "smoke")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('["not", "a", "row"]', "not an object"),
        ('{"policy": "x", "seed": Infinity}', "not a JSON number"),
        ("[" * 5000 + "]" * 5000, "nested deeper"),
        ("{}", "policy"),
    ],
)
def test_check_and_build_refuse_malformed_lines_in_one_line(tmp_path, line, needle):
    from training.leaderboard import check_submission

    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    for call in (
        lambda: check_submission([path], "smoke"),
        lambda: build_leaderboard([path], tmp_path),
    ):
        with pytest.raises(ValueError, match=needle) as err:
            call()
        assert "bad.jsonl:1" in str(err.value) and "\n" not in str(err.value)


def test_a_negative_time_can_never_top_the_table(tmp_path):
    rows = [_row("honest", "iov-default", 1000 + s, 120.0) for s in range(3)]
    rows.append({**_row("cheat", "iov-default", 1000, -1000.0), "sim_time_s": 10.0})
    with pytest.raises(ValueError, match="time_to_target_s"):
        build_leaderboard([_write(tmp_path / "r.jsonl", rows)], tmp_path)


def test_the_normalised_score_reads_only_the_stored_references(tmp_path):
    """0 at random's stored reference, 1 at the planner's stored ceiling, whatever other rows the
    file holds (a planner row or random's own episodes change nothing)."""
    from training.leaderboard import iqm
    from training.suite import scenario_ceiling, scenario_reference

    reference, _ = scenario_reference("iov-default")
    ceiling = scenario_ceiling("iov-default")
    assert ceiling is not None and 0 < ceiling < reference
    rng = np.random.default_rng(1)
    times = rng.uniform(95, 125, size=10)
    mine = [_row("mine", "iov-default", 1000 + s, float(t)) for s, t in enumerate(times)]
    others = [_row("planner", "iov-default", 1000 + s, 60.0) for s in range(10)]
    others += [_row("random", "iov-default", 1000 + s, 300.0) for s in range(10)]
    alone = build_leaderboard([_write(tmp_path / "a.jsonl", mine)], tmp_path / "a")
    crowd = build_leaderboard([_write(tmp_path / "b.jsonl", mine + others)], tmp_path / "b")
    expected = (reference - iqm(times)) / (reference - ceiling)
    for table in (alone, crowd):
        row = next(r for r in table if r["policy"] == "mine" and r["scenario"] == "iov-default")
        assert row["score_iqm"] == pytest.approx(expected)
        assert row["score_ci_low"] <= row["score_iqm"] <= row["score_ci_high"]
    planner = next(r for r in crowd if r["policy"] == "planner" and r["scenario"] == "iov-default")
    assert planner["score_iqm"] == pytest.approx((reference - 60.0) / (reference - ceiling))
    # a scenario without a stored ceiling has no score (never a made-up one)
    table = build_leaderboard(
        [_write(tmp_path / "c.jsonl", [_row("x", "elsewhere", 1, 10.0)])],
        tmp_path / "c", references={"elsewhere": (20.0, 100.0)},
    )  # fmt: skip
    assert all(np.isnan(r["score_iqm"]) for r in table)


def test_a_v2_row_is_scored_against_suite_v2s_own_references(tmp_path):
    """Rows say their suite version; a v2 scenario's time is normalised by v2's stored random
    reference, and the same scenario offered as version 1 is refused by name."""
    from training.suite import scenario_reference

    reference, _ = scenario_reference("iov-trace", 2)
    rows = [
        {**_row("mine", "iov-trace", 2000 + s, reference), "suite_version": 2} for s in range(30)
    ]
    table = build_leaderboard([_write(tmp_path / "v2.jsonl", rows)], tmp_path / "v2")
    row = next(r for r in table if r["policy"] == "mine" and r["scenario"] == "ALL")
    assert row["normalised_time_iqm"] == pytest.approx(1.0)
    as_v1 = [{**r, "suite_version": 1} for r in rows]
    with pytest.raises(ValueError, match="'iov-trace' is in no suite of version 1"):
        build_leaderboard([_write(tmp_path / "v1.jsonl", as_v1)], tmp_path / "v1")


def test_the_v2_section_names_rows_trained_on_v2s_own_scenarios(tmp_path):
    from training.leaderboard_page import page_v2
    from training.suite import scenario_reference

    reference, _ = scenario_reference("iov-trace", 2)
    rows = [
        {**_row(policy, "iov-trace", 2000 + s, reference), "suite_version": 2}
        for policy in ("random", "ppo-100k-trained-on-iov")
        for s in range(30)
    ]
    path = _write(tmp_path / "v2.jsonl", rows)
    page = page_v2(build_leaderboard([path], tmp_path / "v2"), [path], Path("v2"))
    assert "per-scenario rows" not in page
    trained_here = [{**r, "policy": "ppo-100k-per-scenario"} for r in rows[30:]]
    path = _write(tmp_path / "v2.jsonl", rows + trained_here)
    page = page_v2(build_leaderboard([path], tmp_path / "v2"), [path], Path("v2"))
    assert "per-scenario rows (ppo-100k-per-scenario) trained on each v2 scenario itself" in page
    assert "| ppo-100k-per-scenario | per-scenario |" in page


def test_per_scenario_training_is_compared_with_generalisation_on_the_seeds_both_hold():
    from training.leaderboard_page import _matched_tracks
    from training.suite import SUITES

    def run(policy, train_seed, time_s):
        return [
            {**_row(policy, s.name, seed, time_s), "train_seed": train_seed}
            for s in SUITES["default"]
            for seed in s.seeds
        ]

    # the per-scenario track holds seed 0 only; the generalisation model of seed 1 is far slower
    rows = run("x-per-scenario", 0, 60.0) + run("x-trained-on-iov", 0, 60.0)
    rows += run("x-trained-on-iov", 1, 600.0)
    seeds, per_scenario, generalisation = _matched_tracks("x", rows, {})
    assert seeds == [0]
    assert generalisation["normalised_time_iqm"] == pytest.approx(
        per_scenario["normalised_time_iqm"]
    )  # seed 1 left out: the same times, the same IQM
    assert _matched_tracks("y", rows, {}) is None  # no rows of y
    disjoint = run("x-trained-on-iov", 1, 600.0) + run("x-per-scenario", 2, 60.0)
    assert _matched_tracks("x", disjoint, {}) is None  # no training seed in common


def test_the_page_shows_each_runs_learning_curve_per_tenth_of_its_budget(tmp_path):
    from training.leaderboard_page import curves_section

    assert curves_section(tmp_path / "curves") == ""  # no curves kept: no section
    (tmp_path / "curves").mkdir()
    runs = [  # two training seeds of one label; seed 1 has no episode in the first tenth
        {"policy": "ppo-100k", "trained_on": "iov-default", "train_seed": 0, "timesteps": 1000,
         "points": [[100, 300.0, 0.0], [1000, 100.0, 1.0]]},
        {"policy": "ppo-100k", "trained_on": "iov-default", "train_seed": 1, "timesteps": 1000,
         "points": [[1000, 120.0, 1.0]]},
    ]  # fmt: skip
    (tmp_path / "curves" / "v1-tracks-100k.jsonl").write_text(
        "\n".join(json.dumps(r) for r in runs) + "\n"
    )
    row = next(
        line for line in curves_section(tmp_path / "curves").splitlines() if "ppo-100k" in line
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["ppo-100k", "iov-default", "2", "1,000"]
    assert cells[4] == "300" and cells[5:13] == ["-"] * 8 and cells[13] == "110"  # median of seeds


def test_two_training_seeds_evaluated_under_one_label_pool_into_one_row(tmp_path):
    from training.evaluate import evaluate_policy

    out = tmp_path / "seeds.jsonl"
    for seed in (0, 1):  # two models of one recipe (here the same rule twice)
        evaluate_policy("oort", "smoke", None, out, "oort-x", progress=False, train_seed=seed)
    assert [json.loads(line)["train_seed"] for line in out.read_text().splitlines()] == [0, 1]
    table = build_leaderboard([out], tmp_path / "board")
    assert next(r for r in table if r["scenario"] == "ALL")["episodes"] == 2
    with pytest.raises(ValueError, match="train_seed=-1 is out of range"):
        evaluate_policy("oort", "smoke", None, out, "oort-x", progress=False, train_seed=-1)


def test_a_malformed_learning_curve_is_refused_naming_its_line(tmp_path):
    from training.leaderboard_page import curves_section

    (tmp_path / "curves").mkdir()
    good = {
        "policy": "a",
        "trained_on": "iov-default",
        "train_seed": 0,
        "timesteps": 10,
        "points": [[10, 5.0, 1.0]],
    }
    bad = {**good, "points": [[10, "five", 1.0]]}
    (tmp_path / "curves" / "c.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"c.jsonl:2: points must be a list"):
        curves_section(tmp_path / "curves")


def test_the_foresight_comparison_keeps_only_reference_policies_that_ran_every_scenario(
    tmp_path, benchmark_script
):
    foresight = benchmark_script("foresight_headroom")
    oort = [
        r
        for r in read_rows([ROOT / "results/leaderboard/v1-baselines.jsonl"])
        if r["policy"] == "oort"
    ]
    reference = tmp_path / "v1-planner-test.jsonl"
    complete = [dict(r, policy="oort-again") for r in oort]
    partial = [dict(r, policy="only-ioht") for r in oort if r["scenario"] == "ioht"]
    reference.write_text("".join(json.dumps(r) + "\n" for r in complete + partial))
    table = foresight.compare([reference], tmp_path / "table")
    suite = {r["policy"]: r for r in table if r["scenario"] == "ALL"}
    assert set(suite) == {*foresight.COMPARED, "oort-again"}
    assert suite["oort-again"]["score_iqm"] == suite["oort"]["score_iqm"]
    assert suite["random"]["score_iqm"] < suite["oort"]["score_iqm"] < suite["planner"]["score_iqm"]
    assert (tmp_path / "table" / "leaderboard.md").is_file()
    shown = summary_lines(table)
    assert len(shown) == 1 + len(table) and shown[1].split()[:2] == ["planner", "ALL"]

    reference.write_text("".join(json.dumps(r) + "\n" for r in partial))
    with pytest.raises(ValueError, match="no policy in .* ran all of"):
        foresight.compare([reference], tmp_path / "table")
    on_ioht = foresight.compare([reference], tmp_path / "ioht", scenarios=["ioht"])
    assert {(r["policy"], r["scenario"]) for r in on_ioht} == {
        (p, s) for p in (*foresight.COMPARED, "only-ioht") for s in ("ALL", "ioht")
    }
    with pytest.raises(ValueError, match=r"scenarios \['mars'\]: choose from"):
        foresight.compare([reference], tmp_path / "table", scenarios=["ioht", "mars"])
    reference.write_text("".join(json.dumps(r) + "\n" for r in oort))
    with pytest.raises(ValueError, match=r"reuse the committed policy names \['oort'\]"):
        foresight.compare([reference], tmp_path / "table")


def test_rows_in_memory_are_validated_and_aggregate_as_a_files_rows(tmp_path):
    from training.leaderboard import leaderboard_of_rows

    rows = [_row("random", "iov-default", s, 130.0 + s) for s in range(4)]
    from_file = build_leaderboard([_write(tmp_path / "r.jsonl", rows)], tmp_path / "f")
    in_memory = leaderboard_of_rows([dict(r) for r in rows], tmp_path / "m")
    assert json.dumps(in_memory) == json.dumps(from_file)  # NaN where a row has no value
    with pytest.raises(ValueError, match=r"rows\[2\]: .*time_to_target_s"):
        leaderboard_of_rows([*rows[:2], dict(rows[2], time_to_target_s=-1.0)], tmp_path / "x")
