// node-opcua interop client: browse, read, write, subscribe and StartProgram on one press.
// usage: node client.js ENDPOINT DEVICE USER PASSWORD   (prints one JSON line of findings)
"use strict";
const { OPCUAClient, AttributeIds, DataType, VariantArrayType, UserTokenType,
        TimestampsToReturn, MessageSecurityMode, SecurityPolicy } = require("node-opcua-client");

async function main() {
  const [endpoint, device, user, password] = process.argv.slice(2);
  const out = {};
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1 },
    securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None });
  await client.connect(endpoint);
  const session = await client.createSession({ type: UserTokenType.UserName, userName: user, password });
  const ns = (await session.readNamespaceArray()).indexOf("urn:twin:plant");
  const path = (p) => `/${ns}:${device}` + p.split("/").filter((s) => s).map((s) => `/${ns}:${s}`).join("");
  const resolve = async (p) => {
    const r = await session.translateBrowsePath({ startingNode: "i=85",
      relativePath: require("node-opcua-client").makeRelativePath(path(p)) });
    if (!r.targets || !r.targets.length) throw new Error("no node " + p);
    return r.targets[0].targetId;
  };
  const dev = await resolve("");
  out.children = (await session.browse(dev)).references.map((r) => r.browseName.name).sort();
  const state = await session.read({ nodeId: await resolve("State/CurrentState"), attributeId: AttributeIds.Value });
  out.state = state.value.value;
  out.stateHasSourceTimestamp = state.sourceTimestamp !== null;
  const tv = await resolve("PressChamber/Pressure/TargetValue");
  out.writeStatus = (await session.write({ nodeId: tv, attributeId: AttributeIds.Value,
    value: { value: { dataType: DataType.Double, value: 123.5 } } })).name;
  out.readBack = (await session.read({ nodeId: tv, attributeId: AttributeIds.Value })).value.value;
  const sub = await session.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true,
    requestedMaxKeepAliveCount: 20, requestedLifetimeCount: 100 });
  const samples = [];
  const item = await sub.monitor({ nodeId: await resolve("PressChamber/Pressure/CurrentValue"),
    attributeId: AttributeIds.Value }, { samplingInterval: 50, queueSize: 100, discardOldest: true },
    TimestampsToReturn.Both);
  item.on("changed", (dv) => samples.push(dv.sourceTimestamp.getTime()));
  const pm = await resolve("ProgramManager");
  const recipe = JSON.stringify({ target_pressure_mpa: 300, ramp_rate_mpa_s: 5, hold_s: 30,
    temperature_c: 22, decompression_rate_mpa_s: 10 });
  const call = await session.call({ objectId: pm, methodId: await resolve("ProgramManager/StartProgram"),
    inputArguments: [{ dataType: DataType.String, value: "PressCycle" },
      { dataType: DataType.String, value: recipe }, { dataType: DataType.String, value: "node-job-1" },
      { dataType: DataType.String, arrayType: VariantArrayType.Array, value: ["n1", "n2"] }] });
  out.callStatus = call.statusCode.name;
  out.runId = call.outputArguments[0].value;
  const bad = await session.call({ objectId: pm, methodId: await resolve("ProgramManager/StartProgram"),
    inputArguments: [{ dataType: DataType.String, value: "PressCycle" }] });
  out.missingArgsStatus = bad.statusCode.name;
  const deadline = Date.now() + 30000;
  let status = null;
  while (Date.now() < deadline) {
    try {
      const st = await session.read({ nodeId: await resolve(`ProgramManager/Results/${out.runId}/Status`),
        attributeId: AttributeIds.Value });
      if (st.statusCode.name === "Good") { status = st.value.value; break; }
    } catch (e) { /* not there yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  out.resultStatus = status;
  out.samples = samples.length;
  await sub.terminate();
  await session.close();
  await client.disconnect();
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
