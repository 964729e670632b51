// Security of the JS press: its own PKI (server certificate generated on first start), the
// client certificates it trusts (copied into the PKI's trusted store), secure endpoints only
// and username login with roles (operator may write and start; anonymous may browse and read).
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const {
  OPCUACertificateManager, SecurityPolicy, MessageSecurityMode, WellKnownRoles, makeRoles,
} = require("node-opcua");

const POLICIES = {
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

/** Password check against an scrypt hash `{salt, hash}` (hex), in constant time. */
function passwordMatches(user, password) {
  const salt = Buffer.from(user.salt, "hex");
  const want = Buffer.from(user.hash, "hex");
  const got = crypto.scryptSync(String(password), salt, want.length);
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

/** node-opcua user manager over `users` ({name: {salt, hash, role}}), roles operator|viewer. */
function userManager(users) {
  return {
    isValidUser(username, password) {
      const user = Object.prototype.hasOwnProperty.call(users, username) ? users[username] : null;
      return user !== null && passwordMatches(user, password);
    },
    getUserRoles(username) {
      const user = users[username];
      if (!user) return makeRoles([WellKnownRoles.Anonymous]);
      const roles = [WellKnownRoles.AuthenticatedUser, WellKnownRoles.Observer];
      if (user.role === "operator") roles.push(WellKnownRoles.Operator);
      return makeRoles(roles);
    },
  };
}

/** The server's certificate manager: nothing unknown is accepted; `trusted` DER/PEM files
 * (the twin's client certificate) are copied into trusted/certs before start. */
async function certificateManager(pkiDir, trusted, applicationUri, host) {
  const dest = path.join(pkiDir, "trusted", "certs");
  fs.mkdirSync(dest, { recursive: true });
  for (const file of trusted) {
    fs.copyFileSync(file, path.join(dest, path.basename(file)));
  }
  const cm = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: false });
  await cm.initialize();
  const own = path.join(pkiDir, "own", "certs", "certificate.pem");
  if (!fs.existsSync(own)) { // S4: ApplicationUri = the server's, SubjectAltName names the endpoint host
    await cm.createSelfSignedCertificate({ applicationUri, subject: "/CN=pressjs/O=anodeless-twin tests",
      dns: [os.hostname()], ip: [host], startDate: new Date(Date.now() - 60000), validity: 365, outputFile: own });
  }
  return cm;
}

/** Endpoint options: only SignAndEncrypt with the given policies (no None endpoint). */
function endpointOptions(policyNames) {
  const unknown = policyNames.filter((p) => !POLICIES[p]);
  if (unknown.length) throw new Error(`unknown security policy ${unknown.join(", ")}`);
  return {
    securityPolicies: policyNames.map((p) => POLICIES[p]),
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
  };
}

/** True when the calling session carries the operator role. */
function isOperator(context) {
  return Boolean(context && context.currentUserHasRole && context.currentUserHasRole(WellKnownRoles.Operator));
}

/** Role permissions of a node an operator may write (or call), everyone may browse and read. */
function operatorWritable() {
  const { PermissionType } = require("node-opcua");
  const read = PermissionType.Browse | PermissionType.Read | PermissionType.ReadRolePermissions;
  const all = read | PermissionType.Write | PermissionType.Call;
  return [
    { roleId: WellKnownRoles.Anonymous, permissions: read },
    { roleId: WellKnownRoles.AuthenticatedUser, permissions: read },
    { roleId: WellKnownRoles.Observer, permissions: read },
    { roleId: WellKnownRoles.Operator, permissions: all },
  ];
}

module.exports = { userManager, certificateManager, endpointOptions, isOperator, operatorWritable, passwordMatches };
