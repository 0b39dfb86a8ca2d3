"""The Flower strategy (agents.flower): selection from the server observation, and a real Flower
simulation whose ledger verifies (the ``flower`` extra, installed by ``make test``)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import flwr  # noqa: E402,F401  (the flower extra: make test installs it)
import numpy as np
import pytest

from agents import load_selector
from agents.base import SlotSpec
from agents.flower import SelectorStrategy  # noqa: E402
from agents.registry import SELECTORS, SHIPPED_SELECTOR
from agents.server_observation import FEATURE_NAMES, NEUTRAL, ClientBook, ServerScales

ROOT = Path(__file__).resolve().parents[1]
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _example():
    spec = importlib.util.spec_from_file_location(
        "flower_selector", ROOT / "examples" / "flower_selector.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["flower_selector"] = module
    spec.loader.exec_module(module)
    return module


def test_a_client_that_reports_nothing_gets_the_documented_neutral_values():
    book = ClientBook(num_slots=4, budget=2, scales=ServerScales(epoch_s=5.0, max_rounds=10))
    assert book.see([7, 9, 11]) == [7, 9, 11]
    book.report_properties(7, {"num-examples": 50, "energy-fraction": 0.25, "uplink-bps": 4e7})
    book.report_properties(9, {"num-examples": "many", "energy-fraction": math.nan, "x": 1})
    obs = book.observation([7, 9], round_=0, accuracy=0.3, time_s=0.0)
    assert obs.shape == (5, len(FEATURE_NAMES))
    silent = obs[1]  # node 9: garbage only, so every reported column is neutral
    for name, value in NEUTRAL.items():
        assert silent[COL[name]] == pytest.approx(value), name
    assert silent[COL["present"]] == 1 and silent[COL["staleness"]] == 1
    assert silent[COL["reputation"]] == pytest.approx(0.5)
    told = obs[0]
    assert told[COL["data_size"]] == 1.0 and told[COL["energy_left"]] == 0.25
    assert told[COL["uplink_rate"]] == pytest.approx(4e7 / (20e6 * 20))
    assert not obs[2].any(), "node 11 is not connected: an empty slot"
    assert obs[4, :6].tolist() == pytest.approx([0.0, 0.3, 0.0, 0.5, 0.5, 0.9])


def test_replies_feed_round_trip_loss_and_reputation():
    book = ClientBook(num_slots=3, budget=1, scales=ServerScales(epoch_s=4.0))
    book.see([1, 2])
    book.outcome(1, accepted=True, loss=1.0, round_trip_s=4.0, num_examples=30)
    book.outcome(2, accepted=False, loss=-3.0, round_trip_s=math.inf)
    book.timed_out(2, waited_s=12.0)
    obs = book.observation([1, 2], round_=1, accuracy=0.5, time_s=10.0)
    assert obs[0, COL["round_trip"]] == pytest.approx(0.5)
    assert obs[0, COL["last_loss"]] == pytest.approx(0.5)
    assert obs[0, COL["reputation"]] == pytest.approx(2 / 3)
    assert obs[1, COL["round_trip"]] == pytest.approx(12 / 16)
    assert obs[1, COL["last_loss"]] == 0.0, "a negative loss is not a report"
    assert obs[1, COL["reputation"]] == pytest.approx(1 / 4)


def test_clients_beyond_the_slots_are_left_out_not_fatal():
    book = ClientBook(num_slots=2, budget=1)
    book.see([5, 6, 7])
    assert book.overflow == {7} and set(book.clients) == {5, 6}


@pytest.mark.parametrize(
    "selector", [*sorted(n for n, e in SELECTORS.items() if not e.needs_env), "shipped"]
)
def test_the_strategy_selects_exactly_k_connected_eligible_clients(selector):
    strategy = SelectorStrategy(selector, clients_per_round=3, num_slots=10)
    strategy.book.see(range(100, 110))
    strategy.book.report_properties(101, {"energy-fraction": 0.0})  # cannot train
    connected = [n for n in range(100, 110) if n not in (103, 104)]
    for round_ in range(4):
        chosen = strategy.select(connected, round_)
        assert len(chosen) == 3 and len(set(chosen)) == 3
        assert set(chosen) <= set(connected) - {101}
        strategy.book.selected(chosen, round_)
        for node in chosen:
            strategy.book.outcome(node, True, loss=1.0, round_trip_s=2.0, num_examples=20)


def test_fewer_eligible_than_k_selects_all_of_them_and_none_selects_nobody():
    strategy = SelectorStrategy("oort", clients_per_round=4, num_slots=6)
    strategy.book.see(range(6))
    assert sorted(strategy.select([0, 3], 0)) == [0, 3]
    assert strategy.select([], 0) == []


def test_the_shipped_selector_is_the_trained_model_and_refuses_other_features():
    spec = SlotSpec(tuple(FEATURE_NAMES), num_slots=50, budget=5)
    shipped = load_selector("shipped", spec)
    assert shipped.name == SHIPPED_SELECTOR.stem
    book = ClientBook(50, 5)
    book.see(range(50))
    for node in range(50):  # fast clients are the odd ones
        book.outcome(node, True, loss=0.5, round_trip_s=1.0 if node % 2 else 30.0, num_examples=40)
    action, _ = shipped.predict(book.observation(range(50), 3, 0.5, 60.0).reshape(-1))
    picked = np.argsort(-action)[:5]
    assert all(p % 2 == 1 for p in picked), "the trained selector prefers fast clients"
    with pytest.raises(ValueError, match="feature columns"):
        load_selector("shipped", SlotSpec(("present", "x"), 5, 1))
    with pytest.raises(ValueError, match="needs a bcfl env"):
        load_selector("favor", spec)
    with pytest.raises(ValueError, match="neither a registered selector"):
        load_selector("no-such-selector", spec)


def test_bad_arguments_and_bad_selector_output_are_clear_errors():
    from flwr.serverapp.strategy import FedAvg

    with pytest.raises(ValueError, match="min_train_nodes=4"):
        SelectorStrategy(
            "random", clients_per_round=2, num_slots=5, inner=FedAvg(min_train_nodes=4)
        )
    with pytest.raises(ValueError, match="fraction_train"):
        SelectorStrategy(
            "random", clients_per_round=2, num_slots=5,
            inner=FedAvg(fraction_train=0.5, min_train_nodes=1, min_available_nodes=1),
        )  # fmt: skip
    with pytest.raises(ValueError, match="clients_per_round=9"):
        SelectorStrategy("random", clients_per_round=9, num_slots=5)

    class Broken:
        name = "broken"

        def predict(self, observation, state=None, episode_start=None, deterministic=True):
            return np.full(3, np.nan), None

    strategy = SelectorStrategy(Broken(), clients_per_round=1, num_slots=5)
    strategy.book.see([1])
    with pytest.raises(ValueError, match="expected \\(5,\\) finite scores"):
        strategy.select([1], 0)


def make_faulty_app(
    seed: int, num_clients: int, crash: int, nan: int, liar: int | None = None,
    anonymous: int | None = None,
):  # fmt: skip
    """The example's clients, except that client ``crash`` raises in training, client ``nan``
    returns non-finite parameters (a malformed update, sent through the protocol), client
    ``liar`` reports 1e40 examples (which overflowed FedAvg's float32 weights to a NaN model) and
    client ``anonymous`` reports no device id."""
    from flower_selector import _federation, client_properties, local_training
    from flwr.app import Array, ArrayRecord, Message
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.query()
    def properties(msg, context):
        cid = int(context.node_config["partition-id"])
        content = client_properties(_federation(seed, num_clients), cid)
        if cid == anonymous:
            del content["properties"]["device-id"]
        return Message(content, reply_to=msg)

    @app.train()
    def train(msg, context):
        cid = int(context.node_config["partition-id"])
        if cid == crash:
            raise RuntimeError("the client crashed")
        content = local_training(_federation(seed, num_clients), cid, msg.content["arrays"], seed)
        if cid == liar:
            content["metrics"]["num-examples"] = 1e40
        if cid == nan:
            arrays = content["arrays"]
            content["arrays"] = ArrayRecord(
                {k: Array(np.full_like(a.numpy(), np.nan)) for k, a in arrays.items()}
            )
        return Message(content, reply_to=msg)

    return app


def test_a_flower_simulation_selects_k_per_round_and_writes_a_ledger_that_verifies(
    tmp_path, monkeypatch
):
    """Real Flower (run_simulation on Ray), real local training, a crashing client and one that
    sends NaN parameters, and the verifiers' ledger audited deeply (every global model
    recomputed)."""
    from bcfl_env.chain.audit import audit
    from bcfl_env.provenance import recompute_model

    # Ray's workers import the client code by module name
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'examples'}:{ROOT / 'tests'}:{ROOT}")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    example = _example()
    ledger = tmp_path / "flower.sqlite"
    strategies = []
    history = example.run(
        "ppo", seed=3, rounds=3, k=4, ledger_path=ledger, num_clients=8,
        client_app=make_faulty_app(3, 8, crash=0, nan=1, liar=2), strategies=strategies,
    )  # fmt: skip
    assert [h["round"] for h in history] == [1, 2, 3]
    assert 0 < history[0]["time_s"] < history[-1]["time_s"]
    (strategy,) = strategies
    picked = [h["selected"] for h in strategy.history]
    assert all(len(p) == 4 == len(set(p)) for p in picked)
    # node ids are Flower's; the faulty clients are the ones whose every pick was rejected. After
    # round 1 the picks depend on measured wall-clock waits (the crashing client sends no
    # duration), so under load the selector may pick only one of the two; never more than the
    # three that misbehave are rejected
    picks = {n: sum(n in p for p in picked) for n in set(sum(picked, []))}
    counts = {n: strategy.book.reputation.counts(str(n)) for n in picks}
    faulty = [n for n, (good, bad) in counts.items() if bad]
    assert 1 <= len(faulty) <= 3, counts
    assert all(counts[n] == (0.0, picks[n]) for n in faulty), (counts, picks)
    assert all(counts[n] == (picks[n], 0.0) for n in picks if n not in faulty), (counts, picks)
    ok, text = audit(str(ledger), recompute_model)
    assert ok, text
    assert "task=3" in text and "3 global models recomputed" in text
    assert "certificates  13" in text  # the server, 4 verifiers and 8 clients


def test_a_strategy_resumes_a_federation_from_its_record(tmp_path):
    """The client book rebuilt from a record knows what the server saw: every client in its
    slot, each one's reported size and rate, its verdicts, and the clock, accuracy and round."""
    import bcfl_env
    from agents.federation_record import read_record
    from training.calibrate import record_simulation

    cfg = bcfl_env.make_config(
        "iiot", **{"network.channel.model": "fixed", "network.failure_prob": 0.2}
    )
    path = record_simulation(cfg, tmp_path / "record.jsonl", rounds=6, seed=2)
    record = read_record(path)
    strategy = SelectorStrategy("oort", clients_per_round=5, num_slots=20, history=path)
    assert strategy.round_offset == 6 and strategy.clock_s == record.rounds[-1]["end_s"] > 0
    assert strategy.accuracy == record.rounds[-1]["accuracy"]
    assert list(strategy.book.clients) == record.clients
    for update in record.updates:
        good, bad = strategy.book.reputation.counts(str(update.client))
        assert good + bad >= 1
    errors = {u.client for u in record.updates if u.outcome == "error"}
    assert errors and all(strategy.book.reputation.counts(str(c))[1] >= 1 for c in errors)
    for client, props in record.properties.items():
        assert strategy.book.clients[client].uplink_bps == props["uplink-bps"]
    with pytest.raises(ValueError, match="clients_per_round"):
        SelectorStrategy("oort", clients_per_round=4, num_slots=20, history=path)


