"""The probe's static checks of docs/opcua.md 1.0 (no program is started): namespaces (1, N1),
endpoints and security (S1, S5), the device (4.1), its functional units (4.2), functions,
units and ranges (F1, F2, F4), templates (4.4), ActiveProgram (4.5), StartProgram's declared
arguments (5.1), Capacity (X2) and SetDisposition (X1). A profile other than LADS is checked
for what it maps (its paths resolve); the LADS types and units are checked for the LADS profile."""
from __future__ import annotations

from typing import Any

from asyncua import Client, ua

from adapters import vocabulary as v
from adapters.opcua.paths import Path, join, render
from adapters.opcua.profiles import Profile
from adapters.opcua.programs import ProgramNodes
from adapters.probe.nodes import Nodes, strings_of
from adapters.probe.report import ProbeReport

NAMESPACES = (v.DI_NS, v.AMB_NS, v.MACHINERY_NS, v.LADS_NS, v.PLANT_NS)
POLICIES = {"Basic256Sha256": "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
            "Aes256_Sha256_RsaPss": "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss"}
START_ARGS = [("ProgramTemplateId", v.UA_NS, "String", -1), ("Properties", v.LADS_NS, "KeyValueType", 1),
              ("SupervisoryJobId", v.UA_NS, "String", -1), ("SupervisoryTaskId", v.UA_NS, "String", -1),
              ("Samples", v.LADS_NS, "SampleInfoType", 1)]
UNIT_OF_DEVICE_KIND = {v.Unit.PRESS_CHAMBER: v.Template.PRESS_CYCLE, v.Unit.MAIN_CHAMBER: v.Template.ANTECHAMBER_TRANSFER,
                       v.Unit.PROFILER: v.Template.MEASURE_COLLECTOR}


async def check_endpoints(report: ProbeReport, endpoint: str, timeout_s: float) -> None:
    """S1: SignAndEncrypt endpoints with both policies, UserName tokens; None only as a test-bench extra."""
    import asyncio

    client = Client(endpoint, timeout=timeout_s)
    eps = await asyncio.wait_for(client.connect_and_get_server_endpoints(), timeout_s)
    secure = {e.SecurityPolicyUri for e in eps if e.SecurityMode == ua.MessageSecurityMode.SignAndEncrypt}
    for name, uri in POLICIES.items():
        report.add("S1", f"SignAndEncrypt endpoint with {name}", uri in secure)
    weak = sorted({f"{e.SecurityMode.name}/{e.SecurityPolicyUri.rsplit('#', 1)[-1]}" for e in eps
                   if e.SecurityMode == ua.MessageSecurityMode.Sign})
    report.add("S1", "no Sign-only endpoint", not weak, ", ".join(weak))
    none = any(e.SecurityMode == ua.MessageSecurityMode.None_ for e in eps)
    report.add("S1", "no None endpoint (a test bench MAY offer one)", None if none else True,
               "a None endpoint is offered: acceptable on a test bench only" if none else "")
    tokens = {t.TokenType for e in eps if e.SecurityMode == ua.MessageSecurityMode.SignAndEncrypt
              for t in (e.UserIdentityTokens or [])}
    report.add("S2", "UserName identity token on the secure endpoints", ua.UserTokenType.UserName in tokens)


async def check_server(report: ProbeReport, nodes: Nodes, profile: Profile) -> None:
    """1 / N1: the namespaces by URI (the LADS profile's four nodesets and urn:twin:plant, or the
    namespaces another profile names); S5: ServerStatus/StartTime."""
    uris = nodes.s.namespaces.uris if nodes.s.namespaces else []
    wanted = NAMESPACES if profile.profile == "lads" else tuple(u for u in profile.namespaces.values() if u != v.UA_NS)
    for uri in wanted:
        report.add("N1", f"namespace {uri} in NamespaceArray", uri in uris)
    r = await nodes.value(ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_StartTime)))
    report.add("S5", "Server/ServerStatus/StartTime readable", r.good and r.value is not None, r.status)


