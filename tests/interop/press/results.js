// Program templates, the ActiveProgram, and Results (standard LADS fields + a VariableSet of
// measured values with units + the trace), as docs/opcua.md lays them out.
"use strict";
const { DataType, VariantArrayType, standardUnits } = require("node-opcua");
const C = require("./contract");

function prop(node, name, ns, dataType, value, arrayType) {
  const p = node.getChildByName(name, ns);
  if (!p) throw new Error(`${node.browseName.toString()} has no ${name}`);
  p.setValueFromSource({ dataType, value, arrayType });
  return p;
}

/** Templates of a device spec: [{id, description, defaults: {key: number}}]. */
function templatesOf(spec) {
  return spec.templates || [{ id: C.TEMPLATE, description: "isostatic press cycle", defaults: C.DEFAULT_RECIPE }];
}

function template(spec, id) {
  return templatesOf(spec).find((t) => t.id === id) || null;
}

/** The recipe of a start: template defaults overridden by KeyValueType properties; throws on an
 * unknown key or a value that is not a finite number, or outside the device's limits. */
function recipeFrom(tmpl, properties, spec) {
  const recipe = { ...tmpl.defaults };
  for (const kv of properties) {
    if (!Object.prototype.hasOwnProperty.call(recipe, kv.key)) throw new Error(`unknown property ${kv.key}`);
    const v = Number(kv.value);
    if (!Number.isFinite(v) || kv.value === "") throw new Error(`property ${kv.key} not a number`);
    recipe[kv.key] = v;
  }
  for (const key of C.POSITIVE_KEYS) if (!(recipe[key] > 0)) throw new Error(`${key} must be > 0`);
  if (recipe.target_pressure_mpa > (spec.max_pressure_mpa || 600)) throw new Error("pressure above limit");
  return recipe;
}

function addTemplates(as, set, spec, plantNs) {
  const lads = as.getNamespaceIndex(C.NS.LADS);
  const type = as.findObjectType("ProgramTemplateType", lads);
  const now = new Date();
  for (const t of templatesOf(spec)) {
    const node = type.instantiate({ browseName: { name: t.id, namespaceIndex: plantNs }, componentOf: set });
    prop(node, "Author", lads, DataType.String, "pressjs");
    prop(node, "Created", lads, DataType.DateTime, now);
    prop(node, "Modified", lads, DataType.DateTime, now);
    prop(node, "Description", lads, DataType.LocalizedText, { text: t.description });
    prop(node, "DeviceTemplateId", lads, DataType.String, t.id);
    prop(node, "Version", lads, DataType.String, "1");
  }
}

function setActive(active, lads, run) {
  const runId = active.getChildByName("DeviceProgramRunId", lads);
  if (runId) runId.setValueFromSource({ dataType: DataType.String, value: run ? run.runId : "" });
}

function keyValues(as, items) {
  const lads = as.getNamespaceIndex(C.NS.LADS);
  const dt = as.findDataType("KeyValueType", lads);
  return items.map((kv) => as.constructExtensionObject(dt, { key: kv.key, value: kv.value }));
}

function sampleInfos(as, items) {
  const lads = as.getNamespaceIndex(C.NS.LADS);
  const dt = as.findDataType("SampleInfoType", lads);
  return items.map((s) => as.constructExtensionObject(dt, {
    containerId: s.containerId, sampleId: s.sampleId, position: s.position, customData: s.customData }));
}

/** The Result of `run` in the ResultSet; `measured` null only for the broken early_result press. */
function addResult(as, set, plantNs, run, measured) {
  const lads = as.getNamespaceIndex(C.NS.LADS);
  let node = set.getChildByName(run.runId, plantNs);
  if (!node) {
    node = as.findObjectType("ResultType", lads).instantiate({ browseName: { name: run.runId, namespaceIndex: plantNs },
      componentOf: set, optionals: ["DeviceProgramRunId", "TotalRuntime"] });
  }
  prop(node, "SupervisoryJobId", lads, DataType.String, run.jobId);
  prop(node, "SupervisoryTaskId", lads, DataType.String, run.taskId);
  prop(node, "DeviceProgramRunId", lads, DataType.String, run.runId);
  prop(node, "ApplicationUri", lads, DataType.String, "urn:pressjs:server");
  prop(node, "User", lads, DataType.String, run.user);
  prop(node, "Description", lads, DataType.LocalizedText, { text: run.outcome || "Running" });
  prop(node, "Started", lads, DataType.DateTime, run.started);
  prop(node, "Properties", lads, DataType.ExtensionObject, keyValues(as, run.properties), VariantArrayType.Array);
  prop(node, "Samples", lads, DataType.ExtensionObject, sampleInfos(as, run.samples), VariantArrayType.Array);
  if (!measured) return node;
  const vs = node.getChildByName("VariableSet", lads);
  const ns = as.getNamespaceArray()[plantNs];
  for (const [name, unit, value] of C.resultVariables(measured, run)) {
    const opts = { browseName: { name, namespaceIndex: plantNs }, componentOf: vs, dataType: "Double",
      value: Array.isArray(value) ? { dataType: DataType.Double, arrayType: VariantArrayType.Array, value }
        : { dataType: DataType.Double, value } };
    if (Array.isArray(value)) opts.valueRank = 1;
    if (unit) ns.addAnalogDataItem({ ...opts, engineeringUnits: standardUnits[unit], engineeringUnitsRange: { low: 0, high: 1e6 } });
    else ns.addVariable(opts);
  }
  ns.addVariable({ browseName: { name: C.TRACE, namespaceIndex: plantNs }, componentOf: vs, dataType: "String",
    value: { dataType: DataType.String, value: JSON.stringify(C.trace(run)) } });
  prop(node, "Stopped", lads, DataType.DateTime, run.stopped);
  prop(node, "TotalRuntime", lads, DataType.Double, run.stopped - run.started);
  return node;
}

module.exports = { template, recipeFrom, addTemplates, setActive, addResult };
