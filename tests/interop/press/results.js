// Templates (4.4), ActiveProgram (4.5), Results (6) with their VariableSet and Trace (7), and
// the Dispositions extension (X1) of the JS press, as docs/opcua.md lays them out.
"use strict";
const { DataType, StatusCodes, VariantArrayType, StatusCode } = require("node-opcua");
const C = require("./contract");

const KEEP_RESULTS = 200; // R5: at least 100

function child(node, name, ns) {
  const c = node.getChildByName(name, ns);
  if (!c) throw new Error(`${node.browseName.toString()} has no child ${name}`);
  return c;
}

function set(node, dataType, value, arrayType) {
  node.setValueFromSource({ dataType, value, arrayType });
}

function keyValues(as, items) {
  const dt = as.findDataType("KeyValueType", as.getNamespaceIndex(C.NS.LADS));
  return items.map((kv) => as.constructExtensionObject(dt, { key: kv.key, value: kv.value }));
}

function sampleInfos(as, items) {
  const dt = as.findDataType("SampleInfoType", as.getNamespaceIndex(C.NS.LADS));
  return items.map((s) => as.constructExtensionObject(dt, { containerId: s.containerId, sampleId: s.sampleId,
    position: s.position, customData: s.customData }));
}

function templateProps(node, lads, id, description, when) {
  set(child(node, "DeviceTemplateId", lads), DataType.String, id);
  set(child(node, "Author", lads), DataType.String, "pressjs");
  set(child(node, "Created", lads), DataType.DateTime, when);
  set(child(node, "Modified", lads), DataType.DateTime, when);
  set(child(node, "Description", lads), DataType.LocalizedText, { text: description });
  set(child(node, "Version", lads), DataType.String, "1");
}

/** 4.4: the PressCycle template with RequiredPropertyKeys and (empty) DefaultProperties. */
function addTemplates(as, templateSet, spec) {
  const lads = as.getNamespaceIndex(C.NS.LADS);
  const ns = as.getNamespace(C.NS.PLANT);
  const node = as.findObjectType("ProgramTemplateType", lads).instantiate(
    { browseName: { name: C.TEMPLATE, namespaceIndex: ns.index }, componentOf: templateSet });
  const when = new Date();
  templateProps(node, lads, C.TEMPLATE, "isostatic press cycle: load, heat, ramp, hold, vent, unload", when);
  ns.addVariable({ browseName: { name: "RequiredPropertyKeys", namespaceIndex: ns.index }, propertyOf: node,
    dataType: "String", valueRank: 1, value: { dataType: DataType.String, arrayType: VariantArrayType.Array, value: C.REQUIRED_KEYS } });
  ns.addVariable({ browseName: { name: "DefaultProperties", namespaceIndex: ns.index }, propertyOf: node,
    dataType: as.findDataType("KeyValueType", lads), valueRank: 1,
    value: { dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: [] } });
  const limits = { // 4.4 plant:PropertyLimits (SHOULD): what recipe() below enforces
    "target_pressure_mpa.min": 0, "target_pressure_mpa.max": spec.max_pressure_mpa,
    "ramp_rate_mpa_s.min": 0, "ramp_rate_mpa_s.max": spec.max_rate_mpa_s,
    "decompression_rate_mpa_s.min": 0, "decompression_rate_mpa_s.max": spec.max_rate_mpa_s,
    "hold_s.min": 0, "hold_s.max": spec.max_hold_s,
    "temperature_c.min": spec.min_temperature_c, "temperature_c.max": spec.max_temperature_c };
  ns.addVariable({ browseName: { name: "PropertyLimits", namespaceIndex: ns.index }, propertyOf: node,
    dataType: as.findDataType("KeyValueType", lads), valueRank: 1,
    value: { dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array,
      value: keyValues(as, Object.entries(limits).map(([key, v]) => ({ key, value: String(Number(v)) }))) } });
  return new Map([[C.TEMPLATE, { id: C.TEMPLATE, node, required: C.REQUIRED_KEYS, defaults: {}, when, spec }]]);
}

