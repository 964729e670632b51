"""A timed step with parallel servers (collector prep, sealing, ...)."""

from __future__ import annotations

from typing import Generator

from twin.stations.base import Station


class ProcessStation(Station):
    """Queue, take a server, work, hand on (blocking while the next buffer is full)."""

    def visit(self, cell) -> Generator:
        env = self.env
        t_arrive = env.now
        req = self.servers.request()
        yield req
        t_start = env.now
        yield from self.work(self.process_time())
        t_end = env.now
        target = yield from self.after_work(cell, t_start, t_end)
        if target is None:
            target = self.router.choose()
        yield from self.move_on(cell, target)
        self.servers.release(req)
        self.line.visit(cell, self.name, t_arrive, t_start, t_end, env.now)
        return target

    def after_work(self, cell, t_start: float, t_end: float) -> Generator:
        """Hook for kinds that measure or decide something at the end of the work;
        it may return the next station, otherwise the router chooses."""
        return
        yield
