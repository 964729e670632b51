// One press as a LADS device (docs/opcua.md section 4): a LADSDeviceType instance
// DI:DeviceSet/plant:<Device> (also organized by MACH:Machines) with DI identification,
// MachineryItemState and DeviceState, the extension nodes plant:TimeScale and plant:Faults,
// and one functional unit plant:PressChamber with the Pressure and Temperature functions.
"use strict";
const { DataType, StatusCodes, standardUnits, Range, promoteToStateMachine, makeEUInformation,
  VariantArrayType, Variant } = require("node-opcua");
const C = require("./contract");
const security = require("./security");
const { Programs } = require("./programs");

const UNITS = {
  megapascal: standardUnits.megapascal, // MPA
  degree_celsius: standardUnits.degree_celsius, // CEL
  second: standardUnits.second, // SEC
  dimensionless: makeEUInformation("C62", "1", "one"),
};

function nsIndex(as, uri) {
  const i = as.getNamespaceIndex(uri);
  if (i < 0) throw new Error(`namespace ${uri} not loaded`);
  return i;
}

function child(node, name, ns) {
  const c = node.getChildByName(name, ns);
  if (!c) throw new Error(`${node.browseName.toString()} has no child ${name}`);
  return c;
}

function set(node, dataType, value, arrayType) {
  node.setValueFromSource({ dataType, value, arrayType });
  return node;
}

/** F2: EngineeringUnits and EURange properties of a function variable (unless broken: no_units). */
function analog(variable, unit, low, high, broken) {
  const eu = variable.getChildByName("EngineeringUnits");
  if (broken.has("no_units")) {
    if (eu) variable.addressSpace.deleteNode(eu);
  } else {
    set(eu, DataType.ExtensionObject, UNITS[unit]);
  }
  set(child(variable, "EURange"), DataType.ExtensionObject, new Range({ low, high }));
}

/** An AnalogControlFunction (F1) with units and ranges; TargetValue writable per F3. */
function controlFunction(as, parent, name, unit, [low, high], initial, ctx) {
  const lads = nsIndex(as, C.NS.LADS);
  const plant = nsIndex(as, C.NS.PLANT);
  const fn = as.findObjectType("AnalogControlFunctionType", lads).instantiate(
    { browseName: { name, namespaceIndex: plant }, componentOf: parent });
  set(child(fn, "IsEnabled", lads), DataType.Boolean, true);
  const current = child(fn, "CurrentValue", lads);
  const target = child(fn, "TargetValue", lads);
  for (const v of [current, target]) analog(v, unit, low, high, ctx.broken);
  current.minimumSamplingInterval = 20; // T2: sampled, so requested intervals are honoured
  set(current, DataType.Double, initial);
  let standby = initial;
  target.setRolePermissions(security.operatorWritable());
  target.accessLevel = 3; // CurrentRead | CurrentWrite
  target.userAccessLevel = 3;
  target.bindVariable({
    get: () => new Variant({ dataType: DataType.Double, value: ctx.programTarget(name) ?? standby }),
    set: (variant) => {
      if (variant.dataType !== DataType.Double || variant.arrayType !== VariantArrayType.Scalar) {
        return StatusCodes.BadTypeMismatch;
      }
      if (!ctx.isStopped()) return StatusCodes.BadInvalidState; // G9: the program owns the setpoint
      if (!(variant.value >= low && variant.value <= high)) return StatusCodes.BadOutOfRange;
      standby = variant.value;
      return StatusCodes.Good;
    },
  }, true);
  return { fn, current, target };
}

function identification(dev, di, spec) {
  const id = child(dev, "Identification", di);
  const values = {
    Manufacturer: [DataType.LocalizedText, { text: "pressjs test bench" }],
    Model: [DataType.LocalizedText, { text: "JS isostatic press" }],
    SerialNumber: [DataType.String, `JS-${spec.name}`],
    SoftwareRevision: [DataType.String, C.VERSION],
    DeviceRevision: [DataType.String, "1"],
    HardwareRevision: [DataType.String, "1"],
    ProductInstanceUri: [DataType.String, `urn:pressjs:${spec.name}`],
    AssetId: [DataType.String, ""],
    ComponentName: [DataType.LocalizedText, { text: spec.name }],
  };
  for (const [name, [dt, v]] of Object.entries(values)) set(child(id, name, di), dt, v);
  if (!id.getChildByName("DeviceClass", di)) {
    dev.addressSpace.getNamespace(C.NS.DI).addVariable({ browseName: { name: "DeviceClass", namespaceIndex: di },
      propertyOf: id, dataType: "String", value: { dataType: DataType.String, value: "Press/wip" } });
  }
}

