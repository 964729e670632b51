"""A timed step with parallel servers (collector prep, sealing, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from twin.distributions import Distribution
from twin.stations.base import Node, Process, Station, StationContext
from twin.stations.config import RoutedConfig
from twin.stations.registry import StationKind

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell


class ProcessConfig(RoutedConfig):
    """A timed step (collector prep, sealing, ...)."""

    kind: Literal["process"]
    process_time_h: Distribution


class ProcessStation(Station):
    """Queue, take a server, work, hand on (blocking while the next buffer is full)."""

    def visit(self, cell: "Cell") -> Process[Node]:
        env = self.env
        t_arrive = env.now
        req = self.servers.request()
        if req.triggered:
            yield req
        else:  # the cell queues: the buffer level changes twice
            self.ctx.recorder.queue_changed(self, t_arrive)
            yield req
            self.ctx.recorder.queue_changed(self, env.now)
        cls = type(self)
        # the hooks and helpers below are inlined where they would only wrap the same events
        held = None if cls.before_work is ProcessStation.before_work else (yield from self.before_work(cell))
        t_start = env.now
        assert self.process_time is not None
        if self.interruptible:
            yield from self.work(self.process_time())
        else:  # Station.work without downtime
            duration = self.process_time()
            self.state.change(t_start, busy=1)
            yield env.timeout(duration)
            self.state.change(env.now, busy=-1)
        t_end = env.now
        target = None if cls.after_work is ProcessStation.after_work else (
            yield from self.after_work(cell, t_start, t_end, held))
        if target is None:
            assert self.router is not None
            target = self.router.choose()
        if target.slots is None:  # Station.move_on without a slot to wait for
            if self.slots is not None:
                self.slots.release(cell.slot)
            cell.slot = None
        else:
            yield from self.move_on(cell, target)
        self.servers.release(req)
        self.ctx.recorder.visit(cell, self.name, t_arrive, t_start, t_end, env.now)
        return target

    def before_work(self, cell: "Cell") -> Process[Any]:
        """Hook for kinds that need more than a server to work (e.g. a place in a shared
        glovebox); what it returns is handed to `after_work`."""
        return None
        yield  # pragma: no cover - makes this a generator

    def after_work(self, cell: "Cell", t_start: float, t_end: float, held: Any = None) -> Process[Node | None]:
        """Hook for kinds that measure or decide something at the end of the work;
        it may return the next station, otherwise the router chooses."""
        return None
        yield  # pragma: no cover - makes this a generator


def _build(name: str, cfg: ProcessConfig, ctx: StationContext, scenario: Any) -> ProcessStation:
    return ProcessStation(name, cfg, ctx)


KIND = StationKind("process", ProcessConfig, _build)
