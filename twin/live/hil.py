"""`HilWatch`: the live view of a hardware-in-the-loop run.

It listens on the adapters' bus (`adapters.observe`): the run's start hands it the line, the
real-time clock and the bound devices; link events, calls and time-outs, program runs and
dispositions keep each device's row current. For the live values it opens its own read-only
subscription on every bound device (a session apart from the twin's, so watching never
delays a call): pressure and temperature of presses, the state machine and the active faults,
published on the same bus as ``sample``, ``state`` and ``fault`` events. A new fault is pushed
to the page at once."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters import observe

if TYPE_CHECKING:  # pragma: no cover
    from twin.live.feed import LineFeed

log = logging.getLogger(__name__)
PUBLISH_MS = 100  # requested publishing interval of the watch subscription
WATCHDOG_S = 5.0  # asyncua's keep-alive interval (and time-out) of the watch session
QUEUE_SIZE = 50  # values the server keeps per item between two publishes
MAX_SAMPLES = 4000  # per quantity of one cycle
QUANTITIES = ("pressure_mpa", "temperature_c", "state", "faults")


def _quantity_paths(device: str) -> dict[str, Any]:
    """Quantity -> vocabulary path (from Objects) of what the watch subscribes on a LADS device."""
    from adapters import vocabulary as v

    press = v.unit_path(device, v.Unit.PRESS_CHAMBER)
    return {"pressure_mpa": press + v.function_path(v.Function.PRESSURE.value) + (v.CURRENT_VALUE,),
            "temperature_c": press + v.function_path(v.Function.TEMPERATURE.value) + (v.CURRENT_VALUE,),
            "state": press + v.UNIT_CURRENT_STATE, "faults": v.device_path(device) + v.ACTIVE_FAULTS}


TRACE_KEYS = {"pressure_mpa": ("p_t_s", "p_mpa"), "temperature_c": ("temp_t_s", "temp_c")}


def _wall(ts: Any) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else time.time()


class _Handler:
    """asyncua subscription handler: each data change goes on the bus."""

    def __init__(self, device: str, names: dict[Any, str]):
        self.device = device
        self.names = names  # NodeId -> quantity

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        quantity = self.names.get(node.nodeid)
        if quantity is None:
            return
        try:
            source_ts = _wall(data.monitored_item.Value.SourceTimestamp)
        except AttributeError:
            source_ts = time.time()
        if quantity == "faults":
            observe.emit("fault", device=self.device, faults=[str(f) for f in (val or []) if f], source_ts=source_ts)
        elif quantity == "state":
            observe.emit("state", device=self.device, state=str(getattr(val, "Text", val)), source_ts=source_ts)
        else:
            observe.emit("sample", device=self.device, quantity=quantity, value=float(val), source_ts=source_ts)

    def status_change_notification(self, status: Any) -> None:
        observe.emit("link", device=self.device, event="watch_lost", status=str(status))


class HilWatch:
    """Feeds a `LineFeed` from the bus during `twin hil --live` (an async context manager)."""

    def __init__(self, feed: "LineFeed", subscribe: bool = True):
        self.feed = feed
        self.subscribe = subscribe
        self.env: Any = None
        self.station_of: dict[str, str] = {}  # device -> binding name
        self.clients: list[Any] = []
        self._tasks: list[asyncio.Task] = []
        self._unsubscribe: Any = None

    async def __aenter__(self) -> "HilWatch":
        self._unsubscribe = observe.BUS.subscribe(self.on_event)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # asyncio.wait: never stuck on a cancellation lost in a race (Python < 3.12)
            await asyncio.wait(self._tasks, timeout=5.0)
        self._tasks.clear()
        for client in self.clients:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except BaseException:  # noqa: BLE001 - a dead link cannot be closed politely
                pass
        self.clients.clear()

    # --- the bus -----------------------------------------------------------------------
    def _device(self, device: str) -> dict[str, Any]:
        station = self.station_of.get(device, device)
        row = self.feed.devices.get(station)
        if row is None:
            row = self.feed.devices[station] = {
                "device": device, "connected": False, "calls": 0, "timeouts": 0, "reconnects": 0, "restarts": 0,
                "stalls": 0, "faults": [], "state": None, "call_ms": None, "pressure_mpa": None,
                "temperature_c": None}
        return row

    def on_event(self, topic: str, ev: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + topic, None)
        if handler is not None:
            handler(ev)

    def _on_hil_start(self, ev: dict[str, Any]) -> None:
        link, self.env = ev["link"], ev["env"]
        for name, session in link.sessions.items():
            self.station_of[session.device] = name
            self._device(session.device)
        self.feed.attach(ev["line"])
        self.feed.clock = self._clock
        if self.subscribe:
            loop = asyncio.get_running_loop()
            self._tasks += [loop.create_task(self._watch(name, s)) for name, s in link.sessions.items()]

    def _clock(self) -> dict[str, Any]:
        if self.env is None:
            return {}
        st = self.env.stats()
        return {"lag_ms": round(self.env.lag_s * 1e3, 2), "lag_p95_ms": round(st.p95_s * 1e3, 2),
                "lag_max_ms": round(st.max_s * 1e3, 2), "late_events": st.late_events, "rebases": st.rebases}

    def _on_link(self, ev: dict[str, Any]) -> None:
        row = self._device(ev["device"])
        kind = ev["event"]
        if kind in ("connected", "reconnected"):
            row["connected"] = True
        elif kind in ("link_lost", "gave_up", "stalled"):
            row["connected"] = False
        for counter, on in (("reconnects", "reconnected"), ("restarts", "restarted"), ("stalls", "stalled")):
            if kind == on:
                row[counter] += 1
        serious = kind not in ("connected", "reconnected")
        if kind != "connected" or row["reconnects"] == 0:
            self.feed.note("link", f"{ev['device']}: {kind.replace('_', ' ')}", "warning" if serious else "info",
                           urgent=True, wall=ev["wall"], device=ev["device"])

    def _on_call(self, ev: dict[str, Any]) -> None:
        row = self._device(ev["device"])
        row["calls"] += 1
        if ev.get("timeout"):
            row["timeouts"] += 1
        elif ev.get("latency_s") is not None:
            row["call_ms"] = round(ev["latency_s"] * 1e3, 2)

    def _on_run_start(self, ev: dict[str, Any]) -> None:
        station = ev["station"]
        self.feed.live_traces[station] = {"run_id": ev["job_id"], "device": ev["device"], "cells": [
            int(s.rsplit("-c", 1)[1]) for s in ev["samples"] if "-c" in s], "wall_start": ev["wall"],
            "p_t_s": [], "p_mpa": [], "temp_t_s": [], "temp_c": [], "done": False}

    def _on_run(self, ev: dict[str, Any]) -> None:
        trace = self.feed.live_traces.get(ev["station"])
        if trace is not None:
            trace.update(run_id=ev["run_id"] or ev["job_id"], done=True, ok=bool(ev["ok"]),
                         faults=[ev["problem"]] if ev["problem"] else [])
        if not ev["ok"]:
            self.feed.note("quarantine", f"{ev['station']} run {ev['run_id'] or ev['job_id']} quarantined: "
                                         f"{ev['problem']}", "error", urgent=True, wall=ev["wall"])

    def _on_disposition(self, ev: dict[str, Any]) -> None:
        if ev.get("delivered") is False:
            self.feed.note("disposition", f"decision on {ev['sample_id']} not delivered: {ev.get('error')}",
                           "warning", wall=ev["wall"])

    def _on_sample(self, ev: dict[str, Any]) -> None:
        row = self._device(ev["device"])
        row[ev["quantity"]] = round(ev["value"], 3)
        station = self.station_of.get(ev["device"])
        trace = self.feed.live_traces.get(station) if station else None
        keys = TRACE_KEYS.get(ev["quantity"])
        if trace is None or keys is None or trace["done"]:
            return
        t_key, v_key = keys
        if len(trace[t_key]) < MAX_SAMPLES:
            trace[t_key].append(round(ev["source_ts"] - trace["wall_start"], 3))
            trace[v_key].append(round(ev["value"], 3))

    def _on_state(self, ev: dict[str, Any]) -> None:
        self._device(ev["device"])["state"] = ev["state"]

    def _on_fault(self, ev: dict[str, Any]) -> None:
        row = self._device(ev["device"])
        new = [f for f in ev["faults"] if f not in row["faults"]]
        row["faults"] = list(ev["faults"])
        if new:
            self.feed.note("fault", f"{ev['device']} reports fault {', '.join(new)}", "error", urgent=True,
                           wall=ev["wall"], device=ev["device"], source_ts=ev["source_ts"])
        elif not ev["faults"]:
            self.feed.note("fault", f"{ev['device']}: faults cleared", "info", wall=ev["wall"], device=ev["device"])

    # --- the watch subscription ------------------------------------------------------
    async def _connect(self, session: Any) -> Any:
        from asyncua import Client, ua

        conn = session.conn
        # asyncua drops a session whose keep-alive read takes longer than its watchdog interval (1 s
        # by default): too strict for a watcher on a loaded machine; our own check runs every second
        client = Client(session.endpoint, timeout=conn.call_timeout_s, watchdog_intervall=WATCHDOG_S)
        client.application_uri = conn.application_uri
        if conn.security_policy != "None":
            from asyncua.crypto import security_policies as sp

            policy: Any = {"Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
                      "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss}[conn.security_policy]
            cert, key = session.client_cert
            await client.set_security(policy, str(cert), str(key), mode=ua.MessageSecurityMode.SignAndEncrypt)
        if session.credentials is not None:
            client.set_user(session.credentials[0])
            client.set_password(session.credentials[1])
        await asyncio.wait_for(client.connect(), conn.connect_timeout_s)
        return client

    async def _watch(self, station: str, session: Any) -> None:
        """Keep a subscription on one device, re-made after the link comes back."""
        from asyncua import ua

        from adapters.opcua.paths import NamespaceMap, translate

        device = session.device
        while True:
            client = None
            try:
                client = await self._connect(session)
                self.clients.append(client)
                ns = NamespaceMap(await client.get_namespace_array())
                paths = _quantity_paths(device)
                found = await translate(client, ns, ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)), list(paths.values()))
                names: dict[Any, str] = {}
                nodes = []
                for quantity, nid in zip(paths, found):
                    if isinstance(nid, ua.StatusCode):  # not every device has every node (no pressure on a glovebox)
                        continue
                    names[nid] = quantity
                    nodes.append(client.get_node(nid))
                sub = await client.create_subscription(PUBLISH_MS, _Handler(device, names))
                await sub.subscribe_data_change(nodes, queuesize=QUEUE_SIZE)  # no change lost between publishes
                while True:  # the subscription works by itself; check the link now and then
                    await asyncio.sleep(1.0)
                    await asyncio.wait_for(client.nodes.server_state.read_value(), session.conn.call_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch never stops the run; retry
                log.info("live watch of %s: %r; retrying", device, exc)
                if client is not None:
                    if client in self.clients:
                        self.clients.remove(client)
                    try:
                        await asyncio.wait_for(client.disconnect(), 1.0)
                    except BaseException:  # noqa: BLE001
                        pass
                await asyncio.sleep(1.0)