async def find_devices(report: ProbeReport, nodes: Nodes) -> list[str]:
    """4.1: devices are the objects below DI:DeviceSet whose type is LADSDeviceType or a subtype."""
    device_set = await nodes.resolve(v.DEVICE_SET_PATH)
    if not report.add("4.1", "DI:DeviceSet below Objects", device_set is not None):
        return []
    assert device_set is not None
    found: list[str] = []
    others: list[str] = []
    for name, nid, cls in await nodes.children(device_set):
        if cls != ua.NodeClass.Object or name.namespace_uri != v.PLANT_NS:
            continue
        ok, tname = await nodes.is_a(nid, v.LADS_DEVICE_TYPE)
        (found if ok else others).append(name.name if ok else f"{name.name} ({tname})")
    report.add("4.1", "a LADSDeviceType (or subtype) instance in DeviceSet", bool(found),
               f"found {', '.join(found) or 'none'}" + (f"; not LADS devices: {', '.join(others)}" if others else ""))
    return found


async def _units_ok(report: ProbeReport, nodes: Nodes, var: ua.NodeId, where: str, unit: v.EngineeringUnit,
                    device: str, with_range: bool = True) -> None:
    props = await nodes.properties(var)
    eu = props.get("EngineeringUnits")
    ok, detail = False, "no EngineeringUnits property"
    if eu is not None:
        r = await nodes.value(eu)
        info = r.value if r.good else None
        ok = info is not None and getattr(info, "UnitId", None) == unit.unit_id and \
            getattr(info, "NamespaceUri", None) == v.UNECE_NS
        detail = "" if ok else f"EngineeringUnits {getattr(info, 'UnitId', None)!r} in " \
                               f"{getattr(info, 'NamespaceUri', None)!r}, expected {unit.code} ({unit.unit_id})"
    report.add("F2", f"{where}: EngineeringUnits {unit.code} (property)", ok, detail, device)
    if with_range:
        rng = props.get("EURange")
        good = False
        if rng is not None:
            span = (await nodes.value(rng)).value
            good = span is not None and float(span.High) > float(span.Low)
        report.add("F2", f"{where}: EURange (property, low < high)", good, "" if good else "missing or empty", device)


async def check_lads_device(report: ProbeReport, nodes: Nodes, device: str) -> dict[v.Unit, Path]:
    """4.1-4.5 and 5.1 declarations for one device of the LADS profile; the units it has."""
    dev = v.device_path(device)
    idn = await nodes.read([join(dev, v.identification(k)) for k in v.IDENTIFICATION_KEYS])
    for key, r in zip(v.IDENTIFICATION_KEYS, idn):
        rule_ok = r.good and r.value is not None
        if key == "DeviceClass":
            report.add("4.1", "Identification/DeviceClass (SHOULD)", True if rule_ok else None,
                       "" if rule_ok else "absent (a SHOULD)", device)
        else:
            report.add("4.1", f"Identification/{key}", rule_ok, "" if rule_ok else r.status, device)
    item, state = await nodes.read([join(dev, v.ITEM_STATE), join(dev, v.DEVICE_STATE)])
    names = {s.value for s in v.ItemState}
    report.add("4.1", "MachineryItemState/CurrentState is a Machinery state", item.good and _text(item.value) in names,
               f"{_text(item.value)!r} ({item.status})", device)
    report.add("4.1", "DeviceState/CurrentState is Operate", state.good and _text(state.value) == "Operate",
               f"{_text(state.value)!r}", device)
    units: dict[v.Unit, Path] = {}
    for unit in v.Unit:
        up = v.unit_path(device, unit)
        nid = await nodes.resolve(up)
        if nid is None:
            continue
        units[unit] = up
        ok, tname = await nodes.is_a(nid, v.FUNCTIONAL_UNIT_TYPE)
        report.add("4.2", f"{unit.value} is a FunctionalUnitType", ok, tname, device)
        await _check_unit(report, nodes, device, unit, up)
    report.add("4.2", "a functional unit below LADS:FunctionalUnitSet", bool(units),
               ", ".join(u.value for u in units) or "none of " + ", ".join(u.value for u in v.Unit), device)
    return units


def _text(x: Any) -> str:
    return str(x.Text) if isinstance(x, ua.LocalizedText) else str(x)


