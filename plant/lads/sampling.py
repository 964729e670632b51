"""Honour the requested sampling interval of data-change monitored items (docs/opcua.md T2).

asyncua 2.1 reports every write to every monitored item and revises the sampling interval to
the publishing interval. ``install()`` (once per process) makes each monitored item a sampler:
it forwards at most one value per requested interval S, measured on the values'
SourceTimestamps (the device's sample times), and never loses the latest value: a value that
arrives too early is held and delivered when the interval has passed (sample and hold), unless a
newer one replaces it. S <= 0 means every value. The revised interval is the requested one.
"""
from __future__ import annotations

import asyncio
from typing import Any

from asyncua import ua
from asyncua.server.monitored_item_service import MonitoredItemData, MonitoredItemService

_installed = False


class _Sampler:
    """Per monitored item: the interval, when the next value is due, the held value."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.next_due: float | None = None  # source time (s) from which a value may pass
        self.held: ua.DataValue | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None


def _source_s(dv: ua.DataValue) -> float | None:
    ts = dv.SourceTimestamp or dv.ServerTimestamp
    return ts.timestamp() if ts is not None else None


def install() -> None:
    """Patch asyncua's MonitoredItemService (idempotent)."""
    global _installed
    if _installed:
        return
    orig_common = MonitoredItemService._make_monitored_item_common
    orig_callback = MonitoredItemService.datachange_callback

    def make_common(self: MonitoredItemService, params: ua.MonitoredItemCreateRequest) -> Any:
        result, mdata = orig_common(self, params)
        requested = float(params.RequestedParameters.SamplingInterval or 0.0)
        if requested > 0:
            result.RevisedSamplingInterval = requested
        mdata.sampler = _Sampler(requested / 1000.0)  # type: ignore[attr-defined]
        return result, mdata

    async def callback(self: MonitoredItemService, handle: int, value: ua.DataValue,
                       error: ua.StatusCode | None = None) -> None:
        mid = self._monitored_datachange.get(handle)
        mdata: MonitoredItemData | None = self._monitored_items.get(mid) if mid is not None else None
        sampler: _Sampler | None = getattr(mdata, "sampler", None)
        if error or sampler is None or sampler.interval_s <= 0:
            await orig_callback(self, handle, value, error)
            return
        t = _source_s(value)
        if t is None or sampler.next_due is None or t >= sampler.next_due - 1e-6:
            sampler.held = None
            sampler.next_due = (t if t is not None else 0.0) + sampler.interval_s
            await orig_callback(self, handle, value, error)
            return
        sampler.held = value  # too early: hold it, deliver when due unless replaced
        if sampler.timer is None:
            delay = max(0.0, sampler.next_due - t)
            loop = asyncio.get_running_loop()

            def fire() -> None:  # keep a reference: the loop holds tasks only weakly
                sampler.task = loop.create_task(_release(self, handle, sampler))
            sampler.timer = loop.call_later(delay, fire)

    async def _release(service: MonitoredItemService, handle: int, sampler: _Sampler) -> None:
        sampler.timer = None
        held, sampler.held = sampler.held, None
        if held is None or handle not in service._monitored_datachange:
            return
        t = _source_s(held)
        sampler.next_due = max(t or 0.0, sampler.next_due or 0.0) + sampler.interval_s
        try:
            await orig_callback(service, handle, held, None)
        except KeyError:  # the monitored item was deleted meanwhile
            pass

    MonitoredItemService._make_monitored_item_common = make_common  # type: ignore[method-assign]
    MonitoredItemService.datachange_callback = callback  # type: ignore[method-assign]
    _installed = True
