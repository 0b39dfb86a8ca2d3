"""Fit a scenario of the simulator to what a federation's server recorded (``bcfl calibrate``).

The record (:mod:`agents.federation_record`) holds what a real server knows: the clients it saw
connected, what they reported (sample counts, uplink rates), each selected client's round trip,
loss and fate, the round clock and the global accuracy. :func:`calibrate` turns it into a
:class:`~bcfl_env.config.BCFLConfig` of the same shape as the federation:

=====================  ===================================================================
what                   how
=====================  ===================================================================
N, K, FL mode          counted / read from the header (exact)
data sizes             Dirichlet(alpha) label split: alpha by the method of moments from the
                       reported sizes' dispersion; fit: two-sample KS against sizes of
                       partitions drawn with the fitted alpha
link rate              log-normal (median, sigma) of the reported uplink rates; fit: KS
compute per sample     (round trip - upload time) / (samples x local epochs) per client, its
                       median over rounds; log-normal; fit: KS
failure                error replies / selections, Wilson 95 % interval; fit: chi-square
                       test that one probability explains every client
availability           mean share of the clients connected per round
model, data set, ...   the operator's facts in the header; model size checked against it
=====================  ===================================================================

Every fitted value is written with its goodness of fit into the scenario file's ``fit``
section (:func:`bcfl_env.scenario.save_scenario`); ``validate=True`` also runs the calibrated
simulator under uniform selection and compares its round durations with the record's (KS).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from agents.federation_record import FederationRecord, RecordWriter, UpdateEvent, read_record
from bcfl_env.config import BCFLConfig, make_config
from bcfl_env.scenario import save_scenario

__all__ = ["Calibration", "calibrate", "calibrate_file", "record_simulation"]

CYCLES_PER_SAMPLE = 2e7  # the simulator's unit of work; the CPU distribution absorbs the rest
HIDDEN = ("rsu_distance", "energy_left", "dwell_time")  # a deployment has no RSU, battery, dwell


@dataclass
class Calibration:
    """A fitted config and, per fitted quantity, its value and goodness of fit."""

    config: BCFLConfig
    fit: dict[str, Any]

    def save(self, path: str | os.PathLike[str], record_path: str | None = None) -> Path:
        return save_scenario(path, self.config, self.fit, {"record": record_path} if record_path else None)  # fmt: skip

    def table(self) -> str:
        """The fit as plain text, one line per quantity."""
        lines = []
        for name, entry in self.fit.items():
            value = {k: v for k, v in entry.items() if k not in ("how", "note")}
            text = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
            lines.append(f"{name:>20}: {text}")
            if entry.get("note"):
                lines.append(f"{'':>20}  ({entry['note']})")
        return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _lognormal(values: np.ndarray) -> dict[str, Any]:
    """Median and log sigma of positive values, with the KS test of that log-normal (parameters
    estimated from the same data, so the p-value is conservative: Lilliefors)."""
    logs = np.log(values)
    mu, sigma = float(logs.mean()), float(logs.std(ddof=1)) if values.size > 1 else 0.0
    ks = stats.kstest(logs, "norm", args=(mu, max(sigma, 1e-12)))
    return {
        "median": float(math.exp(mu)), "log_sigma": sigma, "n": int(values.size),
        "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue),
    }  # fmt: skip


def _dirichlet_alpha(sizes: np.ndarray, class_counts: np.ndarray) -> float:
    """Method of moments: a Dirichlet(alpha) split of class c's n_c samples over N clients gives
    sizes of mean n / N and variance sum_c n_c^2 (N - 1) / (N^2 (N alpha + 1))."""
    n_clients, total = sizes.size, class_counts.sum()
    cv2 = sizes.var(ddof=1) / sizes.mean() ** 2
    concentration = float((class_counts**2).sum() / total**2)
    alpha = (concentration * (n_clients - 1) / max(cv2, 1e-12) - 1) / n_clients
    return float(np.clip(alpha, 1e-3, 1e3))


def _wilson(successes: int, trials: int) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    z, p = 1.959964, successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return max(centre - half, 0.0), min(centre + half, 1.0)


def calibrate(record: FederationRecord, *, validate: bool = True, seed: int = 0) -> Calibration:
    """Fit a scenario to ``record`` (see the module docstring for each quantity).

    Raises:
        ValueError: a record with no round, or too little to fit (no reported sample count, no
            timed update).
    """
    from bcfl_env.fl.data import load_dataset
    from bcfl_env.fl.partition import partition

    if not record.rounds:
        raise ValueError("record: no complete round to calibrate from")
    facts = record.facts
    clients = record.clients
    n_clients, k = len(clients), record.clients_per_round
    fit: dict[str, Any] = {}
    fit["clients"] = {"value": n_clients, "how": "counted"}
    fit["clients_per_round"] = {"value": k, "how": "header"}
    epochs = int(facts.get("local_epochs", 1))
    dataset = str(facts.get("dataset", "digits"))
    overrides: dict[str, Any] = {}
    for key, dotted in (("dataset", "fl.dataset"), ("data_root", "fl.data_root"),
                        ("model", "fl.model"), ("hidden", "fl.hidden"),
                        ("local_epochs", "fl.local_epochs"), ("batch_size", "fl.batch_size"),
                        ("lr", "fl.lr"), ("target_accuracy", "env.target_accuracy")):  # fmt: skip
        if key in facts:
            overrides[dotted] = facts[key]
    fit["facts"] = {"value": dict(facts), "how": "stated by the operator (header)"}

    # data sizes: reported, else what updates carried
    sizes_by_client = {c: p["num-examples"] for c, p in record.properties.items() if "num-examples" in p}  # fmt: skip
    for u in record.updates:
        if u.num_examples is not None:
            sizes_by_client.setdefault(u.client, u.num_examples)
    if not sizes_by_client:
        raise ValueError("record: no client reported its sample count; cannot fit data sizes")
    sizes = np.array(list(sizes_by_client.values()), dtype=np.float64)
    rng = np.random.default_rng(seed)
    data = load_dataset(dataset, rng, data_root=facts.get("data_root"))
    kind = str(facts.get("partition", "dirichlet"))
    labels = data.y_train
    if kind == "dirichlet":
        counts = np.bincount(labels).astype(np.float64)
        alpha = _dirichlet_alpha(sizes, counts)
        drawn = np.concatenate([
            partition(labels, n_clients, np.random.default_rng(seed + i), "dirichlet", alpha=alpha).sizes
            for i in range(20)
        ])  # fmt: skip
        ks = stats.ks_2samp(sizes, drawn)
        fit["data_alpha"] = {
            "value": alpha, "n": int(sizes.size), "ks_statistic": float(ks.statistic),
            "ks_p": float(ks.pvalue), "how": "method of moments on the sizes' dispersion; KS "
            "against 20 partitions drawn with it",
        }  # fmt: skip
        overrides.update({"fl.partition": "dirichlet", "fl.alpha": alpha})
    elif kind == "quantity":
        sigma = float(np.log(sizes).std(ddof=1))
        fit["data_sigma"] = {"value": sigma, "n": int(sizes.size), "how": "std of log sizes"}
        overrides.update({"fl.partition": "quantity", "fl.quantity_sigma": sigma})
    else:
        overrides["fl.partition"] = kind
        fit["data_partition"] = {"value": kind, "how": "stated; sizes not fitted"}
    fit["data_total"] = {
        "value": int(sizes.sum()) if sizes.size == n_clients else None,
        "simulator": int(labels.size),
        "how": "reported total vs the data set's training split",
    }

    # link rates: reported
    rates = np.array([p["uplink-bps"] for p in record.properties.values() if p.get("uplink-bps", 0) > 0])  # fmt: skip
    hidden = list(HIDDEN)
    bits = 32.0 * record.model_params
    rate_of = {c: p["uplink-bps"] for c, p in record.properties.items() if p.get("uplink-bps", 0) > 0}  # fmt: skip
    if rates.size >= 2:
        link = _lognormal(rates)
        link["how"] = "log-normal of the reported uplink rates"
        fit["link_rate_bps"] = link
        scale_bw = float(rates.max()) * 2 / 20.0  # the feature scale (bandwidth x 20) covers them
        overrides.update({
            "network.channel.model": "fixed", "network.channel.fixed_rate_bps": link["median"],
            "network.channel.fixed_rate_sigma": link["log_sigma"],
            "network.channel.rsu_bandwidth_hz": float(np.clip(scale_bw, 1e3, 1e10)),
        })  # fmt: skip
    else:
        hidden.append("uplink_rate")
        fit["link_rate_bps"] = {"value": None, "note": "no uplink reported: upload time counted as compute"}  # fmt: skip
        overrides.update({"network.channel.model": "fixed", "network.channel.fixed_rate_bps": 1e12})  # fmt: skip

    # compute per sample and epoch, from timed replies
    per_client: dict[int, list[float]] = {}
    trips = []
    for u in record.updates:
        if u.outcome not in ("accepted", "rejected") or u.round_trip_s is None:
            continue
        size = sizes_by_client.get(u.client)
        if not size:
            continue
        upload = bits / rate_of[u.client] if u.client in rate_of else 0.0
        per_client.setdefault(u.client, []).append(max(u.round_trip_s - upload, 1e-9) / (size * epochs))  # fmt: skip
        trips.append(u.round_trip_s)
    if len(per_client) < 2:
        raise ValueError("record: fewer than two clients with a timed reply; cannot fit compute")
    seconds = np.array([float(np.median(v)) for v in per_client.values()])
    compute = _lognormal(seconds)
    compute["how"] = "(round trip - upload) / (samples x epochs), median per client; log-normal"
    fit["compute_s_per_sample"] = compute
    overrides.update({
        "network.compute.cpu_distribution": "lognormal",
        "network.compute.cycles_per_sample": CYCLES_PER_SAMPLE,
        "network.compute.cpu_mean_ghz": CYCLES_PER_SAMPLE / compute["median"] / 1e9,
        "network.compute.cpu_log_sigma": compute["log_sigma"],
        "network.compute.energy_budget_j": 1e9,  # no battery reported: mains-powered
        "network.compute.energy_budget_spread": 0.0,
    })  # fmt: skip

    # failures and availability
    selections = [u for u in record.updates if u.outcome != "timeout"]
    errors = [u for u in selections if u.outcome == "error"]
    p_fail = len(errors) / max(len(selections), 1)
    low, high = _wilson(len(errors), len(selections))
    by_client: dict[int, list[int]] = {}
    for u in selections:
        by_client.setdefault(u.client, [0, 0])
        by_client[u.client][0] += u.outcome == "error"
        by_client[u.client][1] += 1
    fails = np.array([v[0] for v in by_client.values()], dtype=np.float64)
    tries = np.array([v[1] for v in by_client.values()], dtype=np.float64)
    expected = tries * p_fail
    homogeneity = None
    if 0 < p_fail < 1 and len(by_client) > 1:
        chi2 = float((((fails - expected) ** 2) / (expected * (1 - p_fail))).sum())
        homogeneity = float(stats.chi2.sf(chi2, len(by_client) - 1))
    fit["failure_prob"] = {
        "value": p_fail, "ci95": [low, high], "n": len(selections),
        "homogeneity_p": homogeneity,
        "how": "error replies / selections (Wilson interval); chi-square: one probability for all",
    }  # fmt: skip
    overrides["network.failure_prob"] = min(p_fail, 0.99)
    share = [len(r["connected"]) / n_clients for r in record.rounds]
    availability = float(np.mean(share))
    fit["availability"] = {
        "value": availability, "min": float(min(share)),
        "note": None if availability > 0.98 else "churn is not modelled: the simulator keeps "
        "this share of the clients present, always the same ones",
    }  # fmt: skip

    # the round and its clock
    durations = np.array([r["end_s"] - r["start_s"] for r in record.rounds])
    deadline = record.round_deadline_s
    # without a deadline the round waits for its slowest client: simulate a deadline that the
    # fitted distributions almost never reach (the largest client at the 99.9th percentiles of
    # compute and link), so a slow pick costs its full time, as in the federation
    z = 3.09
    slowest = float(sizes.max()) * 1.5 * epochs * compute["median"] * math.exp(z * compute["log_sigma"])  # fmt: skip
    if rates.size >= 2:
        slowest += bits / (fit["link_rate_bps"]["median"] * math.exp(-z * fit["link_rate_bps"]["log_sigma"]))  # fmt: skip
    longest = max(float(max(trips)), slowest)
    sync_deadline = deadline if deadline is not None else longest
    tick = float(np.clip(np.median(trips) / 20.0, 0.01, 1.0))
    tick = max(tick, sync_deadline / 10_000)
    fit["round"] = {
        "fl_mode": "sync", "deadline_s": deadline, "simulated_deadline_s": sync_deadline,
        "tick_s": tick, "median_round_s": float(np.median(durations)),
        "how": "header; without a deadline, the simulated one is the largest client's time at "
        "the 99.9th percentiles of the fitted compute and link",
    }  # fmt: skip
    # the reward prices time in units of this federation's rounds: one median round costs what
    # one default epoch costs in the presets the reward weights were tuned on
    default = make_config("iov")
    per_round = default.env.epoch_length_s / max(float(np.median(durations)), 1e-3)
    fit["reward_time_scale"] = {
        "value": per_round,
        "how": "w_time and w_latency x (default epoch 5 s / median round): time counts per round",
    }
    rounds_seen = record.rounds[-1]["round"]
    max_rounds = int(facts.get("max_rounds", max(40, 2 * rounds_seen)))
    n_verifiers = int(facts.get("num_verifiers", 4))
    overrides.update({
        "env.num_vehicles": n_clients, "env.fleet_size": n_clients, "env.vehicles_per_round": k,
        "env.fl_mode": "sync", "env.sync_deadline_s": sync_deadline, "env.max_rounds": max_rounds,
        "env.sim_time_budget_s": float(max(10.0 * max_rounds * np.median(durations), 60.0)),
        "env.hidden_features": ",".join(hidden),
        "network.mobility.backend": "static", "network.mobility.arrival_rate_per_s": 0.0,
        "network.mobility.initial_occupancy": min(availability, 1.0),
        "network.mobility.tick_s": tick,
        "network.infra.num_rsus": n_verifiers, "network.infra.rsu_coverage_m": 100_000.0,
        "network.upload_payload_mbit": bits / 1e6,
        "chain.committee_size": n_verifiers, "chain.acceptance": "median",
        "fl.aggregation": "fedavg", "fl.dp": str(facts.get("dp", "none")), "reward.w_energy": 0.0,
        "reward.w_time": min(default.reward.w_time * per_round, 1e6),
        "reward.w_latency": min(default.reward.w_latency * per_round, 1e6),
    })  # fmt: skip
    config = make_config("iiot", **overrides)
    config = _renamed(config)
    # the model the simulator trains must be the deployment's size
    from bcfl_env.fl.models import make_model

    sim_params = make_model(config.fl.model, data.input_shape, data.num_classes, config.fl.hidden).num_params  # fmt: skip
    fit["model_params"] = {
        "record": record.model_params, "simulator": int(sim_params),
        "match": int(sim_params) == record.model_params,
        "note": None if int(sim_params) == record.model_params else "the facts' model differs "
        "from the deployment's: state model and hidden in the record's facts",
    }  # fmt: skip
    calibration = Calibration(config, fit)
    if validate:
        curve = [float(r["accuracy"]) for r in record.rounds]
        fit["check_round_s"] = _validate(config, durations, curve, seed)
    return calibration


def _renamed(config: BCFLConfig) -> BCFLConfig:
    import dataclasses

    return dataclasses.replace(config, preset="custom")


def _validate(
    config: BCFLConfig, durations: np.ndarray, accuracy: list[float], seed: int
) -> dict[str, Any]:
    """Round durations and the accuracy by round of the calibrated simulator under uniform
    selection vs the record's (the accuracy compares like with like when the record's rounds
    used a uniform selector, as the loop's warm-up does)."""
    from bcfl_env.envs.core import BCFLEnv

    longer: dict[str, Any] = {"env.max_rounds": max(config.env.max_rounds, 30)}
    env = BCFLEnv(make_config(config=config, **longer))
    rng = np.random.default_rng(seed)
    simulated, curves = [], []
    for world in range(4):  # four federations drawn from the fit: the record is one draw
        env.reset(seed=seed + world)
        curve = []
        for _ in range(max(20, durations.size)):
            action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            _, _, terminated, truncated, info = env.step(action)
            simulated.append(info["epoch_s"] - info["consensus_s"])
            curve.append(float(info["accuracy"]))
            if terminated or truncated:
                break
        curves.append(curve)
    ks = stats.ks_2samp(durations, simulated)
    shared = min(len(accuracy), *(len(c) for c in curves))
    mean_curve = np.mean([c[:shared] for c in curves], axis=0)
    return {
        "record_median": float(np.median(durations)), "simulated_median": float(np.median(simulated)),
        "ks_statistic": float(ks.statistic), "ks_p": float(ks.pvalue), "n": [int(durations.size), len(simulated)],
        "accuracy_record": [round(a, 4) for a in accuracy[:shared]],
        "accuracy_simulated": [round(float(a), 4) for a in mean_curve],
        "accuracy_mean_abs_gap": float(np.abs(np.asarray(accuracy[:shared]) - mean_curve).mean()),
        "how": "round durations: the record's vs four federations of the calibrated simulator "
        "under uniform selection (each federation's own draw of sizes and speeds spreads them; "
        "selection shapes the record's, so a learned selector's record fits less); accuracy by "
        "round: the record's vs their mean (like with like after a uniform warm-up)",
    }  # fmt: skip


