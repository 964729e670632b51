// Names and rules of docs/opcua.md 1.0 (the published contract) that the JS press implements.
// Written from the document alone; section and rule numbers (N2, P2, R3, ...) refer to it.
"use strict";

const VERSION = "1.0";
const NS = {
  DI: "http://opcfoundation.org/UA/DI/",
  AMB: "http://opcfoundation.org/UA/AMB/",
  MACHINERY: "http://opcfoundation.org/UA/Machinery/",
  LADS: "http://opcfoundation.org/UA/LADS/",
  PLANT: "urn:twin:plant", // N2: instance names and extensions
};

const UNIT = "PressChamber"; // 4.2
const TEMPLATE = "PressCycle"; // 4.2, 4.4
const REQUIRED_KEYS = ["target_pressure_mpa", "ramp_rate_mpa_s", "hold_s", "temperature_c",
  "decompression_rate_mpa_s"]; // 4.4

// 7: press phase codes (CurrentStepNumber = code + 1, EstimatedStepNumbers = 6)
const PHASES = ["Loading", "Heating", "Ramping", "Holding", "Decompressing", "Unloading"];

// 4.1, 5.2: FunctionalUnitState and MachineryItemState names
const STATES = { STOPPED: "Stopped", RUNNING: "Running", STOPPING: "Stopping", ABORTING: "Aborting",
  ABORTED: "Aborted", CLEARING: "Clearing" };
const ITEM = { NOT_AVAILABLE: "NotAvailable", OUT_OF_SERVICE: "OutOfService", EXECUTING: "Executing",
  NOT_EXECUTING: "NotExecuting" };
const OUTCOMES = { COMPLETED: "Completed", STOPPED: "Stopped", ABORTED: "Aborted", FAULT: "Fault" };

// X4: fault kinds a PressChamber accepts on a test endpoint
const FAULT_KINDS = ["leak", "overpressure", "heater", "comm_loss"];

// Deliberately non-conforming variants for the probe's negative tests (never on by default).
const BROKEN_FLAGS = [
  "no_units", // F2 violated: no EngineeringUnits on function variables
  "early_result", // R1 violated: the Result exists while the run is still Running
  "no_start_program", // 4.2 violated: no StartProgram method
  "base_object_device", // 4.1 violated: the device is a BaseObjectType, not a LADSDeviceType
];

/** R3: [browse name, UNECE unit (null: none), value] of a press Result's VariableSet numbers. */
function pressVariables(m) {
  return [
    ["Duration_s", "second", m.duration_s],
    ["PeakPressure_MPa", "megapascal", m.peak_mpa],
    ["HoldPressureMean_MPa", "megapascal", m.hold_mean_mpa],
    ["HoldPressureStd_MPa", "megapascal", m.hold_std_mpa],
    ["PressureCV", "dimensionless", m.pressure_cv],
    ["HoldDuration_s", "second", m.hold_s],
    ["MeanTemperature_C", "degree_celsius", m.mean_temp_c],
    ["CellPressures_MPa", "megapascal", m.cell_pressures_mpa],
    ["CellPressureCV", "dimensionless", m.cell_cv],
  ];
}

module.exports = { VERSION, NS, UNIT, TEMPLATE, REQUIRED_KEYS, PHASES, STATES, ITEM, OUTCOMES, FAULT_KINDS,
  BROKEN_FLAGS, pressVariables };
