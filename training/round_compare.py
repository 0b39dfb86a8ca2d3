"""One whole FL round (local training of K clients, FedAvg, central evaluation): the engine the
env uses against a plain per-client PyTorch loop with identical math, and against a Flower
simulation on the same partition and model. Same run, one torch thread on every side.

Work: digits, Dirichlet(0.5) over 100 clients, the 64-32-10 MLP, SGD lr 0.1, batch 10, one
local epoch, FedAvg weighted by samples, test accuracy after every round.

* engine: ``FLEngine.train`` (batched over K) + ``FLEngine.aggregate`` (evaluation included);
* loop: ``sequential_local_train`` (an ``nn.Module`` and ``torch.optim.SGD`` per client, the same
  mini-batches), a FedAvg over state dicts, an ``nn.Module`` evaluation; its parameters are
  asserted equal to the engine's in the same round;
* Flower: ``flwr.simulation.run_simulation`` (Ray backend, 2 CPUs), a ClientApp doing the loop's
  training on its own partition, ``FedAvg(fraction_train=K/100)``, ``evaluate_fn`` on the server;
  a round's time is the interval between two server evaluations (Ray's start-up excluded).

Engine and loop samples alternate round by round; Flower's rounds run in one simulation per K
between engine samples of the same invocation. Also: wall time of training to 90 % test accuracy
(K = 10 of 100) on all three sides.

Usage: python benchmarks/bench_round.py [--ks 10 50 100] [--rounds 5] [--json FILE] [--no-flower]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcfl_env.config import make_config
from bcfl_env.fl.engine import FLEngine
from bcfl_env.fl.evaluation import evaluate
from bcfl_env.fl.training import make_batch_plan, sequential_local_train

CLIENTS = 100
TARGET = 0.9


def engine(seed: int = 0) -> FLEngine:
    cfg = make_config(
        "iov", fl__dataset="digits", fl__model="mlp", fl__hidden=32, fl__local_epochs=1,
        fl__batch_size=10, fl__lr=0.1, fl__aggregation="fedavg", fl__partition="dirichlet",
        fl__alpha=0.5, fl__eval_every=1,
    ).fl  # fmt: skip
    return FLEngine(cfg, CLIENTS, np.random.default_rng(seed), seed, np.random.default_rng(seed))


def engine_round(eng: FLEngine, ids: np.ndarray) -> float:
    """One round through the engine; its wall time."""
    t = time.perf_counter()
    result = eng.train(ids, eng.global_params.expand(len(ids), -1).contiguous())
    eng.aggregate(result.params, result.samples, np.zeros(len(ids), dtype=np.int64))
    return time.perf_counter() - t


def loop_round(eng: FLEngine, start: torch.Tensor, ids: np.ndarray, rng: np.random.Generator) -> tuple[float, torch.Tensor, float]:  # fmt: skip
    """The same round as a plain loop from ``start``, with the batches ``rng`` draws (a copy of
    the engine's generator, so the batches are the engine's); wall time, new model, accuracy."""
    t = time.perf_counter()
    plan = make_batch_plan([eng.partition.indices[i] for i in ids], 1, 10, rng)
    trained, _ = sequential_local_train(
        eng.spec, start.expand(len(ids), -1), eng.x_train, eng.y_train, plan, eng.sgd
    )
    sizes = eng.partition.sizes[ids].astype(np.float64)
    new = torch.zeros_like(start)
    for k in range(len(ids)):  # FedAvg over the clients' models, one at a time
        new += float(sizes[k] / sizes.sum()) * trained[k]
    with torch.no_grad():
        module = eng.spec.to_module(new)
        acc = float((module(eng.x_test).argmax(1) == eng.y_test).float().mean())
    return time.perf_counter() - t, new, acc


def measure_engine_and_loop(k: int, rounds: int) -> dict[str, Any]:
    eng = engine()
    choose = np.random.default_rng(1)
    engine_s, loop_s, gaps = [], [], []
    engine_round(eng, choose.choice(CLIENTS, k, replace=False))  # warm-up
    for _ in range(rounds):
        ids = choose.choice(CLIENTS, k, replace=False)
        start, rng = eng.global_params.clone(), copy.deepcopy(eng.rng)
        engine_s.append(engine_round(eng, ids))
        seconds, new, acc = loop_round(eng, start, ids, rng)
        loop_s.append(seconds)
        gaps.append(float((new - eng.global_params).abs().max()))
        assert gaps[-1] < 1e-4, f"engine and loop disagree by {gaps[-1]}"
        assert abs(acc - eng.accuracy) < 1e-6 or gaps[-1] > 0, "accuracy differs"
    return {"engine_s": engine_s, "loop_s": loop_s, "max_param_gap": max(gaps)}


def time_to_target_engine_and_loop(k: int, max_rounds: int = 400) -> dict[str, float]:
    """Training wall time until the test accuracy first reaches TARGET (rounds included)."""
    out: dict[str, float] = {}
    eng = engine()
    choose = np.random.default_rng(2)
    total, rounds = 0.0, 0
    while eng.accuracy < TARGET and rounds < max_rounds:
        total += engine_round(eng, choose.choice(CLIENTS, k, replace=False))
        rounds += 1
    out.update(engine_s=total, engine_rounds=rounds, engine_accuracy=eng.accuracy)
    eng = engine()
    choose = np.random.default_rng(2)
    params, acc, total, rounds = eng.global_params.clone(), 0.0, 0.0, 0
    while acc < TARGET and rounds < max_rounds:
        seconds, params, acc = loop_round(eng, params, choose.choice(CLIENTS, k, replace=False), eng.rng)  # fmt: skip
        total += seconds
        rounds += 1
    out.update(loop_s=total, loop_rounds=rounds, loop_accuracy=acc)
    return out


def flower_rounds(k: int, rounds: int, until_target: bool = False) -> dict[str, Any]:
    """Round times (and accuracy) of a Flower simulation doing the same work."""
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    logging.getLogger("flwr").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        eng = _flower_engine()
        cid = int(context.node_config["partition-id"])
        idx = eng.partition.indices[cid]
        start = _flat(msg.content["arrays"])
        plan = make_batch_plan([idx], 1, 10, np.random.default_rng(cid))
        trained, _ = sequential_local_train(eng.spec, start[None], eng.x_train, eng.y_train, plan, eng.sgd)  # fmt: skip
        metrics = MetricRecord({"num-examples": len(idx)})
        return Message(RecordDict({"arrays": _record(eng, trained[0]), "metrics": metrics}), reply_to=msg)  # fmt: skip

    eng = engine()
    stamps: list[float] = []
    accuracy: list[float] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        reached: list[bool] = []

        class UntilTarget(FedAvg):  # once the target is reached, the remaining rounds are empty
            def configure_train(self, *args: Any, **kwargs: Any) -> Any:
                return [] if reached else super().configure_train(*args, **kwargs)

        def evaluate_fn(round_: int, arrays: ArrayRecord) -> MetricRecord:
            if not reached:
                acc, _ = evaluate(eng.spec, _flat(arrays)[None], eng.x_test, eng.y_test)
                stamps.append(time.perf_counter())
                accuracy.append(float(acc[0]))
                if until_target and acc[0] >= TARGET:
                    reached.append(True)
            return MetricRecord({"accuracy": accuracy[-1]})

        strategy = UntilTarget(
            fraction_train=k / CLIENTS, fraction_evaluate=0.0, min_train_nodes=k,
            min_available_nodes=CLIENTS,
        )  # fmt: skip
        strategy.start(grid, _record(eng, eng.global_params), rounds, evaluate_fn=evaluate_fn)

    run_simulation(
        server_app=server_app, client_app=client_app, num_supernodes=CLIENTS,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": 2, "include_dashboard": False}},
    )  # fmt: skip
    return {"round_s": list(np.diff(stamps)), "accuracy": accuracy}


_ENGINE: list[FLEngine] = []


def _flower_engine() -> FLEngine:
    if not _ENGINE:
        _ENGINE.append(engine())
    return _ENGINE[0]


def _flat(arrays: Any) -> torch.Tensor:
    """The engine's flat layout of a state dict (its linear weights are stored transposed)."""
    eng = _flower_engine()
    module = eng.spec.to_module(eng.global_params)
    module.load_state_dict(arrays.to_torch_state_dict())
    return eng.spec.from_module(module)


