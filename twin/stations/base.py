"""What every station shares: servers, a finite buffer that blocks upstream, routing,
downtime (breakdowns and shifts as interrupts of the work in progress) and monitors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator

import simpy

from twin.distributions import sampler
from twin.stats import TimeWeighted

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.line import Line


class Terminal:
    """The end of the line: `sink` (accepted) or `scrap` (rejected). Never blocks."""

    slots = None
    is_terminal = True

    def __init__(self, name: str):
        self.name = name


class Router:
    """Chooses the next station: a fixed one, or one of several by probability."""

    __slots__ = ("_targets", "_cum", "_uniform", "single")

    def __init__(self, targets: list, probabilities: list[float], uniform):
        self._targets = targets
        self._cum = []
        acc = 0.0
        for p in probabilities:
            acc += p
            self._cum.append(acc)
        self._cum[-1] = 1.0
        self._uniform = uniform
        self.single = targets[0] if len(targets) == 1 else None

    def choose(self):
        if self.single is not None:
            return self.single
        u = self._uniform()
        for target, c in zip(self._targets, self._cum):
            if u < c:
                return target
        return self._targets[-1]


class Station:
    """Base of all station kinds. Subclasses implement `visit(cell)` as a generator
    that returns the next station (or terminal) once the cell holds a slot there."""

    is_terminal = False
    cells_per_server = 1

    def __init__(self, name: str, cfg, line: "Line"):
        self.name = name
        self.cfg = cfg
        self.line = line
        self.env: simpy.Environment = line.env
        self.servers = simpy.Resource(self.env, cfg.servers)
        cap = cfg.buffer_capacity
        self.slots = None if cap is None else simpy.Resource(self.env, cap + cfg.servers * self.cells_per_server)
        self.busy = TimeWeighted()
        self.down_time = TimeWeighted()
        self.router: Router | None = None
        self.down_count = 0
        self._up = self.env.event()
        self._active: set = set()
        self.interruptible = cfg.breakdowns is not None or cfg.shifts is not None
        process_time = getattr(cfg, "process_time_h", None)
        self.process_time = None if process_time is None else sampler(process_time, line.streams.generator(f"{name}:process"))

    # --- wiring -----------------------------------------------------------------
    def start(self) -> None:
        """Start the station's own processes (downtime); called once the line is wired."""
        if self.cfg.breakdowns is not None:
            self.env.process(self._breakdowns())
        if self.cfg.shifts is not None:
            self.env.process(self._shifts())

    def reset_stats(self, now: float) -> None:
        self.busy.reset(now)
        self.down_time.reset(now)

    # --- downtime -----------------------------------------------------------------
    def _go_down(self) -> None:
        self.down_count += 1
        if self.down_count == 1:
            self.down_time.add(self.env.now, 1)
            for proc in list(self._active):
                proc.interrupt("down")

    def _go_up(self) -> None:
        self.down_count -= 1
        if self.down_count == 0:
            self.down_time.add(self.env.now, -1)
            up, self._up = self._up, self.env.event()
            up.succeed()

    def wait_up(self) -> Generator:
        while self.down_count:
            yield self._up

    def _breakdowns(self) -> Generator:
        b = self.cfg.breakdowns
        rng = self.line.streams.generator(f"{self.name}:breakdowns")
        repair = sampler(b.mttr_h, rng)
        while True:
            yield self.env.timeout(rng.exponential(b.mtbf_h))
            self._go_down()
            yield self.env.timeout(repair())
            self._go_up()

    def _shifts(self) -> Generator:
        """Off outside the shift windows; a window ending where the next begins costs nothing."""
        sh = self.cfg.shifts
        env = self.env
        self._go_down()  # off until the first window opens
        base = 0.0
        while True:
            for start, end in sh.windows_h:
                yield env.timeout(base + start - env.now)
                self._go_up()
                yield env.timeout(base + end - env.now)
                self._go_down()
            base += sh.period_h

    def work(self, duration: float) -> Generator:
        """Spend `duration` of working time; downtime pauses the work (preempt-resume)."""
        env = self.env
        if not self.interruptible:
            self.busy.add(env.now, 1)
            yield env.timeout(duration)
            self.busy.add(env.now, -1)
            return
        remaining = duration
        proc = env.active_process
        while True:
            while self.down_count:
                yield self._up
            start = env.now
            self.busy.add(start, 1)
            self._active.add(proc)
            try:
                yield env.timeout(remaining)
                return
            except simpy.Interrupt:
                remaining -= env.now - start
            finally:
                self._active.discard(proc)
                self.busy.add(env.now, -1)

    # --- moving on ----------------------------------------------------------------
    def move_on(self, cell: "Cell", target) -> Generator:
        """Take a slot at `target` (blocking while it is full), then free ours."""
        slots = target.slots
        if slots is not None:
            req = slots.request()
            yield req
        else:
            req = None
        if self.slots is not None:
            self.slots.release(cell.slot)
        cell.slot = req
        return target

    def visit(self, cell: "Cell") -> Generator:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} has no visit()")
