"""What every station shares at run time: servers, a finite buffer that blocks upstream,
routing, downtime (breakdowns and shifts as interrupts of the work in progress) and the
time its servers spend busy, blocked, starved, down and off shift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generator, Mapping, Protocol, TypeVar

import simpy

from twin.distributions import Uniform, sampler
from twin.engine import LeanResource
from twin.stations.config import StationConfig
from twin.stats import TimeWeighted

if TYPE_CHECKING:  # pragma: no cover
    from adapters.ports import Ports
    from twin.cell import Cell
    from twin.recorder import Recorder
    from twin.streams import Streams

T = TypeVar("T")
#: a SimPy process generator: yields events, is sent their values, returns a T
Process = Generator[simpy.Event, Any, T]
STATES: tuple[str, ...] = ("busy", "blocked", "starved", "down", "off_shift")


class Terminal:
    """The end of the line: `sink` (accepted) or `scrap` (rejected). Never blocks."""

    slots = None
    is_terminal = True

    def __init__(self, name: str):
        self.name = name


Node = Any  # a Station or a Terminal: what a router hands a cell to


class Routing(Protocol):
    def node(self, name: str) -> Node:
        """The station or terminal called `name`."""
        ...


@dataclass
class StationContext:
    """The narrow view of the line a station works in."""

    env: simpy.Environment
    streams: "Streams"
    ports: "Ports"
    recorder: "Recorder"
    routing: Routing
    shared: Mapping[str, simpy.Resource]  # resources several stations hold (a glovebox's places)


class Router:
    """Chooses the next station: a fixed one, or one of several by probability."""

    __slots__ = ("_targets", "_cum", "_uniform", "single")

    def __init__(self, targets: list[Node], probabilities: list[float], uniform: Callable[[], float] | None):
        self._targets = targets
        self._cum = []
        acc = 0.0
        for p in probabilities:
            acc += p
            self._cum.append(acc)
        self._cum[-1] = 1.0
        self._uniform = uniform
        self.single = targets[0] if len(targets) == 1 else None

    @classmethod
    def for_routes(cls, name: str, targets: list[tuple[str, float]], ctx: StationContext) -> "Router":
        """A router over (target, probability) pairs; several targets draw from `<name>:route`."""
        nodes = [ctx.routing.node(t) for t, _ in targets]
        if len(nodes) == 1:
            return cls(nodes, [1.0], None)
        uniform = sampler(Uniform(dist="uniform", low=0.0, high=1.0), ctx.streams.generator(f"{name}:route"))
        return cls(nodes, [p for _, p in targets], uniform)

    def choose(self) -> Node:
        if self.single is not None:
            return self.single
        assert self._uniform is not None
        u = self._uniform()
        for target, c in zip(self._targets, self._cum):
            if u < c:
                return target
        return self._targets[-1]


StateListener = Callable[[float, tuple[int, int, int, int, int]], None]


class StateMonitor:
    """Server-time in each state since the last reset. A server is busy (working), blocked
    (done, waiting for a place downstream), or else idle: off shift, down, or starved (up and
    waiting for work), in that order of precedence. The shares always sum to 1."""

    __slots__ = ("servers", "busy", "blocked", "down", "off", "areas", "last", "start", "listener")

    def __init__(self, servers: int, now: float = 0.0):
        self.servers = servers
        self.busy = 0
        self.blocked = 0
        self.down = False
        self.off = False
        self.areas = [0.0] * len(STATES)
        self.last = now
        self.start = now
        self.listener: StateListener | None = None

    def _advance(self, now: float) -> None:
        dt = now - self.last
        if dt:
            a = self.areas
            idle = self.servers - self.busy - self.blocked
            a[0] += self.busy * dt
            a[1] += self.blocked * dt
            a[4 if self.off else 3 if self.down else 2] += idle * dt
            self.last = now

    def levels(self) -> tuple[int, int, int, int, int]:
        idle = self.servers - self.busy - self.blocked
        return (self.busy, self.blocked, 0 if self.down or self.off else idle,
                idle if self.down and not self.off else 0, idle if self.off else 0)

    def change(self, now: float, busy: int = 0, blocked: int = 0) -> None:
        self._advance(now)
        self.busy += busy
        self.blocked += blocked
        if self.listener is not None:
            self.listener(now, self.levels())

    def set_down(self, now: float, down: bool, off: bool) -> None:
        self._advance(now)
        self.down, self.off = down, off
        if self.listener is not None:
            self.listener(now, self.levels())

    def reset(self, now: float) -> None:
        self._advance(now)
        self.areas = [0.0] * len(STATES)
        self.start = now

    def busy_mean(self, now: float) -> float:
        """Mean number of busy servers."""
        return self.mean(now)[0]

    def mean(self, now: float) -> list[float]:
        """Mean number of servers in each state."""
        self._advance(now)
        span = now - self.start
        if span <= 0:
            return [float(x) for x in self.levels()]
        return [a / span for a in self.areas]

    def shares(self, now: float) -> dict[str, float]:
        """Share of server-time in each state."""
        return {s: m / self.servers for s, m in zip(STATES, self.mean(now))}


class Station:
    """Base of all station kinds. Subclasses implement `visit(cell)` as a generator
    that returns the next station (or terminal) once the cell holds a slot there."""

    is_terminal = False
    cells_per_server = 1
    holds_server_while_blocked = True

    def __init__(self, name: str, cfg: StationConfig, ctx: StationContext):
        self.name = name
        self.cfg = cfg
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.servers = LeanResource(self.env, cfg.servers)
        cap = cfg.buffer_capacity
        self.slots = None if cap is None else LeanResource(self.env, cap + cfg.servers * self.cells_per_server)
        self.state = StateMonitor(cfg.servers)
        self.down_time = TimeWeighted()
        self.router: Router | None = None
        self.down_count = 0
        self._broken = 0
        self._off = False
        self._up = self.env.event()
        self._active: set = set()
        self.interruptible = cfg.breakdowns is not None or cfg.shifts is not None
        process_time = getattr(cfg, "process_time_h", None)
        self.process_time = None if process_time is None else sampler(process_time, ctx.streams.generator(f"{name}:process"))

    # --- wiring -----------------------------------------------------------------
    def wire(self) -> None:
        """Connect to the other stations once they all exist (routers, targets)."""
        nxt = getattr(self.cfg, "next", None)
        if nxt is not None:
            targets = [(nxt, 1.0)] if isinstance(nxt, str) else [(r.to, r.p) for r in nxt]
            self.router = Router.for_routes(self.name, targets, self.ctx)

    def start(self) -> None:
        """Start the station's own processes (downtime); called once the line is wired."""
        if self.cfg.breakdowns is not None:
            self.env.process(self._breakdowns())
        if self.cfg.shifts is not None:
            self.env.process(self._shifts())

    def reset_stats(self, now: float) -> None:
        self.state.reset(now)
        self.down_time.reset(now)

    def queue_length(self) -> int:
        """Cells waiting for a server (for the buffer-level timeline)."""
        return len(self.servers.queue)

    # --- downtime -----------------------------------------------------------------
    def _go_down(self, off_shift: bool) -> None:
        if off_shift:
            self._off = True
        else:
            self._broken += 1
        self.down_count += 1
        self.state.set_down(self.env.now, self._broken > 0, self._off)
        if self.down_count == 1:
            self.down_time.add(self.env.now, 1)
            for proc in list(self._active):
                proc.interrupt("down")

    def _go_up(self, off_shift: bool) -> None:
        if off_shift:
            self._off = False
        else:
            self._broken -= 1
        self.down_count -= 1
        self.state.set_down(self.env.now, self._broken > 0, self._off)
        if self.down_count == 0:
            self.down_time.add(self.env.now, -1)
            up, self._up = self._up, self.env.event()
            up.succeed()

    def wait_up(self) -> Process[None]:
        while self.down_count:
            yield self._up

    def _breakdowns(self) -> Process[None]:
        b = self.cfg.breakdowns
        assert b is not None
        rng = self.ctx.streams.generator(f"{self.name}:breakdowns")
        repair = sampler(b.mttr_h, rng)
        while True:
            yield self.env.timeout(rng.exponential(b.mtbf_h))
            self._go_down(off_shift=False)
            yield self.env.timeout(repair())
            self._go_up(off_shift=False)

    def _shifts(self) -> Process[None]:
        """Off outside the shift windows; a window ending where the next begins costs nothing."""
        sh = self.cfg.shifts
        assert sh is not None
        env = self.env
        self._go_down(off_shift=True)  # off until the first window opens
        base = 0.0
        while True:
            for start, end in sh.windows_h:
                yield env.timeout(base + start - env.now)
                self._go_up(off_shift=True)
                yield env.timeout(base + end - env.now)
                self._go_down(off_shift=True)
            base += sh.period_h

    def work(self, duration: float) -> Process[None]:
        """Spend `duration` of working time; downtime pauses the work (preempt-resume)."""
        env = self.env
        state = self.state
        if not self.interruptible:
            state.change(env.now, busy=1)
            yield env.timeout(duration)
            state.change(env.now, busy=-1)
            return
        remaining = duration
        proc = env.active_process
        while True:
            while self.down_count:
                yield self._up
            start = env.now
            state.change(start, busy=1)
            self._active.add(proc)
            try:
                yield env.timeout(remaining)
                return
            except simpy.Interrupt:
                remaining -= env.now - start
            finally:
                self._active.discard(proc)
                state.change(env.now, busy=-1)

    # --- moving on ----------------------------------------------------------------
    def move_on(self, cell: "Cell", target: Node) -> Process[Node]:
        """Take a slot at `target` (blocking while it is full), then free ours."""
        slots = target.slots
        if slots is not None:
            req = slots.request()
            if req.triggered or not self.holds_server_while_blocked:
                yield req
            else:
                self.state.change(self.env.now, blocked=1)
                yield req
                self.state.change(self.env.now, blocked=-1)
        else:
            req = None
        if self.slots is not None:
            self.slots.release(cell.slot)
        cell.slot = req
        return target

    def visit(self, cell: "Cell") -> Process[Node]:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} has no visit()")