async def _check_unit(report: ProbeReport, nodes: Nodes, device: str, unit: v.Unit, up: Path) -> None:
    state = (await nodes.read([join(up, v.UNIT_CURRENT_STATE)]))[0]
    report.add("4.2", f"{unit.value}: FunctionalUnitState/CurrentState is a LADS state",
               state.good and _text(state.value) in {s.value for s in v.UnitState}, f"{_text(state.value)!r}", device)
    for path, what in ((v.UNIT_START_PROGRAM, "StartProgram"), (v.UNIT_STOP, "Stop"), (v.UNIT_ABORT, "Abort"),
                       (v.UNIT_CLEAR, "Clear")):
        nid = await nodes.resolve(join(up, path))
        is_method = nid is not None and await nodes.node_class(nid) == ua.NodeClass.Method
        report.add("4.2", f"{unit.value}: FunctionalUnitState/{what} method", is_method, "" if is_method else "missing",
                   device)
        if what == "StartProgram" and is_method:
            assert nid is not None
            args = await nodes.arguments(nid) or []
            got = [(a.name, a.data_type.namespace_uri, a.data_type.name, a.value_rank) for a in args]
            report.add("5.1", f"{unit.value}: StartProgram inputs as LADS defines them", got == START_ARGS,
                       "" if got == START_ARGS else f"declared {got}", device)
            out = [(a.name, a.data_type.name) for a in await nodes.arguments(nid, "OutputArguments") or []]
            report.add("5.1", f"{unit.value}: StartProgram output DeviceProgramRunId (String)",
                       out == [("DeviceProgramRunId", "String")], "" if out == [("DeviceProgramRunId", "String")]
                       else f"declared {out}", device)
    for fn in v.UNIT_FUNCTIONS[unit]:
        fp = join(up, v.function_path(fn.value))
        nid = await nodes.resolve(fp)
        control = fn in v.CONTROL_FUNCTIONS
        ftype = v.ANALOG_CONTROL_FUNCTION_TYPE if control else v.ANALOG_SCALAR_SENSOR_FUNCTION_TYPE
        if nid is None:
            report.add("4.2", f"{unit.value}: function {fn.value}", False, "missing", device)
            continue
        ok, tname = await nodes.is_a(nid, ftype)
        report.add("F1", f"{fn.value} is a {ftype.name}", ok, tname, device)
        for var in (v.CURRENT_VALUE, v.TARGET_VALUE) if control else (v.SENSOR_VALUE, v.RAW_VALUE):
            vid = await nodes.resolve(join(fp, (var,)))
            where = f"{fn.value}/{var.name}"
            if vid is None:
                report.add("F1", f"{where} exists", False, "missing", device)
                continue
            val = await nodes.value(vid)
            report.add("F4", f"{where}: Good Double with a SourceTimestamp",
                       val.good and isinstance(val.value, float) and val.source_time is not None,
                       f"{val.status}, {type(val.value).__name__}, SourceTimestamp {val.source_time}", device)
            await _units_ok(report, nodes, vid, where, v.FUNCTION_UNITS[fn], device)
    template = UNIT_OF_DEVICE_KIND[unit]
    tp = join(up, v.template_path(template.value))
    tid = await nodes.resolve(tp)
    if not report.add("4.4", f"{unit.value}: template {template.value}", tid is not None, "" if tid else "missing", device):
        return
    assert tid is not None
    ok, tname = await nodes.is_a(tid, v.PROGRAM_TEMPLATE_TYPE)
    report.add("4.4", f"{template.value} is a ProgramTemplateType", ok, tname, device)
    tmpl_id, keys, defaults = await nodes.read([join(tp, (v.lads("DeviceTemplateId"),)), join(tp, v.TEMPLATE_REQUIRED_KEYS),
                                                join(tp, v.TEMPLATE_DEFAULT_PROPERTIES)])
    report.add("4.4", f"{template.value}: DeviceTemplateId = {template.value}", tmpl_id.value == template.value,
               repr(tmpl_id.value), device)
    required = set(keys.value or []) if keys.good else None
    sent = set(v.REQUIRED_KEYS[template]) | set(v.OPTIONAL_KEYS[template])
    pairs = [strings_of(kv, 2) for kv in (defaults.value or [])] if defaults.good else []
    default_keys = {p[0] for p in pairs if p}
    ok_keys = required is not None and required <= sent and set(v.REQUIRED_KEYS[template]) <= required | default_keys
    report.add("4.4", f"{template.value}: RequiredPropertyKeys/DefaultProperties cover what the twin sends", ok_keys,
               f"required {sorted(required or [])}, defaults {sorted(default_keys)}; twin sends {sorted(sent)}", device)
    active = [join(up, v.active_program(k)) for k in ("DeviceProgramRunId", "EstimatedRuntime")]
    for r, key in zip(await nodes.read(active), ("DeviceProgramRunId", "EstimatedRuntime")):
        report.add("4.5", f"{unit.value}: ActiveProgram/{key}", r.good, r.status, device)
    rs = await nodes.resolve(join(up, v.UNIT_RESULT_SET))
    report.add("6", f"{unit.value}: ProgramManager/ResultSet", rs is not None, "", device)
    if unit == v.Unit.PRESS_CHAMBER:
        cap = (await nodes.read([join(up, v.UNIT_CAPACITY)]))[0]
        report.add("X2", "PressChamber: plant:Capacity (UInt32 > 0)", cap.good and isinstance(cap.value, int)
                   and cap.value > 0, f"{cap.value!r} ({cap.status})", device)
        sd = await nodes.resolve(join(up, v.UNIT_SET_DISPOSITION))
        report.add("X1", "PressChamber: ProgramManager/plant:SetDisposition method", sd is not None, "", device)


