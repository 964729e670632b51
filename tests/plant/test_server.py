"""The emulated devices over real loopback sockets, against docs/opcua.md: LADS address space,
setpoints, access, programs, subscriptions, results."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from asyncua import ua

from adapters import vocabulary as v
from tests.plant.plant_helpers import (OPERATOR, TIME_SCALE, UNITS, WIP_RECIPE, call, connect, key_values, method,
                                       node, resolve, run, sample_infos, start, unit_state, wait_idle, wait_result,
                                       wait_state)

pytestmark = pytest.mark.timeout(120)

UNIT_PATHS = [v.UNIT_CURRENT_STATE, v.UNIT_START_PROGRAM, v.UNIT_STOP, v.UNIT_ABORT, v.UNIT_CLEAR, v.UNIT_CAPACITY,
              v.UNIT_TEMPLATE_SET, v.UNIT_RESULT_SET, v.UNIT_SET_DISPOSITION] + [
    v.active_program(k) for k in v.ACTIVE_PROGRAM_KEYS]
DEVICE_PATHS = [v.identification(k) for k in ("Manufacturer", "Model", "SerialNumber", "DeviceClass")] + [
    v.ITEM_STATE, v.DEVICE_STATE, v.ACTIVE_FAULTS, v.INJECT_FAULT]
TEMPLATE = {"WIP-1": "PressCycle", "CIP-1": "PressCycle", "UniPress-1": "PressCycle",
            "Glovebox-1": "AntechamberTransfer", "Profilometer-1": "MeasureCollector"}


def _fn_paths(device: str) -> list[v.Path]:
    out = []
    for fn in v.UNIT_FUNCTIONS[UNITS[device]]:
        leaves = (v.CURRENT_VALUE, v.TARGET_VALUE) if fn in v.CONTROL_FUNCTIONS else (v.SENSOR_VALUE, v.RAW_VALUE)
        out += [v.function_path(fn.value) + (leaf,) for leaf in leaves]
    return out


@pytest.mark.parametrize("device", sorted(UNITS))
def test_contract_paths_resolve_with_timestamps_units_and_types(plant, device):
    async def go():
        async with connect(plant.endpoints[device]) as c:
            ns = await call(c.get_namespace_array())
            for uri in (v.DI_NS, v.AMB_NS, v.MACHINERY_NS, v.LADS_NS, v.PLANT_NS):
                assert uri in ns
            for path, on_unit in [(p, False) for p in DEVICE_PATHS] + [(p, True) for p in UNIT_PATHS + _fn_paths(device)]:
                n = await node(c, device, path, on_unit=on_unit)
                if await call(n.read_node_class()) == ua.NodeClass.Variable:
                    dv = await call(n.read_data_value())
                    assert dv.SourceTimestamp is not None, path
                    assert dv.StatusCode.is_good(), path
            for path in _fn_paths(device):
                eu = await call((await node(c, device, path + (v.ENGINEERING_UNITS,))).read_value())
                fn = v.Function(path[1].name)
                assert eu.UnitId == v.FUNCTION_UNITS[fn].unit_id and eu.NamespaceUri == v.UNECE_NS
                rng = await call((await node(c, device, path + (v.EU_RANGE,))).read_value())
                assert rng.Low < rng.High
            # the TypeDefinitions are the LADS/Machinery ones
            dev = await resolve(c, v.device_path(device))
            scale = await call((await resolve(c, (v.plant("TimeScale"),), dev)).read_value())
            assert scale == TIME_SCALE
            assert await call(dev.read_type_definition()) == ua.NodeId(1002, ns.index(v.LADS_NS))
            sm = await node(c, device, v.UNIT_STATE)
            assert await call(sm.read_type_definition()) == ua.NodeId(1043, ns.index(v.LADS_NS))
            avail = await call((await resolve(c, (v.ua_("AvailableStates"),), sm)).read_value())
            assert set(avail) == {ua.NodeId(i, ns.index(v.LADS_NS)) for i in v.UNIT_STATE_IDS.values()}
            state_id = await call((await node(c, device, v.UNIT_CURRENT_STATE + (v.ua_("Id"),))).read_value())
            assert state_id in avail
            assert await unit_state(c, device) in [s.value for s in v.UnitState]
            tpl = await node(c, device, v.template_path(TEMPLATE[device]))
            tid = await call((await resolve(c, (v.lads("DeviceTemplateId"),), tpl)).read_value())
            assert tid == TEMPLATE[device]
            limits = await call((await resolve(c, v.TEMPLATE_PROPERTY_LIMITS, tpl)).read_value())
            if TEMPLATE[device] == "PressCycle":
                got = {kv.Key: float(kv.Value) for kv in limits}
                assert {f"{k}.{e}" for k in v.PRESS_KEYS for e in ("min", "max")} == set(got)
                tv = await node(c, device, v.function_path("Pressure") + (v.TARGET_VALUE, v.EU_RANGE))
                assert got["target_pressure_mpa.max"] == (await call(tv.read_value())).High
    run(go())


def test_endpoint_bound_to_loopback(plant):
    assert all(url.startswith("opc.tcp://127.0.0.1:") for url in plant.endpoints.values())


def test_eu_range_and_engineering_units_are_properties(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"]) as c:
            tv = await node(c, "CIP-1", v.function_path("Pressure") + (v.TARGET_VALUE,))
            refs = await call(tv.get_references(refs=ua.ObjectIds.HasProperty))
            names = {r.BrowseName.Name for r in refs}
            assert {"EURange", "EngineeringUnits"} <= names
            comps = await call(tv.get_references(refs=ua.ObjectIds.HasComponent))
            assert not {r.BrowseName.Name for r in comps} & {"EURange", "EngineeringUnits"}
    run(go())


def test_operator_writes_setpoint_range_checked(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            await wait_idle(c, "CIP-1")
            tv = await node(c, "CIP-1", v.function_path("Pressure") + (v.TARGET_VALUE,))
            await call(tv.write_value(ua.Variant(250.0, ua.VariantType.Double)))
            assert await call(tv.read_value()) == 250.0
            assert (await call(tv.read_data_value())).SourceTimestamp is not None
            for bad, code in ((ua.Variant(5000.0, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
                              (ua.Variant("high", ua.VariantType.String), ua.StatusCodes.BadTypeMismatch)):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await call(tv.write_value(bad))
                assert err.value.code == code
            rng = await call((await node(c, "CIP-1", v.function_path("Pressure") + (v.TARGET_VALUE, v.EU_RANGE)))
                             .read_value())
            assert rng.Low == 0.0 and rng.High == 600.0
            assert await call((await node(c, "CIP-1", v.UNIT_CAPACITY)).read_value()) == 40
    run(go())


def test_read_only_and_anonymous_refused_per_node_and_per_call(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            cv = await node(c, "CIP-1", v.function_path("Pressure") + (v.CURRENT_VALUE,))
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(cv.write_value(ua.Variant(1.0, ua.VariantType.Double)))
            assert err.value.code in (ua.StatusCodes.BadNotWritable, ua.StatusCodes.BadUserAccessDenied)
        async with connect(plant.endpoints["CIP-1"]) as c:
            tv = await node(c, "CIP-1", v.function_path("Pressure") + (v.TARGET_VALUE,))
            assert isinstance(await call(tv.read_value()), float)
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(tv.write_value(ua.Variant(100.0, ua.VariantType.Double)))
            assert err.value.code == ua.StatusCodes.BadUserAccessDenied
            # an anonymous StartProgram is a CallMethodResult with BadUserAccessDenied, not a service fault
            sm = await node(c, "CIP-1", v.UNIT_STATE)
            meth = await node(c, "CIP-1", v.UNIT_START_PROGRAM)
            req = ua.CallMethodRequest(ObjectId=sm.nodeid, MethodId=meth.nodeid, InputArguments=[
                ua.Variant("PressCycle", ua.VariantType.String), key_values(WIP_RECIPE),
                ua.Variant("anon-job", ua.VariantType.String), ua.Variant("", ua.VariantType.String),
                sample_infos([])])
            results = await call(c.uaclient.call([req]))
            assert results[0].StatusCode.value == ua.StatusCodes.BadUserAccessDenied
            assert await unit_state(c, "CIP-1") == "Stopped"
    run(go())


def test_viewer_may_read_but_not_start(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], ("view", "view-secret")) as c:
            await unit_state(c, "CIP-1")
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
        assert err.value.code in (ua.StatusCodes.BadUserAccessDenied, ua.StatusCodes.BadIdentityTokenRejected)
    run(go())


class _Collector:
    def __init__(self) -> None:
        self.items: list[tuple[float, object]] = []

    def datachange_notification(self, node, val, data):
        dv = data.monitored_item.Value
        self.items.append((dv.SourceTimestamp.timestamp(), val))


def test_program_streams_pressure_without_gaps_and_leaves_a_final_result(plant):
    async def go():
        async with connect(plant.endpoints["WIP-1"], OPERATOR) as c:
            await wait_idle(c, "WIP-1")
            cv = await node(c, "WIP-1", v.function_path("Pressure") + (v.CURRENT_VALUE,))
            cs = await node(c, "WIP-1", v.UNIT_CURRENT_STATE)
            coll, states = _Collector(), _Collector()
            sub = await call(c.create_subscription(20, coll))
            await call(sub.subscribe_data_change(cv, queuesize=1000, sampling_interval=0))
            sub2 = await call(c.create_subscription(20, states))
            await call(sub2.subscribe_data_change(cs, queuesize=1000, sampling_interval=0))
            await asyncio.sleep(0.3)
            n_before = len(coll.items)
            rid = await start(c, "WIP-1", "PressCycle", WIP_RECIPE, "job-stream", ["a", "b/1", "c.2"], task="t-9")
            assert await unit_state(c, "WIP-1") == "Running"
            est = await call((await node(c, "WIP-1", v.active_program("EstimatedRuntime"))).read_value())
            assert est > 0
            await wait_state(c, "WIP-1", ("Stopped",))
            # R1: the Result is there, final, the moment the state has left Running (no polling)
            final = await node(c, "WIP-1", v.result_path(rid))
            assert await call((await resolve(c, v.RESULT_STOPPED, final)).read_value()) is not None
            res = await wait_result(c, "WIP-1", rid, timeout_s=0.0)
            await asyncio.sleep(0.3)
            await call(sub.delete())
            await call(sub2.delete())
        ts = np.array([t for t, _ in coll.items])
        assert len(ts) > n_before + 10
        gaps = np.diff(ts)
        assert gaps.max() <= 0.1 + 1e-3, f"largest gap {gaps.max():.3f} s"
        assert np.all(gaps > 0)
        texts = [s.Text for _, s in states.items]
        assert texts[-2:] == ["Running", "Stopped"]
        assert res["Outcome"] == "Completed"
        assert res["SupervisoryJobId"] == "job-stream" and res["SupervisoryTaskId"] == "t-9"
        assert res["DeviceProgramRunId"] == rid
        assert [s.SampleId for s in res["Samples"]] == ["a", "b/1", "c.2"]
        assert {kv.Key: float(kv.Value) for kv in res["Properties"]} == WIP_RECIPE
        trace = json.loads(res["Trace"])
        assert trace["phase"][-1] == v.LAST_PHASE and np.all(np.diff(trace["phase"]) >= 0)
        dt = np.diff(trace["t_s"])  # G7: equally spaced, at most 1 s of process time
        assert dt.max() <= 1.0 and dt.max() - dt.min() < 1e-3
        published = {round(x, 4) for _, x in coll.items}
        assert len(published & set(np.round(trace["p_mpa"], 4))) > 5
        p, ph = np.array(trace["p_mpa"]), np.array(trace["phase"])
        assert res["HoldPressureMean_MPa"] == pytest.approx(p[ph == 3].mean(), rel=1e-4)
        assert res["PeakPressure_MPa"] == pytest.approx(p.max(), rel=1e-4)
        assert res["HoldDuration_s"] == pytest.approx(WIP_RECIPE["hold_s"], abs=2.0)
        assert res["HoldPressureMean_MPa"] == pytest.approx(375.0, rel=0.02)
        assert len(res["CellPressures_MPa"]) == 3 and len(res["CellPressureCV"]) == 3
        assert res["SampleIds"] == ["a", "b/1", "c.2"] and res["Faults"] == []
        assert res["Dispositions"] == "{}"
        for name in v.RESULT_VARS[v.Template.PRESS_CYCLE]:
            assert name.value in res
    run(go())


def test_result_absent_until_final_and_target_value_owned_by_the_run(plant):
    async def go():
        async with connect(plant.endpoints["UniPress-1"], OPERATOR) as c:
            await wait_idle(c, "UniPress-1")
            recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=60.0)
            rid = await start(c, "UniPress-1", "PressCycle", recipe, "job-absent", ["x"])
            with pytest.raises(ua.UaStatusCodeError) as err:
                await node(c, "UniPress-1", v.result_path(rid))
            assert err.value.code in (ua.StatusCodes.BadNoMatch, ua.StatusCodes.BadNodeIdUnknown)
            tv = await node(c, "UniPress-1", v.function_path("Pressure") + (v.TARGET_VALUE,))
            assert await call(tv.read_value()) == recipe["target_pressure_mpa"]
            with pytest.raises(ua.UaStatusCodeError) as err:
                await call(tv.write_value(ua.Variant(100.0, ua.VariantType.Double)))
            assert err.value.code == ua.StatusCodes.BadInvalidState
            # while Running: content errors are still named (P2), a valid start is BadInvalidState (P3)
            for props, code in ((dict(recipe, bogus=1.0), ua.StatusCodes.BadInvalidArgument),
                                (dict(recipe, target_pressure_mpa=5000.0), ua.StatusCodes.BadOutOfRange),
                                (recipe, ua.StatusCodes.BadInvalidState)):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await start(c, "UniPress-1", "PressCycle", props, f"job-busy-{code}", ["y"])
                assert err.value.code == code
            await wait_result(c, "UniPress-1", rid)
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
            r3 = await start(c, "UniPress-1", "PressCycle", dict(recipe, hold_s=1.0), "job-idem", [])
            assert r3 == r1
            results = await node(c, "UniPress-1", v.UNIT_RESULT_SET)
            jobs = []
            for ch in await call(results.get_children(nodeclassmask=ua.NodeClass.Object)):
                jobs.append(await call((await resolve(c, v.RESULT_JOB_ID, ch)).read_value()))
            assert jobs.count("job-idem") == 1
    run(go())


def test_bad_arguments_return_the_contract_status_codes(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            await wait_idle(c, "CIP-1")
            sm = await node(c, "CIP-1", v.UNIT_STATE)
            meth = await node(c, "CIP-1", v.UNIT_START_PROGRAM)
            recipe = dict(WIP_RECIPE, temperature_c=22.0)

            async def status(*args):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await call(sm.call_method(meth, *args))
                return err.value.code

            S = ua.StatusCodes
            kv, none = key_values(recipe), sample_infos([])
            assert await status("PressCycle", kv, "j-missing", "") == S.BadArgumentsMissing
            assert await status("PressCycle", kv, "j-extra", "", none, "more") == S.BadTooManyArguments
            assert await status(ua.Variant(5, ua.VariantType.Int32), kv, "j-type", "", none) == S.BadInvalidArgument
            assert await status("PressCycle", kv, "j-type2", "", "not-an-array") == S.BadInvalidArgument
            assert await status("PressCycle", json.dumps(recipe), "j-json", "", none) == S.BadInvalidArgument
            assert await status("NoSuchTemplate", kv, "j-tpl", "", none) == S.BadInvalidArgument
            assert await status("PressCycle", key_values({"bogus": 1.0, **recipe}), "j-key", "", none) \
                == S.BadInvalidArgument
            short = dict(recipe)
            del short["hold_s"]
            assert await status("PressCycle", key_values(short), "j-req", "", none) == S.BadInvalidArgument
            assert await status("PressCycle", key_values([*v.properties_from(recipe), ("hold_s", "1.0")]),
                                "j-dup", "", none) == S.BadInvalidArgument
            for text in ("soon", "3_00", " 300", "0x12c", "nan", "inf", ""):
                assert await status("PressCycle", key_values(dict(recipe, hold_s=text)), f"j-num{text}", "", none) \
                    == S.BadInvalidArgument, text
            assert await status("PressCycle", key_values(dict(recipe, target_pressure_mpa=900.0)), "j-range", "",
                                none) == S.BadOutOfRange
            assert await status("PressCycle", kv, "j-cap", "", sample_infos([f"c{i}" for i in range(41)])) \
                == S.BadOutOfRange
            assert await status("PressCycle", kv, "j-dupsample", "", sample_infos(["s", "s"])) == S.BadInvalidArgument
            assert await status("PressCycle", kv, "", "", none) == S.BadInvalidArgument
            for path in (v.UNIT_STOP, v.UNIT_ABORT, v.UNIT_CLEAR):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await method(c, "CIP-1", path)
                assert err.value.code == S.BadInvalidState
            with pytest.raises(ua.UaStatusCodeError) as err:
                await method(c, "CIP-1", v.UNIT_STOP, "extra")
            assert err.value.code == S.BadTooManyArguments
            assert await unit_state(c, "CIP-1") == "Stopped"  # nothing above started a cycle
    run(go())


def test_start_program_inputs_use_the_lads_datatypes_with_binary_encodings(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"]) as c:
            ns = await call(c.get_namespace_array())
            lads = ns.index(v.LADS_NS)
            meth = await node(c, "CIP-1", v.UNIT_START_PROGRAM)
            args = await call((await call(meth.get_child("0:InputArguments"))).read_value())
            assert [a.Name for a in args] == ["ProgramTemplateId", "Properties", "SupervisoryJobId",
                                              "SupervisoryTaskId", "Samples"]
            assert args[1].DataType == ua.NodeId(3003, lads) and args[1].ValueRank == 1
            assert args[4].DataType == ua.NodeId(3002, lads) and args[4].ValueRank == 1
            for dt, enc in ((3003, 5045), (3002, 5042)):
                refs = await call(c.get_node(ua.NodeId(dt, lads)).get_references(refs=ua.ObjectIds.HasEncoding))
                found = {r.NodeId: r.BrowseName.Name for r in refs}
                assert found.get(ua.NodeId(enc, lads)) == "Default Binary"
    run(go())


def test_stop_and_abort_vent_and_leave_results_then_clear(plant):
    async def go():
        async with connect(plant.endpoints["CIP-1"], OPERATOR) as c:
            hold_wait = (120.0 + 375.0 / 5.0 + 100.0) / TIME_SCALE
            for kind, outcome, final in (("stop", "Stopped", "Stopped"), ("abort", "Aborted", "Aborted")):
                await wait_idle(c, "CIP-1")
                recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=3000.0)
                rid = await start(c, "CIP-1", "PressCycle", recipe, f"job-{kind}", ["s1"])
                await asyncio.sleep(hold_wait)
                await method(c, "CIP-1", v.UNIT_STOP if kind == "stop" else v.UNIT_ABORT)
                assert await unit_state(c, "CIP-1") in ("Stopping", "Aborting", final)
                assert await wait_state(c, "CIP-1", (final,)) == final
                res = await wait_result(c, "CIP-1", rid)
                assert res["Outcome"] == outcome
                assert res["HoldDuration_s"] < 3000.0
                assert json.loads(res["Trace"])["p_mpa"][-1] < 5.0
            assert await unit_state(c, "CIP-1") == "Aborted"
            with pytest.raises(ua.UaStatusCodeError) as err:
                await start(c, "CIP-1", "PressCycle", dict(WIP_RECIPE, temperature_c=22.0), "job-blocked", [])
            assert err.value.code == ua.StatusCodes.BadInvalidState
            await method(c, "CIP-1", v.UNIT_CLEAR)
            assert await wait_state(c, "CIP-1", ("Stopped",)) == "Stopped"
    run(go())


def test_zero_samples_press_runs_a_dry_cycle(plant):
    async def go():
        async with connect(plant.endpoints["UniPress-1"], OPERATOR) as c:
            await wait_idle(c, "UniPress-1")
            rid = await start(c, "UniPress-1", "PressCycle", dict(WIP_RECIPE, temperature_c=22.0, hold_s=5.0),
                              "job-dry", [])
            res = await wait_result(c, "UniPress-1", rid)
            assert res["Outcome"] == "Completed" and res["SampleIds"] == [] and res["CellPressures_MPa"] == []
    run(go())


def test_disposition_written_back(plant):
    async def go():
        async with connect(plant.endpoints["UniPress-1"], OPERATOR) as c:
            await wait_idle(c, "UniPress-1")
            recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=10.0)
            rid = await start(c, "UniPress-1", "PressCycle", recipe, "job-disp", ["cell/9"])
            await wait_result(c, "UniPress-1", rid)
            await method(c, "UniPress-1", v.UNIT_SET_DISPOSITION, rid, "cell/9", "rework", "low contact")
            await method(c, "UniPress-1", v.UNIT_SET_DISPOSITION, rid, "cell/9", "rework", "low contact")
            res = await wait_result(c, "UniPress-1", rid)
            assert json.loads(res["Dispositions"]) == {"cell/9": {"decision": "rework", "reason": "low contact"}}
            for args, code in (((rid, "cell/9", "maybe", ""), ua.StatusCodes.BadInvalidArgument),
                               ((rid, "other", "accept", ""), ua.StatusCodes.BadInvalidArgument),
                               (("no-such-run", "cell/9", "accept", ""), ua.StatusCodes.BadNotFound)):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await method(c, "UniPress-1", v.UNIT_SET_DISPOSITION, *args)
                assert err.value.code == code
    run(go())


def test_requested_sampling_interval_is_honoured(plant):
    async def go():
        async with connect(plant.endpoints["Glovebox-1"]) as c:
            o2 = await node(c, "Glovebox-1", v.function_path("O2") + (v.SENSOR_VALUE,))
            fast, slow = _Collector(), _Collector()
            sub_f = await call(c.create_subscription(50, fast))
            sub_s = await call(c.create_subscription(50, slow))
            await call(sub_f.subscribe_data_change(o2, queuesize=100, sampling_interval=100))
            await call(sub_s.subscribe_data_change(o2, queuesize=100, sampling_interval=500))
            await asyncio.sleep(2.6)
            await call(sub_f.delete())
            await call(sub_s.delete())
        n_fast, n_slow = len(fast.items), len(slow.items)
        assert 15 <= n_fast <= 30, n_fast  # ~10/s
        assert 4 <= n_slow <= 7, n_slow  # ~2/s
        assert n_fast >= 3 * n_slow
        for coll, interval in ((fast, 0.1), (slow, 0.5)):
            # sample and hold: the value delivered at a sampling time keeps its own SourceTimestamp, so
            # single spacings may be shorter after a late sample; typical spacing is the interval
            ts = np.array([t for t, _ in coll.items[1:]])
            assert np.median(np.diff(ts)) >= 0.9 * interval
    run(go())


def test_generic_client_finds_lads_devices_by_type_and_reads_units(plant):
    """A client that knows only the standard (no project code): browse DI:DeviceSet for
    LADSDeviceType instances, then read EngineeringUnits and EURange properties under them."""
    async def go():
        from asyncua import Client

        found = {}
        for device, url in plant.endpoints.items():
            client = Client(url, timeout=10)
            await call(client.connect())
            try:
                await call(client.load_data_type_definitions())
                ns = await call(client.get_namespace_array())
                di, lads = ns.index("http://opcfoundation.org/UA/DI/"), ns.index("http://opcfoundation.org/UA/LADS/")
                device_set = await call(client.nodes.objects.get_child(f"{di}:DeviceSet"))
                for child in await call(device_set.get_children()):
                    if await call(child.read_type_definition()) != ua.NodeId(1002, lads):
                        continue
                    name = (await call(child.read_browse_name())).Name
                    units = []
                    stack = [child]
                    while stack:
                        n = stack.pop()
                        for ref in await call(n.get_references(refs=ua.ObjectIds.HierarchicalReferences)):
                            if ref.BrowseName.Name == "EngineeringUnits" and ref.ReferenceTypeId == ua.NodeId(
                                    ua.ObjectIds.HasProperty):
                                eu = await call(client.get_node(ref.NodeId).read_value())
                                try:  # function variables have a range, Result variables need not
                                    rng = await call((await call(n.get_child("0:EURange"))).read_value())
                                except ua.UaStatusCodeError:
                                    continue
                                units.append((eu.DisplayName.Text, rng.High))
                            elif ref.IsForward and ref.NodeClass in (ua.NodeClass.Object, ua.NodeClass.Variable) \
                                    and ref.NodeId.NamespaceIndex not in (0, di, lads):
                                stack.append(client.get_node(ref.NodeId))
                    found[name] = units
            finally:
                await call(client.disconnect())
        assert set(found) == set(UNITS)
        assert ("MPa", 600.0) in found["WIP-1"] and ("°C", 150.0) in found["WIP-1"]
        assert {u for u, _ in found["Glovebox-1"]} == {"ppm"}
        assert {u for u, _ in found["Profilometer-1"]} == {"µm", "1", "mm"}
    run(go())


def test_pruned_results_disappear_and_refuse_dispositions(tmp_path):
    """R5/G4: beyond the retention the oldest collected Result leaves the ResultSet; SetDisposition on it is
    BadNotFound. Later Results are clones of the first one's structure: they must read exactly like it."""
    from plant.plantfile import RetentionConfig
    from plant.serve import start_plant
    from tests.plant.plant_helpers import plant_config

    pf = plant_config(tmp_path, devices=[{"name": "UniPress-1", "kind": "automatic_uniaxial", "port": 0}])
    # below the plant file's minimum of 100, for a short test (wait_result reads Outcome as an operator: collected)
    pf = pf.model_copy(update={"retention": RetentionConfig.model_construct(
        max_results=2, max_age_s=None, max_uncollected=1000, max_job_records=100_000)})

    async def go():
        running = await start_plant(pf)
        try:
            async with connect(running.endpoints["UniPress-1"], OPERATOR) as c:
                recipe = dict(WIP_RECIPE, temperature_c=22.0, hold_s=1.0)
                runs, results = [], []
                for i in range(3):
                    await wait_idle(c, "UniPress-1")
                    runs.append(await start(c, "UniPress-1", "PressCycle", recipe, f"job-prune-{i}", [f"p{i}"]))
                    results.append(await wait_result(c, "UniPress-1", runs[-1]))
                await wait_idle(c, "UniPress-1")
                assert [r["SampleIds"] for r in results] == [["p0"], ["p1"], ["p2"]]
                assert [r["DeviceProgramRunId"] for r in results] == runs
                assert set(results[0]) == set(results[2])
                with pytest.raises(ua.UaStatusCodeError):
                    await node(c, "UniPress-1", v.result_path(runs[0]))
                set_set = await node(c, "UniPress-1", v.UNIT_RESULT_SET)
                names = {(await call(ch.read_browse_name())).Name
                         for ch in await call(set_set.get_children(nodeclassmask=ua.NodeClass.Object))}
                assert names == set(runs[1:])
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await method(c, "UniPress-1", v.UNIT_SET_DISPOSITION, runs[0], "p0", "accept", "")
                assert err.value.code == ua.StatusCodes.BadNotFound
                await method(c, "UniPress-1", v.UNIT_SET_DISPOSITION, runs[2], "p2", "accept", "ok")
                assert json.loads((await wait_result(c, "UniPress-1", runs[2]))["Dispositions"]) == {
                    "p2": {"decision": "accept", "reason": "ok"}}
        finally:
            await running.stop()
    run(go(), timeout_s=100)
