"""Deadlines for tests that wait, derived from observed progress instead of wall-clock constants,
so a waiting test holds on a loaded 2-core machine without loosening what it asserts.

A `Deadline(budget_s)` spends its budget only as fast as the machine gives CPU to runnable work:
each wall interval counts as interval / load factor, the load factor being the 1-minute load
average per core (at least 1). On an idle machine a 10 s budget is 10 s; with both cores
saturated by a background load (load 4 on 2 cores) it stretches to ~20 s. Whatever the waiter
watches can also report progress (`progress(value)`): a value that changed restarts the budget,
so a slow but moving run is never cut off, and a stuck one still fails after `budget_s` of
(load-scaled) silence. A hard cap (`HARD_CAP` x budget of wall time) stops a hang regardless.

Use: `wait_until(cond, 10, "the plant to start")` (sync), `await until_async(cond, 10, "...")`,
or `Deadline(10, "...")` with `.check()` in your own loop; `watch_process_cpu(pid)` is a
progress value for a subprocess (its CPU seconds, from /proc); `scaled(10)` for an API that
takes an absolute deadline.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable

HARD_CAP = 10.0


def load_factor() -> float:
    """1-minute load average per core, at least 1 (how much slower than idle runnable work runs)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        return 1.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1.0, load / cores)


def scaled(seconds: float) -> float:
    """`seconds` stretched by the current load factor, for code that takes an absolute deadline
    (`time.monotonic() + scaled(10)` instead of `time.monotonic() + 10`)."""
    return seconds * load_factor()


def watch_process_cpu(pid: int) -> float:
    """CPU seconds a process (and its waited-for children) has used so far; -1 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks  # utime, stime, cutime, cstime


class Deadline:
    """A waiting budget that runs at the machine's pace (see the module docstring)."""

    def __init__(self, budget_s: float, what: str):
        self.budget_s = budget_s
        self.what = what
        self.spent = 0.0
        self.started = self._last = time.monotonic()
        self._seen: Any = object()

    def progress(self, value: Any) -> None:
        """Report what the waiter watches; a change restarts the budget."""
        if value != self._seen:
            self._seen = value
            self.spent = 0.0

    def expired(self) -> bool:
        now = time.monotonic()
        self.spent += (now - self._last) / load_factor()
        self._last = now
        return self.spent > self.budget_s or now - self.started > HARD_CAP * self.budget_s

    def check(self) -> None:
        """TimeoutError naming what was waited for, once the budget is spent."""
        if self.expired():
            raise TimeoutError(f"waited {self.budget_s:g} s (load-scaled, {time.monotonic() - self.started:.1f} s "
                               f"wall) without progress for {self.what}")


def wait_until(cond: Callable[[], Any], budget_s: float, what: str, poll_s: float = 0.02,
               progress: Callable[[], Any] | None = None) -> Any:
    """Poll `cond` until truthy; `progress` (optional) restarts the budget whenever its value changes."""
    deadline = Deadline(budget_s, what)
    while True:
        got = cond()
        if got:
            return got
        if progress is not None:
            deadline.progress(progress())
        deadline.check()
        time.sleep(poll_s)


async def until_async(cond: Callable[[], Any], budget_s: float, what: str, poll_s: float = 0.01,
                      progress: Callable[[], Any] | None = None) -> Any:
    """`wait_until` for a coroutine (polls with asyncio.sleep)."""
    deadline = Deadline(budget_s, what)
    while True:
        got = cond()
        if got:
            return got
        if progress is not None:
            deadline.progress(progress())
        deadline.check()
        await asyncio.sleep(poll_s)
