"""The emulated devices over real loopback sockets: contract, programs, subscriptions, results."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from asyncua import ua

from tests.plant.plant_helpers import (OPERATOR, TIME_SCALE, WIP_RECIPE, call, connect, node, run, start,
                           strings, wait_idle, wait_result)

pytestmark = pytest.mark.timeout(120)

COMMON = ["Identification/Manufacturer", "Identification/Model", "Identification/SerialNumber",
          "Identification/DeviceClass", "State/CurrentState", "State/OperationMode",
          "ProgramManager/StartProgram", "ProgramManager/Abort",
          "ProgramManager/ActiveProgram/RunId", "ProgramManager/ActiveProgram/SupervisoryJobId",
          "ProgramManager/ActiveProgram/CurrentState", "ProgramManager/ActiveProgram/Progress",
          "ProgramManager/Results", "Faults/Active", "Faults/InjectFault"]
PRESS = ["PressChamber/Pressure/CurrentValue", "PressChamber/Pressure/TargetValue",
         "PressChamber/Pressure/EURange", "PressChamber/Temperature/CurrentValue",
         "PressChamber/Temperature/TargetValue", "PressChamber/Capacity"]
PATHS = {"WIP-1": PRESS, "CIP-1": PRESS, "UniPress-1": PRESS,
         "Glovebox-1": ["Atmosphere/O2_ppm", "Atmosphere/H2O_ppm"],
         "Profilometer-1": ["Measurement/Sq_um", "Measurement/Sdq", "Measurement/PV_um",
                            "Measurement/Waviness_um"]}


@pytest.mark.parametrize("device", sorted(PATHS))
def test_contract_paths_browse_and_carry_source_timestamps(plant, device):
    async def go():
        async with connect(plant.endpoints[device]) as c:
            ns = await call(c.get_namespace_array())
            assert "urn:twin:plant" in ns
            for path in COMMON + PATHS[device]:
                n = await node(c, device, path)
                if await call(n.read_node_class()) == ua.NodeClass.Variable:
                    dv = await call(n.read_data_value())
                    assert dv.SourceTimestamp is not None, path
            state = await call((await node(c, device, "State/CurrentState")).read_value())
            assert state in ("Idle", "Running", "Holding", "Aborting", "Fault", "Offline")
    run(go())


def test_endpoint_bound_to_loopback(plant):
    assert all(url.startswith("opc.tcp://127.0.0.1:") for url in plant.endpoints.values())


def test_operator_writes_setpoint_and_reads_back_range_checked(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            tv = await node(c, "CIP-1", "PressChamber/Pressure/TargetValue")
            await call(tv.write_value(ua.Variant(250.0, ua.VariantType.Double)))
            assert await call(tv.read_value()) == 250.0
            assert (await call(tv.read_data_value())).SourceTimestamp is not None
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(tv.write_value(ua.Variant(5000.0, ua.VariantType.Double)))
            assert err.value.code == ua.StatusCodes.BadOutOfRange
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(tv.write_value(ua.Variant("high", ua.VariantType.String)))
            assert err.value.code == ua.StatusCodes.BadTypeMismatch
            rng = await call((await node(c, "CIP-1", "PressChamber/Pressure/EURange")).read_value())
            assert rng.Low == 0.0 and rng.High == 600.0
            assert await call((await node(c, "CIP-1", "PressChamber/Capacity")).read_value()) == 40
    run(go())


def test_read_only_and_anonymous_writes_refused(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            cv = await node(c, "CIP-1", "PressChamber/Pressure/CurrentValue")
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(cv.write_value(ua.Variant(1.0, ua.VariantType.Double)))
            assert err.value.code in (ua.StatusCodes.BadNotWritable, ua.StatusCodes.BadUserAccessDenied)
        async with connect(plant.endpoints["CIP-1"]) as c:
            tv = await node(c, "CIP-1", "PressChamber/Pressure/TargetValue")
            assert isinstance(await call(tv.read_value()), float)
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(tv.write_value(ua.Variant(100.0, ua.VariantType.Double)))
            assert err.value.code == ua.StatusCodes.BadUserAccessDenied
            with pytest.raises(ua.UaStatusCodeError) as err:
                await start(c, "CIP-1", "PressCycle", WIP_RECIPE, "anon-job", [])
            assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    run(go())


def test_viewer_may_read_but_not_start(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], ("view", "view-secret")) as c:
            await call((await node(c, "CIP-1", "State/CurrentState")).read_value())
            with pytest.raises(ua.UaStatusCodeError) as err:
                await start(c, "CIP-1", "PressCycle", WIP_RECIPE, "viewer-job", [])
            assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    run(go())


@pytest.mark.parametrize("user", [("op", "wrong"), ("nobody", "x")])
def test_wrong_password_refused(plant, user):
    async def go():
        with pytest.raises(ua.UaStatusCodeError) as err:
            async with connect(plant.endpoints["CIP-1"], user):
                pass
        assert err.value.code in (ua.StatusCodes.BadUserAccessDenied,
                                  ua.StatusCodes.BadIdentityTokenRejected)
    run(go())


class _Collector:
    def __init__(self) -> None:
        self.items: list[tuple[float, float]] = []

    def datachange_notification(self, node, val, data):
        dv = data.monitored_item.Value
        self.items.append((dv.SourceTimestamp.timestamp(), float(val)))


def test_program_streams_pressure_without_gaps_and_leaves_result(plant):
    async def go():
        async with connect(plant.endpoints["WIP-1"], OPERATOR) as c:
            await wait_idle(c, "WIP-1")
            cv = await node(c, "WIP-1", "PressChamber/Pressure/CurrentValue")
            cs = await node(c, "WIP-1", "State/CurrentState")
            coll, states = _Collector(), []

            class StateHandler:
                def datachange_notification(self, node, val, data):
                    states.append(val)

            sub = await call(c.create_subscription(20, coll))
            await call(sub.subscribe_data_change(cv, queuesize=1000))
            sub2 = await call(c.create_subscription(20, StateHandler()))
            await call(sub2.subscribe_data_change(cs, queuesize=1000))
            await asyncio.sleep(0.3)
            n_before = len(coll.items)
            rid = await start(c, "WIP-1", "PressCycle", WIP_RECIPE, "job-stream", ["a", "b", "c"])
            res = await wait_result(c, "WIP-1", rid)
            await asyncio.sleep(0.3)
            await call(sub.delete())
            await call(sub2.delete())
        ts = np.array([t for t, _ in coll.items])
        assert len(ts) > n_before + 10
        gaps = np.diff(ts)
        assert gaps.max() <= 0.1 + 1e-3, f"largest gap {gaps.max():.3f} s"
        assert np.all(gaps > 0)
        assert "Running" in states and "Holding" in states and states[-1] == "Idle"
        assert res["Status"] == "Completed"
        trace = json.loads(res["Trace"])
        published = {round(v, 4) for _, v in coll.items}
        in_run = set(np.round(trace["p_mpa"], 4))
        assert len(published & in_run) > 5
        p = np.array(trace["p_mpa"])
        ph = np.array(trace["phase"])
        assert res["HoldPressureMean_MPa"] == pytest.approx(p[ph == 3].mean(), rel=1e-4)
        assert res["PeakPressure_MPa"] == pytest.approx(p.max(), rel=1e-4)
        assert res["HoldDuration_s"] == pytest.approx(WIP_RECIPE["hold_s"], abs=2.0)
        assert res["HoldPressureMean_MPa"] == pytest.approx(375.0, rel=0.02)
        assert len(res["CellPressures_MPa"]) == 3 and len(res["CellPressureCV"]) == 3
        assert res["SampleIds"] == ["a", "b", "c"]
        for key in ("PeakPressure_MPa", "HoldPressureMean_MPa", "HoldPressureStd_MPa", "PressureCV",
                    "HoldDuration_s", "MeanTemperature_C", "Trace", "Status"):
            assert key in res
    run(go())


def test_start_program_is_idempotent_per_job(plant):
    async def go():
        async with connect(plant.endpoints["UniPress-1"], OPERATOR) as c:
            await wait_idle(c, "UniPress-1")
            recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=30.0)
            r1 = await start(c, "UniPress-1", "PressCycle", recipe, "job-idem", ["x"])
            r2 = await start(c, "UniPress-1", "PressCycle", recipe, "job-idem", ["x"])
            assert r1 == r2
            await wait_result(c, "UniPress-1", r1)
            r3 = await start(c, "UniPress-1", "PressCycle", recipe, "job-idem", ["x"])
            assert r3 == r1
            results = await node(c, "UniPress-1", "ProgramManager/Results")
            jobs = []
            for ch in await call(results.get_children()):
                job = await call((await call(ch.get_child(
                    f"{ch.nodeid.NamespaceIndex}:SupervisoryJobId"))).read_value())
                jobs.append(job)
            assert jobs.count("job-idem") == 1
    run(go())


def test_bad_arguments_return_the_design_status_codes(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            await wait_idle(c, "CIP-1")
            pm = await node(c, "CIP-1", "ProgramManager")
            meth = await node(c, "CIP-1", "ProgramManager/StartProgram")
            recipe = json.dumps(dict(WIP_RECIPE, temperature_c=22.0))

            async def status(*args):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await call(pm.call_method(meth, *args))
                return err.value.code

            S = ua.StatusCodes
            assert await status("PressCycle", recipe, "j-missing") == S.BadArgumentsMissing
            assert await status("PressCycle", recipe, "j-extra", strings([]), "more") == S.BadTooManyArguments
            assert await status(ua.Variant(5, ua.VariantType.Int32), recipe, "j-type",
                                strings([])) == S.BadInvalidArgument
            assert await status("PressCycle", recipe, "j-type2", "not-an-array") == S.BadInvalidArgument
            assert await status("NoSuchTemplate", recipe, "j-tpl", strings([])) == S.BadInvalidArgument
            assert await status("PressCycle", "{not json", "j-json", strings([])) == S.BadInvalidArgument
            assert await status("PressCycle", json.dumps({"bogus": 1}), "j-field",
                                strings([])) == S.BadInvalidArgument
            too_high = json.dumps(dict(WIP_RECIPE, temperature_c=22.0, target_pressure_mpa=900.0))
            assert await status("PressCycle", too_high, "j-range", strings([])) == S.BadOutOfRange
            assert await status("PressCycle", recipe, "j-cap",
                                strings([f"c{i}" for i in range(41)])) == S.BadOutOfRange
            abort = await node(c, "CIP-1", "ProgramManager/Abort")
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(pm.call_method(abort, "no-such-run"))
            assert err.value.code == S.BadInvalidArgument
            # nothing above started a cycle
            assert await call((await node(c, "CIP-1", "State/CurrentState")).read_value()) == "Idle"
    run(go())


def test_abort_vents_and_leaves_aborted_result(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            await wait_idle(c, "CIP-1")
            recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=3000.0)
            rid = await start(c, "CIP-1", "PressCycle", recipe, "job-abort", ["s1"])
            hold_wait = (120.0 + 375.0 / 5.0 + 100.0) / TIME_SCALE
            await asyncio.sleep(hold_wait)
            pm = await node(c, "CIP-1", "ProgramManager")
            await call(pm.call_method(await node(c, "CIP-1", "ProgramManager/Abort"), rid))
            res = await wait_result(c, "CIP-1", rid)
            assert res["Status"] == "Aborted"
            assert res["HoldDuration_s"] < 3000.0
            assert json.loads(res["Trace"])["p_mpa"][-1] < 5.0
            await wait_idle(c, "CIP-1")
            assert await call((await node(c, "CIP-1", "State/CurrentState")).read_value()) == "Idle"
    run(go())


def test_disposition_written_back(plant):
    async def go():
        async with connect(plant.endpoints["UniPress-1"], OPERATOR) as c:
            await wait_idle(c, "UniPress-1")
            recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=10.0)
            rid = await start(c, "UniPress-1", "PressCycle", recipe, "job-disp", ["cell-9"])
            await wait_result(c, "UniPress-1", rid)
            pm = await node(c, "UniPress-1", "ProgramManager")
            meth = await node(c, "UniPress-1", "ProgramManager/SetDisposition")
            await call(pm.call_method(meth, rid, "cell-9", "rework", "low contact"))
            res = await wait_result(c, "UniPress-1", rid)
            assert json.loads(res["Dispositions"]) == {"cell-9": {"decision": "rework",
                                                                  "reason": "low contact"}}
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(pm.call_method(meth, rid, "cell-9", "maybe", ""))
            assert err.value.code == ua.StatusCodes.BadInvalidArgument
    run(go())
