// One press as a LADS device (OPC 30500): a LADSDeviceType instance in the DI DeviceSet with
// Machinery identification and MachineryItemState, one functional unit with Pressure and
// Temperature AnalogControlFunctions, a ProgramManager (templates, active program, results) and
// the functional unit state machine's StartProgram / Stop / Abort. Names from ./contract.
"use strict";
const { DataType, StatusCodes, Variant, VariantArrayType, standardUnits, promoteToStateMachine,
  LocalizedText } = require("node-opcua");
const C = require("./contract");
const security = require("./security");
const { Programs } = require("./programs");

function ns(as, uri) {
  const i = as.getNamespaceIndex(uri);
  if (i < 0) throw new Error(`namespace ${uri} not loaded`);
  return i;
}

function setProp(node, name, dataType, value) {
  const p = node.getChildByName(name);
  if (!p) throw new Error(`${node.browseName.toString()} has no ${name}`);
  p.setValueFromSource({ dataType, value });
  return p;
}

/** EngineeringUnits and EURange of an AnalogUnitRangeType variable (unless broken: no_units). */
function setAnalog(variable, unit, low, high, broken) {
  if (!broken.has("no_units")) {
    setProp(variable, "EngineeringUnits", DataType.ExtensionObject, standardUnits[unit]);
  } else {
    const eu = variable.getChildByName("EngineeringUnits");
    if (eu) variable.addressSpace.deleteNode(eu);
  }
  setProp(variable, "EURange", DataType.ExtensionObject,
    new (require("node-opcua").Range)({ low, high }));
}

/** A functional unit's function: AnalogControlFunctionType with units, current and target value. */
function controlFunction(as, parent, name, unit, range, initial, broken) {
  const lads = ns(as, C.NS.LADS);
  const type = as.findObjectType("AnalogControlFunctionType", lads);
  const fn = type.instantiate({ browseName: { name, namespaceIndex: as.getNamespaceIndex(C.NS.PLANT) }, componentOf: parent });
  setProp(fn, "IsEnabled", DataType.Boolean, true);
  const current = fn.getChildByName("CurrentValue");
  const target = fn.getChildByName("TargetValue");
  setAnalog(current, unit, range[0], range[1], broken);
  setAnalog(target, unit, range[0], range[1], broken);
  current.setValueFromSource({ dataType: DataType.Double, value: initial });
  target.setValueFromSource({ dataType: DataType.Double, value: initial });
  target.setRolePermissions(security.operatorWritable());
  target.accessLevel = 3; // CurrentRead | CurrentWrite
  target.userAccessLevel = 3;
  return { fn, current, target };
}

function buildDevice(as, spec, cfg) {
  const lads = ns(as, C.NS.LADS);
  const di = ns(as, C.NS.DI);
  const own = as.getOwnNamespace();
  const plant = as.registerNamespace(C.NS.PLANT);
  const broken = cfg.broken;
  const deviceSet = as.rootFolder.objects.getFolderElementByName("DeviceSet", di);
  if (!deviceSet) throw new Error("DI DeviceSet missing");
  const devType = broken.has("base_object_device") ? as.findObjectType("BaseObjectType")
    : as.findObjectType("LADSDeviceType", lads);
  const opts = { browseName: { name: spec.name, namespaceIndex: plant.index }, componentOf: deviceSet,
    optionals: ["MachineryItemState"] };
  const dev = broken.has("base_object_device") ? plant.addObject(opts) : devType.instantiate(opts);
  void own;
  // ... functional unit, functions, programs: see buildUnit
  const unit = buildUnit(as, dev, spec, { ...cfg, plantNs: plant.index });
  return { dev, ...unit, dispose: () => unit.programs.dispose() };
}

function buildUnit(as, dev, spec, cfg) {
  const lads = ns(as, C.NS.LADS);
  const broken = cfg.broken;
  let fuSet = dev.getChildByName("FunctionalUnitSet", lads);
  if (!fuSet) {
    fuSet = as.findObjectType("FunctionalUnitSetType", lads).instantiate(
      { browseName: { name: "FunctionalUnitSet", namespaceIndex: lads }, componentOf: dev });
  }
  const optionals = ["FunctionSet", "ProgramManager", "FunctionalUnitState.Stop", "FunctionalUnitState.Abort"];
  if (!broken.has("no_start_program")) optionals.push("FunctionalUnitState.StartProgram");
  const fu = as.findObjectType("FunctionalUnitType", lads).instantiate(
    { browseName: { name: C.UNIT, namespaceIndex: cfg.plantNs }, componentOf: fuSet, optionals });
  const fset = fu.getChildByName("FunctionSet", lads);
  const pressure = controlFunction(as, fset, "Pressure", "megapascal", [0, spec.max_pressure_mpa || 600], 0, broken);
  const temperature = controlFunction(as, fset, "Temperature", "degree_celsius", [0, spec.max_temperature_c || 150], 22, broken);
  const sm = promoteToStateMachine(fu.getChildByName("FunctionalUnitState", lads));
  sm.setState("Stopped");
  const programs = new Programs(as, { dev, fu, sm, pressure, temperature, spec, cfg });
  return { fu, sm, pressure, temperature, programs };
}

module.exports = { buildDevice, setProp, ns };
