"""Faults visible in State and Results; glovebox and profilometer programs; secure endpoints."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyAes256Sha256RsaPss, SecurityPolicyBasic256Sha256

from adapters import vocabulary as v

from plant.plantfile import load_plant_file
from plant.security import ensure_certificate
from plant.serve import PlantThread
from tests.plant.plant_helpers import (OPERATOR, PLANT_START_TIMEOUT_S, WIP_RECIPE, call, connect, item_state,
                                       method, node, plant_config, run, start, unit_state, wait_idle, wait_result,
                                       wait_state)

pytestmark = pytest.mark.timeout(120)


async def _inject(c, device: str, kind: str) -> None:
    await method(c, device, v.INJECT_FAULT, kind, on_unit=False)


@pytest.mark.parametrize("kind,item", [("leak", None), ("overpressure", None), ("heater", None),
                                       ("comm_loss", "NotAvailable")])
def test_press_fault_visible_in_states_and_result_until_clear(plant, kind, item):
    async def go():
        async with connect(plant.endpoints["WIP-1"], OPERATOR) as c:
            await wait_idle(c, "WIP-1")
            await _inject(c, "WIP-1", kind)
            active = await node(c, "WIP-1", v.ACTIVE_FAULTS, on_unit=False)
            assert kind in await call(active.read_value())
            cs = await node(c, "WIP-1", v.ITEM_STATE, on_unit=False)
            seen = []

            class H:
                def datachange_notification(self, n, val, data):
                    seen.append(val.Text)

            sub = await call(c.create_subscription(20, H()))
            await call(sub.subscribe_data_change(cs, queuesize=1000, sampling_interval=0))
            recipe = dict(WIP_RECIPE, hold_s=600.0)
            rid = await start(c, "WIP-1", "PressCycle", recipe, f"job-fault-{kind}", ["f1"])
            res = await wait_result(c, "WIP-1", rid)
            await asyncio.sleep(0.2)
            await call(sub.delete())
            assert res["Outcome"] == "Fault"
            assert kind in res["Faults"]
            assert "Executing" in seen and (item is None or item in seen)
            assert await unit_state(c, "WIP-1") == "Aborted"
            assert await item_state(c, "WIP-1") == "OutOfService"
            assert kind in await call(active.read_value())
            await method(c, "WIP-1", v.UNIT_CLEAR)
            await wait_state(c, "WIP-1", ("Stopped",))
            assert await item_state(c, "WIP-1") == "NotExecuting"
            assert await call(active.read_value()) == []
    run(go())


def test_injecting_unknown_fault_is_refused(plant):
    async def go():
        async with connect(plant.endpoints["WIP-1"], OPERATOR) as c:
            with pytest.raises(ua.UaStatusCodeError) as err:
                await _inject(c, "WIP-1", "meteor")
            assert err.value.code == ua.StatusCodes.BadInvalidArgument
    run(go())


def test_glovebox_leak_excursion_visible_and_recorded(plant):
    async def go():
        async with connect(plant.endpoints["Glovebox-1"], OPERATOR) as c:
            t0 = datetime.now(timezone.utc)
            rid = await start(c, "Glovebox-1", "AntechamberTransfer", {}, "job-gb-1", ["c1", "c2"])
            res = await wait_result(c, "Glovebox-1", rid)
            assert res["Outcome"] in ("Completed", "Fault") and res["MaxO2_ppm"] > 0
            await wait_idle(c, "Glovebox-1")
            await _inject(c, "Glovebox-1", "leak")
            active = await node(c, "Glovebox-1", v.ACTIVE_FAULTS, on_unit=False)
            for _ in range(100):
                if any(a.startswith(v.EXCURSION_PREFIX) for a in await call(active.read_value())):
                    break
                await asyncio.sleep(0.1)
            assert any(a.startswith(v.EXCURSION_PREFIX) for a in await call(active.read_value()))
            assert await item_state(c, "Glovebox-1") == "OutOfService"
            exc = json.loads(await call((await node(c, "Glovebox-1", v.UNIT_EXCURSIONS)).read_value()))
            assert exc and exc[0]["peak_ppm"] > exc[0]["limit_ppm"]
            o2, h2o, flag = await method(c, "Glovebox-1", v.UNIT_MAX_BETWEEN, t0,
                                         datetime.now(timezone.utc) + timedelta(seconds=1))
            assert flag is True and max(o2 / 1.0, h2o / 0.5) > 1.0
    run(go())


def test_profilometer_measures_samples(plant):
    async def go():
        async with connect(plant.endpoints["Profilometer-1"], OPERATOR) as c:
            await wait_idle(c, "Profilometer-1")
            true = {"foil-1": {"sq_um": 0.3, "sdq": 0.12, "pv_um": 2.0, "waviness_um": 0.8,
                               "waviness_mm": 2.5}}
            rid = await start(c, "Profilometer-1", "MeasureCollector", [(v.TRUE_SURFACES_KEY, json.dumps(true))],
                              "job-prf", ["foil-1", "foil-2"])
            res = await wait_result(c, "Profilometer-1", rid)
            assert res["Outcome"] == "Completed"
            assert res["SampleIds"] == ["foil-1", "foil-2"]
            assert len(res["Sq_um"]) == 2 and res["Sq_um"][0] == pytest.approx(0.3, rel=0.2)
            assert res["WavinessWavelength_mm"][0] == pytest.approx(2.5, rel=0.2)
            last = await call((await node(c, "Profilometer-1", v.function_path("Sq") + (v.SENSOR_VALUE,))).read_value())
            assert last == pytest.approx(res["Sq_um"][1])
            with pytest.raises(ua.UaStatusCodeError) as err:
                await start(c, "Profilometer-1", "MeasureCollector", {}, "job-prf-empty", [])
            assert err.value.code == ua.StatusCodes.BadInvalidArgument
    run(go())


def test_pilot_plant_file_valid():
    pf = load_plant_file("plants/pilot.yaml")
    names = [d.name for d in pf.devices]
    assert names == ["WIP-1", "CIP-1", "UniPress-1", "Glovebox-1", "Profilometer-1"]
    ports = [d.port for d in pf.devices]
    assert ports == list(range(ports[0], ports[0] + 5))
    assert pf.host == "127.0.0.1" and not pf.security.allow_insecure and not pf.test_endpoints
    assert pf.security.users_file is not None and pf.security.users_file.exists()


@pytest.fixture(scope="module")
def secure_plant(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secure")
    trusted = tmp / "trusted"
    trusted.mkdir()
    client_cert, client_key = run(ensure_certificate(tmp / "client", "client", "urn:twin:test:client",
                                                     "127.0.0.1", client=True))
    (trusted / "client.der").write_bytes(client_cert.read_bytes())
    other_cert, other_key = run(ensure_certificate(tmp / "other", "other", "urn:twin:test:other",
                                                   "127.0.0.1", client=True))
    pf = plant_config(tmp, test_endpoints=False, devices=[{"name": "CIP-1", "kind": "cip", "port": 0}])
    pf = pf.model_copy(update={"security": pf.security.model_copy(
        update={"allow_insecure": False, "trusted_clients_dir": trusted})})
    with PlantThread(pf, start_timeout_s=PLANT_START_TIMEOUT_S) as p:
        yield p, (client_cert, client_key, "urn:twin:test:client"), (other_cert, other_key,
                                                                      "urn:twin:test:other")


async def _secure_client(url, policy, cert, user=None):
    c = Client(url, timeout=10)
    c.application_uri = cert[2]
    await c.set_security(policy, str(cert[0]), str(cert[1]), mode=ua.MessageSecurityMode.SignAndEncrypt)
    if user:
        c.set_user(user[0])
        c.set_password(user[1])
    return c


@pytest.mark.parametrize("policy", [SecurityPolicyBasic256Sha256, SecurityPolicyAes256Sha256RsaPss])
def test_secure_endpoint_with_client_certificate(secure_plant, policy):
    p, good, _ = secure_plant

    async def go():
        c = await _secure_client(p.endpoints["CIP-1"], policy, good, OPERATOR)
        await call(c.connect())
        try:
            rid = await start(c, "CIP-1", "PressCycle", dict(WIP_RECIPE, temperature_c=22.0, hold_s=10.0),
                              f"job-sec-{policy.__name__}", ["s"])
            res = await wait_result(c, "CIP-1", rid)
            assert res["Outcome"] == "Completed" and res["User"] == OPERATOR[0]
            faults = await node(c, "CIP-1", v.FAULTS, on_unit=False)
            names = [(await call(ch.read_browse_name())).Name for ch in await call(faults.get_children())]
            assert "Active" in names and "InjectFault" not in names  # no fault injection in production
        finally:
            await call(c.disconnect())
    run(go())


def test_no_insecure_endpoint_and_untrusted_certificate_refused(secure_plant):
    p, _, other = secure_plant

    async def go():
        plain = Client(p.endpoints["CIP-1"], timeout=10)
        eps = await call(plain.connect_and_get_server_endpoints())
        modes = {e.SecurityMode for e in eps}
        assert modes == {ua.MessageSecurityMode.SignAndEncrypt}
        policies = {e.SecurityPolicyUri.rsplit("#", 1)[-1] for e in eps}
        assert policies == {"Basic256Sha256", "Aes256_Sha256_RsaPss"}
        with pytest.raises(Exception):
            async with connect(p.endpoints["CIP-1"]):
                pass
        c = await _secure_client(p.endpoints["CIP-1"], SecurityPolicyBasic256Sha256, other, OPERATOR)
        with pytest.raises(Exception):
            await call(c.connect())
            await call(c.disconnect())
    run(go())