function buildDevice(as, spec, cfg) {
  const lads = nsIndex(as, C.NS.LADS);
  const di = nsIndex(as, C.NS.DI);
  const mach = nsIndex(as, C.NS.MACHINERY);
  const plantNs = as.getNamespace(C.NS.PLANT);
  const plant = plantNs.index;
  const broken = new Set([...cfg.broken, ...(spec.broken || [])]); // per device, for the probe's tests
  const deviceSet = as.rootFolder.objects.getFolderElementByName("DeviceSet", di);
  if (!deviceSet) throw new Error("DI DeviceSet missing");
  const opts = { browseName: { name: spec.name, namespaceIndex: plant }, componentOf: deviceSet,
    optionals: ["MachineryItemState"] };
  let dev;
  if (broken.has("base_object_device")) {
    dev = plantNs.addObject(opts);
    for (const [t, n] of [["FunctionalUnitSetType", "FunctionalUnitSet"], ["LADSDeviceStateMachineType", "DeviceState"]]) {
      as.findObjectType(t, lads).instantiate({ browseName: { name: n, namespaceIndex: lads }, componentOf: dev });
    }
  } else {
    dev = as.findObjectType("LADSDeviceType", lads).instantiate(opts);
    identification(dev, di, spec);
    const machines = as.rootFolder.objects.getFolderElementByName("Machines", mach);
    if (machines) machines.addReference({ referenceType: "Organizes", nodeId: dev });
    const item = promoteToStateMachine(child(dev, "MachineryItemState", mach));
    item.setState(C.ITEM.NOT_EXECUTING);
    cfg.itemState = item;
  }
  promoteToStateMachine(child(dev, "DeviceState", lads)).setState("Operate");
  plantNs.addVariable({ browseName: { name: "TimeScale", namespaceIndex: plant }, propertyOf: dev,
    dataType: "Double", value: { dataType: DataType.Double, value: cfg.time_scale } });
  const faults = plantNs.addObject({ browseName: { name: "Faults", namespaceIndex: plant }, componentOf: dev });
  const active = plantNs.addVariable({ browseName: { name: "Active", namespaceIndex: plant }, componentOf: faults,
    dataType: "String", valueRank: 1, value: { dataType: DataType.String, arrayType: VariantArrayType.Array, value: [] } });
  const fuSet = child(dev, "FunctionalUnitSet", lads);
  const optionals = ["FunctionSet", "ProgramManager", "ProgramManager.ActiveProgram.DeviceProgramRunId",
    "ProgramManager.ActiveProgram.CurrentProgramTemplate", "ProgramManager.ActiveProgram.EstimatedRuntime",
    "ProgramManager.ActiveProgram.CurrentRuntime", "ProgramManager.ActiveProgram.CurrentStepName",
    "ProgramManager.ActiveProgram.CurrentStepNumber", "ProgramManager.ActiveProgram.EstimatedStepNumbers",
    "FunctionalUnitState.Stop", "FunctionalUnitState.Abort", "FunctionalUnitState.Clear"];
  if (!broken.has("no_start_program")) optionals.push("FunctionalUnitState.StartProgram");
  const fu = as.findObjectType("FunctionalUnitType", lads).instantiate(
    { browseName: { name: C.UNIT, namespaceIndex: plant }, componentOf: fuSet, optionals });
  plantNs.addVariable({ browseName: { name: "Capacity", namespaceIndex: plant }, propertyOf: fu, dataType: "UInt32",
    value: { dataType: DataType.UInt32, value: spec.capacity_cells } });
  const sm = promoteToStateMachine(child(fu, "FunctionalUnitState", lads));
  sm.setState(C.STATES.STOPPED);
  const ctx = { as, dev, fu, sm, spec, cfg, broken, faultsActive: active, itemState: cfg.itemState || null,
    isStopped: () => sm.getCurrentState() === C.STATES.STOPPED || String(sm.getCurrentState()).endsWith(C.STATES.STOPPED),
    programTarget: () => null };
  const fset = child(fu, "FunctionSet", lads);
  ctx.pressure = controlFunction(as, fset, "Pressure", "megapascal", [0, spec.max_pressure_mpa], 0, ctx);
  ctx.temperature = controlFunction(as, fset, "Temperature", "degree_celsius",
    [spec.min_temperature_c, spec.max_temperature_c], 22, ctx);
  const programs = new Programs(ctx);
  if (cfg.test_endpoints) {
    const inject = plantNs.addMethod(faults, { browseName: { name: "InjectFault", namespaceIndex: plant },
      inputArguments: [{ name: "Kind", dataType: DataType.String, valueRank: -1 }], outputArguments: [] });
    inject.bindMethod((args, context, cb) => cb(null, { statusCode: programs.inject(args[0].value, context) }));
  }
  return { dev, fu, programs, dispose: () => programs.dispose() };
}

module.exports = { buildDevice, UNITS, child, set, nsIndex };
