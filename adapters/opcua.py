"""asyncua client ports: the stations bound in the scenario's `hardware:` section talk to
real or emulated equipment; every other station keeps its in-process port.

Each port call returns a SimPy event from `env.run_coroutine`, so the twin's real-time
clock (`twin.clock.AsyncRealtimeEnvironment`) wakes the moment the device reports. A
coroutine here never raises into the simulation: when a cycle's data cannot be trusted
(device lost or restarted mid-cycle, fault reported, gap in the trace, no result in time,
recipe refused) the measurement says so (`ok=False`) and the batch station quarantines
its cells. A start is reconciled by SupervisoryJobId: it is re-sent only to the same
server instance (StartProgram is idempotent per job there), never to a restarted one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import simpy
from asyncua import ua

from adapters import observe
from adapters.ports import AtmosphereExposure, PressMeasurement, Ports, SurfaceMeasurement
from adapters.vocabulary import Decision
from adapters.session import NOT_FOUND, DeviceRefused, DeviceSession, DeviceUnavailable, LinkLost
from adapters.settings import Binding, Hardware

log = logging.getLogger(__name__)
SECONDS_PER_H = 3600.0
TRACE_GAP_FACTOR = 2.5  # a sample interval this many times the median is a gap


class CycleLost(Exception):
    """A program's outcome cannot be trusted; its cells are quarantined."""


@dataclass
class DeviceRun:
    """One program run on a device, as the traceability store keeps it."""

    station: str
    device: str
    job_id: str
    samples: list[str]
    run_id: str = ""
    status: str = "Pending"
    ok: bool = False
    problem: str = ""
    wall_start: float = 0.0
    wall_end: float = 0.0
    sim_start_h: float = math.nan
    sim_end_h: float = math.nan
    device_duration_s: float = math.nan  # the program's duration as the device reports it (simulated s)


@dataclass
class HardwareLink:
    """Sessions to the bound devices and the record of what was done on them."""

    env: Any
    hardware: Hardware
    sessions: dict[str, DeviceSession]  # binding name -> session
    tag: str  # unique per run: prefixes SupervisoryJobIds and SampleIds
    time_scale: float  # simulated seconds per wall second (the plant's)
    runs: list[DeviceRun] = field(default_factory=list)
    dispositions: list[dict] = field(default_factory=list)
    run_listeners: list[Any] = field(default_factory=list)  # called with each DeviceRun as it ends
    disposition_listeners: list[Any] = field(default_factory=list)  # called with a decision when queued and sent
    _outbox: asyncio.Queue | None = None
    _sender: asyncio.Task | None = None
    _jobs: int = 0

    def binding(self, name: str) -> Binding | None:
        return self.hardware.bindings.get(name)

    def sample_id(self, cell) -> str:
        return f"{self.tag}-c{cell.id}"

    def next_job(self, station: str) -> str:
        self._jobs += 1
        return f"{self.tag}-{station}-{self._jobs:05d}"

    async def open(self) -> None:
        """Connect every bound device once (fail fast when one is not there at the start)."""
        await asyncio.gather(*(s.connect() for s in self.sessions.values()))
        self._outbox = asyncio.Queue()
        self._sender = asyncio.get_running_loop().create_task(self._send_dispositions())

    async def close(self, flush_timeout_s: float) -> None:
        """Deliver the dispositions still queued (within `flush_timeout_s`), then disconnect."""
        if self._outbox is not None and self._sender is not None:
            try:
                await asyncio.wait_for(self._outbox.join(), flush_timeout_s)
            except asyncio.TimeoutError:
                log.warning("%d disposition(s) not delivered in time", self._outbox.qsize())
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in self.sessions.values()), return_exceptions=True)

    def finish(self, run: DeviceRun) -> None:
        run.wall_end = time.time()
        # the simulated time this wall moment maps to (env.now stands still while the twin waits)
        run.sim_end_h = max(self.env.now, self.env.sim_time_of(asyncio.get_running_loop().time()))
        self.runs.append(run)
        observe.emit("run", **run.__dict__)
        for listener in self.run_listeners:
            listener(run)

    # -- dispositions: queued, delivered in order, retried over reconnects -------------
    def queue_disposition(self, record: dict) -> None:
        self.dispositions.append(record)
        observe.emit("disposition", **record)
        for listener in self.disposition_listeners:
            listener(record)
        if self._outbox is not None:
            self._outbox.put_nowait(record)

    async def _send_dispositions(self) -> None:
        assert self._outbox is not None
        while True:
            rec = await self._outbox.get()
            try:
                session = self.sessions[rec["binding"]]
                await session.method("ProgramManager/SetDisposition", rec["run_id"], rec["sample_id"],
                                     rec["decision"], rec["reason"])
                rec["delivered"] = True
            except (DeviceRefused, DeviceUnavailable) as exc:
                rec["delivered"] = False
                rec["error"] = str(exc)
                log.warning("disposition of %s not delivered: %s", rec["sample_id"], exc)
            except Exception as exc:  # never let one record stop the rest
                rec["delivered"] = False
                rec["error"] = repr(exc)
                log.exception("disposition of %s failed", rec["sample_id"])
            finally:
                observe.emit("disposition", **rec)
                for listener in self.disposition_listeners:
                    listener(rec)
                self._outbox.task_done()

    def report(self) -> dict:
        """Per device: link figures; per run: status; dispositions delivered or not."""
        runs = [r.__dict__ for r in self.runs]
        return {
            "devices": {name: s.report() for name, s in self.sessions.items()},
            "runs": runs,
            "runs_ok": sum(r.ok for r in self.runs),
            "runs_quarantined": sum(not r.ok for r in self.runs),
            "dispositions_sent": sum(bool(d.get("delivered")) for d in self.dispositions),
            "dispositions_failed": [d for d in self.dispositions if d.get("delivered") is False],
            "dispositions_pending": sum("delivered" not in d for d in self.dispositions),
        }


