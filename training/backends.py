"""Where jobs run: in this process (default) or as Ray tasks (``pip install 'bcfl-gym[ray]'``).

Ray starts a local cluster with ``num_cpus`` CPUs, or joins one at ``address``. A local cluster
writes its session files into a private temporary folder that is removed on shutdown.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["run_jobs"]


def run_jobs(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], backend: str = "inprocess", address: str | None = None,
    num_cpus: int = 2, progress: str | None = None,
) -> list[Any]:  # fmt: skip
    """``[fn(*job) for job in jobs]``, in order, on the chosen backend.

    ``progress``: a description to show a progress bar under (in-process jobs, on a terminal).
    """
    if backend == "inprocess":
        from training.progress import track

        shown = progress is not None and len(jobs) > 1
        return [fn(*job) for job in track(jobs, len(jobs), progress or "", shown)]
    if backend != "ray":
        raise ValueError(f"backend={backend!r} is not allowed: choose one of ['inprocess', 'ray']")
    try:
        import ray
    except ImportError as exc:
        raise ValueError("backend='ray' needs the ray extra: pip install 'bcfl-gym[ray]'") from exc
    temp_dir = None
    if address is None:
        temp_dir = tempfile.mkdtemp(prefix="bcfl-ray-")
        ray.init(
            num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False
        )
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(fn)
        return list(ray.get([task.remote(*job) for job in jobs]))
    finally:
        ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
