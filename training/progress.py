"""Progress for long work: on by default in a terminal, quiet when output is not a TTY or asked.

Training uses SB3's progress bar (rich); evaluation and other loops use :func:`track` (tqdm),
both on stderr so results printed on stdout stay clean for pipes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress_enabled", "track"]

T = TypeVar("T")


def progress_enabled(flag: bool | None) -> bool:
    """``flag`` if given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else bool(flag)


def track(items: Iterable[T], total: int, desc: str, enabled: bool) -> Iterator[T]:
    """Yield ``items``, showing a tqdm bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, unit="ep", leave=False)
