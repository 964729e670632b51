"""Device behaviour behind the OPC UA servers, free of asyncua: programs, state, results.

A device is driven by wall-clock ``tick(now)`` calls. It publishes sensor values on a fixed
wall grid (``publish_hz``; each reading carries its grid time as SourceTimestamp) and turns
wall time into simulated time with the plant's ``time_scale``. Methods raise
``ProgramError(status_name, message)``; the server maps the name onto an OPC UA StatusCode.
States, outcomes, property keys and Result names are those of adapters/vocabulary.py (LADS
FunctionalUnitState and MachineryItemState, docs/opcua.md): Stopped -> Running -> Stopped for a
completed run; Stop: Running -> Stopping -> Stopped; Abort or a fault: -> Aborting -> Aborted,
and Clear: Aborted -> Clearing -> Stopped.
The press device replays a trace computed up-front by ``plant.press.simulate_cycle``; the
values it publishes are samples of that trace and its Result is computed from the same trace.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from adapters.vocabulary import (DECISION_NAMES, OPTIONAL_KEYS, REQUIRED_KEYS, Function, ItemState, Outcome,
                                 ResultVar, Template, UnitState)
from plant.plantfile import DeviceConfig, PlantFile
from plant.press import (FAULT_KINDS, PressProgram, PressSpec, Recipe, RecipeError, check_recipe,
                         load_press_spec, simulate_cycle)

DECISIONS = DECISION_NAMES
MAX_CATCH_UP_S = 5.0
MAX_RESULTS = 200  # Results kept per unit (docs/opcua.md R5: at least 100)
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")  # a property number (docs/opcua.md 4.4)


class ProgramError(Exception):
    """A method call refused; ``status`` is an OPC UA StatusCodes attribute name."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RunResult:
    """What a finished run leaves under ResultSet/<RunId>: ``scalars`` and ``arrays`` are the
    VariableSet (ResultVar names), ``outcome`` an Outcome value; ``run`` the run it came from."""

    run_id: str
    job_id: str
    template_id: str
    outcome: str
    samples: list[str]
    faults: list[str]
    scalars: dict[str, float | str]
    arrays: dict[str, list[float]]
    trace_json: str
    started_s: float
    ended_s: float
    run: "Run | None" = None
    dispositions: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The outcome (earlier name)."""
        return self.outcome


@dataclass
class Run:
    """A program in progress. ``context`` carries what the server needs for the Result (task
    id, properties and samples as sent, user); the device does not look into it."""

    run_id: str
    job_id: str
    template_id: str
    samples: list[str]
    start_wall: float
    faults: list[str]
    payload: Any = None
    stop_kind: str = ""  # "", "stop" or "abort"
    estimated_wall_s: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def aborted(self) -> bool:
        """True once Stop or Abort was requested."""
        return bool(self.stop_kind)


Reading = tuple[str, Any, float]  # (Function name or "step", value, wall timestamp)
STEP = "step"  # reading key of the press phase name (ActiveProgram/CurrentStepName)


class Device:
    """Common program manager, fault handling and publishing grid of one functional unit."""

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
        self.state = UnitState.STOPPED
        self.state_ts = start_wall  # wall time of the last transition
        self.clearing_until: float | None = None
        self.active: Run | None = None
        self.last_run: Run | None = None
        self.runs_by_job: dict[str, str] = {}
        self.results: dict[str, RunResult] = {}
        self.new_results: list[RunResult] = []
        self.pruned: list[str] = []  # RunIds dropped from the ResultSet since the last pump
        self.pending_faults: list[str] = []
        self.active_faults: list[str] = []
        self.run_count = 0
        self.offline_until: float | None = None
        self._timed_faults = sorted((f.at_s, f.kind) for f in cfg.faults if f.at_s is not None)
        self._run_faults = {f.on_run: f.kind for f in cfg.faults if f.on_run is not None}

    def _set_state(self, state: UnitState, ts: float) -> None:
        if state != self.state:
            self.state, self.state_ts = state, ts

    def item_state(self) -> ItemState:
        """MachineryItemState (docs/opcua.md 4.1)."""
        if self.offline_until is not None:
            return ItemState.NOT_AVAILABLE
        if self.state in (UnitState.ABORTED, UnitState.CLEARING) or self.out_of_service():
            return ItemState.OUT_OF_SERVICE
        if self.state in (UnitState.RUNNING, UnitState.STOPPING, UnitState.ABORTING):
            return ItemState.EXECUTING
        return ItemState.NOT_EXECUTING

    def out_of_service(self) -> bool:
        """A condition outside any run that takes the device out of service (glovebox excursion)."""
        return False

    # ----- program manager -------------------------------------------------------------
    def parse_properties(self, template_id: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        """StartProgram Properties -> recipe dict (docs/opcua.md 4.4); ProgramError when refused."""
        tpl = Template(template_id)
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ProgramError("BadInvalidArgument", f"property keys repeated: {dup}")
        required, optional = REQUIRED_KEYS[tpl], OPTIONAL_KEYS[tpl]
        unknown = sorted(set(keys) - set(required) - set(optional))
        if unknown:
            raise ProgramError("BadInvalidArgument", f"unknown property keys {unknown} for {template_id}; "
                                                     f"required {list(required)}, optional {list(optional)}")
        missing = [k for k in required if k not in keys]
        if missing:
            raise ProgramError("BadInvalidArgument", f"missing required property keys {missing}")
        return self._convert_properties(dict(pairs))

    def _convert_properties(self, props: dict[str, str]) -> dict[str, Any]:
        return dict(props)

    def property_limits(self) -> list[tuple[str, float, float]]:
        """(key, min, max) of numeric StartProgram properties (docs/opcua.md 4.4, plant:PropertyLimits)."""
        return []

    def start_program(self, template_id: str, properties: list[tuple[str, str]], job_id: str,
                      samples: list[str], now: float, context: dict[str, Any] | None = None) -> str:
        """Start a program or return the RunId already started for ``job_id`` (P1)."""
        if job_id in self.runs_by_job:
            return self.runs_by_job[job_id]
        if not job_id:
            raise ProgramError("BadInvalidArgument", "SupervisoryJobId must not be empty")
        if template_id not in self.templates:
            raise ProgramError("BadInvalidArgument",
                               f"unknown ProgramTemplateId {template_id!r}; known {list(self.templates)}")
        if len(set(samples)) != len(samples):
            raise ProgramError("BadInvalidArgument", "SampleIds must be unique within a program")
        if len(samples) > self.capacity:
            raise ProgramError("BadOutOfRange", f"{len(samples)} samples > capacity {self.capacity}")
        recipe = self.parse_properties(template_id, properties)
        self._validate(recipe, samples)
        if self.active is not None or self.state != UnitState.STOPPED or self.offline_until is not None:
            raise ProgramError("BadInvalidState", f"{self.name} is {self.state.value}"
                               + (" (not available)" if self.offline_until is not None else ""))
        self.run_count += 1
        faults = list(dict.fromkeys(self.pending_faults + (
            [self._run_faults[self.run_count]] if self.run_count in self._run_faults else [])))
        run = Run(f"{self.name}-{self.boot}-{self.run_count:05d}", job_id, template_id, list(samples), now, faults,
                  context=dict(context or {}))
        try:
            self._prepare(run, recipe)
        except ProgramError:
            self.run_count -= 1
            raise
        self.pending_faults = []
        self.active_faults = list(faults)
        self.runs_by_job[job_id] = run.run_id
        self.active = run
        self.last_run = run
        self._set_state(UnitState.RUNNING, now)
        return run.run_id

    def stop(self, now: float) -> None:
        """LADS Stop: vent and unload the running program (Outcome Stopped)."""
        if self.active is None or self.state != UnitState.RUNNING:
            raise ProgramError("BadInvalidState", f"Stop needs Running; {self.name} is {self.state.value}")
        self.active.stop_kind = "stop"
        self._set_state(UnitState.STOPPING, now)
        self._abort(self.active, now)

    def abort(self, now: float) -> None:
        """LADS Abort: vent and unload (Outcome Aborted), ending in Aborted."""
        if self.active is None or self.state not in (UnitState.RUNNING, UnitState.STOPPING):
            raise ProgramError("BadInvalidState", f"Abort needs Running or Stopping; {self.name} is "
                                                  f"{self.state.value}")
        first = not self.active.stop_kind
        self.active.stop_kind = "abort"
        self._set_state(UnitState.ABORTING, now)
        if first:
            self._abort(self.active, now)

    def clear(self, now: float) -> None:
        """LADS Clear: Aborted -> Clearing -> Stopped; latched faults dropped."""
        if self.state != UnitState.ABORTED:
            raise ProgramError("BadInvalidState", f"Clear needs Aborted; {self.name} is {self.state.value}")
        self.clear_faults()
        self._set_state(UnitState.CLEARING, now)
        self.clearing_until = now + self.publish_dt

    def inject_fault(self, kind: str, now: float) -> None:
        """Arm a fault for the next run (or act now, for atmosphere faults)."""
        if kind not in self.fault_kinds:
            raise ProgramError("BadInvalidArgument", f"unknown fault {kind!r}; known {self.fault_kinds}")
        if kind not in self.pending_faults:
            self.pending_faults.append(kind)

    def clear_faults(self) -> None:
        """Drop armed and latched faults."""
        self.pending_faults = []
        self.active_faults = []

    def faults_visible(self) -> list[str]:
        """Faults/Active: active faults of the current/last run and armed ones."""
        return list(dict.fromkeys(self.active_faults + self.pending_faults))

    def set_disposition(self, run_id: str, sample_id: str, decision: str, reason: str) -> RunResult:
        """Record the twin's decision for one sample of a finished run (docs/opcua.md X1)."""
        res = self.results.get(run_id)
        if res is None:
            raise ProgramError("BadNotFound", f"no Result {run_id!r} (unknown or pruned)")
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
            if self.clearing_until is not None and tg >= self.clearing_until:
                self.clearing_until = None
                self._set_state(UnitState.STOPPED, tg)
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

    def outcome_of(self, run: Run, status: str) -> Outcome:
        """The Outcome of a run whose simulation reports ``status``."""
        if status == "Fault":
            return Outcome.FAULT
        if status == "Aborted" or run.stop_kind:
            return Outcome.STOPPED if run.stop_kind == "stop" else Outcome.ABORTED
        return Outcome.COMPLETED

    def _finish(self, run: Run, res: RunResult, tg: float) -> None:
        res.run = run
        self.results[res.run_id] = res
        self.new_results.append(res)
        # pruning: plant.retention (only collected Results, job records kept), run by the host's pump
        self.active = None
        self.active_faults = list(res.faults)
        ok = res.outcome in (Outcome.COMPLETED.value, Outcome.STOPPED.value)
        self._set_state(UnitState.STOPPED if ok else UnitState.ABORTED, tg)

    # ----- per kind ----------------------------------------------------------------------
    def _validate(self, recipe: dict, samples: list[str]) -> None:
        """Content checks of a start that do not depend on the state (ProgramError when refused)."""

    def _prepare(self, run: Run, recipe: dict) -> None:
        raise ProgramError("BadNotSupported", "no programs")

    def _abort(self, run: Run, now: float) -> None:
        raise ProgramError("BadNotSupported", "nothing to abort")

    def _step(self, tg: float) -> list[Reading]:
        return []

    def identification(self) -> dict[str, str]:
        """DI:Identification values."""
        return {}

    def operation_mode(self) -> str:
        """Manual or Automatic."""
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

    def _convert_properties(self, props: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in props.items():
            try:
                if not isinstance(v, str) or not DECIMAL.fullmatch(v):  # strict: no "3_00", " 300", "0x12c"
                    raise ValueError(v)
                x = float(v)
            except ValueError:
                raise ProgramError("BadInvalidArgument", f"property {k}: {v!r} is not a decimal number") from None
            if not np.isfinite(x):
                raise ProgramError("BadInvalidArgument", f"property {k}: {v!r} is not finite")
            out[k] = x
        return out

    def property_limits(self) -> list[tuple[str, float, float]]:
        """The press's recipe limits (plant.press.check_recipe; rates and pressure must exceed 0)."""
        sp = self.spec
        return [("target_pressure_mpa", 0.0, sp.max_pressure_mpa), ("ramp_rate_mpa_s", 0.0, sp.max_ramp_rate_mpa_s),
                ("hold_s", 0.0, sp.max_hold_s), ("temperature_c", sp.min_temperature_c, sp.max_temperature_c),
                ("decompression_rate_mpa_s", 0.0, sp.max_decompression_rate_mpa_s)]

    def recipe_from(self, recipe: dict) -> Recipe:
        """Validated recipe within the press's limits."""
        try:
            rec = Recipe.model_validate(recipe)
        except ValidationError as exc:
            raise ProgramError("BadInvalidArgument", f"invalid properties: {exc.errors()[0]['loc']} "
                               f"{exc.errors()[0]['msg']}") from exc
        try:
            check_recipe(self.spec, rec)
        except RecipeError as exc:
            raise ProgramError("BadOutOfRange", str(exc)) from exc
        return rec

    def _validate(self, recipe: dict, samples: list[str]) -> None:
        self.recipe_from(recipe)

    def _prepare(self, run: Run, recipe: dict) -> None:
        rec = self.recipe_from(recipe)
        seed = int(self.rng.integers(2 ** 63))
        res = simulate_cycle(self.spec, rec, max(1, len(run.samples)), np.random.default_rng(seed),
                             faults=run.faults, sample_hz=self.sample_hz)
        prog = PressProgram(res)
        run.payload = {"recipe": rec, "seed": seed, "result": res, "program": prog}
        run.estimated_wall_s = prog.duration_s / self.time_scale
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
        return [(Function.PRESSURE.value, float(self.spec.sensor_noise_mpa * z[0]), tg),
                (Function.TEMPERATURE.value,
                 float(self.spec.ambient_temperature_c + self.spec.temperature_noise_c * z[1]), tg)]

    def _step(self, tg: float) -> list[Reading]:
        run = self.active
        if self.offline_until is not None:
            if tg < self.offline_until:
                return []
            self.offline_until = None
            if run is not None:
                self._finish_run(run, tg)
            return self._idle_reading(tg)
        if run is None:
            return self._idle_reading(tg)
        prog: PressProgram = run.payload["program"]
        t_sim = self.sim_s(tg, run.start_wall)
        if prog.done(t_sim):
            if "comm_loss" in run.faults and not run.aborted:
                self.offline_until = tg + self.offline_s
                return []
            self._finish_run(run, tg)
            return self._idle_reading(tg)
        _, p, temp, phase = prog.at(t_sim)
        if run.payload["result"].status == "Fault" and not run.stop_kind and phase in ("Decompressing", "Unloading"):
            self._set_state(UnitState.ABORTING, tg)  # the device trips and vents on its own
        self.last_phase = phase
        self.progress = min(100.0, 100.0 * t_sim / max(prog.duration_s, 1e-9))
        return [(Function.PRESSURE.value, p, tg), (Function.TEMPERATURE.value, temp, tg), (STEP, phase, tg)]

    def _finish_run(self, run: Run, tg: float) -> None:
        res = run.payload["result"]
        n = len(run.samples)
        r = {k: (v if isinstance(v, str) or np.isfinite(v) else float("nan"))
             for k, v in res.summary().items() if k != "Status"}
        trace = {"t_s": np.round(res.trace_t_s, 4).tolist(),
                 "p_mpa": np.round(res.trace_p_mpa, 4).tolist(),
                 "temp_c": np.round(res.trace_temp_c, 3).tolist(),
                 "phase": res.trace_phase.astype(int).tolist(),
                 "sample_ids": run.samples,
                 "cell_pressure_mpa": json_floats(res.cell_pressure_mpa[:n]),
                 "cell_pressure_cv": json_floats(res.cell_pressure_cv[:n]),
                 "recipe": run.payload["recipe"].model_dump(), "faults": res.faults}
        outcome = self.outcome_of(run, res.status)
        self._finish(run, RunResult(
            run_id=run.run_id, job_id=run.job_id, template_id=run.template_id, outcome=outcome.value,
            samples=run.samples, faults=res.faults,
            scalars={**r, ResultVar.DURATION.value: float(res.duration_s)},
            arrays={ResultVar.CELL_PRESSURES.value: _finite(res.cell_pressure_mpa[:n]),
                    ResultVar.CELL_PRESSURE_CV.value: _finite(res.cell_pressure_cv[:n])},
            trace_json=json.dumps(trace, separators=(",", ":")),
            started_s=run.start_wall, ended_s=tg), tg)
        self.progress = 100.0


def _finite(a: np.ndarray) -> list[float]:
    """Plain floats (NaN kept: an OPC UA Double carries it)."""
    return [float(x) for x in np.asarray(a, dtype=float)]


def json_floats(a: Any) -> list[float | None]:
    """Plain floats with NaN as None, so the JSON stays strict (JavaScript can parse it)."""
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=float).ravel()]


def warm_up() -> None:
    """Run one tiny press cycle so its lazy imports (scipy.signal) happen at server start, not inside the
    first StartProgram on the server's event loop (which then took seconds under load)."""
    spec = load_press_spec("automatic_uniaxial")
    rec = Recipe(target_pressure_mpa=10.0, ramp_rate_mpa_s=1.0, hold_s=1.0, temperature_c=spec.ambient_temperature_c,
                 decompression_rate_mpa_s=1.0)
    simulate_cycle(spec, rec, 1, np.random.default_rng(0))


def make_device(cfg: DeviceConfig, plant: PlantFile, start_wall: float) -> Device:
    """The device model for a plant-file entry."""
    if cfg.is_press:
        return PressDevice(cfg, plant, start_wall)
    from plant.instruments import GloveboxDevice, ProfilometerDevice
    if cfg.kind == "glovebox":
        return GloveboxDevice(cfg, plant, start_wall)
    return ProfilometerDevice(cfg, plant, start_wall)