/** 4.4 / P2: the recipe of a start, or {statusCode} (BadInvalidArgument / BadOutOfRange). */
function recipe(tmpl, properties, spec) {
  const values = { ...tmpl.defaults };
  const seen = new Set();
  for (const kv of properties) {
    const known = tmpl.required.includes(kv.key) || Object.prototype.hasOwnProperty.call(tmpl.defaults, kv.key);
    if (!known || seen.has(kv.key)) return { statusCode: StatusCodes.BadInvalidArgument };
    seen.add(kv.key);
    const text = String(kv.value).trim();
    const v = text === "" ? NaN : Number(text);
    if (!Number.isFinite(v)) return { statusCode: StatusCodes.BadInvalidArgument };
    values[kv.key] = v;
  }
  if (tmpl.required.some((k) => !seen.has(k))) return { statusCode: StatusCodes.BadInvalidArgument };
  const within = values.target_pressure_mpa > 0 && values.target_pressure_mpa <= spec.max_pressure_mpa
    && values.ramp_rate_mpa_s > 0 && values.ramp_rate_mpa_s <= spec.max_rate_mpa_s
    && values.decompression_rate_mpa_s > 0 && values.decompression_rate_mpa_s <= spec.max_rate_mpa_s
    && values.hold_s >= 0 && values.hold_s <= spec.max_hold_s
    && values.temperature_c >= spec.min_temperature_c && values.temperature_c <= spec.max_temperature_c;
  if (!within) return { statusCode: StatusCodes.BadOutOfRange };
  const applied = Object.entries(values).map(([key, value]) => ({ key, value: String(value) }));
  return { values, applied };
}

function initActive(active, lads) {
  set(child(active, "DeviceProgramRunId", lads), DataType.String, "");
  set(child(active, "EstimatedRuntime", lads), DataType.Double, 0);
  set(child(active, "CurrentRuntime", lads), DataType.Double, 0);
  set(child(active, "CurrentStepName", lads), DataType.LocalizedText, { text: "" });
  set(child(active, "CurrentStepNumber", lads), DataType.UInt32, 0);
  set(child(active, "EstimatedStepNumbers", lads), DataType.UInt32, C.PHASES.length);
}

/** 4.5 / P5: set before StartProgram returns. */
function setActive(active, lads, run, templateNode) {
  set(child(active, "DeviceProgramRunId", lads), DataType.String, run.runId);
  set(child(active, "EstimatedRuntime", lads), DataType.Double, run.estimatedMs);
  const as = active.addressSpace;
  const tmpl = as.constructExtensionObject(as.findDataType("NameNodeIdDataType", as.getNamespaceIndex(C.NS.AMB)),
    { name: run.template.id, id: templateNode.nodeId });
  set(child(active, "CurrentProgramTemplate", lads), DataType.ExtensionObject, tmpl);
  setProgress(active, lads, 0, 0);
}

function setProgress(active, lads, runtimeMs, phase) {
  set(child(active, "CurrentRuntime", lads), DataType.Double, runtimeMs);
  set(child(active, "CurrentStepName", lads), DataType.LocalizedText, { text: C.PHASES[phase] });
  set(child(active, "CurrentStepNumber", lads), DataType.UInt32, phase + 1);
}

/** R3 / section 7: the Trace JSON of a run (no NaN: a missing number is null). */
function traceJson(run) {
  const tr = run.cycle.trace;
  const num = (xs) => xs.map((x) => (Number.isFinite(x) ? x : null));
  return JSON.stringify({ t_s: num(tr.t_s), p_mpa: num(tr.p_mpa), temp_c: num(tr.temp_c), phase: tr.phase,
    sample_ids: run.samples.map((s) => s.sampleId) });
}

function addVar(ns, vs, name, dataType, value, unit, status, units) {
  const isArray = Array.isArray(value);
  const v = ns.addVariable({ browseName: { name, namespaceIndex: ns.index }, componentOf: vs, dataType,
    valueRank: isArray ? 1 : -1, accessLevel: "CurrentRead", userAccessLevel: "CurrentRead" });
  v.setValueFromSource({ dataType: DataType[dataType], value, arrayType: isArray ? VariantArrayType.Array : VariantArrayType.Scalar },
    status || StatusCodes.Good);
  if (unit) {
    ns.addVariable({ browseName: { name: "EngineeringUnits", namespaceIndex: 0 }, propertyOf: v, dataType: "EUInformation",
      value: { dataType: DataType.ExtensionObject, value: units[unit] } });
  }
  return v;
}

/** R1-R3: the Result, complete, in one synchronous step (no client sees it half-built).
 * `early` (broken press only): a Result without values or Stopped while still Running. */