def _record(eng: FLEngine, flat: torch.Tensor) -> Any:
    from flwr.app import ArrayRecord

    return ArrayRecord(eng.spec.to_module(flat.detach()).state_dict())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-flower", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out: dict[str, Any] = {"rounds": {}, "time_to_target": {}}
    print(f"{'K':>4} {'engine ms':>10} {'loop ms':>9} {'Flower ms':>10} {'loop/engine':>12} {'Flower/engine':>14} {'max |param gap|':>16}")  # fmt: skip
    for k in args.ks:
        row = measure_engine_and_loop(k, args.rounds)
        if not args.no_flower:
            row["flower_s"] = flower_rounds(k, args.rounds + 1)["round_s"][1:]  # first: warm-up
            after = measure_engine_and_loop(k, args.rounds)  # engine samples around Flower's
            row["engine_s"] += after["engine_s"]
            row["loop_s"] += after["loop_s"]
            row["max_param_gap"] = max(row["max_param_gap"], after["max_param_gap"])
        e, lo = statistics.median(row["engine_s"]), statistics.median(row["loop_s"])
        fl = statistics.median(row["flower_s"]) if "flower_s" in row else float("nan")
        row.update(engine_median_s=e, loop_median_s=lo, flower_median_s=fl,
                   loop_over_engine=lo / e, flower_over_engine=fl / e)  # fmt: skip
        out["rounds"][str(k)] = row
        print(f"{k:>4} {e * 1e3:>10.1f} {lo * 1e3:>9.1f} {fl * 1e3:>10.1f} {lo / e:>11.1f}x {fl / e:>13.1f}x {row['max_param_gap']:>16.1e}", flush=True)  # fmt: skip
    ttt = time_to_target_engine_and_loop(10)
    if not args.no_flower:
        flower = flower_rounds(10, 400, until_target=True)
        ttt.update(flower_s=float(sum(flower["round_s"])), flower_rounds=len(flower["round_s"]),
                   flower_accuracy=flower["accuracy"][-1])  # fmt: skip
    out["time_to_target"] = ttt
    print(f"time to {TARGET:.0%} test accuracy, K=10 of {CLIENTS}: " + ", ".join(
        f"{side} {ttt[side + '_s']:.2f} s ({ttt[side + '_rounds']} rounds)"
        for side in ("engine", "loop", "flower") if side + "_s" in ttt
    ))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
