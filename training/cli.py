"""``bcfl``: train, evaluate, leaderboard and audit."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _kv(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--env-kwargs expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bcfl", description="bcfl-gym: train, evaluate and compare participant selectors"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an SB3 selector")
    t.add_argument("--algo", default="ppo")
    t.add_argument("--env", default="bcfl/IoV-v1")
    t.add_argument("--timesteps", type=int)
    t.add_argument(
        "--seed", type=int, nargs="+", default=[0], help="one or more seeds (independent runs)"
    )
    t.add_argument("--n-envs", type=int)
    t.add_argument("--env-kwargs", nargs="*", default=[])
    t.add_argument("--hyperparams", nargs="*", default=[], help="override YAML entries, key=value")
    t.add_argument("--runs-dir", type=Path, default=Path("runs"))
    t.add_argument("--resume", type=Path)
    t.add_argument("--progress-bar", action="store_true")
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch CPU threads (small policies: 1 is fastest)",
    )
    e = sub.add_parser("evaluate", help="run a policy on a scenario suite")
    e.add_argument("--policy", required=True, help="baseline name or path to a trained model.zip")
    e.add_argument(
        "--unsafe-load",
        action="store_true",
        help="let SB3 unpickle the model file's own objects (runs code from the file: only for "
        "files you made or trust; default: the safe loader, which unpickles nothing)",
    )
    e.add_argument("--suite", default="default")
    e.add_argument("--episodes", type=int)
    e.add_argument("--out", type=Path, default=Path("results/results.jsonl"))
    e.add_argument("--label")
    for p in (t, e):
        p.add_argument("--backend", choices=["inprocess", "ray"], default="inprocess")
        p.add_argument("--address", help="Ray cluster address (default: a local cluster)")
    lb = sub.add_parser(
        "leaderboard", help="aggregate results into leaderboard.md/csv/json and plots"
    )
    lb.add_argument("results", nargs="+", type=Path)
    lb.add_argument("--out-dir", type=Path, default=Path("results"))
    a = sub.add_parser(
        "audit", help="verify a saved ledger: signatures, quorum certificates and every rule"
    )
    a.add_argument("ledger", help="SQLite file written by Ledger.save (env.unwrapped.ledger.save)")
    a.add_argument(
        "--deep",
        action="store_true",
        help="also recompute every global model from its base and inputs (default: off)",
    )
    a.add_argument("--expect-head", help="a block hash known out of band; the ledger must hold it")
    a.add_argument("--min-height", type=int, help="a height known out of band; shorter fails")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            import torch

            from training.backends import run_jobs

            torch.set_num_threads(args.torch_threads)
            from training.train import train

            if args.resume is not None and len(args.seed) > 1:
                raise ValueError("--resume continues one run: give a single --seed")
            jobs = [
                (args.algo, args.env, args.timesteps, seed, args.n_envs, _kv(args.env_kwargs), args.runs_dir,
                 args.resume, args.progress_bar, args.checkpoint_every, _kv(args.hyperparams))
                for seed in args.seed
            ]  # fmt: skip
            for run in run_jobs(train, jobs, args.backend, args.address):
                print(f"run directory: {run}")
        elif args.command == "evaluate":
            from training.evaluate import evaluate_policy

            rows = evaluate_policy(
                args.policy,
                args.suite,
                args.episodes,
                args.out,
                args.label,
                args.backend,
                args.address,
                args.unsafe_load,
            )
            print(f"{len(rows)} episodes written to {args.out}")
        elif args.command == "leaderboard":
            from training.leaderboard import build_leaderboard, markdown

            print(markdown(build_leaderboard(args.results, args.out_dir)))
        else:
            from bcfl_env.audit import main as audit_main

            extra = ["--deep"] if args.deep else []
            if args.expect_head:
                extra += ["--expect-head", args.expect_head]
            if args.min_height is not None:
                extra += ["--min-height", str(args.min_height)]
            return audit_main([args.ledger, *extra])
    except ValueError as exc:
        print(f"bcfl {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file argument that is missing or unreadable
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"bcfl {args.command}:{name} {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
