"""``make reliability``: attack the product and write ``benchmarks/RELIABILITY.md``.

Sections: Hypothesis fuzzing (``benchmarks/fuzz.py``), hostile input (``benchmarks/
hostile_input.py``: hostile JSON in every parser, deployment metrics, leaderboard rows,
certificate validity, torn checkpoints), ledger mutations (single flipped bits of the
stored bytes, row edits, truncation, rollback), protocol attacks (the test modules in which a
colluding quorum, a lying MBS, a forger who knows the seed or a hostile vehicle acts through the
protocol), the adversary sweep (``benchmarks/bench_adversary.py``, as shipped and defended by the
label screen plus the reputation contract), and kill -9 during training and during ledger saves.

Usage: python benchmarks/reliability.py [--fuzz-cases 10000] [--hostile-cases 4000]
       [--mutations 2000] [--kills 10]
       [--out benchmarks/RELIABILITY.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _run(args: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------ fuzzing
def fuzzing(cases: int, work: Path) -> str:
    out = work / "fuzz.json"
    res = _run(["benchmarks/fuzz.py", "--cases", str(cases), "--json", str(out)])
    results = json.loads(out.read_text())
    lines = [
        "| target | cases | outcomes | unexpected exception types | hangs | time [s] |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        unexpected = sorted(
            k.removeprefix("UNEXPECTED ") for k in r["outcomes"] if "UNEXPECTED" in k
        )
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        lines.append(
            f"| {r['target']} | {r['cases']} | {outcomes} | {', '.join(unexpected) or 'none'} | "
            f"{r['outcomes'].get('HANG', 0)} | {r['seconds']:.0f} |"
        )
    total = sum(r["cases"] for r in results)
    findings = sum(len(r["findings"]) for r in results)
    lines.append(f"\n{total} cases, {findings} findings (exit {res.returncode}).")
    if findings:
        lines += ["", "```", *res.stdout.splitlines()[-20:], "```"]
    return "\n".join(lines)


# ------------------------------------------------------------------ hostile input, second pass
def hostile_input(cases: int, work: Path) -> str:
    out = work / "hostile.json"
    res = _run(["benchmarks/hostile_input.py", "--cases", str(cases), "--json", str(out)])
    results = json.loads(out.read_text())
    lines = [
        "`python benchmarks/hostile_input.py --cases N`: crafted inputs against every parser and "
        "checker that takes data from outside. Expected outcomes are recorded rejections, "
        "one-line `ValueError`/`ChainError`/`LedgerIntegrityError`s, or acceptance of what is "
        "valid; deployment cases also require a finite global model that the deep audit agrees "
        "with, leaderboard cases that no impossible row passes, certificate cases an honest run "
        "that passes its own audit whenever the config is accepted.",
        "",
        "| class | cases | outcomes | unexpected exception types | hangs (> 10 s) | slowest case [s] | time [s] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        unexpected = sorted(
            k.removeprefix("UNEXPECTED ") for k in r["outcomes"] if k.startswith("UNEXPECTED")
        )
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        lines.append(
            f"| {r['class']} | {r['cases']} | {outcomes} | {', '.join(unexpected) or 'none'} | "
            f"{r['outcomes'].get('SLOW', 0)} | {r['slowest_s']:.2f} | {r['seconds']:.0f} |"
        )
    total = sum(r["cases"] for r in results)
    findings = [f for r in results for f in r["findings"]]
    lines.append(f"\n{total} cases, {len(findings)} findings (exit {res.returncode}).")
    if findings:
        lines += ["", "```", *findings[:20], "```"]
    return "\n".join(lines)


# ------------------------------------------------------------------ ledger mutations
def _episode_ledger(path: Path, rounds: int, earlier: Path | None = None) -> Any:
    import gymnasium as gym

    import bcfl_env  # noqa: F401

    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0)
    env.reset(seed=0)
    env.action_space.seed(0)
    for r in range(rounds):
        env.step(env.action_space.sample())
        if earlier is not None and r == rounds // 2:
            env.unwrapped.ledger.save(earlier)  # type: ignore[attr-defined]
    ledger = env.unwrapped.ledger  # type: ignore[attr-defined]
    ledger.save(path)
    return ledger


def _detected(path: Path, **audit_args: Any) -> bool:
    from bcfl_env.chain.audit import audit

    ok, _ = audit(path, **audit_args)
    return not ok


def _edit(original: Path, copy: Path, sql: list[tuple[str, tuple[Any, ...]]]) -> None:
    shutil.copyfile(original, copy)
    con = sqlite3.connect(copy)
    for statement, params in sql:
        con.execute(statement, params)
    con.commit()
    con.close()


def ledger_mutations(samples: int, work: Path) -> str:
    original, earlier = work / "ledger.sqlite", work / "earlier.sqlite"
    ledger = _episode_ledger(original, 8, earlier)
    copy = work / "mutant.sqlite"
    con = sqlite3.connect(original)
    cells = []  # (table, column, rowid, length)
    for table, column in (("blocks", "header"), ("blocks", "qc"), ("txs", "body"),
                          ("txs", "signature"), ("meta", "value"), ("models", "data")):  # fmt: skip
        for rowid, length in con.execute(f"SELECT rowid, length({column}) FROM {table}"):
            cells.append((table, column, rowid, length))
    con.close()
    total_bytes = sum(c[3] for c in cells)
    rng = random.Random(0)
    by_table: dict[str, list[int]] = {}
    kinds = sorted({(c[0], c[1]) for c in cells})
    for i in range(samples):
        # stratified: every kind of cell gets its share, a byte drawn uniformly within the kind
        kind = kinds[i % len(kinds)]
        of_kind = [c for c in cells if (c[0], c[1]) == kind and c[3]]
        weights = [c[3] for c in of_kind]
        table, column, rowid, length = rng.choices(of_kind, weights)[0]
        pick = rng.randrange(length)
        con = sqlite3.connect(original)
        (blob,) = con.execute(f"SELECT {column} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
        con.close()
        data = bytearray(blob)
        data[pick] ^= 1 << rng.randrange(8)
        _edit(
            original, copy, [(f"UPDATE {table} SET {column}=? WHERE rowid=?", (bytes(data), rowid))]
        )
        counts = by_table.setdefault(f"{table}.{column}", [0, 0])
        counts[0] += 1
        counts[1] += _detected(copy)
    lines = [
        f"Ledger of an 8-round IoV episode: {ledger.height + 1} blocks, {len(cells)} stored cells, "
        f"{total_bytes:,} bytes. {samples} single-bit flips, an equal share per kind of cell, "
        "each at a uniformly drawn byte of that kind:",
        "",
        "| cell | mutations | detected |",
        "|---|---|---|",
    ]
    for name, (n, d) in sorted(by_table.items()):
        lines.append(f"| {name} | {n} | {d} ({d / n:.0%}) |")
    flips = sum(v[0] for v in by_table.values())
    caught = sum(v[1] for v in by_table.values())
    lines.append(f"| all | {flips} | {caught} ({caught / flips:.1%}) |")

    height = ledger.height
    edits = {
        "delete one transaction of block 3": [("DELETE FROM txs WHERE height=3 AND idx=1", ())],
        "swap two transactions of block 2": [
            ("UPDATE txs SET idx=-1 WHERE height=2 AND idx=0", ()),
            ("UPDATE txs SET idx=0 WHERE height=2 AND idx=1", ()),
            ("UPDATE txs SET idx=1 WHERE height=2 AND idx=-1", ()),
        ],
        "move a transaction to another block": [
            ("UPDATE txs SET height=4, idx=999 WHERE height=3 AND idx=1", ())
        ],
        "delete a middle block and its transactions": [
            ("DELETE FROM blocks WHERE height=4", ()),
            ("DELETE FROM txs WHERE height=4", ()),
        ],
        "replace a block's quorum certificate by another block's": [
            ("UPDATE blocks SET qc=(SELECT qc FROM blocks WHERE height=2) WHERE height=3", ())
        ],
        "delete the signed head": [("DELETE FROM meta WHERE key='signed_head'", ())],
        "truncate: delete the last block and its transactions": [
            (f"DELETE FROM blocks WHERE height={height}", ()),
            (f"DELETE FROM txs WHERE height={height}", ()),
        ],
        "truncate the last 3 blocks": [
            (f"DELETE FROM blocks WHERE height>{height - 3}", ()),
            (f"DELETE FROM txs WHERE height>{height - 3}", ()),
        ],
        "truncate the last 3 blocks and delete the signed head": [
            (f"DELETE FROM blocks WHERE height>{height - 3}", ()),
            (f"DELETE FROM txs WHERE height>{height - 3}", ()),
            ("DELETE FROM meta WHERE key='signed_head'", ()),
        ],
        "delete every block": [("DELETE FROM blocks", ()), ("DELETE FROM txs", ())],
    }
    lines += [
        "",
        "Row edits, truncation and rollback (`bcfl audit`; with the head hash or height an auditor "
        "knows out of band where said):",
        "",
        "| edit | plain audit | with --expect-head / --min-height |",
        "|---|---|---|",
    ]
    known = {"expect_head": ledger.head_hash, "min_height": height}
    for name, sql in edits.items():
        _edit(original, copy, sql)
        plain, informed = _detected(copy), _detected(copy, **known)
        lines.append(
            f"| {name} | {'detected' if plain else 'passes'} | "
            f"{'detected' if informed else 'passes'} |"
        )
    plain, informed = _detected(earlier), _detected(earlier, **known)
    lines.append(
        f"| rollback: an intact earlier save of the same chain | "
        f"{'detected' if plain else 'passes (a genuine earlier state)'} | "
        f"{'detected' if informed else 'passes'} |"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------ protocol attacks
PROTOCOL_TESTS = [
    "tests/test_chain_audit.py", "tests/test_keys.py", "tests/test_consensus_bft.py",
    "tests/test_chain.py", "tests/test_screening.py", "tests/test_safe_loading.py",
    "tests/test_hostile_input.py", "tests/test_deployment_hostile.py",
    "tests/test_consensus_extension.py",
]  # fmt: skip


def protocol_attacks(work: Path) -> str:
    report = work / "protocol.xml"
    _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *PROTOCOL_TESTS])
    cases = ET.parse(report).getroot().iter("testcase")
    rows, passed, total = [], 0, 0
    for case in cases:
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        total += 1
        passed += not failed and not skipped
        module = case.get("classname", "").rsplit(".", 1)[-1]
        rows.append(
            f"| {module} | {case.get('name')} | {'FAILED' if failed else 'skipped' if skipped else 'held'} |"
        )
    return "\n".join(
        [
            f"{passed} of {total} held. Each is a test that attacks through the protocol (a "
            "colluding quorum re-signing history, a lying MBS, an equivocating leader, a forger "
            "who knows the seed, hostile update payloads, poisoned updates, booby-trapped model "
            "and checkpoint files) or checks the honest path the attacks are measured against.",
            "",
            "| module | test | result |",
            "|---|---|---|",
            *rows,
        ]
    )


# ------------------------------------------------------------------ adversary sweep
def adversary_sweep() -> str:
    parts = []
    defended = ["--set", "chain__contract_rules=True", "chain__label_screen=True"]
    for title, extra in (
        ("IoV preset as shipped", []),
        ("defended: label screen plus reputation contract (`chain__contract_rules=True chain__label_screen=True`)", defended),
        ("defended, the faulty member accepting everything", ["--faulty-behaviour", "always_accept", *defended]),
    ):  # fmt: skip
        res = _run(["benchmarks/bench_adversary.py", *extra])
        parts += [f"**{title}**", "", res.stdout.strip(), ""]
    return "\n".join(parts)


# ------------------------------------------------------------------ kill -9
def _params(zip_path: Path) -> dict[str, Any]:
    import io
    import zipfile

    import torch

    with zipfile.ZipFile(zip_path) as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


TRAIN = ["-m", "training.cli", "train", "--timesteps", "1536", "--checkpoint-every", "256",
         "--hyperparams", "n_steps=128", "batch_size=64", "--env-kwargs", "max_rounds=8",
         "--no-progress"]  # fmt: skip


def kill_training(trials: int, work: Path) -> str:
    import torch

    whole = work / "whole"
    _run([*TRAIN, "--runs-dir", str(whole)])
    reference = _params(next(whole.iterdir()) / "model.zip")
    rng = random.Random(1)
    rows, identical = [], 0
    for trial in range(trials):
        runs = work / f"killed{trial}"
        proc = subprocess.Popen([sys.executable, *TRAIN, "--runs-dir", str(runs)], cwd=ROOT, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 600
        while not list(runs.glob("*/checkpoints/*.zip")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = next(runs.iterdir())
        res = _run(["-m", "training.cli", "train", "--resume", str(run), "--no-progress"])
        same = res.returncode == 0 and all(
            torch.equal(reference[k], v) for k, v in _params(run / "model.zip").items()
        )
        identical += same
        kept = sorted(p.name for p in (run / "checkpoints").glob("*.zip"))
        rows.append(
            f"| {trial} | {kept[-1] if kept else '-'} | {res.returncode} | {'yes' if same else 'NO'} |"
        )
    return "\n".join(
        [
            f"`bcfl train` (1,536 PPO steps, a checkpoint every 256) killed with SIGKILL at a random "
            f"moment after its first checkpoint, then `--resume`d: {identical} of {trials} ended "
            "with policy parameters bit-identical to the uninterrupted run.",
            "",
            "| trial | newest checkpoint at the kill | resume exit | identical |",
            "|---|---|---|---|",
            *rows,
        ]
    )


WRITER = """
import sys
from pathlib import Path
import gymnasium as gym
import bcfl_env
path = Path(sys.argv[1])
env = gym.make("bcfl/IoV-v1", max_rounds=400, target_accuracy=1.0, chain__key_source="seed")
env.reset(seed=0)
env.action_space.seed(0)
for _ in range(400):
    env.step(env.action_space.sample())
    env.unwrapped.ledger.save(path)
