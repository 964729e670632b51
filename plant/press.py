"""Press physics: recipe -> pressure/temperature trace, precision, nonuniformity, faults.

No asyncua here. The same function serves the line simulation (called once per batch,
cheap, vectorised numpy) and the OPC UA emulator (which replays the trace against its
clock, so the published values and the Result come from one computation).

Model of one cycle (phases in order): load, heat-up, ramp, hold, decompression, unload.
* Setpoint: 0 until the ramp, linear ramp to target*(1+bias) at the recipe rate, held,
  linear decompression to 0.
* Controller: first-order lag (time constant ``controller_time_constant_s``) toward the
  setpoint, discretised exactly (zero-order hold): ``first_order_lag``, the recursion
  ``scipy.signal.lfilter([1 - a], [1, -a], x)`` runs, float for float, without its import.
* Measured pressure: lagged pressure * (1 + noise_frac * N(0,1)) + sensor floor noise.
* Temperature: ambient, linear heat-up at ``heating_rate_c_s`` to the recipe temperature,
  then held with sensor noise.
* Per cell: the hold mean each cell sees = hold mean * transmission * (1 + spread * N),
  and its spatial CV = pressure_cv * lognormal(cv_spread).
Faults: ``leak`` (exponential decay during hold), ``overpressure`` (runaway past target,
trip and vent), ``heater`` (temperature stalls short of target), ``comm_loss`` (trace
truncated). ``abort_at_s`` vents early (status Aborted), reproducibly for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

PressKind = Literal[
    "manual_uniaxial", "automatic_uniaxial", "heated_uniaxial", "glovebox_uniaxial", "cip", "wip"
]
FAULT_KINDS: tuple[str, ...] = ("leak", "overpressure", "heater", "comm_loss")
PRESS_KINDS: tuple[str, ...] = (
    "manual_uniaxial", "automatic_uniaxial", "heated_uniaxial", "glovebox_uniaxial", "cip", "wip"
)


class PressSpec(BaseModel):
    """Datasheet and behaviour of one press model; every number carries its unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: PressKind
    manufacturer: str
    model: str
    isostatic: bool = Field(description="True for CIP/WIP (fluid medium, no die-wall friction)")
    max_pressure_mpa: float = Field(gt=0)
    min_temperature_c: float = Field(description="lowest recipe temperature (ambient for unheated)")
    max_temperature_c: float
    ambient_temperature_c: float = 22.0
    capacity_cells: int = Field(ge=1)
    max_ramp_rate_mpa_s: float = Field(gt=0)
    max_decompression_rate_mpa_s: float = Field(gt=0)
    max_hold_s: float = Field(gt=0)
    controller_time_constant_s: float = Field(gt=0)
    pressure_bias_frac: float = Field(description="systematic setpoint error, fraction of target")
    pressure_noise_frac: float = Field(ge=0, description="temporal noise, fraction of pressure")
    sensor_noise_mpa: float = Field(gt=0, description="absolute noise floor of the gauge")
    pressure_cv: float = Field(ge=0, description="spatial CV of pressure across one cell")
    cv_spread_frac: float = Field(ge=0, description="lognormal sigma of the per-cell CV")
    cell_spread_frac: float = Field(ge=0, description="cell-to-cell spread of mean pressure")
    transmission_frac: float = Field(gt=0, le=1, description="mean cell pressure / applied")
    heating_rate_c_s: float = Field(gt=0)
    temperature_noise_c: float = Field(ge=0)
    load_unload_s: float = Field(ge=0, description="load + unload handling time (split evenly)")
    sample_rate_hz: float = Field(gt=0, description="default trace sample rate")
    hold_tolerance_frac: float = Field(gt=0, description="hold mean below target by more -> Fault")
    leak_rate_frac_per_s: float = Field(ge=0, description="pressure decay rate under 'leak'")
    overpressure_trip_frac: float = Field(gt=0, description="trip at target*(1+frac), capped at max")
    heater_fault_reach_frac: float = Field(ge=0, lt=1, description="share of heat-up reached")
    comm_loss_at_frac: float = Field(gt=0, lt=1, description="share of cycle after which link drops")
    serial_prefix: str = "SN"

    def on_cell_mpa(self, applied_mpa: float) -> float:
        """Mean pressure a cell sees when the press applies `applied_mpa` (its tooling transmits a share)."""
        return applied_mpa * self.transmission_frac

    def applied_for_cell_mpa(self, on_cell_mpa: float) -> float:
        """What the press must apply for `on_cell_mpa` on the cell, capped at its limit."""
        return min(on_cell_mpa / self.transmission_frac, self.max_pressure_mpa)

    @property
    def max_on_cell_mpa(self) -> float:
        """The highest mean pressure this press can put on a cell."""
        return self.on_cell_mpa(self.max_pressure_mpa)


