// A press on node-opcua, written from the published contract docs/opcua.md alone.
// usage: node press/server.js CONFIG.json
// CONFIG: {host, port, pki_dir, trusted_certs: [file], users: {name: {salt, hash, role}},
//          nodesets_dir, policies: [..], time_scale, seed, devices: [{name, capacity_cells, ...}],
//          broken: [flag]}  (broken flags also from env PRESSJS_BROKEN, comma-separated)
// Prints one line `PRESSJS-READY {json}` on stdout when the endpoint listens; exits 2 on bad config.
"use strict";
const fs = require("fs");
const path = require("path");
const { OPCUAServer, nodesets } = require("node-opcua");
const security = require("./security");
const { buildDevice } = require("./device");
const C = require("./contract");

const NODESET_FILES = ["Opc.Ua.Di.NodeSet2.xml", "Opc.Ua.AMB.NodeSet2.xml", "Opc.Ua.Machinery.NodeSet2.xml",
  "Opc.Ua.LADS.NodeSet2.xml"];

const APP_URI = "urn:pressjs:server";
const DEVICE_DEFAULTS = { capacity_cells: 8, max_pressure_mpa: 600, max_rate_mpa_s: 50, max_hold_s: 7200,
  min_temperature_c: 10, max_temperature_c: 150, untrusted: [] };

/** P2: node-opcua answers a wrong-type argument with an overall BadTypeMismatch; the contract
 * wants BadInvalidArgument with BadTypeMismatch per offending argument. */
function argumentStatusPerContract() {
  const mod = require("node-opcua-address-space/dist/source/helpers/argument_list");
  const { StatusCodes } = require("node-opcua");
  const verify = mod.verifyArguments_ArgumentList;
  mod.verifyArguments_ArgumentList = (addressSpace, declared, given) => {
    const r = verify(addressSpace, declared, given);
    const typesOnly = r.statusCode === StatusCodes.BadTypeMismatch || r.statusCode === StatusCodes.BadInvalidArgument;
    if (typesOnly && declared.length === 5 && declared[0].name === "ProgramTemplateId") {
      // StartProgram checks the role before the types (5.1): its handler checks both
      return { statusCode: StatusCodes.Good, inputArgumentResults: declared.map(() => StatusCodes.Good) };
    }
    if (r.statusCode === StatusCodes.BadTypeMismatch) r.statusCode = StatusCodes.BadInvalidArgument;
    return r;
  };
}

function fail(msg) {
  process.stderr.write(`pressjs: ${msg}\n`);
  process.exit(2);
}

function loadConfig(file) {
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    fail(`cannot read config ${file}: ${e.message}`);
  }
  for (const key of ["port", "pki_dir", "nodesets_dir", "users", "devices"]) {
    if (cfg[key] === undefined) fail(`config: missing ${key}`);
  }
  const env = (process.env.PRESSJS_BROKEN || "").split(",").map((s) => s.trim()).filter(Boolean);
  cfg.broken = new Set([...(cfg.broken || []), ...env]);
  const unknown = [...cfg.broken].filter((b) => !C.BROKEN_FLAGS.includes(b));
  if (unknown.length) fail(`unknown broken flag(s) ${unknown.join(", ")} (known: ${C.BROKEN_FLAGS.join(", ")})`);
  cfg.host = cfg.host || "127.0.0.1";
  cfg.policies = cfg.policies || ["Basic256Sha256", "Aes256_Sha256_RsaPss"];
  cfg.time_scale = cfg.time_scale || 1;
  cfg.seed = cfg.seed || 1;
  cfg.trusted_certs = cfg.trusted_certs || [];
  cfg.test_endpoints = Boolean(cfg.test_endpoints);
  cfg.comm_loss_offline_s = cfg.comm_loss_offline_s ?? 1.0;
  cfg.devices = cfg.devices.map((d) => ({ ...DEVICE_DEFAULTS, ...d }));
  for (const d of cfg.devices) {
    if (!d.name || typeof d.name !== "string") fail("config: devices[].name must be a non-empty string");
    if (!(Number.isInteger(d.capacity_cells) && d.capacity_cells > 0)) fail(`config: ${d.name}.capacity_cells must be a positive integer`);
    const bad = (d.broken || []).filter((b) => !C.BROKEN_FLAGS.includes(b));
    if (bad.length) fail(`config: ${d.name}.broken: unknown flag(s) ${bad.join(", ")}`);
  }
  return cfg;
}

async function main() {
  argumentStatusPerContract();
  const cfg = loadConfig(process.argv[2]);
  const files = NODESET_FILES.map((f) => path.join(cfg.nodesets_dir, f));
  for (const f of files) if (!fs.existsSync(f)) fail(`nodeset missing: ${f}`);
  const server = new OPCUAServer({
    host: cfg.host,
    hostname: cfg.host,
    port: cfg.port,
    nodeset_filename: [nodesets.standard, ...files],
    serverCertificateManager: await security.certificateManager(cfg.pki_dir, cfg.trusted_certs, APP_URI, cfg.host),
    userManager: security.userManager(cfg.users),
    ...security.endpointOptions(cfg.policies),
    serverInfo: { applicationUri: APP_URI, productUri: "urn:pressjs", applicationName: { text: "pressjs" } },
    buildInfo: { productName: "pressjs", manufacturerName: "anodeless-twin tests", softwareVersion: "1.0.0" },
    maxConnectionsPerEndpoint: 50,
  });
  await server.initialize();
  const as = server.engine.addressSpace;
  as.registerNamespace(C.NS.PLANT);
  const devices = cfg.devices.map((d, i) => buildDevice(as, d, { ...cfg, seed: cfg.seed + i }));
  await server.start();
  const stop = async () => {
    devices.forEach((d) => d.dispose());
    await server.shutdown(100);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const endpoint = server.getEndpointUrl();
  const cert = path.join(cfg.pki_dir, "own", "certs", "certificate.pem");
  process.stdout.write(`PRESSJS-READY ${JSON.stringify({ endpoint, server_certificate: cert,
    devices: cfg.devices.map((d) => d.name), broken: [...cfg.broken] })}\n`);
}

main().catch((e) => {
  process.stderr.write(`pressjs: ${e.stack || e}\n`);
  process.exit(1);
});