function addResult(as, set_, run, ctx, early) {
  const { UNITS } = require("./device");
  const lads = as.getNamespaceIndex(C.NS.LADS);
  const ns = as.getNamespace(C.NS.PLANT);
  let node = run.resultNode;
  if (!node) {
    node = as.findObjectType("ResultType", lads).instantiate({ browseName: { name: run.runId, namespaceIndex: ns.index },
      componentOf: set_, optionals: ["DeviceProgramRunId", "TotalRuntime", "EstimatedRuntime"] });
    run.resultNode = node;
    run.dispositions = {};
    run.dispositionsNode = ns.addVariable({ browseName: { name: "Dispositions", namespaceIndex: ns.index },
      propertyOf: node, dataType: "String", value: { dataType: DataType.String, value: "{}" } });
    set(child(node, "DeviceProgramRunId", lads), DataType.String, run.runId);
    set(child(node, "SupervisoryJobId", lads), DataType.String, run.jobId);
    set(child(node, "SupervisoryTaskId", lads), DataType.String, run.taskId);
    set(child(node, "Samples", lads), DataType.ExtensionObject, sampleInfos(as, run.samples), VariantArrayType.Array);
    set(child(node, "Properties", lads), DataType.ExtensionObject, keyValues(as, run.applied), VariantArrayType.Array);
    set(child(node, "Started", lads), DataType.DateTime, run.started);
    set(child(node, "EstimatedRuntime", lads), DataType.Double, run.estimatedMs);
    set(child(node, "ApplicationUri", lads), DataType.String, "urn:pressjs:server");
    set(child(node, "User", lads), DataType.String, run.user);
    templateProps(child(node, "ProgramTemplate", lads), lads, run.template.id, "isostatic press cycle", run.template.when);
  }
  if (early) return node;
  const m = run.measured;
  set(child(node, "Description", lads), DataType.LocalizedText, { text: `${C.TEMPLATE} ${run.outcome}` });
  const vs = child(node, "VariableSet", lads);
  addVar(ns, vs, "Outcome", "String", run.outcome);
  addVar(ns, vs, "SampleIds", "String", run.samples.map((s) => s.sampleId));
  addVar(ns, vs, "Faults", "String", run.faults);
  addVar(ns, vs, "Trace", "String", traceJson(run));
  const only = ctx.spec.untrusted_runs; // run numbers whose `untrusted` values the device flags (default: all)
  const untrusted = new Set(!only || only.includes(run.n) ? ctx.spec.untrusted || [] : []);
  for (const [name, unit, value] of C.pressVariables(m)) {
    const status = untrusted.has(name) ? StatusCodes.UncertainSensorNotAccurate : StatusCodes.Good;
    addVar(ns, vs, name, "Double", value, unit, status, UNITS);
  }
  set(child(node, "TotalRuntime", lads), DataType.Double, run.stopped - run.started);
  set(child(node, "Stopped", lads), DataType.DateTime, run.stopped); // last: a Result without Stopped is not final
  return node;
}

function setDispositions(run) {
  run.dispositionsNode.setValueFromSource({ dataType: DataType.String, value: JSON.stringify(run.dispositions) });
}

/** R5: keep the last KEEP_RESULTS Results. */
function prune(resultSet, runs, byJob) {
  const done = [...runs.values()].filter((r) => r.stopped);
  for (const r of done.slice(0, Math.max(0, done.length - KEEP_RESULTS))) {
    resultSet.addressSpace.deleteNode(r.resultNode);
    runs.delete(r.runId);
    byJob.delete(r.jobId);
  }
}

/** X1: LADS:ProgramManager/plant:SetDisposition(RunId, SampleId, Decision, Reason). */
function addSetDisposition(as, pm, handler) {
  const ns = as.getNamespace(C.NS.PLANT);
  const m = ns.addMethod(pm, { browseName: { name: "SetDisposition", namespaceIndex: ns.index },
    inputArguments: ["RunId", "SampleId", "Decision", "Reason"].map((name) => ({ name, dataType: DataType.String, valueRank: -1 })),
    outputArguments: [] });
  m.bindMethod((args, context, cb) => cb(null, { statusCode: handler(args, context) }));
}

module.exports = { addTemplates, recipe, initActive, setActive, setProgress, addResult, setDispositions, prune,
  addSetDisposition };
void StatusCode;