"""


def kill_ledger_saves(trials: int, work: Path) -> str:
    from bcfl_env.chain import Ledger, LedgerIntegrityError

    rng = random.Random(2)
    rows, intact = [], 0
    for trial in range(trials):
        path = work / f"saved{trial}.sqlite"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 300
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 3.0))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            height = Ledger.load(path, verify=True).height
            result, ok = (
                f"verifies, height {height}" + (" (finished first)" if finished else ""),
                True,
            )
        except LedgerIntegrityError as exc:
            result, ok = f"FAILED: {exc}", False
        intact += ok
        rows.append(f"| {trial} | {result} |")
    return "\n".join(
        [
            f"A process saving its ledger after every round (one SQLite transaction per save) "
            f"killed with SIGKILL at a random moment: {intact} of {trials} files load and verify "
            "(the last completed save).",
            "",
            "| trial | file after the kill |",
            "|---|---|",
            *rows,
        ]
    )


# ------------------------------------------------------------------ report
def machine() -> str:
    import numpy
    import torch

    import bcfl_env
    from training.machine import cpu_model

    cpu = cpu_model()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{dt.date.today().isoformat()}; {os.cpu_count()} CPUs ({cpu}), load average {load}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, "
        f"bcfl_env {bcfl_env.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fuzz-cases", type=int, default=10_000)
    parser.add_argument("--mutations", type=int, default=2000)
    parser.add_argument("--hostile-cases", type=int, default=4000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RELIABILITY.md")
    args = parser.parse_args()
    start = time.perf_counter()
    sections = []
    with tempfile.TemporaryDirectory(prefix="bcfl-reliability-") as tmp:
        work = Path(tmp)
        for title, make in (
            ("Fuzzing (Hypothesis)", lambda: fuzzing(args.fuzz_cases, work)),
            ("Hostile input, second pass", lambda: hostile_input(args.hostile_cases, work)),
            ("Ledger mutations", lambda: ledger_mutations(args.mutations, work)),
            ("Protocol attacks", lambda: protocol_attacks(work)),
            ("Adversary sweep", adversary_sweep),
            ("kill -9 during training", lambda: kill_training(max(args.kills // 3, 1), work)),
            ("kill -9 during ledger saves", lambda: kill_ledger_saves(args.kills, work)),
        ):
            t = time.perf_counter()
            body = make()
            sections.append(f"## {title}\n\n{body}\n\n({time.perf_counter() - t:.0f} s)\n")
            print(f"{title}: {time.perf_counter() - t:.0f} s", flush=True)
    header = (
        "# Reliability report\n\nWritten by `make reliability` (`benchmarks/reliability.py`): "
        f"{machine()}. Total {time.perf_counter() - start:.0f} s.\n"
    )
    args.out.write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
