// The JS press's own cycle physics, in process seconds: Loading, Heating (skipped when already
// at temperature), Ramping, Holding, Decompressing, Unloading (phase codes 0..5 of docs/opcua.md
// section 7), with gauge noise, first-order heating, per-position pressure scatter across the
// vessel, and the fault kinds of X4 (leak, overpressure, heater). Sampled at a fixed period.
"use strict";

const PERIOD_S = 0.5; // trace sample period, process seconds (7: at most 1 s)
const LOAD_S = 4; // loading and unloading, process seconds
const HEAT_TAU_S = 20; // first-order heating time constant
const HEAT_BAND_C = 1; // heating ends within this band of the setpoint
const HEATER_STALL_C = 8; // a failed heater stalls this far below the setpoint
const MAX_VENT_MPA_S = 50; // abort / trip vent rate
const LEAK_TAU_S = 60; // pressure decay time constant with a leak
const LEAK_TOLERANCE = 0.97; // hold mean below this fraction of target: Fault
const OVERPRESSURE_TRIP = 1.08; // runaway trips at this fraction of target

/** A seeded uniform generator (mulberry32) so a run is reproducible from its seed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(u) {
  const u1 = Math.max(u(), 1e-12);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u());
}

function mean(xs) {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

function std(xs) {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1));
}

/** Nominal process duration (s) of a recipe from ambient temperature `ambientC`. */
function nominalDuration(recipe, ambientC) {
  const dT = Math.abs(recipe.temperature_c - ambientC);
  const heat = dT > HEAT_BAND_C ? HEAT_TAU_S * Math.log(dT / HEAT_BAND_C) : 0;
  return 2 * LOAD_S + heat + recipe.target_pressure_mpa / recipe.ramp_rate_mpa_s + recipe.hold_s
    + recipe.target_pressure_mpa / recipe.decompression_rate_mpa_s;
}

/** One program run of the press, advanced sample by sample in process time. */
class Cycle {
  constructor(recipe, { seed, ambientC = 22, gaugeNoise = 0.002, positionSpread = 0.01, fault = null }) {
    this.recipe = recipe;
    this.u = rng(seed);
    this.gaugeNoise = gaugeNoise;
    this.positionSpread = positionSpread;
    this.fault = fault;
    this.t = 0;
    this.p = 0;
    this.temp = ambientC;
    this.phase = 0;
    this.phaseT = 0;
    this.vent = recipe.decompression_rate_mpa_s;
    this.faults = [];
    this.trace = { t_s: [], p_mpa: [], temp_c: [], phase: [] };
    this.done = false;
  }

  /** Stop: vent at the program's rate, then unload. Abort: vent at the device's maximum rate. */
  interrupt(abort) {
    if (this.phase < 4) this.enter(4);
    if (abort) this.vent = MAX_VENT_MPA_S;
  }

  enter(phase) {
    this.phase = phase;
    this.phaseT = 0;
  }

  heaterSetpoint() {
    return this.fault === "heater" ? this.recipe.temperature_c - HEATER_STALL_C : this.recipe.temperature_c;
  }

  /** Advance one sample period and record the sample. */
  step() {
    const r = this.recipe;
    const dt = PERIOD_S;
    this.temp += (this.heaterSetpoint() - this.temp) * (1 - Math.exp(-dt / HEAT_TAU_S));
    switch (this.phase) {
      case 0:
        if (this.phaseT >= LOAD_S) this.enter(Math.abs(this.temp - r.temperature_c) > HEAT_BAND_C ? 1 : 2);
        break;
      case 1:
        if (Math.abs(this.temp - r.temperature_c) <= HEAT_BAND_C) this.enter(2);
        else if (this.phaseT > 10 * HEAT_TAU_S) this.trip("heater");
        break;
      case 2:
        this.p = Math.min(this.p + r.ramp_rate_mpa_s * dt, this.fault === "overpressure" ? Infinity : r.target_pressure_mpa);
        if (this.p >= r.target_pressure_mpa * OVERPRESSURE_TRIP) this.trip("overpressure");
        else if (this.p >= r.target_pressure_mpa && this.fault !== "overpressure") this.enter(3);
        break;
      case 3:
        if (this.fault === "leak") this.p *= Math.exp(-dt / LEAK_TAU_S);
        if (this.phaseT >= r.hold_s) this.enter(4);
        break;
      case 4:
        this.p = Math.max(0, this.p - this.vent * dt);
        if (this.p <= 0) this.enter(5);
        break;
      default:
        if (this.phaseT >= LOAD_S) this.done = true;
    }
    this.record();
    this.t += dt;
    this.phaseT += dt;
  }

  trip(kind) {
    if (!this.faults.includes(kind)) this.faults.push(kind);
    this.vent = MAX_VENT_MPA_S;
    this.enter(4);
  }

  record() {
    const tr = this.trace;
    tr.t_s.push(Number(this.t.toFixed(6)));
    tr.p_mpa.push(Math.max(0, this.p * (1 + this.gaugeNoise * gauss(this.u))));
    tr.temp_c.push(this.temp + 0.05 * gauss(this.u));
    tr.phase.push(this.phase);
  }

  /** Measured values of the run (R3) for `n` samples; the leak fault shows in the hold mean. */
  measure(n) {
    const tr = this.trace;
    const hold = tr.phase.map((ph, i) => (ph === 3 ? i : -1)).filter((i) => i >= 0);
    const holdP = hold.map((i) => tr.p_mpa[i]);
    const holdMean = holdP.length ? mean(holdP) : 0;
    if (this.fault === "leak" && holdMean < LEAK_TOLERANCE * this.recipe.target_pressure_mpa
      && !this.faults.includes("leak")) this.faults.push("leak");
    const cells = [];
    const cellCv = [];
    for (let i = 0; i < n; i += 1) {
      cells.push(holdMean * (1 + this.positionSpread * gauss(this.u)));
      cellCv.push(Math.abs(0.004 + 0.001 * gauss(this.u)));
    }
    return {
      duration_s: this.t,
      peak_mpa: Math.max(0, ...tr.p_mpa),
      hold_mean_mpa: holdMean,
      hold_std_mpa: std(holdP),
      pressure_cv: n >= 2 ? std(cells) / mean(cells) : 0,
      hold_s: hold.length ? hold.length * PERIOD_S : 0,
      mean_temp_c: hold.length ? mean(hold.map((i) => tr.temp_c[i])) : mean(tr.temp_c),
      cell_pressures_mpa: cells,
      cell_cv: cellCv,
    };
  }
}

module.exports = { Cycle, nominalDuration, PERIOD_S, rng };
