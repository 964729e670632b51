"""The twin's link to its bound devices: one session, profile and resolved program nodes per
binding, what each device can do (read at connect), and the record of every program run.

Checked at connect, before any cell is released (`BindingMismatch`, a setup error naming
the binding): the device has the functional unit and program the profile names, takes the
batch (Capacity), and its pressure and temperature ranges hold the recipe. The nominal
duration of a program is the device's own (its template's EstimatedRuntime), else the
binding's `nominal_duration_s`, else the device spec of the plant file (the emulated
plant); a foreign device without any of them is refused.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from adapters import observe
from adapters.opcua.linklog import ConfigurationRefused, DeviceRefused, DeviceUnavailable, LinkLost
from adapters.opcua.paths import join, render
from adapters.opcua.profiles import Profile, to_twin
from adapters.opcua.programs import ProgramNodes
from adapters.opcua.session import DeviceSession
from adapters.settings import Binding, Hardware

log = logging.getLogger(__name__)


class BindingMismatch(Exception):
    """A bound device cannot serve its station: `field` (below the binding) says where."""

    def __init__(self, binding: str, where: str, why: str) -> None:
        super().__init__(f"hardware.bindings.{binding}.{where}: {why}")
        self.binding = binding


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
    held_s: float = 0.0  # wall time the cells waited because starts failed (nothing pressed)
    start_failures: int = 0
    completion_ms: float = math.nan  # wall delay from the Result's Stopped time to the twin having it
    start_ms: float = math.nan  # wall round trip of the StartProgram call that started the run
    notified_ms: float = math.nan  # the unit state's end transition (SourceTimestamp) to its notification here
    read_ms: float = math.nan  # that notification to the Result read


@dataclass
class Need:
    """What a station asks of its device (checked at connect)."""

    role: str  # press, profilometer, glovebox
    capacity_cells: int = 1
    pressure_mpa: float | None = None
    temperature_c: float | None = None
    fallback_nominal_s: float | None = None  # from the plant file's device spec (simulated s)


@dataclass
class Bound:
    """One binding: its session, profile, program nodes and what the device told at connect."""

    name: str
    binding: Binding
    session: DeviceSession
    profile: Profile
    need: Need
    nodes: ProgramNodes | None = None
    nominal_s: float = math.nan  # simulated seconds of one program
    nominal_source: str = ""
    capacity: int | None = None
    pressure_range_mpa: tuple[float, float] | None = None


async def check_device(b: Bound) -> None:
    """Read the device's capacity, limits and template runtime; BindingMismatch when the
    station's batch or recipe is beyond them or the device lacks what the profile names."""
    s, need, nodes = b.session, b.need, b.nodes
    if nodes is None:
        return
    section = nodes.section
    fields: dict[str, Any] = {"state": nodes.state, "method": nodes.start_method}
    template = nodes.template(b.binding.template or section.template)
    if section.estimated_runtime is not None and template is not None:
        fields["runtime"] = join(template, b.profile.path(section.estimated_runtime.path))
    press = getattr(section, "capacity", None) is not None or hasattr(section, "pressure_range")
    if press:
        for key in ("capacity", "pressure_range", "temperature_range"):
            spec = getattr(section, key, None)
            if spec is not None:
                fields[key] = join(nodes.unit, b.profile.path(spec.path))
    keys = list(fields)
    try:
        got = dict(zip(keys, await s.read([fields[k] for k in keys])))
    except (DeviceRefused, DeviceUnavailable, LinkLost) as exc:
        raise BindingMismatch(b.name, "device", f"'{b.binding.device}' could not be checked: {exc}") from exc
    if got["state"].status.startswith("Bad"):
        raise BindingMismatch(b.name, "device", f"'{b.binding.device}' has no {render(nodes.state)} "
                                                f"({got['state'].status}): not a device of profile "
                                                f"'{b.profile.profile}'")
    if "capacity" in got and got["capacity"].good and got["capacity"].value is not None:
        b.capacity = int(got["capacity"].value)
        if need.capacity_cells > b.capacity:
            raise BindingMismatch(b.name, "device", f"'{b.name}' loads {need.capacity_cells} cells "
                                                    f"(batch.capacity_cells) but '{b.binding.device}' takes "
                                                    f"{b.capacity} (its Capacity)")
    for key, want, label in (("pressure_range", need.pressure_mpa, "target_pressure_mpa"),
                             ("temperature_range", need.temperature_c, "temperature_c")):
        r = got.get(key)
        if want is None or r is None or not r.good or r.value is None:
            continue
        unit = getattr(section, key).unit
        lo, hi = (to_twin(float(r.value.Low), unit, label), to_twin(float(r.value.High), unit, label))
        if key == "pressure_range":
            b.pressure_range_mpa = (lo, hi)
        if not lo - 1e-9 <= want <= hi + 1e-9:
            raise BindingMismatch(b.name, "device", f"the recipe of '{b.name}' asks {label} {want:g} but "
                                                    f"'{b.binding.device}' allows {lo:g} to {hi:g} (its EURange)")
    runtime = got.get("runtime")
    if runtime is not None and runtime.good and runtime.value is not None and section.estimated_runtime is not None:
        b.nominal_s = to_twin(float(runtime.value), section.estimated_runtime.unit, "runtime_s")
        b.nominal_source = "device template EstimatedRuntime"
    elif b.binding.nominal_duration_s is not None:
        b.nominal_s, b.nominal_source = b.binding.nominal_duration_s, "binding nominal_duration_s"
    elif need.fallback_nominal_s is not None:
        b.nominal_s, b.nominal_source = need.fallback_nominal_s, "plant file device spec"
    elif nodes.active_runtime is not None:
        b.nominal_source = "device ActiveProgram EstimatedRuntime, per run"
    else:
        raise BindingMismatch(b.name, "nominal_duration_s", f"'{b.binding.device}' gives no EstimatedRuntime for "
                                                            f"{section.template}: set the binding's nominal_duration_s")


