// Names of docs/opcua.md (the published contract) that the JS press implements. Written from
// the document only; section numbers in comments refer to docs/opcua.md.
"use strict";

const NS = {
  DI: "http://opcfoundation.org/UA/DI/",
  MACHINERY: "http://opcfoundation.org/UA/Machinery/",
  LADS: "http://opcfoundation.org/UA/LADS/",
  PLANT: "urn:twin:plant",
};

// Flags that make a deliberately non-conforming press for the probe's negative tests.
const BROKEN_FLAGS = ["no_units", "early_result", "no_start_program", "base_object_device"];

module.exports = { NS, BROKEN_FLAGS };

const UNIT = "PressChamber";
const TEMPLATE = "PressCycle";
const TRACE = "Trace";
const DEFAULT_RECIPE = { target_pressure_mpa: 300, ramp_rate_mpa_s: 5, hold_s: 60, temperature_c: 25,
  decompression_rate_mpa_s: 10 };
const POSITIVE_KEYS = ["target_pressure_mpa", "ramp_rate_mpa_s", "hold_s", "decompression_rate_mpa_s"];

/** [browse name, unit, value] of the Result VariableSet's measured values. */
function resultVariables(m) {
  return [
    ["PeakPressure", "megapascal", m.peak_pressure_mpa],
    ["HoldPressure", "megapascal", m.hold_pressure_mpa],
    ["CellPressures", "megapascal", m.cell_pressures_mpa],
    ["PressureCV", null, m.pressure_cv],
    ["HoldDuration", "second", m.hold_s],
    ["MeanTemperature", "degree_celsius", m.mean_temperature_c],
  ];
}

/** The trace value: samples of (t, pressure, temperature, phase). */
function trace(run) {
  return run.trace.map((s) => [s.t_s, s.pressure_mpa, s.temperature_c, s.phase]);
}

Object.assign(module.exports, { UNIT, TEMPLATE, TRACE, DEFAULT_RECIPE, POSITIVE_KEYS, resultVariables, trace });
