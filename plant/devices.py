"""Device behaviour behind the OPC UA servers, free of asyncua: programs, state, results.

A device is driven by wall-clock ``tick(now)`` calls. It publishes sensor values on a fixed
wall grid (``publish_hz``; each reading carries its grid time as SourceTimestamp) and turns
wall time into simulated time with the plant's ``time_scale``. Methods raise
``ProgramError(status_name, message)``; the server maps the name onto an OPC UA StatusCode.
The press device replays a trace computed up-front by ``plant.press.simulate_cycle``; the
values it publishes are samples of that trace and its Result is computed from the same trace.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from plant.plantfile import DeviceConfig, PlantFile
from plant.press import (FAULT_KINDS, PressProgram, PressSpec, Recipe, RecipeError, check_recipe,
                         load_press_spec, simulate_cycle)

DECISIONS = ("accept", "rework", "reject")
MAX_CATCH_UP_S = 5.0


class ProgramError(Exception):
    """A method call refused; ``status`` is an OPC UA StatusCodes attribute name."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RunResult:
    """What a finished run leaves under Results/<RunId>/."""

    run_id: str
    job_id: str
    template_id: str
    status: str
    samples: list[str]
    faults: list[str]
    scalars: dict[str, float | str]
    arrays: dict[str, list[float]]
    trace_json: str
    started_s: float
    ended_s: float
    dispositions: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Run:
    """A program in progress."""

    run_id: str
    job_id: str
    template_id: str
    samples: list[str]
    start_wall: float
    faults: list[str]
    payload: Any = None
    aborted: bool = False


Reading = tuple[str, Any, float]  # (node key, value, wall timestamp)


