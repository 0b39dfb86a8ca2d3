"""The Flower example's federations replayed in the simulator: engine fidelity apart from the fit.

``bcfl calibrate`` fits *distributions* to a record; a deployment is one *draw*. To tell which
of the two a sim-to-Flower gap comes from, this diagnostic builds, for seed S of
``examples/flower_selector.py``, the simulator's twin of that very federation: the seed's
calibrated scenario (``results/flower_loop/seedS/scenario.yaml``) with, on every reset, the
example's own partition, data split, CPUs and uplinks installed in place of the drawn ones
(the failure draws, the initial model and the chain stay the simulator's). On it, random, Oort,
the shipped IoV selector and the seed's trained selector (``seedS/model.zip``) run ``--episodes``
episodes each (held-out seeds 1000...; a selector's own generator seeded per episode), and the
table gives their median time to the target beside what Flower realised on the seed.

It knows the federation's ground truth, which a real server never does: a diagnostic of this
example, not part of the loop. It writes the engine's data tensors and the network's per-client
rates directly (``World.fl``, ``World.network``, ``World.record``).

Run (after the seeds ran): ``.venv/bin/python benchmarks/flower_twin.py --seeds 0 1 2``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("random", "oort", "shipped", "calibrated")


class FederationTwin(gym.Wrapper):  # type: ignore[type-arg]
    """On every reset, the example's federation ``fed`` replaces the drawn clients."""

    def __init__(self, env: gym.Env[Any, Any], fed: dict[str, Any]) -> None:
        super().__init__(env)
        self.fed = fed

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        from bcfl_env.fl.partition import Partition
        from bcfl_env.server_record import ServerRecord

        _, info = self.env.reset(**kwargs)
        base = self.env.unwrapped
        world, data = base.world, self.fed["data"]  # type: ignore[attr-defined]
        engine = world.fl
        if len(self.fed["parts"]) != engine.sizes.size:
            raise ValueError(
                f"the scenario has {engine.sizes.size} clients, the federation "
                f"{len(self.fed['parts'])}"
            )
        engine.data = data
        engine.x_train, engine.y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)  # fmt: skip
        engine.x_val, engine.y_val = torch.as_tensor(data.x_val), torch.as_tensor(data.y_val)
        engine.x_test, engine.y_test = torch.as_tensor(data.x_test), torch.as_tensor(data.y_test)
        engine.partition = Partition.from_indices(self.fed["parts"], data.y_train, data.num_classes)
        world.record = ServerRecord(engine.sizes, np.ones(engine.sizes.size))
        world.network.cpu_hz[:] = self.fed["cpu_hz"]
        world.network.fixed_rate_bps[:] = self.fed["uplink_bps"]
        engine.accuracy, engine.loss = engine.evaluate_global()
        info["accuracy"] = engine.accuracy
        return base.current_observation(), info  # type: ignore[attr-defined]


def twin_times(seed: int, folder: Path, episodes: int) -> dict[str, list[float]]:
    """Time to target of each policy on the twin of federation ``seed``, per episode."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("flower_selector", ROOT / "examples" / "flower_selector.py")  # fmt: skip
    assert spec and spec.loader
    flower_selector = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(flower_selector)
    from agents import load_selector
    from bcfl_env.scenario import CUSTOM_ENV_ID
    from training.rollout import held_out_seeds, run_episode, time_to_target

    env = FederationTwin(
        gym.make(CUSTOM_ENV_ID, scenario=str(folder / "scenario.yaml")),
        flower_selector.federation(seed),
    )
    times: dict[str, list[float]] = {}
    for policy in POLICIES:
        source = folder / "model.zip" if policy == "calibrated" else policy
        times[policy] = [
            time_to_target(run_episode(env, load_selector(source, env, seed=k), episode))
            for k, episode in enumerate(held_out_seeds(episodes))
        ]
    env.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "flower_loop",
                        help="the folder of the seeds' JSON files and seedS/ artefacts")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    realised: dict[str, dict[int, float]] = {}
    for file in sorted(args.results.glob("*.json")):
        for policy, by_seed in json.loads(file.read_text()).get("time_to_target_s", {}).items():
            for s, value in by_seed.items():
                realised.setdefault(policy, {})[int(s)] = float(value)
    names = {"ppo": "shipped"}  # the example's name for the shipped selector
    out: dict[int, dict[str, Any]] = {}
    print(f"Median time to target on each federation's twin ({args.episodes} episodes) | Flower")
    print("| seed | " + " | ".join(f"{p} twin | {p} Flower" for p in POLICIES) + " |")
    print("|---|" + "---|---|" * len(POLICIES))
    for seed in args.seeds:
        folder = args.results / f"seed{seed}"
        times = twin_times(seed, folder, args.episodes)
        flower = {names.get(p, p): by_seed.get(seed) for p, by_seed in realised.items()}
        out[seed] = {"twin": times, "flower": flower}
        cells = [
            f"{np.median(times[p]):.1f} | {flower[p]:.1f}" if flower.get(p) is not None
            else f"{np.median(times[p]):.1f} | n/a"
            for p in POLICIES
        ]  # fmt: skip
        print(f"| {seed} | " + " | ".join(cells) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
