// node-opcua interop client against one emulated LADS press (docs/opcua.md): find the device by
// type in DI:DeviceSet, resolve paths element by element with namespaces looked up by URI, read
// units, write a setpoint, subscribe, StartProgram with KeyValueType[]/SampleInfoType[] built from
// the server's own DataTypeDefinitions (Default Binary encoding), wait for the final Result.
// usage: node client.js ENDPOINT DEVICE USER PASSWORD   (prints one JSON line of findings)
"use strict";
const { OPCUAClient, AttributeIds, DataType, VariantArrayType, UserTokenType, BrowseDirection,
        TimestampsToReturn, MessageSecurityMode, SecurityPolicy, coerceNodeId } = require("node-opcua-client");

const UA = "http://opcfoundation.org/UA/", DI = "http://opcfoundation.org/UA/DI/",
  LADS = "http://opcfoundation.org/UA/LADS/", PLANT = "urn:twin:plant";

async function main() {
  const [endpoint, device, user, password] = process.argv.slice(2);
  const out = {};
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 },
    securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None });
  await client.connect(endpoint);
  const session = await client.createSession({ type: UserTokenType.UserName, userName: user, password });
  const nsArray = await session.readNamespaceArray();
  const q = (uri, name) => ({ namespaceIndex: nsArray.indexOf(uri), name });
  const resolve = async (start, names) => {
    const r = await session.translateBrowsePath({ startingNode: start, relativePath: { elements: names.map((n) => ({
      referenceTypeId: "i=33", isInverse: false, includeSubtypes: true, targetName: n })) } });
    if (!r.targets || !r.targets.length) throw new Error("no node " + JSON.stringify(names));
    return r.targets[0].targetId;
  };
  // the device, found by type below DI:DeviceSet
  const deviceSet = await resolve("i=85", [q(DI, "DeviceSet")]);
  const refs = (await session.browse({ nodeId: deviceSet, browseDirection: BrowseDirection.Forward,
    referenceTypeId: "i=33", includeSubtypes: true, resultMask: 63 })).references;
  const ladsDeviceType = `ns=${nsArray.indexOf(LADS)};i=1002`;
  const devRef = refs.find((r) => r.browseName.name === device && r.typeDefinition.toString() === ladsDeviceType);
  out.foundByType = Boolean(devRef);
  const unit = await resolve(devRef.nodeId, [q(LADS, "FunctionalUnitSet"), q(PLANT, "PressChamber")]);
  const cs = await resolve(unit, [q(LADS, "FunctionalUnitState"), q(UA, "CurrentState")]);
  const state = await session.read({ nodeId: cs, attributeId: AttributeIds.Value });
  out.state = state.value.value.text;
  out.stateHasSourceTimestamp = state.sourceTimestamp !== null;
  const pressure = [q(LADS, "FunctionSet"), q(PLANT, "Pressure")];
  const eu = await session.read({ nodeId: await resolve(unit, [...pressure, q(LADS, "CurrentValue"),
    q(UA, "EngineeringUnits")]), attributeId: AttributeIds.Value });
  out.pressureUnit = eu.value.value.displayName.text;
  const tv = await resolve(unit, [...pressure, q(LADS, "TargetValue")]);
  out.writeStatus = (await session.write({ nodeId: tv, attributeId: AttributeIds.Value,
    value: { value: { dataType: DataType.Double, value: 123.5 } } })).name;
  out.readBack = (await session.read({ nodeId: tv, attributeId: AttributeIds.Value })).value.value;
  const sub = await session.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true,
    requestedMaxKeepAliveCount: 20, requestedLifetimeCount: 100 });
  const samples = [];
  const item = await sub.monitor({ nodeId: await resolve(unit, [...pressure, q(LADS, "CurrentValue")]),
    attributeId: AttributeIds.Value }, { samplingInterval: 50, queueSize: 100, discardOldest: true },
    TimestampsToReturn.Both);
  item.on("changed", (dv) => samples.push(dv.sourceTimestamp.getTime()));
  const sm = await resolve(unit, [q(LADS, "FunctionalUnitState")]);
  const start = await resolve(sm, [q(LADS, "StartProgram")]);
  const lads = nsArray.indexOf(LADS);
  const recipe = { target_pressure_mpa: "300.0", ramp_rate_mpa_s: "5.0", hold_s: "30.0", temperature_c: "22.0",
    decompression_rate_mpa_s: "10.0" };
  const props = [];
  for (const [Key, Value] of Object.entries(recipe)) {
    props.push(await session.constructExtensionObject(coerceNodeId(`ns=${lads};i=3003`), { key: Key, value: Value }));
  }
  const infos = [];
  for (const id of ["n/1", "n 2"]) {
    infos.push(await session.constructExtensionObject(coerceNodeId(`ns=${lads};i=3002`),
      { containerId: "tray", sampleId: id, position: "", customData: "" }));
  }
  const call = await session.call({ objectId: sm, methodId: start, inputArguments: [
    { dataType: DataType.String, value: "PressCycle" },
    { dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: props },
    { dataType: DataType.String, value: "node-job-1" }, { dataType: DataType.String, value: "" },
    { dataType: DataType.ExtensionObject, arrayType: VariantArrayType.Array, value: infos }] });
  out.callStatus = call.statusCode.name;
  out.runId = call.outputArguments.length ? call.outputArguments[0].value : null;
  const bad = await session.call({ objectId: sm, methodId: start,
    inputArguments: [{ dataType: DataType.String, value: "PressCycle" }] });
  out.missingArgsStatus = bad.statusCode.name;
  const deadline = Date.now() + 30000;
  let outcome = null;
  while (Date.now() < deadline && out.runId) {
    try {
      const result = await resolve(unit, [q(LADS, "ProgramManager"), q(LADS, "ResultSet"), q(PLANT, out.runId)]);
      const stopped = await session.read({ nodeId: await resolve(result, [q(LADS, "Stopped")]),
        attributeId: AttributeIds.Value });
      const oc = await session.read({ nodeId: await resolve(result, [q(LADS, "VariableSet"), q(PLANT, "Outcome")]),
        attributeId: AttributeIds.Value });
      if (stopped.value.value && oc.statusCode.name === "Good") { outcome = oc.value.value; break; }
    } catch (e) { /* not there yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  out.outcome = outcome;
  out.samples = samples.length;
  await sub.terminate();
  await session.close();
  await client.disconnect();
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
