"""Stable-Baselines3's ``VecEnv`` over worker processes, each stepping a share of the worlds.

One process steps its worlds at a rate that hardly grows with their number (what is left of a
world-step is per-world Python: docs/vector.md), so more cores are the way to more world-steps a
second. :class:`SB3WorkerVecEnv` splits B worlds into W contiguous shares and runs each share as
a native vector env (:class:`bcfl_env.envs.sb3_vec.SB3VecEnv`) in its own process, as EnvPool
runs its environments on threads and SB3's ``SubprocVecEnv`` runs one environment per process.

World i is seeded ``seed + i`` whichever worker holds it, so a run on W workers is bit for bit the
run on one (``tests/test_sb3_workers.py``). Every world's action is validated before any world
moves: the workers check their shares first, and a bad action raises ``ValueError`` naming
``actions[i]`` with i counted over all B worlds.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

__all__ = ["SB3WorkerVecEnv"]


def _serve(
    remote: Connection,
    parent_remote: Connection,
    env_id: str,
    num_envs: int,
    env_kwargs: dict[str, Any],
    torch_threads: int,
) -> None:
    """A worker: owns ``num_envs`` worlds and answers the parent's commands until ``close``."""
    import torch

    from bcfl_env.envs.sb3_vec import make_sb3_vec_env

    parent_remote.close()
    torch.set_num_threads(torch_threads)
    try:
        venv = make_sb3_vec_env(env_id, num_envs, None, **env_kwargs)
    except Exception as exc:  # the parent raises it: a bad config names its field there
        remote.send(("error", exc))
        remote.close()
        return
    remote.send(("ok", (venv.observation_space, venv.action_space, venv.render_mode)))
    while True:
        try:
            command, data = remote.recv()
        except EOFError:  # the parent is gone
            break
        if command == "close":
            venv.close()
            remote.send(("ok", None))
            remote.close()
            break
        try:
            remote.send(("ok", _answer(venv, command, data)))
        except Exception as exc:
            remote.send(("error", exc))


def _answer(venv: Any, command: str, data: Any) -> Any:
    if command == "check":
        try:
            venv.venv.check_actions(data)
        except ValueError as exc:
            return str(exc)
        return None
    if command == "step":
        venv.step_async(data)
        observations, rewards, dones, infos = venv.step_wait()
        resets = {int(i): venv.reset_infos[i] for i in np.flatnonzero(dones)}
        return observations, rewards, dones, infos, resets
    if command == "reset":
        observations = venv.reset_worlds(data)
        return observations, venv.reset_infos
    if command == "get_attr":
        name, indices = data
        return venv.get_attr(name, indices)
    if command == "set_attr":
        name, value, indices = data
        venv.set_attr(name, value, indices)
        return [None] * len(indices)
    if command == "env_method":
        name, args, kwargs, indices = data
        return venv.env_method(name, *args, indices=indices, **kwargs)
    raise ValueError(f"unknown worker command {command!r}")


