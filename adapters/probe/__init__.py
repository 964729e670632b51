"""`twin plant probe`: check a device server against docs/opcua.md before binding it.

    report = probe(ProbeOptions(endpoint="opc.tcp://press:4840", credentials=("op", "secret"),
                                dry_run=True))
    report.passed, report.failed, report.to_dict()

The probe connects as the twin does (secure channel with the twin's client certificate,
username login), finds the devices by type below DI:DeviceSet, and checks every requirement
it can see (types, nodes, units, methods and their declared arguments; with `dry_run` also a
short program without samples). `ProbeInputError` (bad options) and `ProbeRefused` (login or
certificate refused) are configuration errors; an unreachable endpoint is a failed check.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from adapters import vocabulary as v
from adapters.probe.report import Check, ProbeReport

__all__ = ["Check", "ProbeInputError", "ProbeOptions", "ProbeRefused", "ProbeReport", "probe"]
CLIENT_CERT_NAME = "twin-client"


class ProbeInputError(ValueError):
    """Bad probe options (the message names the option)."""


class ProbeRefused(Exception):
    """The device refused the login or a certificate: fix the configuration, not the device."""


@dataclass
class ProbeOptions:
    endpoint: str
    profile: str | None = None  # a shipped profile name or a YAML file; default: lads
    device: str | None = None  # default: every LADS device in DeviceSet
    policy: str = "Basic256Sha256"
    client_cert_dir: FsPath = FsPath("~/.cache/anodeless-twin/pki/twin-client")
    application_uri: str = "urn:twin:hil-client"
    credentials: tuple[str, str] | None = None
    trusted_servers: FsPath | None = None  # DER/PEM files of trusted server certificates (S4); default:
    # the twin's own folder <client_cert_dir>/servers/trusted when it holds any
    dry_run: bool = False
    recipe: dict[str, float] = field(default_factory=dict)
    timeout_s: float = 10.0
    run_timeout_s: float = 300.0


def _validate(opts: ProbeOptions) -> Any:
    from adapters.opcua.profiles import ProfileError, load_profile

    if not opts.endpoint.startswith("opc.tcp://") or len(opts.endpoint) <= len("opc.tcp://"):
        raise ProbeInputError(f"ENDPOINT: expected opc.tcp://HOST:PORT (got {opts.endpoint!r})")
    if opts.policy not in ("Basic256Sha256", "Aes256_Sha256_RsaPss", "None"):
        raise ProbeInputError(f"--policy: Basic256Sha256, Aes256_Sha256_RsaPss or None (a test bench; got "
                              f"{opts.policy!r})")
    if opts.trusted_servers is not None and not opts.trusted_servers.is_dir():
        raise ProbeInputError(f"--trusted-servers: {opts.trusted_servers} is not a directory")
    if opts.dry_run and opts.credentials is None:
        raise ProbeInputError("--dry-run starts a program and needs operator credentials (--credentials FILE or "
                              "TWIN_OPCUA_USERNAME / TWIN_OPCUA_PASSWORD)")
    unknown = sorted(set(opts.recipe) - set(v.PRESS_KEYS))
    if unknown:
        raise ProbeInputError(f"--set: unknown key(s) {', '.join(unknown)} (known: {', '.join(v.PRESS_KEYS)})")
    try:
        profile = load_profile(opts.profile)
    except ProfileError as exc:
        raise ProbeInputError(f"--profile: {exc}") from None
    if profile.profile != "lads" and not opts.device:
        raise ProbeInputError("--device: a profile other than lads needs the device's name")
    return profile


def _server_check(trusted: FsPath | None) -> Any:
    """S4: the server's certificate must be one of the files in `trusted` (DER or PEM)."""
    if trusted is None:
        return None
    from cryptography import x509

    from adapters.opcua.linklog import ConfigurationRefused

    ders = set()
    for f in trusted.iterdir():
        data = f.read_bytes()
        try:
            ders.add(data if f.suffix.lower() == ".der" else x509.load_pem_x509_certificate(data).public_bytes(
                __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER))
        except ValueError:
            continue

    async def check(endpoint: str, der: bytes) -> None:
        if der not in ders:
            raise ConfigurationRefused(f"{endpoint}: the server certificate is not in {trusted} (S4)")
    return check