class Recipe(BaseModel):
    """One press program's parameters."""

    model_config = ConfigDict(extra="forbid")

    target_pressure_mpa: float = Field(gt=0)
    ramp_rate_mpa_s: float = Field(gt=0)
    hold_s: float = Field(ge=0)
    temperature_c: float
    decompression_rate_mpa_s: float = Field(gt=0)


class RecipeError(ValueError):
    """A recipe violates a press's limits; ``field`` names the offending recipe field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def load_press_spec(name_or_path: str | Path, base_dir: Path | None = None) -> PressSpec:
    """A shipped spec by kind name (``wip``, ``cip``, ...) or a YAML file path (see plant.spec_files)."""
    from plant.spec_files import load_spec

    return load_spec(PressSpec, name_or_path, base_dir)


def check_recipe(spec: PressSpec, recipe: Recipe) -> None:
    """Raise RecipeError naming the first recipe field outside the press's limits."""
    if recipe.target_pressure_mpa > spec.max_pressure_mpa:
        raise RecipeError("target_pressure_mpa",
                          f"{recipe.target_pressure_mpa} MPa > max {spec.max_pressure_mpa} MPa")
    if recipe.ramp_rate_mpa_s > spec.max_ramp_rate_mpa_s:
        raise RecipeError("ramp_rate_mpa_s",
                          f"{recipe.ramp_rate_mpa_s} MPa/s > max {spec.max_ramp_rate_mpa_s} MPa/s")
    if recipe.decompression_rate_mpa_s > spec.max_decompression_rate_mpa_s:
        raise RecipeError("decompression_rate_mpa_s",
                          f"{recipe.decompression_rate_mpa_s} MPa/s > max "
                          f"{spec.max_decompression_rate_mpa_s} MPa/s")
    if recipe.hold_s > spec.max_hold_s:
        raise RecipeError("hold_s", f"{recipe.hold_s} s > max {spec.max_hold_s} s")
    if not spec.min_temperature_c <= recipe.temperature_c <= spec.max_temperature_c:
        raise RecipeError("temperature_c",
                          f"{recipe.temperature_c} C outside [{spec.min_temperature_c}, "
                          f"{spec.max_temperature_c}] C")


def _phase_durations(spec: PressSpec, recipe: Recipe) -> tuple[float, float, float, float, float]:
    """(load, heat, ramp, hold, decompression) durations in s; unload equals load."""
    heat = max(0.0, recipe.temperature_c - spec.ambient_temperature_c) / spec.heating_rate_c_s
    ramp = recipe.target_pressure_mpa / recipe.ramp_rate_mpa_s
    decomp = recipe.target_pressure_mpa / recipe.decompression_rate_mpa_s
    return 0.5 * spec.load_unload_s, heat, ramp, recipe.hold_s, decomp


def nominal_cycle_s(spec: PressSpec, recipe: Recipe) -> float:
    """Load/unload + heat-up + ramp + hold + decompression, in seconds."""
    load, heat, ramp, hold, decomp = _phase_durations(spec, recipe)
    return 2.0 * load + heat + ramp + hold + decomp


# Phase codes of the trace (index into PHASES).
PHASES: tuple[str, ...] = ("Loading", "Heating", "Ramping", "Holding", "Decompressing", "Unloading")


@dataclass
class CycleResult:
    """Outcome of one press cycle, with its sampled trace."""

    status: str
    faults: list[str]
    duration_s: float
    peak_pressure_mpa: float
    hold_pressure_mean_mpa: float
    hold_pressure_std_mpa: float
    pressure_cv: float
    hold_duration_s: float
    mean_temperature_c: float
    cell_pressure_mpa: np.ndarray
    cell_pressure_cv: np.ndarray
    trace_t_s: np.ndarray
    trace_p_mpa: np.ndarray
    trace_temp_c: np.ndarray
    trace_phase: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    def summary(self) -> dict:
        """Scalar results under the OPC UA Result node names."""
        return {
            "PeakPressure_MPa": float(self.peak_pressure_mpa),
            "HoldPressureMean_MPa": float(self.hold_pressure_mean_mpa),
            "HoldPressureStd_MPa": float(self.hold_pressure_std_mpa),
            "PressureCV": float(self.pressure_cv),
            "HoldDuration_s": float(self.hold_duration_s),
            "MeanTemperature_C": float(self.mean_temperature_c),
            "Status": self.status,
        }


