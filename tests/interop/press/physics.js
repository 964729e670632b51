// The JS press's own cycle physics: ramp to the target pressure, hold, decompress; noise on the
// gauge; per-position pressure offsets across the vessel (so per-cell pressures scatter).
"use strict";

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

/** A standard normal deviate from `u` (Box-Muller). */
function gauss(u) {
  const u1 = Math.max(u(), 1e-12);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u());
}

/** Phase durations (s) of a recipe {target_pressure_mpa, ramp_rate_mpa_s, hold_s, decompression_rate_mpa_s}. */
function phases(recipe) {
  const ramp = recipe.target_pressure_mpa / recipe.ramp_rate_mpa_s;
  const decomp = recipe.target_pressure_mpa / recipe.decompression_rate_mpa_s;
  return { ramp, hold: recipe.hold_s, decomp, total: ramp + recipe.hold_s + decomp };
}

/** Noise-free gauge pressure (MPa) and phase name at cycle time t (s). */
function pressureAt(recipe, t) {
  const ph = phases(recipe);
  if (t < ph.ramp) return { p: recipe.ramp_rate_mpa_s * t, phase: "ramp" };
  if (t < ph.ramp + ph.hold) return { p: recipe.target_pressure_mpa, phase: "hold" };
  if (t < ph.total) return { p: recipe.target_pressure_mpa - recipe.decompression_rate_mpa_s * (t - ph.ramp - ph.hold), phase: "decompress" };
  return { p: 0, phase: "done" };
}

/** Temperature (degC) at cycle time t: first-order approach from ambient to the setpoint. */
function temperatureAt(recipe, t, ambientC, tauS) {
  return recipe.temperature_c + (ambientC - recipe.temperature_c) * Math.exp(-t / tauS);
}

/** The press itself: gauge noise (fraction of reading) and per-position transmission (fraction). */
class PressPhysics {
  constructor({ seed = 1, gaugeNoise = 0.002, positionSpread = 0.01, ambientC = 22, tauS = 30 } = {}) {
    this.u = rng(seed);
    this.gaugeNoise = gaugeNoise;
    this.positionSpread = positionSpread;
    this.ambientC = ambientC;
    this.tauS = tauS;
  }

  /** One gauge reading {pressure_mpa, temperature_c, phase} at cycle time t. */
  sample(recipe, t) {
    const { p, phase } = pressureAt(recipe, t);
    return {
      pressure_mpa: Math.max(0, p * (1 + this.gaugeNoise * gauss(this.u))),
      temperature_c: temperatureAt(recipe, t, this.ambientC, this.tauS) + 0.05 * gauss(this.u),
      phase,
    };
  }

  /** Pressure each of `n` positions saw during the hold, given the hold's mean gauge pressure. */
  perPosition(holdMeanMpa, n) {
    const out = [];
    for (let i = 0; i < n; i += 1) out.push(holdMeanMpa * (1 + this.positionSpread * gauss(this.u)));
    return out;
  }
}

/** Coefficient of variation (sd / mean) of `xs`; 0 for fewer than two values. */
function cv(xs) {
  if (xs.length < 2) return 0;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1);
  return m > 0 ? Math.sqrt(v) / m : 0;
}

module.exports = { PressPhysics, phases, pressureAt, cv, rng };
