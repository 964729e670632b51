"""The attacks of issue 12, each by an independent client (node-opcua) against the plant, and the
twin refusing an impostor server. Every expectation is the StatusCode the OPC UA spec gives."""
from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from plant.audit import read_audit
from plant.pki import TrustList, thumbprint
from plant.serve import PlantThread
from tests.plant.plant_helpers import OPERATOR, call, plant_config, run
from tests.security.conftest import HERE, Cert, lads_ids, node_available

pytestmark = pytest.mark.timeout(240)
DENIED = "BadUserAccessDenied"


def attack(scenario: str, **args: Any) -> dict:
    node_available()
    proc = subprocess.run(["node", str(HERE / "attacker.js"), scenario, json.dumps(args)],
                          capture_output=True, text=True, timeout=180)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result from attacker.js ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    out = json.loads(lines[-1][len("RESULT "):])
    assert "error" not in out, out
    return out


def test_none_channel_not_advertised_is_refused(attack_plant, certs):
    """Even with a trusted certificate (sent in CreateSession), no session on a None channel."""
    ep = attack_plant.endpoints["UniPress-1"]
    out = attack("none", endpoint=ep, ids=run(lads_ids(ep, "UniPress-1", certs["python"])),
                 **certs["trusted"].node_args())
    assert out["session"] == "BadSecurityPolicyRejected", out
    assert "writeStatus" not in out and "startStatus" not in out


def test_none_channel_of_a_demo_plant_still_checks_roles(tmp_path, certs):
    """The original bypass: asyncua applies no permission rules on a None channel."""
    pf = plant_config(tmp_path, devices=[{"name": "UniPress-1", "kind": "automatic_uniaxial", "port": 0}])
    TrustList(tmp_path / "pki").ensure().add(certs["trusted"].der)
    with PlantThread(pf) as p:
        ep = p.endpoints["UniPress-1"]
        out = attack("none", endpoint=ep, ids=run(lads_ids(ep, "UniPress-1")), **certs["trusted"].node_args())
    assert out["session"] == "Good"
    assert out["writeStatus"] == DENIED and out["clearStatus"] == DENIED and out["startStatus"] == DENIED, out
    assert out["runId"] is None
    assert out["userAccessLevel"] == 1 and out["accessLevel"] & 2 and out["userExecutableStart"] is False