def test_the_deployment_loop_warms_up_calibrates_trains_and_continues(
    tmp_path, monkeypatch, benchmark_script
):
    """The example's main path in a real Flower simulation: a warm-up with a random selector
    writes the record, the scenario is fitted to it, PPO trains on it, and the same federation
    continues with the trained selector; every ledger passes the deep audit."""
    from bcfl_env.chain.audit import audit
    from bcfl_env.provenance import recompute_model
    from bcfl_env.scenario import read_scenario

    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'examples'}:{ROOT / 'tests'}:{ROOT}")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    example = _example()
    history, ledgers, info = example.loop(
        1, 4, 3, tmp_path, warmup_rounds=2, train_steps=256, train_envs=2, num_clients=10
    )
    assert [h["round"] for h in history] == [1, 2, 3, 4]
    assert all(a["time_s"] < b["time_s"] for a, b in zip(history, history[1:], strict=False))
    scenario = read_scenario(info["scenario"])
    assert scenario.config.env.num_vehicles == 10 and scenario.config.env.vehicles_per_round == 3
    assert scenario.fit["facts"]["value"]["dataset"] == "digits"
    assert Path(info["model"]).is_file()
    for ledger in ledgers:
        ok, text = audit(str(ledger), recompute_model)
        assert ok, text
    # the summary's --simulate: the seed's artefacts replayed in the simulator, beside Flower's
    import json
    import shutil

    summary = benchmark_script("flower_loop")
    kept = tmp_path / "results" / "seed1"
    kept.mkdir(parents=True)
    for file in (Path(info["scenario"]), Path(info["model"]), Path(info["model"]).parent / "manifest.json"):  # fmt: skip
        shutil.copy(file, kept / file.name)
    times = {"calibrated": {"1": 10.0}, "random": {"1": 12.5}, "oort": {"1": 8.0}, "ppo": {"1": 9.0}}  # fmt: skip
    (tmp_path / "results" / "s1.json").write_text(json.dumps({"time_to_target_s": times}))
    gaps = summary.predicted_vs_realised([tmp_path / "results" / "s1.json"], episodes=1)
    assert gaps[1]["realised"] == {"random": pytest.approx(-0.2), "oort": pytest.approx(0.25)}
    simulated = gaps[1]["simulated_s"]
    assert set(simulated) == {"random", "oort", "calibrated"}
    assert all(math.isfinite(t) and t > 0 for t in simulated.values())
    assert gaps[1]["predicted"]["random"] == pytest.approx(simulated["calibrated"] / simulated["random"] - 1)  # fmt: skip


