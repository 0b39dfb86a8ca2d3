"""A selector for a Flower federation: trained on a simulator calibrated to that federation.

The federation: ``flwr.simulation.run_simulation`` on sklearn's digits split over 100 clients
with non-IID labels (Dirichlet 0.5), whose clients really differ in speed: each one's CPU is
log-normal (median 1.5 GHz, log sigma 0.6, clipped to [0.2, 6] GHz) and its uplink log-normal
(median 2 Mbit/s, log sigma 1.0, clipped to [0.1, 100] Mbit/s), a round trip is its samples x 2
epochs x 2e7 cycles over its CPU plus its update's bits over its uplink, on a simulated clock
each reply reports; and a selected client crashes (an error reply) with probability 0.05.

The main path (policy ``calibrated``, :func:`loop`): a warm-up of 5 rounds with a seeded random
selector records what the server sees (``SelectorStrategy(record=...)``), ``bcfl calibrate``
fits a scenario to that record, the shipped IoV-trained selector is fine-tuned on it (PPO with
the SlotSetPolicy, 48k steps on ``bcfl/Custom-v1``'s native vector env; ``--init-from none``
trains from scratch instead), and the same federation continues with the trained selector,
resumed from the record. Its time to the target counts the warm-up. It is compared, on the same seeds, with

* a seeded uniform ``random`` selector behind :class:`agents.flower.SelectorStrategy`,
* Oort (Lai et al., OSDI 2021) behind the same strategy,
* ``ppo``: the shipped selector trained on IoV-v1 (``agents/models/ppo-iov-v1.zip``),
* optionally Flower's own ``FedAvg`` sampling (``flower-random``, unseeded),

every run through the strategy writing a bcfl ledger (tasks, signed updates, the verifiers'
ballots and verdicts, aggregations) that ``bcfl audit --deep`` then verifies, and prints the
simulated time each takes to reach the target accuracy. ``benchmarks/flower_loop.py`` summarises
many seeds (paired differences with bootstrap intervals).

Run: ``.venv/bin/python examples/flower_selector.py --seeds 0 1 2`` (after ``make test``, which
installs the ``flower`` extra; about 25 minutes per seed with two seeds sharing 2 cores, most of
it the training);
``--help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from agents.deployment_ledger import DeploymentLedger
from agents.flower import SelectorStrategy
from agents.registry import SELECTORS
from agents.server_observation import ServerScales
from bcfl_env.fl.data import load_dataset
from bcfl_env.fl.partition import partition
from bcfl_env.scenario import load_scenario

NUM_CLIENTS = 100
TRAIN_STEPS, TRAIN_ENVS = 48000, 4  # the loop's fine-tuning budget and worlds per call
LOCAL_EPOCHS = 2
BATCH = 8
LR = 0.1
CYCLES_PER_SAMPLE = 2e7  # a vehicle-class CPU spends ~ 10 ms per sample and epoch at 2 GHz
# The federation's stated distributions (per client, drawn once per seed):
CPU_MEDIAN_HZ, CPU_LOG_SIGMA = 1.5e9, 0.6  # log-normal, clipped to [0.2, 6] GHz
UPLINK_MEDIAN_BPS, UPLINK_LOG_SIGMA = 2e6, 1.0  # log-normal, clipped to [0.1, 100] Mbit/s
FAILURE_PROB = 0.05  # a selected client crashes (an error reply) with this chance, per round
# How the server knows its clients, for every strategy of a run: by the device id they report
# (Flower's node ids change on every start), once all have connected; it waits up to 300 s for
# them and their property replies (a simulated client's first reply waits for its Ray worker
# to start, which on a busy machine takes a minute).
QUERY_TIMEOUT_S = 300.0


def client_identity(num_clients: int) -> dict[str, Any]:
    """SelectorStrategy's arguments that make a run repeat: slots by device id, all connected."""
    return {"identity_key": "device-id", "min_clients": num_clients, "query_timeout_s": QUERY_TIMEOUT_S}  # fmt: skip


FACTS = {  # what the operator knows and states in the record (bcfl calibrate takes it as given)
    "dataset": "digits", "partition": "dirichlet", "model": "mlp", "hidden": 32,
    "local_epochs": LOCAL_EPOCHS, "batch_size": BATCH, "lr": LR,
}  # fmt: skip