class SB3WorkerVecEnv(VecEnv):
    """B worlds of ``env_id`` on W worker processes, each stepping its share in one call.

    Args:
        env_id: a registered id with a native vector env (``bcfl/IoV-v1``, ...).
        num_envs: B, the number of worlds (at least 1).
        workers: W, the number of processes (1 to B); world shares differ by at most one.
        env_kwargs: config overrides, as for ``gymnasium.make``.
        torch_threads: torch threads in each worker outside the env's own steps (which use
            the config's ``env.torch_threads``).
        start_method: multiprocessing's start method (default ``forkserver`` where available,
            else ``spawn``; not ``fork``, which torch's threads do not survive).

    Raises:
        ValueError: a bad ``num_envs``, ``workers``, ``torch_threads`` or ``start_method``, or a
            bad config (the worker's error, raised here).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        workers: int,
        env_kwargs: dict[str, Any] | None = None,
        torch_threads: int = 1,
        start_method: str | None = None,
    ) -> None:
        for name, value, most in (
            ("num_envs", num_envs, None),
            ("workers", workers, num_envs),
            ("torch_threads", torch_threads, None),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
            if most is not None and value > most:
                raise ValueError(f"{name}={value} exceeds num_envs={most}: a worker needs a world")
        methods = mp.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        if method not in methods or method == "fork":
            allowed = [m for m in methods if m != "fork"]
            raise ValueError(
                f"start_method={start_method!r} is not allowed: choose one of {allowed}"
            )
        context: Any = mp.get_context(method)  # typeshed: a BaseContext without Process
        shares = [len(s) for s in np.array_split(np.arange(int(num_envs)), int(workers))]
        self._offsets = np.cumsum([0, *shares[:-1]]).tolist()
        self._shares = shares
        self.remotes: list[Connection] = []
        self.processes: list[Any] = []
        for share in shares:
            remote, work_remote = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(work_remote, remote, env_id, share, dict(env_kwargs or {}), torch_threads),
                daemon=True,  # a worker never outlives the run that owns it
            )
            process.start()
            work_remote.close()
            self.remotes.append(remote)
            self.processes.append(process)
        self.closed, self._waiting = False, False
        try:
            spaces = self._gather(self.remotes)
        except BaseException:
            self.close()
            raise
        observation_space, action_space, _ = spaces[0]
        super().__init__(int(num_envs), observation_space, action_space)

    # ------------------------------------------------------------------ plumbing
    def _gather(self, remotes: Sequence[Connection]) -> list[Any]:
        """Every remote's answer, in order; the first worker's error is raised after all have
        answered (so no answer is left in a pipe).

        Raises:
            RuntimeError: a worker that died instead of answering (killed, out of memory, or a
                crash before it could report), named with its worlds and exit code.
        """
        answers, dead = [], []
        for remote in remotes:
            try:
                answers.append(remote.recv())
            except (EOFError, ConnectionResetError):
                dead.append(self.remotes.index(remote))
        if dead:
            raise self._died(dead[0])
        for status, payload in answers:
            if status == "error":
                raise payload
        return [payload for _, payload in answers]

    def _died(self, w: int) -> RuntimeError:
        """The error for worker ``w`` gone (killed, out of memory, or crashed before reporting)."""
        process = self.processes[w]
        process.join(timeout=5)
        first, share = self._offsets[w], self._shares[w]
        return RuntimeError(
            f"worker {w} (worlds {first}-{first + share - 1}) died without answering, exit code "
            f"{process.exitcode} (a negative code is the signal that killed it, e.g. -9 when the "
            "system ran out of memory); its worlds are lost, so the run must stop"
        )

    def _send(self, w: int, message: tuple[str, Any]) -> None:
        try:
            self.remotes[w].send(message)
        except (BrokenPipeError, ConnectionResetError):
            raise self._died(w) from None

    def _ask_all(self, command: str, per_worker: Sequence[Any]) -> list[Any]:
        for w, data in enumerate(per_worker):
            self._send(w, (command, data))
        return self._gather(self.remotes)

    def _split(self, rows: Any) -> list[Any]:
        return [rows[o : o + n] for o, n in zip(self._offsets, self._shares, strict=True)]

    def _by_worker(self, indices: VecEnvIndices) -> list[tuple[int, list[int], list[int]]]:
        """(worker, local indices, positions in the answer) for the worlds ``indices`` names."""
        chosen = list(self._get_indices(indices))
        out = []
        for w, (offset, share) in enumerate(zip(self._offsets, self._shares, strict=True)):
            picked = [(k, i - offset) for k, i in enumerate(chosen) if offset <= i < offset + share]
            if picked:
                out.append((w, [i for _, i in picked], [k for k, _ in picked]))
        return out

    def _per_world(self, command: str, make_data: Any, indices: VecEnvIndices) -> list[Any]:
        plan = self._by_worker(indices)
        for w, local, _ in plan:
            self._send(w, (command, make_data(local)))
        answers = self._gather([self.remotes[w] for w, _, _ in plan])
        out: list[Any] = [None] * len(list(self._get_indices(indices)))
        for (_, _, positions), answer in zip(plan, answers, strict=True):
            for k, value in zip(positions, answer, strict=True):
                out[k] = value
        return out

    # ------------------------------------------------------------------ SB3 API
    def reset(self) -> VecEnvObs:
        if any(self._options):
            raise ValueError(
                f"reset options are not supported (got {self._options}); the env takes none"
            )
        answers = self._ask_all("reset", self._split(list(self._seeds)))
        self.reset_infos = [info for _, infos in answers for info in infos]
        self._reset_seeds()
        self._reset_options()
        return np.concatenate([observations for observations, _ in answers])

    def step_async(self, actions: np.ndarray) -> None:
        if self._waiting:
            raise RuntimeError("step_async() twice without step_wait()")
        rows = list(actions)
        if len(rows) != self.num_envs:
            raise ValueError(
                f"actions must hold one action per world (num_envs={self.num_envs}), "
                f"got {len(rows)}"
            )
        shares = self._split(rows)
        # every worker checks its share before any world moves
        for offset, problem in zip(self._offsets, self._ask_all("check", shares), strict=True):
            if problem is not None:
                local, _, message = problem.partition("]: ")
                if not (local.startswith("actions[") and local[8:].isdigit()):
                    raise ValueError(problem)
                raise ValueError(f"actions[{offset + int(local[8:])}]: {message}")
        for w, share in enumerate(shares):
            self._send(w, ("step", share))
        self._waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        if not self._waiting:
            raise RuntimeError("step_wait() without step_async()")
        self._waiting = False
        answers = self._gather(self.remotes)
        for offset, (_, _, _, _, resets) in zip(self._offsets, answers, strict=True):
            for i, info in resets.items():
                self.reset_infos[offset + i] = info
        return (
            np.concatenate([a[0] for a in answers]),
            np.concatenate([a[1] for a in answers]),
            np.concatenate([a[2] for a in answers]),
            [info for a in answers for info in a[3]],
        )

    def close(self) -> None:
        if self.closed:
            return
        if self._waiting:  # answers of a step nobody waited for
            self._waiting = False
            with contextlib.suppress(RuntimeError):  # a dead worker: the rest still close
                self._gather(self.remotes)
        for remote in self.remotes:
            try:
                remote.send(("close", None))
                remote.recv()
            except (OSError, EOFError):
                pass  # a worker that already ended
        for process in self.processes:
            process.join(timeout=30)
        self.closed = True

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return self.env_method("render")

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._per_world("get_attr", lambda local: (attr_name, local), indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._per_world("set_attr", lambda local: (attr_name, value, local), indices)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return self._per_world(
            "env_method", lambda local: (method_name, method_args, method_kwargs, local), indices
        )

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # the worlds' envs are unwrapped
