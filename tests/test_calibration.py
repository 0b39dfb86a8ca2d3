"""Calibrating a scenario from a federation's record: the fit recovers what generated the record,
the files it reads and writes are validated data, and the scenario runs as ``bcfl/Custom-v1``."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env
from agents.federation_record import read_record
from bcfl_env.envs.features import NEUTRAL
from bcfl_env.scenario import load_scenario, read_scenario, save_scenario
from training.calibrate import calibrate, record_simulation
from training.cli import main as cli

# A federation with known distributions: 60 static clients with their own log-normal link rates
# and CPUs, a Dirichlet(0.5) label split of digits, and crashes with probability 0.1.
TRUTH = {
    "env.num_vehicles": 60, "env.fleet_size": 60, "env.vehicles_per_round": 8,
    "env.sync_deadline_s": 60.0, "env.max_rounds": 60, "env.target_accuracy": 0.99,
    "network.channel.model": "fixed", "network.channel.fixed_rate_bps": 1e6,
    "network.channel.fixed_rate_sigma": 0.8,
    "network.compute.cpu_distribution": "lognormal", "network.compute.cpu_mean_ghz": 1.0,
    "network.compute.cpu_log_sigma": 0.5, "network.compute.energy_budget_j": 1e9,
    "network.failure_prob": 0.1, "network.mobility.tick_s": 0.1,
    "network.upload_payload_mbit": None, "fl.partition": "dirichlet", "fl.alpha": 0.5,
    "fl.dp": "none",
}  # fmt: skip
FACTS = {"dataset": "digits", "local_epochs": 2, "batch_size": 10, "lr": 0.1}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("record") / "record.jsonl"
    truth = bcfl_env.make_config("iiot", **TRUTH)
    record_simulation(truth, path, rounds=40, seed=1, facts=FACTS)
    return path


def test_the_fit_recovers_the_distributions_that_generated_the_record(recorded):
    """Stated tolerances: counts exact; Dirichlet alpha within 30 %; log-normal medians within
    20 % and log sigmas within 0.15; the failure probability inside the fit's 95 % interval."""
    calibration = calibrate(read_record(recorded), validate=False)
    fit, cfg = calibration.fit, calibration.config
    assert fit["clients"]["value"] == cfg.env.num_vehicles == 60
    assert fit["clients_per_round"]["value"] == cfg.env.vehicles_per_round == 8
    assert fit["data_alpha"]["value"] == pytest.approx(0.5, rel=0.3)
    link = fit["link_rate_bps"]
    assert link["median"] == pytest.approx(1e6, rel=0.2)
    assert link["log_sigma"] == pytest.approx(0.8, abs=0.15)
    compute = fit["compute_s_per_sample"]  # 2e7 cycles per sample at a median 1 GHz
    assert compute["median"] == pytest.approx(0.02, rel=0.2)
    assert compute["log_sigma"] == pytest.approx(0.5, abs=0.15)
    low, high = fit["failure_prob"]["ci95"]
    assert low <= 0.1 <= high
    assert fit["model_params"]["match"]
    for name in ("data_alpha", "link_rate_bps", "compute_s_per_sample"):
        entry = fit[name]
        assert 0 <= entry["ks_statistic"] <= 1 and entry["ks_p"] > 0.01, (name, entry)
    # and the fitted config simulates those same quantities
    assert cfg.network.channel.model == "fixed"
    assert cfg.network.channel.fixed_rate_bps == pytest.approx(link["median"])
    assert cfg.network.compute.cpu_distribution == "lognormal"
    assert cfg.network.compute.cpu_mean_ghz == pytest.approx(2e7 / compute["median"] / 1e9)
    assert cfg.network.failure_prob == pytest.approx(fit["failure_prob"]["value"])
    assert cfg.fl.local_epochs == 2 and cfg.fl.batch_size == 10


def test_a_wrong_model_fact_is_flagged_not_hidden(recorded, tmp_path):
    lines = recorded.read_text().splitlines()
    header = json.loads(lines[0])
    header["facts"]["hidden"] = 16  # the deployment trains a 32-unit MLP
    bad = tmp_path / "record.jsonl"
    bad.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    fit = calibrate(read_record(bad), validate=False).fit
    assert not fit["model_params"]["match"] and "hidden" in fit["model_params"]["note"]


