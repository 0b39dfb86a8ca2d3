"""A new run folder per training run, named by what ran and when."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path


def new_run_folder(
    runs_dir: Path, env_id: str, algo: str, seed: int, now: dt.datetime | None = None
) -> Path:
    """Create and return ``runs_dir/<env>__<algo>__<seed>__<YYYYmmdd-HHMMSS>[-n]``.

    Runs of one env id, algorithm and seed started in the same second (the training tracks
    train several scenarios of one env id at once) get ``-2``, ``-3``, ... in the order they
    claim a name; ``mkdir`` claims it atomically, so racing processes never share a folder.
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"{env_id.replace('/', '-')}__{algo}__{seed}__{stamp}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        run_dir = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # itertools.count never ends
