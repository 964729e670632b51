"""Ctrl-C during a run or a study: finish and commit what is under way, say what was kept, exit 130.

Inside `graceful()`, the first SIGINT only sets a flag (and says so on stderr): the run finishes
the replication (or study point) it is computing, commits it, and stops by raising
`Interrupted` naming what was kept. A second SIGINT stops at once (KeyboardInterrupt; the
replication under way is dropped, the committed ones stay). Worker processes of a local pool
ignore SIGINT (`ignore_sigint`, their initializer), so the parent decides what to keep.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

_requested = threading.Event()


class Interrupted(Exception):
    """A run or study stopped by Ctrl-C after committing `kept` (replications or points)."""

    def __init__(self, kept: Sequence[Any], where: Path | None, what: str = "replication(s)"):
        self.kept = list(kept)
        self.where = where
        self.what = what
        shown = ", ".join(map(str, self.kept)) or "none"
        place = f" in {where}" if where is not None else ""
        super().__init__(f"interrupted: kept {what} {shown}{place}")


def requested() -> bool:
    """Has Ctrl-C been pressed (once) inside `graceful()`?"""
    return _requested.is_set()


def request() -> None:
    """Ask the running loop to stop after its current step (what the first Ctrl-C does)."""
    _requested.set()


def ignore_sigint() -> None:
    """Initializer of pool workers: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def graceful(message: str = "finishing the current step, then stopping (Ctrl-C again to stop now)"
             ) -> Iterator[None]:
    """First Ctrl-C: set the flag; second: KeyboardInterrupt. Only in the main thread."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()
        sys.stderr.write(f"\ninterrupt: {message}\n")
        sys.stderr.flush()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