async def check_profile_device(report: ProbeReport, nodes: Nodes, profile: Profile, device: str) -> None:
    """A non-LADS profile: every path the profile maps for the press resolves on this device."""
    dev = profile.path(profile.device)
    dev = tuple(v.QName(q.namespace_uri, q.name.replace("{device}", device)) for q in dev)
    report.add("profile", f"device object {render(dev)}", await nodes.resolve(dev) is not None, "", device)
    if profile.press is None:
        report.add("profile", "the profile maps a press", False, f"profile {profile.profile} has no press section", device)
        return
    pn = ProgramNodes.of(profile, profile.press)
    wanted: list[tuple[str, Path]] = [("unit", pn.unit), ("start object", pn.start_object), ("start method", pn.start_method),
                                      ("state", pn.state), ("result set", pn.results)]
    tp = pn.template(profile.press.template)
    if tp is not None:
        wanted.append((f"template {profile.press.template}", tp))
    for key, val in (("capacity", profile.press.capacity), ("pressure_range", profile.press.pressure_range),
                     ("temperature_range", profile.press.temperature_range)):
        if val is not None:
            wanted.append((key, join(pn.unit, profile.path(val.path))))
    if profile.press.disposition is not None:
        wanted.append(("disposition method", join(pn.unit, profile.path(profile.press.disposition.method))))
    for what, path in wanted:
        found = await nodes.resolve(join(dev, path))
        report.add("profile", f"{what}: {render(path)}", found is not None, "" if found else "does not resolve", device)


async def check_untrusted_client(report: ProbeReport, endpoint: str, policy: str, app_uri: str,
                                 timeout_s: float) -> None:
    """S3: a client certificate the device has never seen is refused (when it keeps a trust list:
    a device that accepts it is reported as skipped, since S3 applies only with a trust list)."""
    import asyncio
    import tempfile
    from pathlib import Path as FsPath

    from asyncua.crypto import security_policies as sp

    from plant.security import ensure_certificate

    cls: Any = {"Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
                "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss}[policy]
    with tempfile.TemporaryDirectory(prefix="probe-untrusted-") as tmp:
        cert, key = await ensure_certificate(FsPath(tmp), "probe-untrusted", app_uri, "127.0.0.1", client=True)
        client = Client(endpoint, timeout=timeout_s)
        client.application_uri = app_uri
        await client.set_security(cls, str(cert), str(key), mode=ua.MessageSecurityMode.SignAndEncrypt)
        try:
            await asyncio.wait_for(client.connect(), timeout_s)
        except Exception as exc:  # noqa: BLE001  (any refusal is what S3 asks for)
            report.add("S3", "a client certificate not in the trust list is refused", True, type(exc).__name__)
            return
        try:
            await asyncio.wait_for(client.disconnect(), timeout_s)
        except Exception:  # noqa: BLE001
            pass
    report.add("S3", "a client certificate not in the trust list is refused", None,
               "an unknown client certificate was accepted: no trust list configured on this device?")
