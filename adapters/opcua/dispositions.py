"""Dispositions: each decision is written back to the press that last pressed the cell.

Delivery goes through an outbox so a device that is away does not stop the line. Every
record is in trace.sqlite from the moment it is queued (`delivered` NULL while pending), and
is delivered in batches (one Call request per device per attempt). A link problem never
drops a record: it stays pending and is tried again after the session reconnects and every
`disposition_retry_s`; only a refusal by the device (it does not know the run, or the
decision is refused) marks it failed, with the status. Records still pending when the run
ends stay pending in trace.sqlite, and the next `twin hil` run on the same output folder
sends them first (`pending_from`).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path as FsPath
from typing import Any, Callable, Iterable

from asyncua import ua

from adapters import observe
from adapters.opcua.link import HardwareLink
from adapters.opcua.paths import join
from adapters.opcua.linklog import (LINK_STATUS_NAMES, ConfigurationRefused, DeviceRefused, DeviceUnavailable,
                                    LinkLost, wait_event)
from adapters.vocabulary import Decision

log = logging.getLogger(__name__)
Record = dict[str, Any]


def pending_from(folders: Iterable[FsPath]) -> list[Record]:
    """Undelivered decisions (delivered NULL) in the trace.sqlite of earlier runs."""
    out: dict[tuple[str, str], Record] = {}
    for folder in folders:
        path = folder / "trace.sqlite"
        if not path.exists():
            continue
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
            db.row_factory = sqlite3.Row
            try:
                rows = db.execute("SELECT * FROM dispositions WHERE delivered IS NULL").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            log.warning("cannot read pending dispositions from %s: %s", path, exc)
            continue
        for r in rows:
            rec = {k: r[k] for k in r.keys() if k not in ("delivered", "error")}
            rec["carried_over"] = True
            out[(rec["run_id"], rec["sample_id"])] = rec
    return list(out.values())


class Outbox:
    """Queued decisions per binding, delivered in order and in batches."""

    def __init__(self, link: HardwareLink, listeners: list[Callable[[Record], None]]) -> None:
        self.link = link
        self.listeners = listeners
        self.records: list[Record] = []
        self.pending: dict[str, list[Record]] = {}
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self._task: asyncio.Task | None = None
        self._closing = False
        for name, b in link.bound.items():
            b.session.on_connect.append(self.wake.set)  # retry as soon as a link is back

    def _binding_of_device(self, device: str) -> str | None:
        for name, b in self.link.bound.items():
            if b.binding.device == device and b.profile.press is not None and b.profile.press.disposition:
                return name
        return None

    def queue(self, rec: Record) -> None:
        self.records.append(rec)
        observe.emit("disposition", **rec)
        for listener in self.listeners:
            listener(rec)
        binding = rec.get("binding") or self._binding_of_device(rec.get("device", ""))
        if binding is None:
            log.warning("decision for %s on %s: that device is not bound; kept pending", rec["sample_id"],
                        rec.get("device"))
            return
        rec["binding"] = binding
        self.pending.setdefault(binding, []).append(rec)
        self.idle.clear()
        self.wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        retry_s = self.link.hardware.connection.disposition_retry_s
        gather_s = self.link.hardware.connection.disposition_batch_s
        while not self._closing:
            if await wait_event(self.wake, retry_s) and gather_s > 0 and not self._closing:
                await asyncio.sleep(gather_s)  # let the decisions of one batch arrive: one Call for them all
            self.wake.clear()
            for binding in list(self.pending):
                await self._deliver(binding)
            if not any(self.pending.values()):
                self.idle.set()

    async def _deliver(self, binding: str) -> None:
        batch = list(self.pending.get(binding) or [])
        if not batch:
            return
        b = self.link.bound[binding]
        press = b.profile.press
        assert press is not None and press.disposition is not None
        unit = b.nodes.unit if b.nodes is not None else ()
        obj = join(unit, b.profile.path(press.disposition.object))
        method = join(unit, b.profile.path(press.disposition.method))
        calls = []
        for rec in batch:
            args = {"run_id": rec["run_id"], "sample_id": rec["sample_id"], "decision": rec["decision"],
                    "reason": rec.get("reason") or ""}
            calls.append((obj, method, [ua.Variant(str(args[k]), ua.VariantType.String)
                                        for k in press.disposition_arguments]))
        try:
            results = await b.session.call_many(calls, retry=False)
        except (LinkLost, DeviceUnavailable, ConfigurationRefused) as exc:
            log.info("%d decision(s) for %s not delivered yet (%s); kept pending", len(batch), b.binding.device, exc)
            return
        except DeviceRefused as exc:  # the method itself is not there: nothing in the batch can go
            results = [(exc.status, [])] * len(batch)
        except Exception as exc:  # never let a bug stop the outbox
            log.exception("delivering decisions to %s failed", b.binding.device)
            results = [(repr(exc), [])] * len(batch)
        for rec, (status, _) in zip(batch, results):
            if status in LINK_STATUS_NAMES:  # the device could not take it now: stays pending
                continue
            rec["delivered"] = status == "Good"
            if status != "Good":
                rec["error"] = status
                log.warning("decision for %s refused by %s: %s", rec["sample_id"], b.binding.device, status)
            self.pending[binding].remove(rec)
            observe.emit("disposition", **rec)
            for listener in self.listeners:
                listener(rec)

    async def close(self, flush_timeout_s: float) -> None:
        """Deliver what is queued within `flush_timeout_s`; the rest stays pending."""
        if self._task is None:
            return
        self.wake.set()
        if not await wait_event(self.idle, flush_timeout_s):
            left = sum(len(v) for v in self.pending.values())
            log.warning("%d decision(s) not delivered; kept pending in trace.sqlite for the next run", left)
        self._closing = True
        self.wake.set()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def report(self) -> dict:
        return {"dispositions_sent": sum(d.get("delivered") is True for d in self.records),
                "dispositions_failed": [d for d in self.records if d.get("delivered") is False],
                "dispositions_pending": sum("delivered" not in d for d in self.records),
                "dispositions_carried_over": sum(bool(d.get("carried_over")) for d in self.records)}


class OpcuaDispositionPort:
    """The DispositionPort: decisions for cells pressed on bound presses go to the outbox."""

    def __init__(self, link: HardwareLink, outbox: Outbox, press_of_run: dict[str, str]) -> None:
        self.link = link
        self.outbox = outbox
        self.press_of_run = press_of_run  # RunId -> binding name, filled as runs end

    def report(self, station: str, cell: Any, decision: int, reason: str) -> None:
        run_id = cell.press_runs[-1] if cell.press_runs else None
        binding = self.press_of_run.get(run_id) if run_id else None
        if binding is None:
            return None
        self.outbox.queue({
            "binding": binding, "device": self.link.bound[binding].binding.device, "run_id": run_id,
            "sample_id": self.link.sample_id(cell), "cell_id": cell.id, "decision": Decision(decision).wire_name,
            "reason": reason, "sim_h": self.link.env.now,
        })
        return None