# -- program runs -------------------------------------------------------------------------
async def start_program(session: DeviceSession, template: str, recipe_json: str, job: str,
                        samples: list[str], busy_deadline: float, poll_s: float) -> tuple[str, str]:
    """StartProgram, reconciled by SupervisoryJobId; returns (RunId, server instance).

    A call whose answer was lost is repeated only on the same server instance, where the
    job id makes it idempotent; a device that restarted in between loses the cycle."""
    sent_to: str | None = None
    while True:
        await session.connect()
        if sent_to is not None and session.instance != sent_to:
            raise CycleLost(f"{session.device} restarted before confirming job {job}")
        sent_to = session.instance
        assert sent_to is not None  # connect() learnt the server instance
        args = (template, recipe_json, job, ua.Variant(samples, ua.VariantType.String, is_array=True))
        try:
            run_id = await session.method("ProgramManager/StartProgram", *args, retry=False)
            return str(run_id), sent_to
        except LinkLost as exc:
            if time.monotonic() > busy_deadline:  # connecting works, the start is never answered
                raise CycleLost(f"start of job {job} not confirmed in time ({exc})") from exc
            continue
        except DeviceRefused as exc:
            if exc.status == "BadInvalidState" and time.monotonic() < busy_deadline:
                await asyncio.sleep(poll_s)  # busy or offline for a moment: wait for it
                continue
            raise CycleLost(f"start refused: {exc.status}") from exc


async def wait_result(session: DeviceSession, run_id: str, instance: str, expected_wall_s: float,
                      deadline: float, poll_s: float) -> dict[str, Any]:
    """Every value under Results/<RunId>/ once its Status is there (written last)."""
    base = f"ProgramManager/Results/{run_id}"
    # sleep only half the nominal time: a faster device or a mismatched time scale must still show
    await asyncio.sleep(max(0.0, 0.5 * expected_wall_s))
    while True:
        await session.connect()
        if session.instance != instance:
            raise CycleLost(f"{session.device} restarted during run {run_id}")
        try:
            await session.read(f"{base}/Status", retry=False)
            return await session.children(base, retry=False)
        except LinkLost as exc:
            if time.monotonic() > deadline:  # connecting works, reading never does
                raise CycleLost(f"no result for {run_id} in time ({exc})") from exc
            continue
        except DeviceRefused as exc:
            if exc.status not in NOT_FOUND:
                raise CycleLost(f"reading the result of {run_id}: {exc.status}") from exc
        if time.monotonic() > deadline:
            raise CycleLost(f"no result for {run_id} in time")
        await asyncio.sleep(poll_s)


def press_result_problems(values: dict[str, Any], samples: Sequence[str]) -> list[str]:
    """Why a press result cannot be trusted (empty: complete and clean)."""
    problems = []
    status = values.get("Status")
    if status != "Completed":
        problems.append(f"status {status}")
    faults = [f for f in values.get("Faults") or [] if f]
    if faults:
        problems.append("fault " + ",".join(faults))
    if list(values.get("SampleIds") or []) != list(samples):
        problems.append("sample ids differ from those sent")
    pressures = values.get("CellPressures_MPa") or []
    cvs = values.get("CellPressureCV") or []
    if len(pressures) != len(samples) or len(cvs) != len(samples):
        problems.append("per-cell pressures missing")
    elif not all(math.isfinite(x) for x in list(pressures) + list(cvs)):
        problems.append("per-cell pressures not finite")
    problems.extend(trace_problems(values.get("Trace")))
    return problems