# --------------------------------------------------------------------------- the federation
def federation(seed: int, num_clients: int = NUM_CLIENTS) -> dict[str, Any]:
    """Data, partition and each client's simulated hardware (the same in every process)."""
    rng = np.random.default_rng(seed)
    data = load_dataset("digits", rng)
    parts = partition(data.y_train, num_clients, rng, "dirichlet", alpha=0.5, quantity_sigma=1.0)
    cpu_hz = np.clip(rng.lognormal(np.log(CPU_MEDIAN_HZ), CPU_LOG_SIGMA, num_clients), 2e8, 6e9)
    uplink_bps = np.clip(
        rng.lognormal(np.log(UPLINK_MEDIAN_BPS), UPLINK_LOG_SIGMA, num_clients), 1e5, 1e8
    )
    return {"data": data, "parts": parts.indices, "cpu_hz": cpu_hz, "uplink_bps": uplink_bps}


_CACHE: dict[tuple[int, int], dict[str, Any]] = {}


def _federation(seed: int, num_clients: int) -> dict[str, Any]:
    if (seed, num_clients) not in _CACHE:
        _CACHE[seed, num_clients] = federation(seed, num_clients)
    return _CACHE[seed, num_clients]


def model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )


def to_arrays(net: torch.nn.Module) -> ArrayRecord:
    return ArrayRecord(net.state_dict())


def load_arrays(net: torch.nn.Module, arrays: ArrayRecord) -> None:
    net.load_state_dict(arrays.to_torch_state_dict())