def simulate_cycle(
    spec: PressSpec,
    recipe: Recipe,
    n_cells: int,
    rng: np.random.Generator,
    faults: Sequence[str] = (),
    sample_hz: float | None = None,
    abort_at_s: float | None = None,
) -> CycleResult:
    """Simulate one cycle of ``n_cells`` cells; see the module docstring for the model.

    Random draws do not depend on ``faults`` or ``abort_at_s``, so re-running with the same
    seed and an abort time reproduces the trace published up to that time.
    """
    unknown = set(faults) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known {FAULT_KINDS}")
    hz = spec.sample_rate_hz if sample_hz is None else sample_hz
    dt = 1.0 / hz
    load, heat, ramp, hold, decomp = _phase_durations(spec, recipe)
    t_ramp0 = load + heat
    t_hold0 = t_ramp0 + ramp
    t_dec0 = t_hold0 + hold
    t_unl0 = t_dec0 + decomp
    t_end = t_unl0 + load
    n = int(np.floor(t_end * hz + 1e-9)) + 1
    t = np.arange(n) * dt

    # Random draws: fixed order and sizes, independent of faults/abort.
    z = rng.standard_normal(3 * n + 2 * n_cells)
    z_p, z_floor, z_T = z[:n], z[n:2 * n], z[2 * n:3 * n]
    z_cell, z_cv = z[3 * n:3 * n + n_cells], z[3 * n + n_cells:]

    target = recipe.target_pressure_mpa
    p_set_hold = target * (1.0 + spec.pressure_bias_frac)
    has_over = "overpressure" in faults
    # Setpoint: ramp (runaway with overpressure), hold, linear decompression.
    ramp_sp = recipe.ramp_rate_mpa_s * (t - t_ramp0)
    if has_over:
        sp = np.where(t < t_ramp0, 0.0, ramp_sp)
    else:
        sp = np.clip(ramp_sp, 0.0, p_set_hold)
        sp = np.where(t >= t_dec0, np.maximum(p_set_hold - recipe.decompression_rate_mpa_s
                                              * (t - t_dec0), 0.0), sp)
    a = float(np.exp(-dt / spec.controller_time_constant_s))
    p_true = np.array(first_order_lag(sp.tolist(), a))

    if "leak" in faults and not has_over:
        p_true = _apply_leak(spec, recipe, t, p_true, t_hold0, t_dec0)

    phase = np.searchsorted(np.array([load, t_ramp0, t_hold0, t_dec0, t_unl0]), t,
                            side="right").astype(np.int8)
    if heat == 0.0:
        phase[phase == 1] = 2

    status = "Completed"
    stop_idx = n
    trip = np.inf
    if has_over:
        trip = min(target * (1.0 + spec.overpressure_trip_frac), spec.max_pressure_mpa)
        over = np.flatnonzero(p_true >= trip)
        t_trip = t[over[0]] if over.size else t_dec0
        p_true, phase = _vent_from(spec, t, p_true, phase, t_trip,
                                   spec.max_decompression_rate_mpa_s, load)
        status = "Fault"
    if abort_at_s is not None and abort_at_s < t_unl0 and status == "Completed":
        p_true, phase = _vent_from(spec, t, p_true, phase, abort_at_s,
                                   recipe.decompression_rate_mpa_s, load)
        status = "Aborted"

    # Temperature: linear heat-up, stall under heater fault.
    t_goal = recipe.temperature_c
    if "heater" in faults:
        t_goal = spec.ambient_temperature_c + spec.heater_fault_reach_frac * (
            recipe.temperature_c - spec.ambient_temperature_c)
    temp = np.minimum(spec.ambient_temperature_c + spec.heating_rate_c_s
                      * np.clip(t - (t_ramp0 - heat), 0.0, None), t_goal)
    temp = temp + spec.temperature_noise_c * z_T

    # Gauge reading: not clipped at 0 (an unloaded gauge reads noise about zero).
    p_meas = p_true * (1.0 + spec.pressure_noise_frac * z_p) + spec.sensor_noise_mpa * z_floor
    last = int(np.flatnonzero(phase <= 5)[-1]) + 1 if status != "Completed" else n
    stop_idx = min(stop_idx, last)
    if "comm_loss" in faults:
        stop_idx = min(stop_idx, max(1, int(spec.comm_loss_at_frac * n)))
    t, p_meas, temp, phase = t[:stop_idx], p_meas[:stop_idx], temp[:stop_idx], phase[:stop_idx]

    faults_seen = [f for f in FAULT_KINDS if f in faults]
    in_hold = phase == 3
    n_hold = int(in_hold.sum())
    if n_hold:
        hp = p_meas[in_hold]
        hold_mean = float(hp.mean())
        hold_std = float(hp.std())
        hold_dur = n_hold * dt
        mean_temp = float(temp[in_hold].mean())
    else:
        hold_mean = hold_std = hold_dur = 0.0
        mean_temp = float(temp.mean())
    if "comm_loss" in faults_seen or (has_over and status == "Fault"):
        status = "Fault"
    if "leak" in faults_seen and hold_mean < target * (1.0 - spec.hold_tolerance_frac):
        status = "Fault"
    if "heater" in faults_seen and t_goal < recipe.temperature_c - 3 * spec.temperature_noise_c:
        status = "Fault"

    if n_hold:
        cell_p = spec.on_cell_mpa(hold_mean) * (1.0 + spec.cell_spread_frac * z_cell)
        cell_cv = spec.pressure_cv * np.exp(spec.cv_spread_frac * z_cv
                                            - 0.5 * spec.cv_spread_frac ** 2)
        between = float(cell_p.std() / cell_p.mean()) if n_cells > 1 else 0.0
        overall_cv = float(np.sqrt(np.mean(cell_cv ** 2) + between ** 2))
    else:
        cell_p = np.full(n_cells, np.nan)
        cell_cv = np.full(n_cells, np.nan)
        overall_cv = float("nan")
    return CycleResult(
        status=status, faults=faults_seen, duration_s=float(t[-1]),
        peak_pressure_mpa=float(p_meas.max()), hold_pressure_mean_mpa=hold_mean,
        hold_pressure_std_mpa=hold_std, pressure_cv=overall_cv, hold_duration_s=float(hold_dur),
        mean_temperature_c=mean_temp, cell_pressure_mpa=cell_p, cell_pressure_cv=cell_cv,
        trace_t_s=t, trace_p_mpa=p_meas, trace_temp_c=temp, trace_phase=phase,
    )


