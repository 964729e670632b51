"""A press of another (fictional) vendor, "Acme", shaped unlike LADS: its own namespace and
names, a method with a JSON parameter string and a plain String[] of cells, a text mode
instead of a state machine, results in a History folder, and other units (bar, kPa, ms, K).
The twin drives it through tests/hil/profiles/acme.yaml only, with no code of its own.

Run ids deliberately contain "/", ":" and a space. Test knobs: `refuse_starts` (BadInvalidState
for the next N starts, nothing started), `uncertain_next` (the next result's cell pressures
carry UncertainSensorNotAccurate), `report_status` (ReportQuality answers with that status),
`users` (a login other than these is refused).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

NS = "urn:acme:press"
BAR_PER_MPA = 10.0


@dataclass
class AcmeRun:
    run_id: str
    order: str
    cells: list[str]
    params: dict[str, float]
    uncertain: bool = False
    done: bool = False
    verdicts: dict[str, str] = field(default_factory=dict)


class _Users:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return None
        if self.users.get(username) != password:
            return None
        return User(role=UserRole.User, name=username)


class AcmePress:
    """One Acme press on 127.0.0.1:`port` (no security: a bench instrument)."""

    REQUIRED = ("pressure_bar", "ramp_bar_per_s", "hold_ms", "temp_K", "vent_bar_per_s")

    def __init__(self, port: int, name: str = "Acme-7", max_cells: int = 2, cycle_wall_s: float = 0.3,
                 users: dict[str, str] | None = None, max_pressure_kpa: float = 200_000.0) -> None:
        self.port, self.name, self.max_cells, self.cycle_wall_s = port, name, max_cells, cycle_wall_s
        self.users = users or {"op": "op-secret"}
        self.max_pressure_kpa = max_pressure_kpa
        self.server = Server(user_manager=_Users(self.users))
        self.endpoint = f"opc.tcp://127.0.0.1:{port}"
        self.runs: dict[str, AcmeRun] = {}
        self.by_order: dict[str, str] = {}
        self.refuse_starts = 0
        self.refuse_status = "BadInvalidState"  # what a refused start answers
        self.report_status: str | None = None  # e.g. "BadCommunicationError": ReportQuality cannot take it now
        self.reports_refused = 0
        self.uncertain_next = False
        self.starts_refused = 0
        self.busy = False
        self._n = 0
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> "AcmePress":
        srv = self.server
        await srv.init()
        srv.set_endpoint(self.endpoint)
        srv.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        srv.set_identity_tokens([ua.UserNameIdentityToken])
        # other namespaces first, so the vendor's index is not the one a LADS server would use
        for filler in ("urn:acme:filler-a", "urn:acme:filler-b"):
            await srv.register_namespace(filler)
        idx = self.idx = await srv.register_namespace(NS)
        presses = await srv.nodes.objects.add_folder(idx, "Presses")
        dev = await presses.add_object(idx, self.name)
        self.vessel = vessel = await dev.add_object(idx, "Vessel")
        control = await vessel.add_object(idx, "Control")
        self.mode = await control.add_variable(idx, "Mode", "IDLE")
        await vessel.add_property(idx, "MaxCells", ua.Variant(self.max_cells, ua.VariantType.UInt16))
        await vessel.add_property(idx, "PressureLimits_kPa", ua.Range(Low=0.0, High=self.max_pressure_kpa))
        self.history = await vessel.add_folder(idx, "History")
        s = ua.VariantType
        await control.add_method(idx, "RunRecipe", self._run_recipe, [s.String, s.String, s.String, s.String],
                                 [s.String])
        await control.add_method(idx, "ReportQuality", self._report_quality, [s.String, s.String, s.String, s.String],
                                 [])
        await srv.start()
        return self

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await self.server.stop()

    # -- methods ---------------------------------------------------------------------
    async def _run_recipe(self, parent: ua.NodeId, recipe: Any, params: Any, order: Any, cells: Any) -> Any:
        recipe, params, order = recipe.Value, params.Value, order.Value
        cells = list(cells.Value or [])
        if order in self.by_order:
            return [ua.Variant(self.by_order[order], ua.VariantType.String)]
        if self.refuse_starts > 0:
            self.refuse_starts -= 1
            self.starts_refused += 1
            return ua.StatusCode(getattr(ua.StatusCodes, self.refuse_status))
        if recipe != "ISO-CYCLE" or self.busy:
            return ua.StatusCode(ua.StatusCodes.BadInvalidState if self.busy else ua.StatusCodes.BadInvalidArgument)
        try:
            values = {k: float(v) for k, v in json.loads(params).items()}
        except (ValueError, TypeError, AttributeError):
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        if sorted(values) != sorted(self.REQUIRED) or len(cells) > self.max_cells:
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        self._n += 1
        run = AcmeRun(f"{self.name}/run {self._n}:A", order, cells, values, uncertain=self.uncertain_next)
        self.uncertain_next = False
        self.runs[run.run_id] = run
        self.by_order[order] = run.run_id
        self.busy = True
        await self.mode.write_value("CYCLING")
        task = asyncio.get_running_loop().create_task(self._cycle(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return [ua.Variant(run.run_id, ua.VariantType.String)]

    async def _report_quality(self, parent: ua.NodeId, run_id: Any, cell: Any, verdict: Any, note: Any) -> Any:
        if self.report_status is not None:
            self.reports_refused += 1
            return ua.StatusCode(getattr(ua.StatusCodes, self.report_status))
        run = self.runs.get(run_id.Value)
        if run is None:
            return ua.StatusCode(ua.StatusCodes.BadNotFound)
        if cell.Value not in run.cells:
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        run.verdicts[cell.Value] = verdict.Value
        return []

    # -- the cycle -------------------------------------------------------------------
    async def _cycle(self, run: AcmeRun) -> None:
        await asyncio.sleep(self.cycle_wall_s)
        idx, p = self.idx, run.params
        kpa = p["pressure_bar"] / BAR_PER_MPA * 1000.0
        folder = await self.history.add_object(idx, run.run_id)
        now = datetime.now(timezone.utc)
        pressures = [kpa * (0.97 + 0.01 * i) for i in range(len(run.cells))]
        quality = ua.StatusCode(ua.StatusCodes.UncertainSensorNotAccurate if run.uncertain else ua.StatusCodes.Good)
        items: list[tuple[str, Any, ua.VariantType, bool]] = [
            ("OrderId", run.order, ua.VariantType.String, False),
            ("Cells", list(run.cells), ua.VariantType.String, True),
            ("Alarms", [], ua.VariantType.String, True),
            ("CycleTime_ms", 1000.0 * (p["hold_ms"] / 1000.0 + 60.0), ua.VariantType.Double, False),
            ("HoldTime_ms", p["hold_ms"], ua.VariantType.Double, False),
            ("MeanTemp_K", p["temp_K"], ua.VariantType.Double, False),
            ("CellCV", [0.02] * len(run.cells), ua.VariantType.Double, True),
            ("Verdict", "OK", ua.VariantType.String, False),
        ]
        for name, value, vtype, array in items:
            await folder.add_variable(idx, name, ua.Variant(value, vtype, is_array=array))
        cp = await folder.add_variable(idx, "CellPressure_kPa", ua.Variant(pressures, ua.VariantType.Double,
                                                                           is_array=True))
        await self.server.write_attribute_value(cp.nodeid, ua.DataValue(
            ua.Variant(pressures, ua.VariantType.Double, is_array=True), StatusCode=quality,
            SourceTimestamp=now, ServerTimestamp=now))
        await folder.add_variable(idx, "FinishedAt", ua.Variant(now, ua.VariantType.DateTime))  # last: final
        run.done = True
        self.busy = False
        await self.mode.write_value("DONE")


async def serve(port: int, **kw: Any) -> AcmePress:
    return await AcmePress(port, **kw).start()