def accuracy(net: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((net(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


# --------------------------------------------------------------------------- clients
def make_client_app(seed: int, num_clients: int = NUM_CLIENTS) -> ClientApp:
    """The clients of federation ``seed``: client i holds partition i and its simulated hardware."""
    app = ClientApp()

    def client(context: Context) -> tuple[int, dict[str, Any]]:
        return int(context.node_config["partition-id"]), _federation(seed, num_clients)

    @app.query()
    def properties(msg: Message, context: Context) -> Message:
        """What a client reports about itself: sample count, expected uplink rate, identity."""
        cid, fed = client(context)
        return Message(client_properties(fed, cid), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        cid, fed = client(context)
        if crashes(seed, cid, msg.content["arrays"]):
            reason = "client crashed (simulated)"
            return Message(error=Error(ErrorCode.CLIENT_APP_CRASHED, reason), reply_to=msg)
        return Message(local_training(fed, cid, msg.content["arrays"], seed), reply_to=msg)

    return app


def crashes(seed: int, cid: int, arrays: ArrayRecord) -> bool:
    """Whether client ``cid`` crashes on this task: a draw keyed by the seed, the client and the
    model it received (a new model every round), so reruns repeat it."""
    key = zlib.crc32(next(iter(arrays.values())).numpy().tobytes())
    return bool(np.random.default_rng([seed, cid, key]).random() < FAILURE_PROB)


def client_properties(fed: dict[str, Any], cid: int) -> RecordDict:
    """What client ``cid`` reports about itself: its sample count, expected uplink rate and a
    stable identity (Flower's node ids change on every start; the device id does not)."""
    props = {"num-examples": len(fed["parts"][cid]), "uplink-bps": float(fed["uplink_bps"][cid]),
             "device-id": cid}  # fmt: skip
    return RecordDict({"properties": MetricRecord(props)})


def local_training(fed: dict[str, Any], cid: int, arrays: ArrayRecord, seed: int) -> RecordDict:
    """Client ``cid``'s local SGD from the received model, with its simulated round trip."""
    idx = fed["parts"][cid]
    x = torch.from_numpy(fed["data"].x_train[idx])
    y = torch.from_numpy(fed["data"].y_train[idx])
    torch.manual_seed(seed * 100_003 + cid)
    net = model()
    load_arrays(net, arrays)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    losses = []
    for _ in range(LOCAL_EPOCHS):
        for batch in torch.randperm(len(idx)).split(BATCH):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    bits = 32 * sum(p.numel() for p in net.parameters())
    duration = (
        len(idx) * LOCAL_EPOCHS * CYCLES_PER_SAMPLE / fed["cpu_hz"][cid]
        + bits / fed["uplink_bps"][cid]
    )
    metrics = MetricRecord(
        {"num-examples": len(idx), "train-loss": float(np.mean(losses)), "duration-s": duration}
    )
    return RecordDict({"arrays": to_arrays(net), "metrics": metrics})


# --------------------------------------------------------------------------- server
def timed_fedavg(k: int, num_clients: int) -> FedAvg:
    """Flower's FedAvg with its own uniform sampling of K clients; the round lasts as long as
    its slowest reply (read from the replies' simulated durations)."""

    def slowest(replies: list[RecordDict], weighted_by_key: str) -> MetricRecord:
        return MetricRecord(
            {"round-s": max(float(r["metrics"]["duration-s"]) for r in replies)}  # type: ignore[arg-type]
        )

    return FedAvg(
        fraction_train=k / num_clients, fraction_evaluate=0.0, min_train_nodes=k,
        min_available_nodes=num_clients, train_metrics_aggr_fn=slowest,
    )  # fmt: skip


def run(
    policy: str | Path, seed: int, rounds: int, k: int, ledger_path: Path | None,
    num_clients: int = NUM_CLIENTS, target: float = 0.8, client_app: ClientApp | None = None,
    strategies: list[SelectorStrategy] | None = None, record: Path | None = None,
    then: Callable[[], tuple[Path, int, Path | None, Path]] | None = None,
    horizon: int | None = None,
) -> list[dict[str, float]]:  # fmt: skip
    """One Flower simulation; the accuracy and simulated clock after every round (the strategy
    is appended to ``strategies`` when given). ``policy`` is a selector's name or a model file;
    ``record`` writes what the server saw. ``then``, called once the rounds are done, returns
    (model file, rounds, ledger, scenario): the same federation (same clients, same model)
    continues with that selector, which resumes from the record and reads the server on the
    scenario's scales. ``horizon``: the rounds the whole federation runs (default ``rounds``),
    stated in the record's facts."""
    fed = _federation(seed, num_clients)
    data = fed["data"]
    history: list[dict[str, float]] = []
    torch.manual_seed(seed)
    initial = to_arrays(model())
    layout_net = model()

    def evaluate(round_: int, arrays: ArrayRecord) -> MetricRecord:
        load_arrays(layout_net, arrays)
        return MetricRecord({"accuracy": accuracy(layout_net, data.x_test, data.y_test)})

    def validate(flat: np.ndarray) -> float:  # the verifiers' score: the server's validation split
        from agents.flower import unflatten

        load_arrays(layout_net, unflatten(flat, layout))
        return accuracy(layout_net, data.x_val, data.y_val)

    from agents.flower import flatten

    _, layout = flatten(initial)
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        if policy == "flower-random":
            strategy = timed_fedavg(k, num_clients)
            result = strategy.start(grid, initial, rounds, evaluate_fn=evaluate)
            clock = 0.0
            for r in range(1, rounds + 1):
                clock += float(result.train_metrics_clientapp[r]["round-s"])  # type: ignore[arg-type]
                acc = float(result.evaluate_metrics_serverapp[r]["accuracy"])  # type: ignore[arg-type]
                history.append({"round": r, "time_s": clock, "accuracy": acc})
            return
        ledger = (
            DeploymentLedger(ledger_path, validate=validate, seed=seed) if ledger_path else None
        )
        scales = ServerScales(epoch_s=5.0, max_rounds=rounds, time_budget_s=600.0, uplink_scale_bps=2e7, target_accuracy=target)  # fmt: skip
        selector = SelectorStrategy(
            "shipped" if policy == "ppo" else policy, clients_per_round=k,
            num_slots=num_clients, scales=scales, ledger=ledger, seed=seed,
            record=record, **client_identity(num_clients),
            facts={**FACTS, "target_accuracy": target, "max_rounds": horizon or rounds},
        )  # fmt: skip
        if strategies is not None:
            strategies.append(selector)
        result = selector.start(grid, initial, rounds, evaluate_fn=evaluate)
        history.extend({k_: v for k_, v in h.items() if k_ != "selected"} for h in selector.history)
        if then is None:
            return
        assert record is not None, "continuing needs the record the selector resumes from"
        trained, more, ledger_path2, scenario = then()
        ledger2 = DeploymentLedger(ledger_path2, validate=validate, seed=seed) if ledger_path2 else None  # fmt: skip
        successor = SelectorStrategy(
            trained, clients_per_round=k, num_slots=num_clients, seed=seed, ledger=ledger2,
            scales=ServerScales.for_config(load_scenario(scenario)), history=record,
            **client_identity(num_clients),
        )  # fmt: skip
        if strategies is not None:
            strategies.append(successor)
        successor.start(grid, result.arrays, more, evaluate_fn=evaluate)
        history.extend(
            {k_: v for k_, v in h.items() if k_ != "selected"} for h in successor.history
        )

    run_simulation(
        server_app=server_app, client_app=client_app or make_client_app(seed, num_clients), num_supernodes=num_clients,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": 2, "include_dashboard": False}},
    )  # fmt: skip
    return history


def loop(
    seed: int, rounds: int, k: int, workdir: Path, *, warmup_rounds: int = 5,
    warmup_policy: str = "random", train_steps: int = TRAIN_STEPS, train_envs: int = TRAIN_ENVS,
    target: float = 0.8, num_clients: int = NUM_CLIENTS, init_from: str | None = "shipped",
) -> tuple[list[dict[str, float]], list[Path], dict[str, Any]]:  # fmt: skip
    """The deployment loop: a warm-up of ``warmup_rounds`` with a baseline that records what
    the server sees, a scenario calibrated to that record, a selector trained on it (PPO with
    the SlotSetPolicy on the native vector env; by default the shipped IoV selector fine-tuned,
    ``init_from=None`` trains from scratch), and the federation continued with it.

    Returns the whole run's history (warm-up rounds included: their time counts), its ledgers,
    and what the loop did (record, scenario, model, the fit, wall times).
    """
    import time as wall

    from training.calibrate import calibrate_file
    from training.train import train

    folder = workdir / f"loop-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    record, scenario = folder / "record.jsonl", folder / "scenario.yaml"
    ledgers = [folder / "warmup.sqlite", folder / "continued.sqlite"]
    for ledger in ledgers:
        ledger.unlink(missing_ok=True)
    info: dict[str, Any] = {"record": str(record), "scenario": str(scenario)}

    def calibrate_and_train() -> tuple[Path, int, Path | None, Path]:
        started = wall.time()
        info["fit"] = calibrate_file(record, scenario, seed=seed).fit
        calibrated = wall.time()
        model_dir = train(
            "ppo", "bcfl/Custom-v1", train_steps, seed, train_envs, {"scenario": str(scenario)},
            folder / "runs", progress=False, init_from=init_from,
        )  # fmt: skip
        info.update(model=str(Path(model_dir) / "model.zip"), calibrate_wall_s=calibrated - started,
                    train_wall_s=wall.time() - calibrated, init_from=init_from)  # fmt: skip
        return Path(model_dir) / "model.zip", rounds - warmup_rounds, ledgers[1], scenario

    history = run(
        warmup_policy, seed, warmup_rounds, k, ledgers[0], num_clients, target, record=record,
        then=calibrate_and_train, horizon=rounds,
    )  # fmt: skip
    return history, ledgers, info


def time_to_target(history: list[dict[str, float]], target: float) -> tuple[float, float]:
    """Simulated time and rounds until the accuracy first reaches ``target`` (inf: never)."""
    return next(
        ((h["time_s"], h["round"]) for h in history if h["accuracy"] >= target),
        (math.inf, math.inf),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--clients-per-round", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--policies", nargs="+", default=["calibrated", "random", "oort", "ppo"],
                        choices=["calibrated", "flower-random", "ppo", *sorted(set(SELECTORS) - {"favor", "planner"})],
                        help="calibrated: the loop (warm-up, calibrate, train, continue); ppo: the "
                        "shipped selector trained on IoV-v1")  # fmt: skip
    parser.add_argument("--warmup-rounds", type=int, default=5, help="the loop's warm-up rounds")
    parser.add_argument("--warmup-policy", default="random", help="the loop's warm-up selector")
    parser.add_argument(
        "--train-steps", type=int, default=TRAIN_STEPS, help="the loop's PPO budget"
    )
    parser.add_argument(
        "--train-envs", type=int, default=TRAIN_ENVS, help="the loop's worlds per call"
    )
    parser.add_argument("--init-from", default="shipped",
                        help="the loop's starting weights: 'shipped' (fine-tune the IoV-trained "
                        "selector), a model file, or 'none' (train from scratch)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the runs' ledgers go (default: a new temporary folder)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.getLogger("flwr").setLevel(logging.WARNING)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bcfl-flower-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, float]] = {p: {} for p in args.policies}
    rounds: dict[str, dict[int, float]] = {p: {} for p in args.policies}
    finals: dict[str, dict[int, float]] = {p: {} for p in args.policies}
    ledgers: list[Path] = []
    loops: dict[int, dict[str, Any]] = {}
    for seed in args.seeds:
        for policy in args.policies:
            if policy == "calibrated":
                history, made, loops[seed] = loop(
                    seed, args.rounds, args.clients_per_round, workdir,
                    warmup_rounds=args.warmup_rounds, warmup_policy=args.warmup_policy,
                    train_steps=args.train_steps, train_envs=args.train_envs, target=args.target,
                    init_from=None if args.init_from == "none" else args.init_from,
                )  # fmt: skip
                ledgers += made
                results[policy][seed], rounds[policy][seed] = time_to_target(history, args.target)
                finals[policy][seed] = history[-1]["accuracy"] if history else 0.0
                print(f"seed {seed} {policy:>13}: time to {args.target:.0%} {results[policy][seed]:7.1f} s "
                      f"(warm-up of {args.warmup_rounds} rounds with {args.warmup_policy} included), in "
                      f"{rounds[policy][seed]} rounds, final accuracy {finals[policy][seed]:.3f}; "
                      f"calibrate + train {loops[seed]['calibrate_wall_s'] + loops[seed]['train_wall_s']:.0f} s wall", flush=True)  # fmt: skip
                continue
            ledger = None
            if policy != "flower-random":  # every run through SelectorStrategy keeps a ledger
                ledger = workdir / f"{policy}-seed{seed}.sqlite"
                ledger.unlink(missing_ok=True)
                ledgers.append(ledger)
            history = run(
                policy, seed, args.rounds, args.clients_per_round, ledger, target=args.target
            )
            results[policy][seed], rounds[policy][seed] = time_to_target(history, args.target)
            finals[policy][seed] = history[-1]["accuracy"] if history else 0.0
            print(f"seed {seed} {policy:>13}: time to {args.target:.0%} {results[policy][seed]:7.1f} s, "
                  f"in {rounds[policy][seed]} rounds, final accuracy {finals[policy][seed]:.3f}", flush=True)  # fmt: skip
    print(f"\nTime to {args.target:.0%} test accuracy on digits, {NUM_CLIENTS} Flower clients, "
          f"K={args.clients_per_round}, {args.rounds} rounds (simulated seconds; inf: not reached)")  # fmt: skip
    print(f"{'policy':>14} | " + " | ".join(f"seed {s:>2}" for s in args.seeds) + " | median | vs Flower random | median rounds | median s/round")  # fmt: skip
    base = float(np.median(list(results.get("flower-random", {}).values()) or [math.nan]))
    for policy in args.policies:
        values = [results[policy][s] for s in args.seeds]
        median = float(np.median(values))
        delta = (
            f"{(median / base - 1) * 100:+.1f} %"
            if math.isfinite(base) and math.isfinite(median)
            else "n/a"
        )
        r = float(np.median([rounds[policy][s] for s in args.seeds]))
        per_round = float(np.median([results[policy][s] / rounds[policy][s] for s in args.seeds]))
        print(f"{policy:>14} | " + " | ".join(f"{v:7.1f}" for v in values) + f" | {median:6.1f} | {delta:>15} | {r:13.1f} | {per_round:15.2f}")  # fmt: skip
    status = 0
    for ledger in ledgers:
        from bcfl_env.chain.audit import audit
        from bcfl_env.provenance import recompute_model

        ok, text = audit(str(ledger), recompute_model)
        print(f"\nbcfl audit --deep {ledger}:\n{text}")
        status |= 0 if ok else 1
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "time_to_target_s": results,
                    "rounds_to_target": rounds,
                    "final_accuracy": finals,
                    "loops": loops,
                    "audits_passed": status == 0,
                },
                indent=1,
                default=str,
            )
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