async def probe_async(opts: ProbeOptions) -> ProbeReport:
    """Run the probe (see the module docstring)."""
    from adapters.opcua.linklog import ConfigurationRefused, DeviceUnavailable
    from adapters.opcua.session import DeviceSession
    from adapters.probe import dryrun, static
    from adapters.probe.nodes import Nodes
    from adapters.settings import Connection
    from plant.security import ensure_certificate

    profile = _validate(opts)
    report = ProbeReport(opts.endpoint, profile.profile, v.CONTRACT_VERSION, dry_run=opts.dry_run)
    try:
        await static.check_endpoints(report, opts.endpoint, opts.timeout_s)
    except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
        report.add("S1", "endpoint reachable", False, f"{type(exc).__name__}: {exc}")
        return report
    cert = None if opts.policy == "None" else await ensure_certificate(
        opts.client_cert_dir.expanduser(), CLIENT_CERT_NAME, opts.application_uri, "127.0.0.1", client=True)
    conn = Connection(security_policy=opts.policy, client_cert_dir=opts.client_cert_dir,
                      application_uri=opts.application_uri, call_timeout_s=opts.timeout_s,
                      connect_timeout_s=opts.timeout_s, give_up_s=opts.timeout_s, backoff_max_s=1.0)
    if opts.policy != "None":
        await static.check_untrusted_client(report, opts.endpoint, opts.policy, opts.application_uri, opts.timeout_s)
    trusted = opts.trusted_servers
    default = opts.client_cert_dir.expanduser() / "servers" / "trusted"  # the twin's (adapters.pki)
    if trusted is None and default.is_dir() and any(default.iterdir()):
        trusted = default
    check = _server_check(trusted)
    report.add("S4", "server certificate in the trusted-servers directory", True if check else None,
               f"pinned against {trusted}" if check else
               f"not checked: no --trusted-servers given and {default} is empty")
    sessions: list[DeviceSession] = []

    async def open_session(creds: tuple[str, str] | None) -> DeviceSession:
        s = DeviceSession("probe", opts.endpoint, conn, creds, cert, (), check)
        sessions.append(s)
        await s.connect()
        return s

    try:
        try:
            session = await open_session(opts.credentials)
        except ConfigurationRefused as exc:
            raise ProbeRefused(str(exc)) from None
        except DeviceUnavailable as exc:
            report.add("S1", "secure session", False, str(exc))
            return report
        who = f"as {opts.credentials[0]}" if opts.credentials else "anonymous"
        if opts.policy == "None":
            report.add("S1", "secure session", None, f"--policy None (a test bench): session without security, {who}")
        else:
            report.add("S1", f"secure session ({opts.policy}, SignAndEncrypt)", True, who)
        nodes = Nodes(session)
        await static.check_server(report, nodes, profile)
        if profile.profile == "lads":
            found = await static.find_devices(report, nodes)
            devices = [opts.device] if opts.device else found
            if opts.device and opts.device not in found:
                report.add("4.1", f"{opts.device} is a LADS device in DeviceSet", False, "not found by type", opts.device)
        else:
            devices = [str(opts.device)]
        report.devices = devices
        for device in devices:
            if profile.profile != "lads":
                await static.check_profile_device(report, nodes, profile, device)
                continue
            units = await static.check_lads_device(report, nodes, device)
            up = units.get(v.Unit.PRESS_CHAMBER)
            if opts.dry_run and up is not None:
                await _dry(report, session, nodes, open_session, device, up, opts)
        if opts.dry_run and profile.profile != "lads":
            report.add("P4", "dry run", None, "the dry run checks the LADS contract; use the lads profile")
        return report
    finally:
        for s in sessions:
            await s.close()


async def _dry(report: ProbeReport, session: Any, nodes: Any, open_session: Any, device: str, up: Any,
               opts: ProbeOptions) -> None:
    from adapters.opcua.linklog import ConfigurationRefused, DeviceUnavailable
    from adapters.opcua.paths import join
    from adapters.probe import dryrun

    rng = (await nodes.read([join(up, v.function_path("Pressure") + (v.TARGET_VALUE, v.EU_RANGE)),
                             join(up, v.function_path("Temperature") + (v.TARGET_VALUE, v.EU_RANGE))]))
    p_high = float(rng[0].value.High) if rng[0].good and rng[0].value is not None else None
    t_low, t_high = ((float(rng[1].value.Low), float(rng[1].value.High)) if rng[1].good and rng[1].value is not None
                     else (None, None))
    limits = await dryrun.property_limits(nodes, up)
    recipe = dryrun.dry_recipe(p_high, t_low, t_high, opts.recipe, limits)
    report.add("4.4", "PressCycle: plant:PropertyLimits (SHOULD)", True if limits else None,
               f"{len(limits)} limits" if limits else "absent: the dry run guesses a gentle recipe", device)
    try:
        anon = await open_session(None)
    except (ConfigurationRefused, DeviceUnavailable):
        anon = None
    anon_args = dryrun.start_variants(anon or session, v.Template.PRESS_CYCLE.value, recipe, "probe-anonymous")
    await dryrun.check_anonymous(report, anon, device, up, anon_args)
    await dryrun.check_arguments(report, session, device, up, anon_args, p_high)
    await dryrun.check_writes(report, session, anon, device, up)
    try:
        await dryrun.dry_run(report, session, nodes, device, up, recipe, opts.run_timeout_s)
    finally:
        await dryrun.clear_after(session, nodes, up)


def probe(opts: ProbeOptions) -> ProbeReport:
    """`probe_async` to completion (its own event loop)."""
    return asyncio.run(probe_async(opts))