def first_order_lag(x: Sequence[float], a: float) -> list[float]:
    """y[k] = a*y[k-1] + (1-a)*x[k] from rest, in the operation order of
    ``scipy.signal.lfilter([1 - a], [1, -a], x)`` (direct form II transposed: y = z + b0*x,
    z = a*y), so the result is the same to the last bit (tests/plant/test_press_fast.py)."""
    b0 = 1.0 - a
    z = 0.0
    out = []
    for xk in x:
        y = z + b0 * xk
        z = a * y
        out.append(y)
    return out


@dataclass
class CycleSummary:
    """What the line needs from a fault-free cycle (``cycle_summary``), without the trace."""

    duration_s: float
    hold_duration_s: float
    hold_pressure_mean_mpa: float
    mean_temperature_c: float
    cell_pressure_mpa: np.ndarray
    cell_pressure_cv: np.ndarray


def cycle_summary(spec: PressSpec, recipe: Recipe, n_cells: int, rng: np.random.Generator,
                  sample_hz: float | None = None) -> CycleSummary | None:
    """The numbers ``simulate_cycle(spec, recipe, n_cells, rng, sample_hz=...)`` reports for a
    fault-free cycle, computed only over the hold window (the trace is not built): the same
    random draws and the same floating-point operations on the same samples, so the results
    are identical. None (and nothing drawn) for a cycle without hold samples: call
    ``simulate_cycle``."""
    hz = spec.sample_rate_hz if sample_hz is None else sample_hz
    dt = 1.0 / hz
    load, heat, ramp, hold, decomp = _phase_durations(spec, recipe)
    t_ramp0 = load + heat
    t_hold0 = t_ramp0 + ramp
    t_dec0 = t_hold0 + hold
    t_end = t_dec0 + decomp + load
    n = int(np.floor(t_end * hz + 1e-9)) + 1
    t = np.arange(n) * dt
    # hold samples: phase 3 of simulate_cycle, t_hold0 <= t < t_dec0
    i0, i1 = (int(i) for i in np.searchsorted(t, (t_hold0, t_dec0), side="left"))
    if i1 <= i0:
        return None
    z = rng.standard_normal(3 * n + 2 * n_cells)
    p_set_hold = recipe.target_pressure_mpa * (1.0 + spec.pressure_bias_frac)
    rate = recipe.ramp_rate_mpa_s
    a = float(np.exp(-dt / spec.controller_time_constant_s))
    b0 = 1.0 - a
    # first_order_lag of np.clip(ramp, 0, p_set_hold) (the setpoint before decompression), step by
    # step; from rest it stays exactly 0 while the setpoint is 0, and once the setpoint holds and
    # the output repeats itself, it repeats for good (the same floats in, the same float out)
    y_prev = y = state = 0.0
    x_prev = -1.0
    p_true = []
    for tk in t[:i1].tolist():
        r = rate * (tk - t_ramp0)
        r = r if r > 0.0 else 0.0
        x = r if r < p_set_hold else p_set_hold
        if x == x_prev and y == y_prev:
            p_true.append(y)
            continue
        y_prev, x_prev = y, x
        y = state + b0 * x
        state = a * y
        p_true.append(y)
    p_hold = np.array(p_true[i0:])
    hp = p_hold * (1.0 + spec.pressure_noise_frac * z[i0:i1]) + spec.sensor_noise_mpa * z[n + i0:n + i1]
    hold_mean = float(hp.mean())
    th = t[i0:i1]
    temp = np.minimum(spec.ambient_temperature_c + spec.heating_rate_c_s * np.clip(th - (t_ramp0 - heat), 0.0, None),
                      recipe.temperature_c) + spec.temperature_noise_c * z[2 * n + i0:2 * n + i1]
    z_cell, z_cv = z[3 * n:3 * n + n_cells], z[3 * n + n_cells:]
    cell_p = spec.on_cell_mpa(hold_mean) * (1.0 + spec.cell_spread_frac * z_cell)
    cell_cv = spec.pressure_cv * np.exp(spec.cv_spread_frac * z_cv - 0.5 * spec.cv_spread_frac ** 2)
    return CycleSummary(duration_s=float(t[-1]), hold_duration_s=float((i1 - i0) * dt), hold_pressure_mean_mpa=hold_mean,
                        mean_temperature_c=float(temp.mean()), cell_pressure_mpa=cell_p, cell_pressure_cv=cell_cv)