@dataclass
class HardwareLink:
    """Sessions to the bound devices and the record of what was done on them."""

    env: Any
    hardware: Hardware
    bound: dict[str, Bound]  # binding name -> Bound
    tag: str  # unique per run: prefixes SupervisoryJobIds and SampleIds
    time_scale: float  # simulated seconds per wall second (the plant's)
    runs: list[DeviceRun] = field(default_factory=list)
    run_listeners: list[Callable[[DeviceRun], None]] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)  # starts refused for good (samples held)
    fatal: "asyncio.Future[None] | None" = None  # set with a ConfigurationRefused: the run must stop (exit 2)
    _jobs: int = 0

    @property
    def sessions(self) -> dict[str, DeviceSession]:
        return {n: b.session for n, b in self.bound.items()}

    def binding(self, name: str) -> Binding | None:
        return self.hardware.bindings.get(name)

    def sample_id(self, cell: Any) -> str:
        return f"{self.tag}-c{cell.id}"

    def next_job(self, station: str) -> str:
        self._jobs += 1
        return f"{self.tag}-{station}-{self._jobs:05d}"

    def nominal_wall_s(self, name: str) -> float:
        return self.bound[name].nominal_s / self.time_scale

    async def open(self) -> None:
        """Connect every bound device once (fail fast when one is not there at the start,
        or refuses the login or a certificate), then check each against its station."""
        self.fatal = asyncio.get_running_loop().create_future()
        await asyncio.gather(*(b.session.connect() for b in self.bound.values()))
        await asyncio.gather(*(check_device(b) for b in self.bound.values()))
        for b in self.bound.values():
            if b.nodes is not None and b.binding.completion == "subscription":  # once, before the first run
                await b.session.watch(b.nodes.state, b.binding.sampling_ms)

    async def close(self) -> None:
        await asyncio.gather(*(b.session.close() for b in self.bound.values()), return_exceptions=True)

    def finish(self, run: DeviceRun) -> None:
        run.wall_end = time.time()
        # the simulated time this wall moment maps to (env.now stands still while the twin waits)
        run.sim_end_h = max(self.env.now, self.env.sim_time_of(asyncio.get_running_loop().time()))
        self.runs.append(run)
        observe.emit("run", **run.__dict__)
        for listener in self.run_listeners:
            listener(run)

    def fail(self, exc: ConfigurationRefused) -> None:
        """A configuration error met mid-run (login, certificate, role, profile): stop the run."""
        if self.fatal is not None and not self.fatal.done():
            self.fatal.set_exception(exc)

    async def guard(self, aw: Any) -> Any:
        """Await `aw`, unless a configuration error stops the run first (it is raised)."""
        task = asyncio.ensure_future(aw)
        if self.fatal is None:
            return await task
        done, _ = await asyncio.wait({task, self.fatal}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.fatal.result()  # raises the ConfigurationRefused
        return task.result()

    def note_refusal(self, run: DeviceRun, why: str) -> None:
        """A start refused for good: recorded now (its samples stay held, in process)."""
        run.status = "Refused"
        self.refusals.append({"job_id": run.job_id, "station": run.station, "device": run.device, "why": why,
                              "samples": list(run.samples)})

    def report(self) -> dict:
        """Per device: link figures and what was learnt at connect; per run: status."""
        devices = {}
        for name, b in self.bound.items():
            devices[name] = {**b.session.report(), "profile": b.profile.profile, "capacity": b.capacity,
                             "nominal_s": b.nominal_s, "nominal_source": b.nominal_source}
        return {"devices": devices, "runs": [r.__dict__ for r in self.runs],
                "runs_ok": sum(r.ok for r in self.runs), "runs_quarantined": sum(not r.ok for r in self.runs),
                "cells_held": sum(len(r.samples) for r in self.runs if r.start_failures),
                "starts_refused": self.refusals}
