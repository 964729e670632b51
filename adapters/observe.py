"""The adapters' observer hook: a tiny in-process event bus the OPC UA adapters publish to, so a
watcher (the live view, `twin.live.hil.HilWatch`) can follow the equipment without the adapters
knowing who listens. Publishing with nobody subscribed costs one truth test.

Topics and their fields (every event also has `wall`, the `time.time()` it was published):

- ``link``: device, event (``connected``, ``link_lost``, ``reconnected``, ``restarted``,
  ``stalled``, ``gave_up``) and the event's details
- ``call``: device, ok, latency_s (a call answered) or timeout=True (a call that timed out)
- ``run_start`` / ``run``: a program run started / ended on a device (the fields of
  `adapters.opcua.DeviceRun`)
- ``disposition``: a decision queued for a device, and again once delivered (or not)
- ``sample``: device, quantity (``pressure_mpa``, ``temperature_c``), value, source_ts (live
  values from a device subscription)
- ``fault``: device, faults (the device's active fault list), source_ts
- ``state``: device, state (the device's CurrentState)
- ``hil_start``: env, line, link, scenario (a hardware-in-the-loop run is about to start)

The bus is process-wide (`BUS`); `listening(fn)` subscribes for the length of a `with` block.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["Bus", "BUS", "emit", "listening", "Listener"]
log = logging.getLogger(__name__)
Listener = Callable[[str, dict[str, Any]], None]


class Bus:
    """Synchronous publish/subscribe: `emit(topic, **fields)` calls every listener in order.
    A listener that raises is logged and never breaks the publisher."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add `listener(topic, fields)`; returns the function that removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return unsubscribe

    def emit(self, topic: str, **fields: Any) -> None:
        if not self._listeners:
            return
        fields.setdefault("wall", time.time())
        for listener in list(self._listeners):
            try:
                listener(topic, fields)
            except Exception:  # a watcher's bug must not stop the equipment link
                log.exception("observer of %r failed", topic)


BUS = Bus()


def emit(topic: str, **fields: Any) -> None:
    """Publish on the process-wide bus (a no-op when nobody listens)."""
    if BUS:
        BUS.emit(topic, **fields)


@contextmanager
def listening(listener: Listener, bus: Bus = BUS) -> Iterator[Bus]:
    """Subscribe `listener` for the length of the block."""
    unsubscribe = bus.subscribe(listener)
    try:
        yield bus
    finally:
        unsubscribe()