def test_anonymous_write_and_call_refused_and_audited(attack_plant, certs):
    ep = attack_plant.endpoints["UniPress-1"]
    ids = run(lads_ids(ep, "UniPress-1", certs["python"]))
    out = attack("session", endpoint=ep, ids=ids, **certs["trusted"].node_args())
    assert out["session"] == "Good", out
    assert out["writeStatus"] == DENIED and out["clearStatus"] == DENIED and out["startStatus"] == DENIED, out
    assert out["userAccessLevel"] == 1 and out["userExecutableStart"] is False
    records = read_audit(attack_plant.tmp / "pki" / "audit.jsonl")
    tp = thumbprint(certs["trusted"].der.read_bytes())
    mine = [r for r in records if r["client_cert"] == tp]
    assert {(r["kind"], r["status"]) for r in mine} >= {("write", DENIED), ("call", DENIED)}
    start = [r for r in mine if r["kind"] == "call" and r["method"] == ids["start"]]
    assert start and start[0]["role"] == "anonymous" and '"target_pressure_mpa":700' in start[0]["arguments"][1]
    assert (attack_plant.tmp / "pki" / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_untrusted_certificate_refused_kept_and_acceptable(attack_plant, certs):
    args = dict(endpoint=attack_plant.endpoints["UniPress-1"], drive=False,
                **certs["untrusted"].node_args())
    out = attack("session", **args)
    refused = out.get("session", out.get("connect"))
    assert refused in ("BadCertificateUntrusted", "BadSecurityChecksFailed"), out
    tl = TrustList(attack_plant.tmp / "pki")
    tp = thumbprint(certs["untrusted"].der.read_bytes())
    assert tp in tl.rejected()
    tl.accept(tp[:10])  # what `twin plant trust accept PLANT <thumbprint>` does
    try:
        assert attack("session", **args)["session"] == "Good"
    finally:
        tl.remove(tp)


def test_repeated_wrong_passwords_are_throttled_then_locked_out(attack_plant, certs, caplog):
    caplog.set_level(logging.WARNING, logger="plant.throttle")
    wrong = [f"guess-{i}" for i in range(7)]
    out = attack("passwords", endpoint=attack_plant.endpoints["UniPress-1"], user=OPERATOR[0],
                 passwords=wrong + [OPERATOR[1]], **certs["passwords"].node_args())
    att = out["attempts"]
    assert [a["status"] for a in att] == [DENIED] * 8, att  # the right password too: locked out
    # failure k (1-based) makes the next attempt wait 0.3 * 2**(k-1) s, at most 1.2 s (lower bounds only)
    waits = [0.0, 0.3, 0.6, 1.2, 1.2, 1.2]
    for a, w in zip(att, waits):
        assert a["ms"] >= 1000 * w - 20, att
    assert att[6]["ms"] < att[5]["ms"] and att[7]["ms"] < att[5]["ms"]  # locked out: refused without checking
    refusals = [r for r in caplog.records if "refused" in r.getMessage() and "'op'" in r.getMessage()]
    assert len(refusals) >= 8

    async def other_client_still_logs_in():  # the lockout is per client certificate
        c = Client(attack_plant.endpoints["UniPress-1"], timeout=10)
        c.application_uri = certs["python"].uri
        await c.set_security(SecurityPolicyBasic256Sha256, str(certs["python"].der), str(certs["python"].key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
        c.set_user(OPERATOR[0])
        c.set_password(OPERATOR[1])
        await call(c.connect(), 30)
        await call(c.disconnect())
    run(other_client_still_logs_in())


def test_operator_strict_types_and_per_node_write_status(attack_plant, certs):
    ep = attack_plant.endpoints["UniPress-1"]
    out = attack("operator", endpoint=ep, ids=run(lads_ids(ep, "UniPress-1", certs["python"])),
                 user=OPERATOR[0], password=OPERATOR[1], **certs["trusted"].node_args())
    assert out["userAccessLevel"] == 3, out
    assert out["stringWriteStatus"] == "BadTypeMismatch", out
    assert out["multiWrite"] == ["Good", "BadOutOfRange"], out
    assert out["readBack"] == 120.0


def test_twin_refuses_an_impostor_server(tmp_path, certs):
    """The twin pins the press's certificate: another server on the same endpoint is refused."""
    from adapters.pki import ServerTrust, ServerUntrusted
    from adapters.opcua import DeviceSession
    from adapters.settings import Connection
    from tests.hil.proxy import free_port
    from tests.security.conftest import secure_plant

    port = free_port()
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    for d in (real_dir, fake_dir):
        d.mkdir()
        TrustList(d / "pki").ensure().add(certs["python"].der)

    def plant(d: Path) -> Any:
        pf = secure_plant(d, name="press")
        return pf.model_copy(update={"devices": [pf.devices[0].model_copy(update={"port": port})]})

    conn = Connection(security_policy="Basic256Sha256", application_uri=certs["python"].uri,
                      call_timeout_s=5.0, connect_timeout_s=10.0, give_up_s=3.0)
    trust = ServerTrust(tmp_path / "twin-servers", [real_dir / "pki" / "own"])

    async def session_ok(endpoint: str) -> None:
        s = DeviceSession("UniPress-1", endpoint, conn, OPERATOR, (certs["python"].der, certs["python"].key),
                          server_check=trust.check_async)
        try:
            await s.connect()
            assert s.connected
        finally:
            await s.close()

    with PlantThread(plant(real_dir)) as p:
        endpoint = p.endpoints["UniPress-1"]
        run(session_ok(endpoint))
    with PlantThread(plant(fake_dir)):
        with pytest.raises(ServerUntrusted, match="does not trust"):
            run(session_ok(endpoint))
    assert list((tmp_path / "twin-servers" / "rejected").glob("*.der"))


@pytest.mark.parametrize("value", ["3_00", " 300", "0x12c", "300abc"])
def test_property_values_are_decimal_strings_not_coerced(attack_plant, certs, value):
    """Properties travel as strings (docs/opcua.md 4.4); anything but a plain decimal is refused."""
    from tests.plant.plant_helpers import WIP_RECIPE, key_values, node, sample_infos
    from adapters import vocabulary as v

    async def go() -> int:
        c = Client(attack_plant.endpoints["UniPress-1"], timeout=10)
        c.application_uri = certs["python"].uri
        await c.set_security(SecurityPolicyBasic256Sha256, str(certs["python"].der), str(certs["python"].key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
        c.set_user(OPERATOR[0])
        c.set_password(OPERATOR[1])
        await call(c.connect(), 30)
        try:
            props = [(k, value if k == "target_pressure_mpa" else repr(float(x)))
                     for k, x in dict(WIP_RECIPE, temperature_c=22.0).items()]
            sm = await node(c, "UniPress-1", v.UNIT_STATE)
            meth = await node(c, "UniPress-1", v.UNIT_START_PROGRAM)
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(sm.call_method(meth, "PressCycle", key_values(props), f"coerce-{value!r}", "",
                                          sample_infos(["c1"])))
            return err.value.code
        finally:
            await call(c.disconnect())
    assert run(go()) == ua.StatusCodes.BadInvalidArgument


def test_refused_call_is_an_opc_ua_audit_event(attack_plant, certs):
    """AuditUpdateMethodEventType from the Server object, for clients that subscribe to events."""
    import asyncio

    from adapters import vocabulary as v
    from tests.plant.plant_helpers import node

    async def go() -> list:
        c = Client(attack_plant.endpoints["UniPress-1"], timeout=10)
        c.application_uri = certs["python"].uri
        await c.set_security(SecurityPolicyBasic256Sha256, str(certs["python"].der), str(certs["python"].key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
        await call(c.connect(), 30)
        events: list = []

        class Handler:
            def event_notification(self, event):
                events.append(event)

        try:
            sub = await call(c.create_subscription(50, Handler()))
            await call(sub.subscribe_events(c.nodes.server, ua.ObjectIds.AuditUpdateMethodEventType))
            sm = await node(c, "UniPress-1", v.UNIT_STATE)
            req = ua.CallMethodRequest(ObjectId=sm.nodeid, MethodId=(await node(c, "UniPress-1", v.UNIT_CLEAR)).nodeid,
                                       InputArguments=[])
            out = await call(c.uaclient.call([req]))
            assert out[0].StatusCode.name == DENIED
            for _ in range(50):
                if events:
                    break
                await asyncio.sleep(0.1)
            return events
        finally:
            await call(c.disconnect())
    events = run(go())
    assert events, "no audit event"
    ev = events[-1]
    assert ev.Status is False and ev.ClientUserId == "anonymous"
    assert ev.ClientAuditEntryId == thumbprint(certs["python"].der.read_bytes())