class Device:
    """Common program manager, fault handling and publishing grid."""

    templates: tuple[str, ...] = ()
    fault_kinds: tuple[str, ...] = ("comm_loss",)
    capacity: int = 1

    def __init__(self, cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.time_scale = plant.time_scale
        self.publish_dt = 1.0 / plant.publish_hz
        self.offline_s = plant.comm_loss_offline_s
        seed = cfg.seed if cfg.seed is not None else plant.seed * 1000 + zlib.crc32(cfg.name.encode())
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.start_wall = start_wall
        # RunIds carry the server's boot stamp, so a restarted device never reuses one.
        self.boot = format(int(start_wall * 1000), "x")[-8:]
        self.next_tick = start_wall
        self.state = "Idle"
        self.active: Run | None = None
        self.runs_by_job: dict[str, str] = {}
        self.results: dict[str, RunResult] = {}
        self.new_results: list[RunResult] = []
        self.pending_faults: list[str] = []
        self.active_faults: list[str] = []
        self.run_count = 0
        self.offline_until: float | None = None
        self._timed_faults = sorted((f.at_s, f.kind) for f in cfg.faults if f.at_s is not None)
        self._run_faults = {f.on_run: f.kind for f in cfg.faults if f.on_run is not None}

    # ----- program manager -------------------------------------------------------------
    def start_program(self, template_id: str, recipe_json: str, job_id: str, samples: list[str],
                      now: float) -> str:
        """Start a program or return the RunId already started for ``job_id``."""
        if job_id in self.runs_by_job:
            return self.runs_by_job[job_id]
        if not job_id:
            raise ProgramError("BadInvalidArgument", "SupervisoryJobId must not be empty")
        if template_id not in self.templates:
            raise ProgramError("BadInvalidArgument",
                               f"unknown TemplateId {template_id!r}; known {list(self.templates)}")
        if self.active is not None or self.state == "Offline":
            raise ProgramError("BadInvalidState", f"{self.name} is {self.state}")
        if len(samples) > self.capacity:
            raise ProgramError("BadOutOfRange", f"{len(samples)} samples > capacity {self.capacity}")
        try:
            recipe = json.loads(recipe_json) if recipe_json.strip() else {}
        except json.JSONDecodeError as exc:
            raise ProgramError("BadInvalidArgument", f"Recipe is not JSON: {exc}") from exc
        if not isinstance(recipe, dict):
            raise ProgramError("BadInvalidArgument", "Recipe must be a JSON object")
        self.run_count += 1
        faults = list(dict.fromkeys(self.pending_faults + (
            [self._run_faults[self.run_count]] if self.run_count in self._run_faults else [])))
        run = Run(f"{self.name}-{self.boot}-{self.run_count:05d}", job_id, template_id, list(samples), now, faults)
        try:
            self._prepare(run, recipe)
        except ProgramError:
            self.run_count -= 1
            raise
        self.pending_faults = []
        self.active_faults = list(faults)
        self.runs_by_job[job_id] = run.run_id
        self.active = run
        self.state = "Running"
        return run.run_id

    def abort(self, run_id: str, now: float) -> None:
        """Abort the active run ``run_id``."""
        if self.active is None or self.active.run_id != run_id:
            status = "BadInvalidState" if run_id in self.results else "BadInvalidArgument"
            raise ProgramError(status, f"{run_id!r} is not the active run")
        self.active.aborted = True
        self._abort(self.active, now)

    def inject_fault(self, kind: str, now: float) -> None:
        """Arm a fault for the next run (or act now, for atmosphere faults)."""
        if kind not in self.fault_kinds:
            raise ProgramError("BadInvalidArgument", f"unknown fault {kind!r}; known {self.fault_kinds}")
        if kind not in self.pending_faults:
            self.pending_faults.append(kind)

    def clear_faults(self) -> None:
        """Acknowledge faults: Fault -> Idle, pending faults dropped."""
        self.pending_faults = []
        self.active_faults = []
        if self.state == "Fault" and self.active is None:
            self.state = "Idle"

    def faults_visible(self) -> list[str]:
        """Faults/Active: active faults of the current/last run and armed ones."""
        return list(dict.fromkeys(self.active_faults + self.pending_faults))

    def set_disposition(self, run_id: str, sample_id: str, decision: str, reason: str) -> RunResult:
        """Record the twin's decision for one sample of a finished run."""
        res = self.results.get(run_id)
        if res is None:
            raise ProgramError("BadInvalidArgument", f"no result {run_id!r}")
        if sample_id not in res.samples:
            raise ProgramError("BadInvalidArgument", f"{sample_id!r} not in run {run_id}")
        if decision not in DECISIONS:
            raise ProgramError("BadInvalidArgument", f"Decision must be one of {DECISIONS}")
        res.dispositions[sample_id] = {"decision": decision, "reason": reason}
        return res

    # ----- clock -----------------------------------------------------------------------
    def tick(self, now: float) -> list[Reading]:
        """Readings for every publishing grid time up to ``now`` (bounded catch-up)."""
        out: list[Reading] = []
        self.next_tick = max(self.next_tick, now - MAX_CATCH_UP_S)
        while self.next_tick <= now:
            tg = self.next_tick
            self._fire_timed_faults(tg)
            out.extend(self._step(tg))
            self.next_tick = tg + self.publish_dt
        return out

    def sim_s(self, wall: float, since: float | None = None) -> float:
        """Simulated seconds between ``since`` (default: plant start) and ``wall``."""
        return (wall - (self.start_wall if since is None else since)) * self.time_scale

    def _fire_timed_faults(self, tg: float) -> None:
        while self._timed_faults and self._timed_faults[0][0] <= self.sim_s(tg):
            _, kind = self._timed_faults.pop(0)
            self.inject_fault(kind, tg)

    def _finish(self, run: Run, res: RunResult) -> None:
        self.results[res.run_id] = res
        self.new_results.append(res)
        self.active = None
        self.active_faults = list(res.faults)
        self.state = "Fault" if res.status == "Fault" else "Idle"

    # ----- per kind ----------------------------------------------------------------------
    def _prepare(self, run: Run, recipe: dict) -> None:
        raise ProgramError("BadNotSupported", "no programs")

    def _abort(self, run: Run, now: float) -> None:
        raise ProgramError("BadNotSupported", "nothing to abort")

    def _step(self, tg: float) -> list[Reading]:
        return []

    def identification(self) -> dict[str, str]:
        """Identification/ values."""
        return {}

    def operation_mode(self) -> str:
        """State/OperationMode value."""
        return "Automatic"


class PressDevice(Device):
    """A press of any kind: replays ``simulate_cycle`` traces in scaled real time."""

    templates = ("PressCycle",)
    fault_kinds = FAULT_KINDS

    def __init__(self, cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> None:
        super().__init__(cfg, plant, start_wall)
        self.spec: PressSpec = load_press_spec(cfg.spec or cfg.kind)
        self.capacity = self.spec.capacity_cells
        self.target_pressure_mpa = 0.0
        self.target_temperature_c = self.spec.ambient_temperature_c
        self.sample_hz = max(self.spec.sample_rate_hz, 1.0 / (self.publish_dt * self.time_scale))
        self.last_phase = "Idle"
        self.progress = 0.0

    def identification(self) -> dict[str, str]:
        """Manufacturer, model, serial number, device class."""
        return {"Manufacturer": self.spec.manufacturer, "Model": self.spec.model,
                "SerialNumber": self.cfg.serial_number or f"{self.spec.serial_prefix}-{self.seed % 100000:05d}",
                "DeviceClass": f"Press/{self.spec.kind}"}

    def operation_mode(self) -> str:
        """Manual for hand presses, Automatic otherwise."""
        return "Manual" if self.spec.kind == "manual_uniaxial" else "Automatic"

    def recipe_from(self, recipe: dict) -> Recipe:
        """Validated recipe; missing target/temperature fall back to the TargetValue nodes."""
        for key, value in recipe.items():  # strict types: "300" is not a pressure (issue 12)
            if key in Recipe.model_fields and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ProgramError("BadTypeMismatch", f"recipe {key}: a number is required, "
                                                      f"got {type(value).__name__} {value!r}")
        data = {"target_pressure_mpa": self.target_pressure_mpa,
                "temperature_c": self.target_temperature_c, **recipe}
        try:
            rec = Recipe.model_validate(data)
        except ValidationError as exc:
            raise ProgramError("BadInvalidArgument", f"invalid recipe: {exc.errors()[0]['loc']} "
                               f"{exc.errors()[0]['msg']}") from exc
        try:
            check_recipe(self.spec, rec)
        except RecipeError as exc:
            raise ProgramError("BadOutOfRange", str(exc)) from exc
        return rec

    def _prepare(self, run: Run, recipe: dict) -> None:
        rec = self.recipe_from(recipe)
        seed = int(self.rng.integers(2 ** 63))
        res = simulate_cycle(self.spec, rec, max(1, len(run.samples)), np.random.default_rng(seed),
                             faults=run.faults, sample_hz=self.sample_hz)
        run.payload = {"recipe": rec, "seed": seed, "result": res, "program": PressProgram(res)}
        self.target_pressure_mpa = rec.target_pressure_mpa
        self.target_temperature_c = rec.temperature_c

    def _abort(self, run: Run, now: float) -> None:
        pl = run.payload
        t_abort = self.sim_s(now, run.start_wall)
        res = simulate_cycle(self.spec, pl["recipe"], max(1, len(run.samples)),
                             np.random.default_rng(pl["seed"]), faults=run.faults,
                             sample_hz=self.sample_hz, abort_at_s=t_abort)
        pl["result"], pl["program"] = res, PressProgram(res)

    def _idle_reading(self, tg: float) -> list[Reading]:
        z = self.rng.standard_normal(2)
        return [("PressChamber.Pressure.CurrentValue", float(self.spec.sensor_noise_mpa * z[0]), tg),
                ("PressChamber.Temperature.CurrentValue",
                 float(self.spec.ambient_temperature_c + self.spec.temperature_noise_c * z[1]), tg)]

    def _step(self, tg: float) -> list[Reading]:
        run = self.active
        if self.offline_until is not None:
            if tg < self.offline_until:
                return []
            self.offline_until = None
            self._finish_run(run, tg)
            return [("State.CurrentState", self.state, tg)] + self._idle_reading(tg)
        if run is None:
            return [("State.CurrentState", self.state, tg)] + self._idle_reading(tg)
        prog: PressProgram = run.payload["program"]
        t_sim = self.sim_s(tg, run.start_wall)
        if prog.done(t_sim):
            if "comm_loss" in run.faults and not run.aborted:
                self.state = "Offline"
                self.offline_until = tg + self.offline_s
                return [("State.CurrentState", self.state, tg)]
            self._finish_run(run, tg)
            return [("State.CurrentState", self.state, tg)] + self._idle_reading(tg)
        _, p, temp, phase = prog.at(t_sim)
        if run.aborted:
            self.state = "Aborting"
        else:
            self.state = "Holding" if phase == "Holding" else "Running"
        self.last_phase = phase
        self.progress = min(100.0, 100.0 * t_sim / max(prog.duration_s, 1e-9))
        return [("PressChamber.Pressure.CurrentValue", p, tg),
                ("PressChamber.Temperature.CurrentValue", temp, tg),
                ("State.CurrentState", self.state, tg),
                ("ProgramManager.ActiveProgram.CurrentState", phase, tg),
                ("ProgramManager.ActiveProgram.Progress", self.progress, tg)]

    def _finish_run(self, run: Run, tg: float) -> None:
        res = run.payload["result"]
        r = {k: (v if isinstance(v, str) or np.isfinite(v) else float("nan"))
             for k, v in res.summary().items()}
        trace = {"t_s": np.round(res.trace_t_s, 4).tolist(),
                 "p_mpa": np.round(res.trace_p_mpa, 4).tolist(),
                 "temp_c": np.round(res.trace_temp_c, 3).tolist(),
                 "phase": res.trace_phase.astype(int).tolist(),
                 "sample_ids": run.samples,
                 "cell_pressure_mpa": json_floats(res.cell_pressure_mpa),
                 "cell_pressure_cv": json_floats(res.cell_pressure_cv),
                 "recipe": run.payload["recipe"].model_dump(), "faults": res.faults}
        self._finish(run, RunResult(
            run_id=run.run_id, job_id=run.job_id, template_id=run.template_id, status=res.status,
            samples=run.samples, faults=res.faults,
            scalars={**r, "Duration_s": float(res.duration_s)},
            arrays={"CellPressures_MPa": _finite(res.cell_pressure_mpa),
                    "CellPressureCV": _finite(res.cell_pressure_cv)},
            trace_json=json.dumps(trace, separators=(",", ":")),
            started_s=run.start_wall, ended_s=tg))
        self.progress = 100.0


def _finite(a: np.ndarray) -> list[float]:
    """Plain floats (NaN kept: an OPC UA Double carries it)."""
    return [float(x) for x in np.asarray(a, dtype=float)]


def json_floats(a: Any) -> list[float | None]:
    """Plain floats with NaN as None, so the JSON stays strict (JavaScript can parse it)."""
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=float).ravel()]


def make_device(cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> Device:
    """The device model for a plant-file entry."""
    if cfg.is_press:
        return PressDevice(cfg, plant, start_wall)
    from plant.instruments import GloveboxDevice, ProfilometerDevice
    if cfg.kind == "glovebox":
        return GloveboxDevice(cfg, plant, start_wall)
    return ProfilometerDevice(cfg, plant, start_wall)