def calibrate_file(
    record_path: str | os.PathLike[str], out: str | os.PathLike[str], *, validate: bool = True,
    seed: int = 0,
) -> Calibration:  # fmt: skip
    """``bcfl calibrate RECORD --out SCENARIO``: read, fit, write; returns the calibration."""
    calibration = calibrate(read_record(record_path), validate=validate, seed=seed)
    calibration.save(out, str(record_path))
    return calibration


def record_simulation(
    config: BCFLConfig, path: str | os.PathLike[str], rounds: int, seed: int = 0,
    facts: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Run the simulator under uniform selection and write what its server saw as a record
    (a federation whose generating distributions are known: the calibration's test bed)."""
    from bcfl_env.envs.core import BCFLEnv

    env = BCFLEnv(config)
    env.reset(seed=seed)
    world = env.world
    assert world is not None
    net = world.network
    writer = RecordWriter(path, clients_per_round=config.env.vehicles_per_round,
                          model_params=world.fl.num_params, facts=facts)  # fmt: skip
    rng = np.random.default_rng(seed)
    clock = 0.0
    for round_ in range(1, rounds + 1):
        world = env.world
        assert world is not None
        net = world.network
        connected = [int(i) for i in net.slot_identity[net.present & (net.slot_identity >= 0)]]
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        slots = env.slots_for(action)
        selected = [int(net.slot_identity[s]) for s in slots]
        writer.round_start(round_, clock, connected, selected)
        if round_ == 1:
            for identity in connected:
                props = {"num-examples": float(world.record.reported_sizes[identity])}
                if net.fixed_rate_bps is not None:
                    props["uplink-bps"] = float(net.fixed_rate_bps[identity])
                writer.properties(round_, identity, props)
        _, _, terminated, truncated, info = env.step(action)
        rejected = [int(r[0]) if isinstance(r, tuple | list) else int(r) for r in info["rejected"]]
        for identity in [*info["accepted"], *rejected]:
            trip = float(world.record.round_trip_s[identity])
            outcome = "accepted" if identity in info["accepted"] else "rejected"
            writer.update(UpdateEvent(round_, identity, outcome, trip, "client",
                                      float(world.record.reported_loss[identity]),
                                      float(world.record.reported_sizes[identity])))  # fmt: skip
        for identity, why in info["dropped"]:
            outcome = "error" if why == "failure" else "timeout"
            writer.update(UpdateEvent(round_, identity, outcome, None, None, None, None, why))
        clock += info["epoch_s"] - info["consensus_s"]
        writer.round_end(round_, clock, float(info["accuracy"]))
        if terminated or truncated:
            break
    writer.close()
    return Path(path)