def test_bcfl_calibrate_writes_a_scenario_that_runs_as_custom_env(recorded, tmp_path, capsys):
    out = tmp_path / "scenario.yaml"
    assert cli(["calibrate", str(recorded), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compute_s_per_sample" in printed and "check_round_s" in printed
    scenario = read_scenario(out)
    assert scenario.fit["check_round_s"]["simulated_median"] > 0
    env = gym.make("bcfl/Custom-v1", scenario=str(out))
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    rows = obs.reshape(base.num_slots + 1, base.num_features)[:-1]
    present = rows[:, base.feature_names.index("present")] > 0
    for name in ("rsu_distance", "energy_left", "dwell_time"):  # a deployment has none of these
        assert np.all(rows[present, base.feature_names.index(name)] == NEUTRAL[name])
    assert rows[present, base.feature_names.index("uplink_rate")].std() > 0
    _, _, _, _, info = env.step(env.action_space.sample())
    assert len(info["selected"]) == 8
    vec = gym.make_vec("bcfl/Custom-v1", num_envs=2, scenario=str(out))
    assert type(vec.unwrapped).__name__ == "BCFLVectorEnv"
    assert vec.reset(seed=0)[0].shape == (2, *env.observation_space.shape)
    with pytest.raises(ValueError, match="needs scenario="):
        gym.make("bcfl/Custom-v1")


def test_scenario_files_are_validated_data(tmp_path):
    good = tmp_path / "good.yaml"
    save_scenario(good, bcfl_env.make_config("iiot"))
    assert load_scenario(good) == bcfl_env.make_config("iiot")
    text = good.read_text()
    cases = {
        "tag": ("!!python/object/apply:os.system ['touch pwned']", "not valid YAML"),
        "key": (text.replace("  env:\n", "  env:\n    num_vehicels: 3\n"), "num_vehicels"),
        "range": (text.replace("vehicles_per_round: 5", "vehicles_per_round: 500"), "vehicles_per_round"),  # fmt: skip
        "format": (text.replace("bcfl-scenario", "other"), "format"),
        "hidden": (text.replace("hidden_features: null", "hidden_features: cpu_frequency"), None),
    }  # fmt: skip
    for name, (body, words) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(body)
        if words is None:  # valid config, refused when the env builds its columns
            with pytest.raises(ValueError, match="hidden_features"):
                gym.make("bcfl/Custom-v1", scenario=str(path))
            continue
        with pytest.raises(ValueError, match=words):
            load_scenario(path)
    assert not (tmp_path / "pwned").exists() and not (tmp_path.parent / "pwned").exists()


def test_records_are_validated_data_naming_line_and_field(recorded, tmp_path):
    lines = recorded.read_text().splitlines()
    update = next(i for i, line in enumerate(lines) if '"kind": "update"' in line)

    def broken(index: int, change: dict) -> str:
        event = json.loads(lines[index])
        event.update(change)
        return "\n".join([*lines[:index], json.dumps(event), *lines[index + 1 :]])

    cases = {
        "outcome": (broken(update, {"outcome": "maybe"}), f"line {update + 1}: outcome='maybe'"),
        "trip": (broken(update, {"round_trip_s": -1.0}), "round_trip_s=-1.0 is out of range"),
        "client": (broken(update, {"client": 10**6}), "was not selected"),
        "kind": (broken(update, {"kind": "exec"}), "kind='exec' is not allowed"),
        "header": (broken(0, {"version": 9}), "version=9"),
        "json": ("\n".join([lines[0], "{not json"]), "line 2: not JSON"),
    }
    for name, (body, words) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(body)
        with pytest.raises(ValueError, match=words):
            read_record(path)
    assert cli(["calibrate", str(tmp_path / "json.jsonl"), "--out", str(tmp_path / "x.yaml")]) == 2


def test_failure_and_fixed_links_act_through_the_simulation():
    """A crash drops the update with reason 'failure' (never an accepted one); fixed links give
    each node its own rate for the whole episode; the defaults draw nothing new."""
    cfg = bcfl_env.make_config("iiot", **{k: v for k, v in TRUTH.items() if "fl." not in k})
    env = bcfl_env.BCFLEnv(cfg)
    env.reset(seed=3)
    reasons, accepted, rates = [], 0, []
    for _ in range(15):
        _, _, _, _, info = env.step(env.action_space.sample())
        reasons += [why for _, why in info["dropped"]]
        accepted += len(info["accepted"])
        rates.append(env.world.network.rates_bps().copy())
    assert reasons.count("failure") > 0 and accepted > 0
    assert set(reasons) <= {"failure", "deadline"}
    assert np.array_equal(rates[0], rates[-1])  # static nodes: the same link every tick
    plain = bcfl_env.make_config("iiot")
    assert plain.network.failure_prob == 0 and plain.network.channel.model == "v2i"


def test_the_loop_summary_pairs_seeds_and_counts_a_miss_as_slowest(tmp_path, benchmark_script):
    module = benchmark_script("flower_loop")
    times = {"calibrated": {"0": 8.0, "1": 9.0, "2": float("inf")},
             "random": {"0": 10.0, "1": 10.0, "2": 10.0}}  # fmt: skip
    for name in ("oort", "ppo"):
        times[name] = {"0": 8.0, "1": float("inf"), "2": 12.0}
    (tmp_path / "a.json").write_text(json.dumps({"time_to_target_s": {"calibrated": times["calibrated"]}, "audits_passed": True}))  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps({"time_to_target_s": {k: v for k, v in times.items() if k != "calibrated"}, "audits_passed": True}))  # fmt: skip
    (tmp_path / "twin.json").write_text(json.dumps({"0": {"twin": {}}}))  # not a run: skipped
    summary = module.summarise([tmp_path / "a.json", tmp_path / "b.json", tmp_path / "twin.json"])
    assert summary["seeds"] == [0, 1, 2] and summary["audits_passed"]
    versus = summary["calibrated_vs"]
    assert versus["random"]["median"] == pytest.approx(-0.1)  # -20 %, -10 %, +inf
    assert versus["random"]["wins"] == 2
    assert versus["Oort"]["median"] == pytest.approx(0.0)  # 0, -100 % (Oort missed), +inf