def test_a_seeded_selector_picks_the_same_clients_when_the_federation_is_run_again(
    tmp_path, monkeypatch
):
    """Flower draws new node ids on every start; with ``identity_key`` the slots follow the
    clients' reported device ids, so a seeded random selector trains the same devices and the
    run repeats (same clock and accuracy)."""
    from agents.federation_record import read_record

    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'examples'}:{ROOT / 'tests'}:{ROOT}")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    example = _example()
    runs = []
    for attempt in range(2):
        record, strategies = tmp_path / f"record{attempt}.jsonl", []
        history = example.run(
            "random", seed=5, rounds=3, k=3, ledger_path=None, num_clients=8,
            strategies=strategies, record=record,
        )  # fmt: skip
        (strategy,) = strategies
        device = {c: int(p["device-id"]) for c, p in read_record(record).properties.items()}
        assert [device[strategy.book.by_slot[s]] for s in range(8)] == list(range(8))
        picks = [sorted(device[n] for n in h["selected"]) for h in strategy.history]
        runs.append((picks, [(h["time_s"], h["accuracy"]) for h in history], set(device)))
    (picks_a, curve_a, nodes_a), (picks_b, curve_b, nodes_b) = runs
    assert nodes_a != nodes_b  # Flower really gave new node ids
    assert picks_a == picks_b and curve_a == curve_b


def test_with_an_identity_key_a_client_without_an_identity_takes_no_slot(tmp_path, monkeypatch):
    """A client that reports no device id is never given a slot (so never selected): slots stay
    in identity order, whatever node ids Flower drew."""
    from agents.federation_record import read_record

    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'examples'}:{ROOT / 'tests'}:{ROOT}")
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    example = _example()
    record, strategies = tmp_path / "record.jsonl", []
    example.run(
        "random", seed=5, rounds=3, k=3, ledger_path=None, num_clients=8, strategies=strategies,
        record=record, client_app=make_faulty_app(5, 8, crash=-1, nan=-1, anonymous=2),
    )  # fmt: skip
    (strategy,) = strategies
    device = {c: int(p["device-id"]) for c, p in read_record(record).properties.items()}
    assert len(strategy.book.clients) == 7 == len(device)
    assert [device[strategy.book.by_slot[s]] for s in range(7)] == [0, 1, 3, 4, 5, 6, 7]
    assert all(n in device for h in strategy.history for n in h["selected"])