def _apply_leak(spec: PressSpec, recipe: Recipe, t: np.ndarray, p: np.ndarray,
                t_hold0: float, t_dec0: float) -> np.ndarray:
    """Pressure decays exponentially during hold; decompression starts from the decayed level."""
    k = spec.leak_rate_frac_per_s
    decay = np.exp(-k * np.clip(t - t_hold0, 0.0, t_dec0 - t_hold0))
    p_hold_end = np.interp(t_dec0, t, p) * float(np.exp(-k * (t_dec0 - t_hold0)))
    out = p * decay
    after = t >= t_dec0
    out[after] = np.maximum(p_hold_end - recipe.decompression_rate_mpa_s * (t[after] - t_dec0), 0.0)
    return out


def _vent_from(spec: PressSpec, t: np.ndarray, p: np.ndarray, phase: np.ndarray, t0: float,
               rate_mpa_s: float, unload_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace everything from ``t0`` by a linear vent at ``rate_mpa_s`` then unloading.

    Phases after ``t0``: Decompressing (4) while venting, Unloading (5), then 6 (past end).
    """
    i0 = int(np.searchsorted(t, t0, side="left"))
    p = p.copy()
    phase = phase.copy()
    if i0 >= t.size:
        return p, phase
    p0 = float(p[i0 - 1]) if i0 > 0 else 0.0
    tail = t[i0:] - t0
    p[i0:] = np.maximum(p0 - rate_mpa_s * tail, 0.0)
    t_vent = p0 / rate_mpa_s
    phase[i0:] = np.where(tail < t_vent, 4, np.where(tail < t_vent + unload_s, 5, 6))
    return p, phase


class PressProgram:
    """Replays a simulated cycle against a clock (simulated seconds since start)."""

    def __init__(self, result: CycleResult) -> None:
        self.result = result
        self._t = result.trace_t_s

    @property
    def duration_s(self) -> float:
        """Simulated length of the replayed trace in seconds."""
        return float(self._t[-1]) if self._t.size else 0.0

    def at(self, t_s: float) -> tuple[float, float, float, str]:
        """(t, pressure, temperature, phase name) of the last sample at or before ``t_s``."""
        i = int(np.searchsorted(self._t, t_s, side="right")) - 1
        i = min(max(i, 0), self._t.size - 1)
        r = self.result
        ph = int(r.trace_phase[i]) if r.trace_phase.size else 0
        return (float(self._t[i]), float(r.trace_p_mpa[i]), float(r.trace_temp_c[i]),
                PHASES[min(ph, len(PHASES) - 1)])

    def done(self, t_s: float) -> bool:
        """True once the clock passed the last sample."""
        return t_s >= self.duration_s
