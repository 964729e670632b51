"""Asyncio-driven real-time SimPy environment for hardware-in-the-loop runs.

Simulated time advances in step with the event loop's clock, scaled by `time_scale`
(simulated seconds per wall second; the twin's time unit is the hour, so a scale of
3600 runs one simulated hour per wall second). Between events the environment sleeps
on asyncio, so device I/O keeps running; a device's completion (`complete`, or a
coroutine started with `run_coroutine`) wakes it at once and is triggered at the
simulated time that corresponds to the wall time it arrived.

When processing falls behind the wall clock, the lateness is recorded (`lag_s`,
`max_lag_s`, `stats()`) and, past `lag_threshold_s`, the `on_lag` policy applies:
"warn" logs and catches up as fast as possible, "raise" raises ClockLagError, and
"rebase" shifts the wall-time origin so the run stays paced instead of rushing to catch
up (the missed wall interval is reported in `stats().rebased_s`).

This module must not import asyncua: adapters bring the I/O, the twin stays synchronous.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Literal

import numpy as np
import simpy
from simpy.core import Infinity, SimTime

log = logging.getLogger(__name__)

LagPolicy = Literal["warn", "raise", "rebase"]
SECONDS_PER_H = 3600.0
_YIELD_EVERY_S = 0.005  # while catching up, let other asyncio tasks run this often
_KEEP_SAMPLES = 20_000  # recent lateness samples kept for percentiles


class ClockLagError(RuntimeError):
    """The simulation fell further behind the wall clock than the threshold allows."""

    def __init__(self, lag_s: float, sim_time: float) -> None:
        super().__init__(f"simulation is {lag_s * 1e3:.1f} ms behind the wall clock at t={sim_time:.6g}")
        self.lag_s = lag_s
        self.sim_time = sim_time


@dataclass(frozen=True)
class LagStats:
    """Lateness of scheduled events (wall seconds processed after their due time)."""

    events: int  # scheduled events processed while paced
    late_events: int  # events processed after their due wall time past the threshold
    mean_s: float  # mean lateness over all events
    p95_s: float  # 95th percentile over the most recent events
    max_s: float
    rebases: int  # how often the "rebase" policy shifted the origin
    rebased_s: float  # wall seconds skipped by rebasing (sim time not caught up)
    rebased_sim: float  # the same interval in simulated time units
    external: int  # external completions delivered


class AsyncRealtimeEnvironment(simpy.Environment):
    """A SimPy environment whose `await run(until)` is paced by the asyncio clock.

    `time_scale` is simulated seconds per wall second; `sim_unit_s` is how many seconds
    one simulated time unit is (3600: the twin counts in hours). `run` must be awaited
    on the loop that device I/O uses; `complete` and `run_coroutine` are loop-safe and
    `complete_threadsafe` may be called from any thread.
    """

    def __init__(self, initial_time: SimTime = 0, time_scale: float = 1.0, *,
                 sim_unit_s: float = SECONDS_PER_H, lag_threshold_s: float = 0.1,
                 on_lag: LagPolicy = "warn") -> None:
        if time_scale <= 0 or sim_unit_s <= 0:
            raise ValueError("time_scale and sim_unit_s must be positive")
        if on_lag not in ("warn", "raise", "rebase"):
            raise ValueError(f"on_lag must be 'warn', 'raise' or 'rebase', not {on_lag!r}")
        super().__init__(initial_time)
        self.time_scale = float(time_scale)
        self.sim_unit_s = float(sim_unit_s)
        self.lag_threshold_s = float(lag_threshold_s)
        self.on_lag: LagPolicy = on_lag
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self._wall0 = 0.0
        self._sim0 = float(initial_time)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._inbox: deque[tuple[float, simpy.Event, bool, Any]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._awaited: set[simpy.Event] = set()  # external events not yet completed
        self._samples: deque[float] = deque(maxlen=_KEEP_SAMPLES)
        self._n = self._late = self._rebases = self._external = 0
        self._sum = self._rebased_s = 0.0
        self._warned = False

    # -- time mapping -------------------------------------------------------------
    @property
    def sim_units_per_wall_s(self) -> float:
        """Simulated time units (hours for the twin) per wall second."""
        return self.time_scale / self.sim_unit_s

    def wall_time_of(self, sim_time: float) -> float:
        """The loop time at which `sim_time` is due."""
        return self._wall0 + (sim_time - self._sim0) / self.sim_units_per_wall_s

    def sim_time_of(self, wall_time: float) -> float:
        """The simulated time that loop time `wall_time` corresponds to."""
        return self._sim0 + (wall_time - self._wall0) * self.sim_units_per_wall_s

    # -- external completions ----------------------------------------------------
    def external_event(self) -> simpy.Event:
        """A SimPy event that outside code will complete; `run()` without `until` waits for it."""
        ev = self.event()
        self._awaited.add(ev)
        return ev

    def complete(self, event: simpy.Event, value: Any = None) -> None:
        """Succeed `event` now: the sim wakes and triggers it at the mapped sim time."""
        self._post(event, True, value)

    def fail(self, event: simpy.Event, exc: BaseException) -> None:
        """Fail `event` now (the exception is thrown into the process waiting on it)."""
        self._post(event, False, exc)

    def complete_threadsafe(self, event: simpy.Event, value: Any = None, ok: bool = True) -> None:
        """Like `complete` (or `fail` with ok=False) from a thread other than the loop's."""
        if self._loop is None:
            raise RuntimeError("the clock is not running")
        self._loop.call_soon_threadsafe(self._post, event, ok, value, self._loop.time())

    def run_coroutine(self, coro: Awaitable[Any]) -> simpy.Event:
        """Run `coro` as an asyncio task; the returned event succeeds with its result or
        fails with its exception when it finishes. Call while `run()` is active."""
        ev = self.external_event()
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(ev, t))
        return ev

    def _task_done(self, ev: simpy.Event, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._post(ev, False, RuntimeError("the coroutine behind this event was cancelled"))
        elif task.exception() is not None:
            self._post(ev, False, task.exception())
        else:
            self._post(ev, True, task.result())

    def _post(self, event: simpy.Event, ok: bool, value: Any, at: float | None = None) -> None:
        loop = self._loop
        when = at if at is not None else (loop.time() if loop is not None else 0.0)
        self._inbox.append((when, event, ok, value))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    def _deliver(self, horizon: float) -> None:
        """Trigger queued completions that map before `horizon`, in arrival order; the
        rest wait until the scheduled events before them have been processed."""
        while self._inbox:
            when, ev, ok, value = self._inbox[0]
            t = max(self._now, self.sim_time_of(when))
            if t >= horizon:
                return
            self._inbox.popleft()
            self._awaited.discard(ev)
            if ev.triggered:  # abandoned (e.g. the process timed out and moved on)
                continue
            self._now = t
            self._external += 1
            if ok:
                ev.succeed(value)
            else:
                ev.fail(value)

    # -- running -------------------------------------------------------------------
    async def run(self, until: SimTime | simpy.Event | None = None) -> Any:
        """Process events paced by the wall clock until sim time `until` (events at
        exactly `until` are left, as in SimPy), until the event `until` is processed, or,
        with no `until`, until nothing is scheduled and no external event is awaited.
        Wall time between runs does not count: each run restarts the mapping at `now`.
        Cancelling the awaiting task (or an error) stops cleanly and cancels the started
        coroutines; after a normal return they keep running, so call `aclose()` when done."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wall0, self._sim0 = loop.time(), float(self._now)
        stop_at, stop_ev = Infinity, None
        if isinstance(until, simpy.Event):
            stop_ev = until
        elif until is not None:
            stop_at = float(until)
            if stop_at < self._now:
                raise ValueError(f"until ({stop_at}) must not be before the current time ({self._now})")
        last_yield = loop.time()
        try:
            while stop_ev is None or not stop_ev.processed:
                if self._inbox:
                    self._deliver(min(self.peek(), stop_at))
                horizon = min(self.peek(), stop_at)
                if horizon == Infinity:
                    if not (self._awaited or self._tasks or self._inbox):
                        if stop_ev is not None:
                            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop_ev}')
                        break
                    await self._sleep(loop, None)
                    continue
                if horizon > self._now:  # time advances: pace it and measure lateness
                    due = self.wall_time_of(horizon)
                    if due > loop.time() and await self._sleep(loop, due - loop.time()):
                        continue  # woken early by a completion
                    self._record(loop.time() - due, horizon)
                if horizon >= stop_at:
                    self._now = stop_at
                    break
                self.step()
                if loop.time() - last_yield > _YIELD_EVERY_S:
                    await asyncio.sleep(0)  # let device I/O run while catching up
                    last_yield = loop.time()
        except BaseException:
            await self.aclose()
            raise
        return stop_ev.value if stop_ev is not None and stop_ev.ok else None

    async def _sleep(self, loop: asyncio.AbstractEventLoop, delay: float | None) -> bool:
        """Sleep `delay` wall seconds (None: indefinitely); True if a completion woke it."""
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        handle = None
        if delay is not None:
            handle = loop.call_later(delay, lambda: None if waiter.done() else waiter.set_result(False))
        try:
            return await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def _record(self, late_s: float, sim_time: float) -> None:
        """Record an event's lateness and apply the lag policy."""
        late_s = max(0.0, late_s)
        self.lag_s = late_s
        self.max_lag_s = max(self.max_lag_s, late_s)
        self._n += 1
        self._sum += late_s
        self._samples.append(late_s)
        if late_s <= self.lag_threshold_s:
            self._warned = False
            return
        self._late += 1
        if self.on_lag == "raise":
            raise ClockLagError(late_s, sim_time)
        if self.on_lag == "rebase":
            self._wall0 += late_s
            self._rebases += 1
            self._rebased_s += late_s
            self.lag_s = 0.0
            log.info("clock rebased by %.1f ms at t=%.6g to stay paced", late_s * 1e3, sim_time)
        elif not self._warned:
            self._warned = True
            log.warning("simulation %.1f ms behind the wall clock at t=%.6g; catching up", late_s * 1e3, sim_time)

    async def aclose(self) -> None:
        """Cancel the coroutines started by `run_coroutine` and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def stats(self) -> LagStats:
        """Lateness figures since construction."""
        p95 = float(np.percentile(np.fromiter(self._samples, float), 95)) if self._samples else 0.0
        return LagStats(events=self._n, late_events=self._late, mean_s=self._sum / self._n if self._n else 0.0,
                        p95_s=p95, max_s=self.max_lag_s, rebases=self._rebases, rebased_s=self._rebased_s,
                        rebased_sim=self._rebased_s * self.sim_units_per_wall_s, external=self._external)
