"""``bcfl``: train, evaluate, leaderboard and audit."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any, NoReturn

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


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported on one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from agents import SELECTORS
    from bcfl_env.envs.registration import CUSTOM_ENV_ID, ENV_IDS
    from training.suite import SUITES
    from training.train import ALGOS

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(
        prog="bcfl",
        description="bcfl-gym: train, evaluate and compare participant selectors",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an SB3 selector", formatter_class=fmt)
    t.add_argument("--algo", default="ppo", choices=ALGOS, help="SB3 algorithm")
    t.add_argument(
        "--env",
        default="bcfl/IoV-v1",
        choices=sorted([*ENV_IDS, CUSTOM_ENV_ID]),
        help="environment id",
    )
    t.add_argument(
        "--scenario",
        type=Path,
        help=f"a scenario file (bcfl calibrate writes one): trains on {CUSTOM_ENV_ID} with it",
    )
    t.add_argument(
        "--timesteps", type=int, help="training steps (default: n_timesteps of the algo's YAML)"
    )
    t.add_argument("--seed", type=int, nargs="+", default=[0], help="seeds, one run each")
    t.add_argument(
        "--multi-agent",
        action="store_true",
        help="RSUs as agents: parameter-shared PPO (SlotSetPolicy) for every RSU through "
        "SuperSuit + SB3 (bcfl_env.envs.rsu_agents); --timesteps counts agent steps, "
        "--num-envs worlds (default 4)",
    )
    t.add_argument(
        "--num-envs",
        "--n-envs",
        dest="n_envs",
        type=int,
        help="worlds stepped in one call by the native vector env (default: n_envs of the YAML)",
    )
    t.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes the worlds are split over, each stepping its share in one call (one "
        "per core; the same worlds, so the same run; not for dqn and maskable_ppo)",
    )
    t.add_argument(
        "--env-kwargs", nargs="*", default=[], help="env config overrides, key=value (literals)"
    )
    t.add_argument(
        "--hyperparams",
        nargs="*",
        default=[],
        help="override entries of training/hyperparams/<algo>.yml, key=value",
    )
    t.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run folders go")
    t.add_argument(
        "--resume", type=Path, help="a run folder to continue from its newest intact checkpoint"
    )
    t.add_argument(
        "--init-from",
        metavar="MODEL|shipped",
        help="start the policy from this trained model's weights (a warm start: fine-tune the "
        "shipped selector on a calibrated scenario with --init-from shipped)",
    )
    t.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when stderr is a terminal)",
    )
    t.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    t.add_argument(
        "--keep-checkpoints", type=int, default=3, help="periodic checkpoints kept (newest)"
    )
    t.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch CPU threads (small policies: 1 is fastest)",
    )
    e = sub.add_parser("evaluate", help="run a policy on a scenario suite", formatter_class=fmt)
    named = ", ".join(SELECTORS)  # the registry: a selector registered anywhere is listed
    e.add_argument(
        "--policy",
        required=True,
        metavar="NAME|PATH",
        help=f"a registered selector ({named}), 'shipped', or the path to a trained model.zip; "
        "'favor' without a model trains FAVOR's double DQN first (2,000 steps per scenario, a "
        "few minutes on 2 cores)",
    )
    e.add_argument(
        "--unsafe-load",
        action="store_true",
        help="let SB3 unpickle the model file's own objects (runs code from the file: only for "
        "files you made or trust; default: the safe loader, which unpickles nothing)",
    )
    e.add_argument("--suite", default="default", choices=sorted(SUITES), help="scenario suite")
    e.add_argument("--episodes", type=int, help="held-out seeds per scenario (default: all 10)")
    e.add_argument(
        "--out", type=Path, default=Path("results/results.jsonl"), help="JSON lines, appended"
    )
    e.add_argument(
        "--label", help="name in the results (default: the baseline or the model's run folder)"
    )
    e.add_argument(
        "--train-seed",
        type=int,
        help="the model's training seed, written in each row: the models of several seeds, "
        "evaluated under one --label, pool into one leaderboard row",
    )
    e.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar per episode (default: on when stderr is a terminal)",
    )
    for p in (t, e):
        p.add_argument(
            "--backend", choices=["inprocess", "ray"], default="inprocess", help="where jobs run"
        )
        p.add_argument("--address", help="Ray cluster address (default: a local cluster)")
    lb = sub.add_parser(
        "leaderboard",
        help="aggregate results into leaderboard.md/csv/json and plots",
        formatter_class=fmt,
    )
    lb.add_argument("results", nargs="+", type=Path, help="JSON-lines files from bcfl evaluate")
    lb.add_argument("--out-dir", type=Path, default=Path("results"), help="where tables go")
    lb.add_argument(
        "--check",
        metavar="SUITE",
        help="only validate the files as a submission to SUITE (every scenario of it, every "
        "held-out seed once per policy, the suite's version); exit 2 naming the first problem",
    )
    c = sub.add_parser(
        "calibrate",
        help="fit a scenario of the simulator to a federation's record",
        formatter_class=fmt,
    )
    c.add_argument("record", type=Path, help="JSON-lines record (agents.federation_record)")
    c.add_argument("--out", type=Path, required=True, help="the scenario file to write (YAML)")
    c.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also compare the calibrated simulator's round durations with the record's",
    )
    c.add_argument("--seed", type=int, default=0, help="seed of the fit's simulations")
    tu = sub.add_parser(
        "tune",
        help="tune an algorithm's hyperparameters with Optuna (the same trials x steps for all)",
        formatter_class=fmt,
    )
    tu.add_argument("algo", help="ppo, maskable_ppo, a2c, sac, td3 or dqn")
    tu.add_argument("--scenario", default="iov-default", help="a suite scenario to tune on")
    tu.add_argument("--suite-version", type=int, default=1, help="the scenario's suite version")
    tu.add_argument("--trials", type=int, default=16, help="Optuna trials (the study's budget)")
    tu.add_argument(
        "--steps", type=int, default=20_000, help="training steps per trial (x K for pickers)"
    )
    tu.add_argument("--seed", type=int, default=0, help="seeds the sampler and every training")
    tu.add_argument("--storage", type=Path, default=None, help="the study's SQLite file (resume)")
    tu.add_argument(
        "--out", type=Path, default=None, help="YAML to write (default: tuned/<algo>.yml)"
    )
    tu.add_argument("--runs-dir", type=Path, default=Path("runs/tune"), help="trial runs")
    tu.add_argument(
        "--validation-episodes", type=int, default=3,
        help="validation seeds (500, 501, ...) each trial is scored on; at most 30",
    )  # fmt: skip
    a = sub.add_parser(
        "audit",
        help="verify a saved ledger: signatures, quorum certificates and every rule",
        formatter_class=fmt,
    )
    a.add_argument("ledger", help="SQLite file written by Ledger.save (env.unwrapped.ledger.save)")
    a.add_argument(
        "--deep",
        action="store_true",
        help="also recompute every global model from its base and inputs",
    )
    a.add_argument("--expect-head", help="a block hash known out of band; the ledger must hold it")
    a.add_argument("--min-height", type=int, help="a height known out of band; shorter fails")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            import torch

            from training.backends import run_jobs

            torch.set_num_threads(args.torch_threads)
            from training.train import train

            env_kwargs = _kv(args.env_kwargs)
            if args.scenario is not None:
                from bcfl_env.scenario import load_scenario

                load_scenario(args.scenario)  # a bad file fails here, before any run folder
                args.env = "bcfl/Custom-v1"
                env_kwargs["scenario"] = str(args.scenario)
            if args.resume is not None and len(args.seed) > 1:
                raise ValueError("--resume continues one run: give a single --seed")
            if args.multi_agent:
                from training.multi_agent import train_shared_run

                for seed in args.seed:
                    run = train_shared_run(
                        args.env, args.timesteps, seed, args.n_envs, _kv(args.env_kwargs),
                        _kv(args.hyperparams), args.runs_dir,
                    )  # fmt: skip
                    print(f"run directory: {run}")
                return 0
            jobs = [
                (args.algo, args.env, args.timesteps, seed, args.n_envs, env_kwargs, args.runs_dir,
                 args.resume, args.progress, args.checkpoint_every, _kv(args.hyperparams),
                 args.keep_checkpoints, args.init_from, args.workers)
                for seed in args.seed
            ]  # fmt: skip
            for run in run_jobs(train, jobs, args.backend, args.address):
                print(f"run directory: {run}")
        elif args.command == "evaluate":
            from training.evaluate import evaluate_policy

            if args.policy == "favor":
                print(
                    "bcfl evaluate: favor without a model file trains FAVOR's double DQN first "
                    "(2,000 steps per scenario configuration, a few minutes on 2 cores); pass a "
                    "trained DQN model.zip to skip this",
                    file=sys.stderr,
                )
            rows = evaluate_policy(
                args.policy,
                args.suite,
                args.episodes,
                args.out,
                args.label,
                args.backend,
                args.address,
                args.unsafe_load,
                args.progress,
                args.train_seed,
            )
            print(f"{len(rows)} episodes written to {args.out}")
        elif args.command == "tune":
            from training.tune import tune

            entry = tune(
                args.algo, args.scenario, args.trials, args.steps, args.seed, args.storage,
                args.out, args.runs_dir, args.suite_version, args.validation_episodes,
            )  # fmt: skip
            print(f"best of {args.trials} trials: {entry['hyperparams']}")
            print(
                f"normalised time on the validation seeds: {entry['tuning']['best_normalised_time']}"
            )
        elif args.command == "calibrate":
            from training.calibrate import calibrate_file

            calibration = calibrate_file(
                args.record, args.out, validate=args.validate, seed=args.seed
            )
            print(calibration.table())
            print(f"scenario written to {args.out}")
        elif args.command == "leaderboard":
            from training.leaderboard import build_leaderboard, check_submission, markdown

            if args.check:
                print(check_submission(args.results, args.check))
            else:
                print(markdown(build_leaderboard(args.results, args.out_dir)))
        else:
            from bcfl_env.audit import main as audit_main

            extra = ["--deep"] if args.deep else []
            if args.expect_head is not None:  # "" too: the audit refuses it, never skips it
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
