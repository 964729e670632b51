"""A leaner SimPy: the same events, scheduled in the same order, with less Python per event.

- `FastEnvironment.run(until=t)` processes events in a loop of its own instead of calling
  `step()` per event; the stopping rule is SimPy's (an URGENT stop at `t`, its event id
  reserved at the same moment), so every event runs in the same order at the same time.
- `LeanResource` is a `simpy.Resource` whose `request()` (when it is granted at once) and
  `release()` build their events directly: the same users, the same `schedule()` calls in
  the same order, without the generic put/get queue machinery. The request's own callback
  in SimPy (`_trigger_get` over a release queue that a Resource always leaves empty) did
  nothing and is left out.

Results are identical to plain SimPy (tests/test_engine.py; the golden summaries)."""

from __future__ import annotations

from heapq import heappop
from typing import Any, Optional, Union

import simpy
from simpy.events import URGENT
from simpy.resources.resource import Release, Request


class FastEnvironment(simpy.Environment):
    """`simpy.Environment` with an inlined event loop for `run(until=<time>)`."""

    def run(self, until: Optional[Union[float, simpy.Event]] = None) -> Optional[Any]:
        if until is None or isinstance(until, simpy.Event):
            return super().run(until)
        at = float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop_eid = next(self._eid)  # SimPy's stop event: (at, URGENT, this id) in the queue
        queue = self._queue
        while queue:
            head = queue[0]
            t = head[0]
            if t >= at and (t > at or head[1] > URGENT or head[2] > stop_eid):
                break
            heappop(queue)
            self._now = t
            event = head[3]
            callbacks = event.callbacks
            event.callbacks = None  # type: ignore[assignment]  # processed (SimPy's own convention)
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
        self._now = at
        return None


class LeanResource(simpy.Resource):
    """`simpy.Resource` with direct request (granted at once) and release events."""

    def request(self) -> Request:
        if self.put_queue or len(self.users) >= self.capacity:
            return Request(self)  # it waits: SimPy's own path
        env = self._env
        req = Request.__new__(Request)
        req.env = env
        req.callbacks = []
        req.resource = self
        req.proc = env.active_process
        self.users.append(req)
        req.usage_since = env.now
        req._ok = True
        req._value = None
        env.schedule(req)
        return req

    def release(self, request: Request) -> Release:
        env = self._env
        rel = Release.__new__(Release)
        rel.env = env
        rel.request = request
        rel.callbacks = [self._trigger_put]
        rel.resource = self
        rel.proc = env.active_process
        try:
            self.users.remove(request)
        except ValueError:
            pass
        rel._ok = True
        rel._value = None
        env.schedule(rel)
        return rel
