"""Hostile input, second pass: thousands of crafted inputs against every parser and checker that
takes data from outside. Each case must end in an expected outcome (a recorded rejection, a
``ValueError``/``ChainError``/``LedgerIntegrityError`` naming the problem, or acceptance of what is
valid); any other exception type, or a case slower than 10 s, is a finding.

Classes: hostile JSON in every parser (screening, the DAG, the ledger loader, the leaderboard),
deployment metrics (the deployment ledger; the global model must stay finite and the deep audit
agree), leaderboard rows (``--check``; no impossible row may pass), certificate validity (refused
or an honest run that passes its own audit) and torn checkpoints (resume falls back or refuses).

Usage: python benchmarks/hostile_input.py [--cases 4000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import bcfl_env
from agents.deployment_ledger import ClientUpdate, DeploymentLedger
from bcfl_env.chain import ChainError, Ledger, LedgerIntegrityError, PermissionedChain, Transaction
from bcfl_env.chain.audit import audit
from bcfl_env.chain.dag import Dag, DagTransaction, signers_of
from bcfl_env.config import ChainConfig
from bcfl_env.provenance import recompute_model
from training.leaderboard import check_submission

SLOW_S = 10.0
EXPECTED = (ValueError, ChainError, LedgerIntegrityError)


def hostile_json(rng: np.random.Generator) -> bytes:
    """One crafted JSON-ish byte string: deep nesting, huge or non-finite numbers, bad UTF-8,
    or random bytes flipped in a valid body."""
    kind = rng.integers(7)
    if kind == 0:
        depth = int(rng.integers(30, 20_000))
        return b"[" * depth + b"]" * depth
    if kind == 1:
        return b'{"a": 1' + b"0" * int(rng.integers(18, 5000)) + b"}"
    if kind == 2:
        return rng.choice([b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e999}', b"[1e308, 1e309]"])
    if kind == 3:
        return bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    if kind == 4:
        depth = int(rng.integers(30, 3000))
        return b'{"k": "' + b'\\"' * depth + b'", "d": ' + b"{" * depth + b"}" * depth + b"}"
    valid = bytearray(
        b'{"kind":"update","payload":{"base_model":"' + b"a" * 64 + b'","metrics":{"loss":0.5},'
        b'"params":"' + b"b" * 64 + b'","round":1,"samples":10},"sender":"veh0"}'
    )
    for _ in range(int(rng.integers(1, 6))):
        valid[int(rng.integers(len(valid)))] = int(rng.integers(256))
    return bytes(valid)


class Tally:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.findings: list[str] = []
        self.slowest = 0.0

    def run(self, name: str, case: Callable[[], str]) -> None:
        start = time.perf_counter()
        try:
            outcome = case()
        except EXPECTED as exc:
            outcome = f"refused ({type(exc).__name__})"
        except Exception as exc:  # the finding this report exists for
            outcome = f"UNEXPECTED {type(exc).__name__}"
            self.findings.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
        seconds = time.perf_counter() - start
        self.slowest = max(self.slowest, seconds)
        if seconds > SLOW_S:
            self.findings.append(f"{name}: {seconds:.1f} s (a hang)")
            outcome = "SLOW"
        self.outcomes[outcome] += 1


def parsers(cases: int, rng: np.random.Generator, work: Path) -> Tally:
    tally = Tally()
    chain = PermissionedChain(
        ChainConfig(), np.random.default_rng(0), [f"rsu{i}" for i in range(4)]
    )
    chain.genesis(["veh0", "veh1"], b"initial-model")
    dag = Dag(chain.identity("mbs"), "0" * 64)
    signers = signers_of(chain.identities)
    env = gym.make("bcfl/IoV-v1", max_rounds=3)
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    original = work / "ledger.db"
    bcfl_env.unwrap(env).ledger.save(original)
    copy = work / "hostile.db"
    rows = work / "rows.jsonl"
    targets = ("screening", "dag", "ledger cell", "leaderboard line")
    for n in range(cases):
        body = hostile_json(rng)
        target = targets[n % len(targets)]
        if target == "screening":
            tx = Transaction(body, chain.identity("veh0").sign(body))

            def screen(tx: Transaction = tx) -> str:
                candidate, _, why = chain.tasks.screen(tx, 1.0, chain.identities)
                return "accepted" if candidate is not None else f"rejected ({why})"

            tally.run(target, screen)
        elif target == "dag":
            envelope = b'{"kind":"dag_model","payload":' + body + b',"sender":"veh0"}'
            dtx = DagTransaction(envelope, chain.identity("veh0").sign(envelope))
            tally.run(target, lambda dtx=dtx: (dag.add(dtx, signers), "accepted")[1])
        elif target == "ledger cell":
            shutil.copyfile(original, copy)
            column = ("header", "qc", "signed_head")[n // len(targets) % 3]
            con = sqlite3.connect(copy)
            if column == "signed_head":
                con.execute("UPDATE meta SET value=? WHERE key='signed_head'", (body,))
            else:
                con.execute(f"UPDATE blocks SET {column}=? WHERE height=1", (body,))
            con.commit()
            con.close()
            tally.run(target, lambda: (Ledger.load(copy).verify(), "passed the audit")[1])
        else:
            rows.write_bytes(body + b"\n")
            tally.run(target, lambda: check_submission([rows], "smoke"))
    return tally


def deployment_metrics(cases: int, rng: np.random.Generator, work: Path) -> Tally:
    tally = Tally()
    values = [0, -1, 10, 10**9, 10**9 + 1, 10**39, math.nan, math.inf, -math.inf, 1e308, 0.5]
    for n in range(cases):
        path = work / f"deploy{n % 4}.sqlite"
        path.unlink(missing_ok=True)

        def case(path: Path = path) -> str:
            ledger = DeploymentLedger(
                path, verifiers=4, validate=lambda p: -float(np.abs(p).mean())
            )
            ledger.start(["c0", "c1", "c2"], np.zeros(8, dtype=np.float32))
            ledger.assign(1, ["c0", "c1", "c2"], 1.0)
            updates = []
            for client in ("c0", "c1", "c2"):
                samples = values[int(rng.integers(len(values)))]
                loss = values[int(rng.integers(len(values)))]
                params = rng.normal(0, float(rng.choice([1.0, 1e30])), 8).astype(np.float32)
                if rng.random() < 0.2:
                    params[0] = np.nan
                count = int(samples) if isinstance(samples, int) else 1
                updates.append(ClientUpdate(client, params, count, {"train-loss": float(loss)}))
            verdict = ledger.verify_round(1, updates, 2.0)
            ledger.close(3.0)
            final = ledger.global_params
            if final is None or not np.isfinite(final).all():
                raise AssertionError("the global model is not finite")
            ok, text = audit(str(path), recompute_model)
            if not ok:
                raise AssertionError(f"the deep audit disagrees: {text}")
            return f"{len(verdict.accepted)} accepted, deep audit agrees"

        tally.run("deployment", case)
    return tally


def leaderboard_rows(cases: int, rng: np.random.Generator, work: Path) -> Tally:
    tally = Tally()
    base = {
        "policy": "mine", "scenario": "iov-smoke", "seed": 1000, "return": 1.0,
        "time_to_target_s": 120.0, "rounds_to_target": 4, "final_accuracy": 0.9,
        "sim_time_s": 130.0, "rounds": 4, "energy_j": 1.0, "poisoned_accepted": 0,
        "curve": [[0.0, 0.1], [120.0, 0.9]], "max_rounds": 4, "suite_version": 1,
    }  # fmt: skip
    bad_values: list[Any] = [
        -1000.0, 0.0, -0.0, "fast", None, [], {}, True, 7.5, -1, 1000.7, "1000", 1e308,
        "a|b", "two\nlines", "x" * 500, 10**30,
    ]  # fmt: skip
    path = work / "row.jsonl"
    for _ in range(cases):
        row = dict(base)
        for _ in range(int(rng.integers(1, 3))):
            key = list(base)[int(rng.integers(len(base)))]
            row[key] = bad_values[int(rng.integers(len(bad_values)))]
        path.write_text(json.dumps(row))

        def case() -> str:
            verdict = check_submission([path], "smoke")
            impossible = (
                (
                    isinstance(row["time_to_target_s"], int | float)
                    and not isinstance(row["time_to_target_s"], bool)
                    and row["time_to_target_s"] <= 0
                )
                or not isinstance(row["policy"], str)
                or "|" in str(row["policy"])
            )
            if impossible:
                raise AssertionError(f"an impossible row passed: {row}")
            return "accepted" if verdict.startswith("OK") else verdict

        tally.run("leaderboard", case)
    return tally


def certificate_validity(cases: int, rng: np.random.Generator) -> Tally:
    tally = Tally()
    for _ in range(cases):
        validity = float(np.exp(rng.uniform(0, np.log(200.0))))

        def case(validity: float = validity) -> str:
            env = gym.make("bcfl/IoV-v1", chain__cert_validity_s=validity, max_rounds=12)
            env.reset(seed=int(rng.integers(1000)))
            for _ in range(12):
                env.step(env.action_space.sample())
            bcfl_env.unwrap(env).ledger.verify()
            return "an honest run passed its own audit"

        tally.run("certificate validity", case)
    return tally


def torn_checkpoints(cases: int, rng: np.random.Generator, work: Path) -> Tally:
    import warnings

    from training.train import train

    tally = Tally()
    whole = train(
        "ppo", "bcfl/IoV-v1", 256, 0, 1, {"max_rounds": 8}, work / "runs", checkpoint_every=128,
        hyperparams={"n_steps": 64, "batch_size": 64}, keep_checkpoints=2,
    )  # fmt: skip
    files = [p for p in whole.rglob("*") if p.is_file() and p.suffix in (".npz", ".json", ".zip")]
    for n in range(cases):
        torn = work / f"torn{n}"
        shutil.copytree(whole, torn)
        victim = torn / files[int(rng.integers(len(files)))].relative_to(whole)
        data = victim.read_bytes()
        victim.write_bytes(data[: int(rng.integers(len(data)))])

        def case(torn: Path = torn) -> str:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                train("ppo", "bcfl/IoV-v1", None, 0, 1, {}, work / "runs", resume=torn)
            return "resumed"

        tally.run("torn checkpoint", case)
        shutil.rmtree(torn, ignore_errors=True)
    return tally


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=4000, help="cases of the parser class")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    results = []
    with tempfile.TemporaryDirectory(prefix="bcfl-hostile-") as tmp:
        work = Path(tmp)
        for name, make in (
            ("hostile JSON in every parser", lambda: parsers(args.cases, rng, work)),
            (
                "deployment metrics",
                lambda: deployment_metrics(max(args.cases // 20, 10), rng, work),
            ),
            ("leaderboard rows", lambda: leaderboard_rows(max(args.cases // 4, 10), rng, work)),
            ("certificate validity", lambda: certificate_validity(max(args.cases // 200, 5), rng)),
            ("torn checkpoints", lambda: torn_checkpoints(max(args.cases // 400, 3), rng, work)),
        ):
            start = time.perf_counter()
            tally = make()
            results.append({
                "class": name, "cases": sum(tally.outcomes.values()),
                "outcomes": dict(tally.outcomes), "findings": tally.findings,
                "slowest_s": tally.slowest, "seconds": time.perf_counter() - start,
            })  # fmt: skip
            print(f"{name}: {results[-1]['cases']} cases, {len(tally.findings)} findings, "
                  f"{results[-1]['seconds']:.0f} s", flush=True)  # fmt: skip
            for finding in tally.findings[:10]:
                print("  " + finding, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
