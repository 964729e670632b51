// An attacker on the plant network, with an independent OPC UA stack (node-opcua-client, pinned in
// tests/interop/package.json). usage: node attacker.js SCENARIO '{"endpoint":...}'
// Prints one JSON line of findings; every refusal is reported as the StatusCode name it carried.
"use strict";
const path = require("path");
const opcua = require(path.join(__dirname, "..", "interop", "node_modules", "node-opcua-client"));
const { OPCUAClient, AttributeIds, DataType, VariantArrayType, UserTokenType,
        MessageSecurityMode, SecurityPolicy } = opcua;

const errName = (e) => { const m = String(e && (e.message || e)).match(/Bad[A-Za-z]+/); return m ? m[0] : String(e).slice(0, 200); };

function makeClient(a, secure) {
  const opts = { endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    requestedSessionTimeout: 60000, keepSessionAlive: false,
    securityMode: secure ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None,
    securityPolicy: secure ? SecurityPolicy.Basic256Sha256 : SecurityPolicy.None };
  if (a.cert) { opts.certificateFile = a.cert; opts.privateKeyFile = a.key; opts.applicationUri = a.uri; }
  return OPCUAClient.create(opts);
}

const str = (v) => ({ dataType: DataType.String, value: v });
const strs = (v) => ({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: v });
const RECIPE = (p) => JSON.stringify({ target_pressure_mpa: p, ramp_rate_mpa_s: 5, hold_s: 30, temperature_c: 22,
  decompression_rate_mpa_s: 10 });

async function drive(session, a, out) {
  // what a session can do: read the access level, write a setpoint, Clear the unit, start a 700 MPa cycle
  // (node ids come from the test: the LADS browse paths are resolved once by an asyncua client)
  const id = a.ids;
  out.userAccessLevel = (await session.read({ nodeId: id.target, attributeId: AttributeIds.UserAccessLevel })).value.value;
  out.accessLevel = (await session.read({ nodeId: id.target, attributeId: AttributeIds.AccessLevel })).value.value;
  out.userExecutableStart = (await session.read({ nodeId: id.start, attributeId: AttributeIds.UserExecutable })).value.value;
  try {
    out.writeStatus = (await session.write({ nodeId: id.target, attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Double, value: 650.0 } } })).name;
  } catch (e) { out.writeStatus = errName(e); }
  try {
    const r = await session.call({ objectId: id.unitState, methodId: id.clear, inputArguments: [] });
    out.clearStatus = r.statusCode.name;
  } catch (e) { out.clearStatus = errName(e); }
  try {  // the role is checked before the arguments (docs/opcua.md 4.5), so plain strings do
    const r = await session.call({ objectId: id.unitState, methodId: id.start,
      inputArguments: [str("PressCycle"), str(RECIPE(a.pressure || 700)), str("attack-job-" + Date.now()), str(""),
        strs(["x1"])] });
    out.startStatus = r.statusCode.name;
    out.runId = r.outputArguments && r.outputArguments.length ? r.outputArguments[0].value : null;
  } catch (e) { out.startStatus = errName(e); }
}

const scenarios = {
  // a SecurityPolicy#None channel the server does not advertise, anonymous session: the attacker's
  // client forges the missing None endpoint description (node-opcua would not create a session otherwise)
  async none(a, out) {
    const client = makeClient(a, false);
    const find = client.findEndpoint.bind(client);
    client.findEndpoint = (url, mode, policy) => {
      const hit = find(url, mode, policy);
      const eps = client._serverEndpoints;
      if (hit || !eps || !eps.length) return hit;
      out.forged = true;
      return Object.assign(Object.create(Object.getPrototypeOf(eps[0])), eps[0],
        { securityMode: mode, securityPolicyUri: policy });
    };
    await client.connect(a.endpoint);
    try {
      const session = await client.createSession(a.user ? { type: UserTokenType.UserName, userName: a.user, password: a.password } : undefined);
      out.session = "Good";
      await drive(session, a, out);
      await session.close();
    } catch (e) { out.session = errName(e); }
    await client.disconnect();
  },
  // a trusted certificate on a secure channel, anonymous (or named) session
  async session(a, out) {
    const client = makeClient(a, true);
    try { await client.connect(a.endpoint); } catch (e) { out.connect = errName(e); return; }
    try {
      const session = await client.createSession(a.user ? { type: UserTokenType.UserName, userName: a.user, password: a.password } : undefined);
      out.session = "Good";
      if (a.drive !== false) await drive(session, a, out);
      await session.close();
    } catch (e) { out.session = errName(e); }
    await client.disconnect();
  },
  // repeated wrong passwords, then the right one; time of each attempt in ms
  async passwords(a, out) {
    const client = makeClient(a, true);
    await client.connect(a.endpoint);
    out.attempts = [];
    const tries = a.passwords;
    for (const pw of tries) {
      const t0 = Date.now();
      let status = "Good";
      try {
        const s = await client.createSession({ type: UserTokenType.UserName, userName: a.user, password: pw });
        await s.close();
      } catch (e) { status = errName(e); }
      out.attempts.push({ ms: Date.now() - t0, status });
    }
    await client.disconnect();
  },
  // an operator sending a String to a Double setpoint and a multi-node write with one bad value
  async operator(a, out) {
    const client = makeClient(a, true);
    await client.connect(a.endpoint);
    const session = await client.createSession({ type: UserTokenType.UserName, userName: a.user, password: a.password });
    const id = a.ids;
    out.userAccessLevel = (await session.read({ nodeId: id.target, attributeId: AttributeIds.UserAccessLevel })).value.value;
    out.stringWriteStatus = (await session.write({ nodeId: id.target, attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.String, value: "300" } } })).name;
    const multi = await session.write([
      { nodeId: id.target, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value: 120.0 } } },
      { nodeId: id.tempTarget, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value: 5000.0 } } }]);
    out.multiWrite = multi.map((s) => s.name);
    out.readBack = (await session.read({ nodeId: id.target, attributeId: AttributeIds.Value })).value.value;
    await session.close();
    await client.disconnect();
  },
};

async function main() {
  const [name, json] = process.argv.slice(2);
  const a = JSON.parse(json);
  const out = { scenario: name };
  try { await scenarios[name](a, out); } catch (e) { out.error = errName(e); }
  console.log("RESULT " + JSON.stringify(out));
  process.exit(0);
}
main();
