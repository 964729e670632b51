"""Secure one device server in one call: the hook the server host (plant/server.py, or the LADS
host) makes after ``Server.init()`` and ``set_endpoint``:

    guard = await secure_server(server, device_name, plant, app_uri)

It loads the device's certificate from the plant's PKI folder (``own/``, generated if missing),
offers only the plant file's secure policies (SignAndEncrypt; None only on a demo plant with
``allow_insecure``), sets the identity tokens, checks client certificates against ``trusted/``
(rejected ones kept in ``rejected/``), makes every session a ``GuardedSession`` and wires the
audit log and OPC UA audit events. Handlers still need ``@guarded(role)`` and setters
``require(role)`` (plant.access).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from asyncua import ua

from plant.access import Guard, install
from plant.audit import AuditEvents, AuditLog
from plant.pki import ClientCertificateCheck, TrustList, ensure_own_certificate
from plant.plantfile import PlantFile, SecurityConfig

_log = logging.getLogger(__name__)
POLICIES = {"Basic256Sha256": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            "Aes256_Sha256_RsaPss": ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt}
_AUDIT_LOGS: dict[Path, AuditLog] = {}


def pki_dir(plant: PlantFile) -> Path:
    """The plant's PKI folder (``security.cert_dir``; default ``.pki/<plant name>``)."""
    sec = plant.security
    return Path(sec.cert_dir) if sec.cert_dir is not None else Path(".pki") / plant.name


def trust_list(plant: PlantFile) -> TrustList:
    """The trust list of client certificates (``trusted_clients_dir`` overrides ``<pki>/trusted``)."""
    tl = TrustList(pki_dir(plant))
    if plant.security.trusted_clients_dir is not None:
        tl.trusted_dir = Path(plant.security.trusted_clients_dir)
    return tl.ensure()


def audit_path(plant: PlantFile) -> Path:
    sec = plant.security
    return Path(sec.audit_log) if sec.audit_log is not None else pki_dir(plant) / "audit.jsonl"


def audit_log(plant: PlantFile) -> AuditLog:
    """The plant's audit file (one writer per path and process)."""
    path = audit_path(plant).resolve()
    if path not in _AUDIT_LOGS:
        _AUDIT_LOGS[path] = AuditLog(path)
    return _AUDIT_LOGS[path]


def demo_warnings(sec: SecurityConfig) -> list[str]:
    """What a demo plant file relaxes (logged loudly at start)."""
    out = []
    if sec.allow_insecure:
        out.append("a SecurityPolicy#None endpoint is offered (passwords and data in clear text)")
    if sec.trust_all_clients:
        out.append("every client certificate is accepted (no trust list)")
    if sec.demo:
        out.append("demo users files (published passwords) are accepted")
    return out


async def secure_server(server: Any, device: str, plant: PlantFile, app_uri: str) -> Guard:
    """Certificates, policies, tokens, client certificate check and guarded sessions (see above)."""
    sec = plant.security
    own = pki_dir(plant) / "own"
    cert, key = ensure_own_certificate(own, device, app_uri, plant.host)
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    policies = [POLICIES[p] for p in sec.policies]
    if sec.allow_insecure:
        policies.insert(0, ua.SecurityPolicyType.NoSecurity)
    from plant.security import PlantRuleset
    server.set_security_policy(policies, permission_ruleset=PlantRuleset())
    tokens = [ua.UserNameIdentityToken] + ([ua.AnonymousIdentityToken] if sec.allow_anonymous else [])
    server.set_identity_tokens(tokens)
    server.set_certificate_validator(ClientCertificateCheck(trust_list(plant), device, sec.trust_all_clients))
    guard = Guard(device, allow_none_channel=sec.allow_insecure)
    guard.audit.append(audit_log(plant).hook(device))
    if sec.audit_events:
        guard.audit.append((await AuditEvents().init(server)).hook())
    install(server, guard)
    for w in demo_warnings(sec):
        _log.warning("DEMO PLANT %s, %s: %s", plant.name, device, w)
    return guard