def trace_problems(trace_json: Any) -> list[str]:
    """A press trace must parse, be evenly sampled (no gap) and run to the Unloading phase."""
    try:
        trace = json.loads(trace_json)
        t = [float(x) for x in trace["t_s"]]
        phase = list(trace["phase"])
        p = [math.nan if x is None else float(x) for x in trace["p_mpa"]]
    except (TypeError, ValueError, KeyError):
        return ["trace missing or unreadable"]
    if len(t) < 3 or len(phase) != len(t) or len(p) != len(t):
        return ["trace too short"]
    if not all(math.isfinite(x) for x in p):
        return ["pressure samples missing from the trace"]
    steps = sorted(b - a for a, b in zip(t, t[1:]))
    median = steps[len(steps) // 2]
    out = []
    if median <= 0 or steps[0] <= 0:
        out.append("trace time not increasing")
    elif steps[-1] > TRACE_GAP_FACTOR * median:
        out.append(f"gap of {steps[-1]:.3g} s in the trace (sampled every {median:.3g} s)")
    if phase[-1] != 5:
        out.append("trace ends before unloading")
    return out


async def run_program(link: HardwareLink, run: DeviceRun, binding: Binding, template: str, recipe_json: str,
                      expected_wall_s: float) -> dict[str, Any] | None:
    """Start one program on the bound device and wait for its result: the result's values,
    or None with `run.status`/`run.problem` saying why there are none. If the twin stops
    meanwhile, the run is recorded as Abandoned and the cancellation goes on."""
    session = link.sessions[run.station]
    conn = link.hardware.connection
    deadline = time.monotonic() + binding.cycle_timeout_factor * expected_wall_s + conn.give_up_s
    observe.emit("run_start", **run.__dict__)
    try:
        run.run_id, instance = await start_program(session, binding.template or template, recipe_json, run.job_id,
                                                   run.samples, deadline, conn.poll_s)
        values = await wait_result(session, run.run_id, instance, expected_wall_s, deadline, conn.poll_s)
    except (CycleLost, DeviceUnavailable) as exc:
        run.status, run.problem = "Lost", str(exc)
        return None
    except asyncio.CancelledError:  # the run ended while the program was on the device
        run.status, run.problem = "Abandoned", "the twin stopped before the result"
        link.finish(run)
        raise
    except Exception as exc:  # an adapter bug must quarantine, not crash the line
        log.exception("%s on %s failed", template, binding.device)
        run.status, run.problem = "Lost", repr(exc)
        return None
    run.status = str(values.get("Status"))
    run.device_duration_s = _finite(values.get("Duration_s"))
    return values


def _finite(x: Any, default: float = math.nan) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


class OpcuaPressPort:
    """Press cycles on bound presses; unbound stations use `fallback`."""

    def __init__(self, link: HardwareLink, fallback, nominal_wall_s) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback
        self.nominal_wall_s = nominal_wall_s  # (station, recipe) -> expected wall seconds

    def cycle(self, station: str, recipe, cells: Sequence) -> simpy.Event:
        binding = self.link.binding(station)
        if binding is None:
            return self.fallback.cycle(station, recipe, cells)
        link = self.link
        run = DeviceRun(station, binding.device, link.next_job(station), [link.sample_id(c) for c in cells],
                        wall_start=time.time(), sim_start_h=self.env.now)
        return self.env.run_coroutine(self._cycle(run, binding, recipe))

    async def _cycle(self, run: DeviceRun, binding: Binding, recipe) -> PressMeasurement:
        link = self.link
        values = await run_program(link, run, binding, "PressCycle", recipe.model_dump_json(),
                                   self.nominal_wall_s(run.station, recipe))
        if values is not None:
            run.problem = "; ".join(press_result_problems(values, run.samples))
        run.ok = not run.problem
        link.finish(run)
        if not run.ok or values is None:
            log.warning("run %s (%s) on %s quarantined: %s", run.run_id or "-", run.job_id, binding.device,
                        run.problem)
            return PressMeasurement(run.run_id or run.job_id, False, run.status, 0.0, 0.0, math.nan, [], [],
                                    faults=[f"{binding.device}: {run.problem}"])
        return PressMeasurement(
            run_id=run.run_id, ok=True, status=run.status,
            duration_s=_finite(values.get("Duration_s"), 0.0),
            hold_duration_s=_finite(values.get("HoldDuration_s"), 0.0),
            mean_temperature_c=_finite(values.get("MeanTemperature_C")),
            cell_pressure_mpa=[float(x) for x in values["CellPressures_MPa"]],
            cell_pressure_cv=[float(x) for x in values["CellPressureCV"]],
            summary={k: v for k, v in values.items() if k not in ("Trace",)},
        )


class OpcuaMetrologyPort:
    """Flatness measured by a bound profilometer (program MeasureCollector, one cell per run)."""

    KEYS = {"sq_um": "Sq_um", "sdq": "Sdq", "pv_um": "PV_um", "waviness_um": "Waviness_um",
            "waviness_mm": "Waviness_mm"}

    def __init__(self, link: HardwareLink, fallback, expected_wall_s) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback
        self.expected_wall_s = expected_wall_s  # station -> wall seconds of one measurement

    def measure(self, station: str, cell) -> simpy.Event:
        binding = self.link.binding(station)
        if binding is None:
            return self.fallback.measure(station, cell)
        link = self.link
        run = DeviceRun(station, binding.device, link.next_job(station), [link.sample_id(cell)],
                        wall_start=time.time(), sim_start_h=self.env.now)
        return self.env.run_coroutine(self._measure(run, binding, cell))

    async def _measure(self, run: DeviceRun, binding: Binding, cell) -> SurfaceMeasurement | None:
        sid = run.samples[0]
        recipe = {"true": {sid: cell.true_surface}} if binding.send_true_surface and cell.true_surface else {}
        values = await run_program(self.link, run, binding, "MeasureCollector", json.dumps(recipe),
                                   self.expected_wall_s(run.station))
        surface = None
        if values is not None:
            got = {k: _finite((values.get(node) or [math.nan])[0]) for k, node in self.KEYS.items()}
            if run.status != "Completed":
                run.problem = f"status {run.status}"
            elif not all(math.isfinite(v) for v in got.values()):
                run.problem = "measurement incomplete"
            else:
                surface = SurfaceMeasurement(**got)
        run.ok = surface is not None
        self.link.finish(run)
        return surface


class OpcuaGloveboxPort:
    """The worst atmosphere a cell saw, asked of a bound glovebox (Atmosphere/MaxBetween)."""

    def __init__(self, link: HardwareLink, fallback) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback

    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        if self.link.binding(resource) is None:
            return self.fallback.exposure(resource, t_start_h, t_end_h)
        return self.env.run_coroutine(self._exposure(resource, t_start_h, t_end_h))

    def _epoch(self, sim_h: float) -> datetime:
        loop = asyncio.get_running_loop()
        wall = self.env.wall_time_of(sim_h) - loop.time() + time.time()
        return datetime.fromtimestamp(wall, tz=timezone.utc)

    async def _exposure(self, resource: str, t_start_h: float, t_end_h: float) -> AtmosphereExposure:
        session = self.link.sessions[resource]
        try:
            o2, h2o, excursion = await session.method(
                "Atmosphere/MaxBetween", ua.Variant(self._epoch(t_start_h), ua.VariantType.DateTime),
                ua.Variant(self._epoch(t_end_h), ua.VariantType.DateTime))
            return AtmosphereExposure(float(o2), float(h2o), bool(excursion))
        except (DeviceRefused, DeviceUnavailable) as exc:
            log.warning("atmosphere of %s unknown (%s): cell quarantined", resource, exc)
        except Exception:
            log.exception("atmosphere query on %s failed", resource)
        # Unknown atmosphere is treated as an excursion: the cell is never accepted on a guess.
        return AtmosphereExposure(math.nan, math.nan, True)


class OpcuaDispositionPort:
    """Writes each decision back to the press that last pressed the cell (SetDisposition).
    Delivery is queued so a device that is away does not stop the line; the trace store
    has the decision either way."""

    def __init__(self, link: HardwareLink, press_of_run: dict[str, str]) -> None:
        self.link = link
        self.press_of_run = press_of_run  # RunId -> binding name, filled as runs end

    def report(self, station: str, cell, decision: int, reason: str) -> None:
        run_id = cell.press_runs[-1] if cell.press_runs else None
        binding = self.press_of_run.get(run_id) if run_id else None
        if binding is None:
            return None
        self.link.queue_disposition({
            "binding": binding, "device": self.link.hardware.bindings[binding].device, "run_id": run_id,
            "sample_id": self.link.sample_id(cell), "cell_id": cell.id, "decision": Decision(decision).wire_name,
            "reason": reason, "sim_h": self.link.env.now,
        })
        return None


def hardware_ports(link: HardwareLink, sim: Ports, press_wall_s, metrology_wall_s) -> Ports:
    """The line's ports: bound stations on equipment, the rest on `sim`."""
    press_of_run: dict[str, str] = {}

    def remember(run: DeviceRun) -> None:
        if run.run_id:  # also a failed run: its cells' reject goes to the device that ran it
            press_of_run[run.run_id] = run.station

    link.run_listeners.append(remember)
    return Ports(
        press=OpcuaPressPort(link, sim.press, press_wall_s),
        metrology=OpcuaMetrologyPort(link, sim.metrology, metrology_wall_s),
        glovebox=OpcuaGloveboxPort(link, sim.glovebox),
        disposition=OpcuaDispositionPort(link, press_of_run),
    )
