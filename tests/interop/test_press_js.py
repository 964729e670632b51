"""Contract tests of docs/opcua.md against the node-opcua press (a second stack written from the
document alone), with an independent asyncua client: types, units, StartProgram argument checks,
idempotence, roles, and a Result that appears only once the run is complete."""
from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from asyncua import ua

from tests.interop import ua_client as u
from tests.interop.pressjs import JsPress, js_press

pytestmark = pytest.mark.timeout(600)

RECIPE = {"target_pressure_mpa": 300.0, "ramp_rate_mpa_s": 30.0, "hold_s": 20.0, "temperature_c": 25.0,
          "decompression_rate_mpa_s": 50.0}
UNIT = [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1"), (u.LADS, "FunctionalUnitSet"), (u.PLANT, "PressChamber")]
STATE = [(u.LADS, "FunctionalUnitState")]


@pytest.fixture(scope="module")
def press(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsPress]:
    with js_press(tmp_path_factory.mktemp("pressjs"), time_scale=100.0) as p:
        yield p


async def _unit(client: Any) -> Any:
    node = await u.resolve(client, client.nodes.objects, UNIT)
    assert node is not None, "DI:DeviceSet/plant:JS-Press-1/LADS:FunctionalUnitSet/plant:PressChamber missing"
    return node


async def _state(client: Any, unit: Any) -> str:
    node = await u.resolve(client, unit, STATE + [(u.UA, "CurrentState")])
    return str((await u.call(node.read_value())).Text)


async def _wait_state(client: Any, unit: Any, want: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await _state(client, unit) == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"unit not {want} within {timeout_s} s (is {await _state(client, unit)})")


async def _start(client: Any, unit: Any, args: list[ua.Variant]) -> ua.CallMethodResult:
    sm = await u.resolve(client, unit, STATE)
    method = await u.resolve(client, unit, STATE + [(u.LADS, "StartProgram")])
    return await u.call_full(client, sm, method, args)


def _status(res: ua.CallMethodResult) -> str:
    return ua.StatusCodes.__dict__.get("_names", {}).get(res.StatusCode.value) or res.StatusCode.name


@pytest.mark.parametrize("policy", u.POLICIES)
def test_types_and_units_on_both_policies(press: JsPress, policy: str) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, None, policy) as c:
            devices = await u.devices_by_type(c)
            assert set(devices) == {"JS-Press-1"}
            unit = await _unit(c)
            assert await u.type_of(c, unit) == (u.LADS, "FunctionalUnitType")
            for fn, code in (("Pressure", "MPA"), ("Temperature", "CEL")):
                f = await u.resolve(c, unit, [(u.LADS, "FunctionSet"), (u.PLANT, fn)])
                assert await u.type_of(c, f) == (u.LADS, "AnalogControlFunctionType")
                for var in ("CurrentValue", "TargetValue"):
                    v = await u.resolve(c, f, [(u.LADS, var)])
                    props = {(await u.call(p.read_browse_name())).Name: p for p in await u.call(v.get_properties())}
                    assert {"EngineeringUnits", "EURange"} <= set(props), f"{fn}/{var}: EU and EURange as properties"
                    eu = await u.call(props["EngineeringUnits"].read_value())
                    assert eu.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"
                    assert eu.UnitId == _unece(code)
                    rng = await u.call(props["EURange"].read_value())
                    assert rng.High > rng.Low
                    dv = await u.call(v.read_data_value())
                    assert dv.SourceTimestamp is not None and dv.StatusCode.is_good()
            tmpl = await u.resolve(c, unit, [(u.LADS, "ProgramManager"), (u.LADS, "ProgramTemplateSet"),
                                             (u.PLANT, "PressCycle")])
            assert await u.type_of(c, tmpl) == (u.LADS, "ProgramTemplateType")
            keys = await u.call((await u.resolve(c, tmpl, [(u.PLANT, "RequiredPropertyKeys")])).read_value())
            assert set(keys) == set(RECIPE)
            cap = await u.resolve(c, unit, [(u.PLANT, "Capacity")])
            assert await u.call(cap.read_value()) == 8
    u.run(go())


def _unece(code: str) -> int:
    """UnitId of a UNECE common code (OPC UA Part 8 algorithm)."""
    value = 0
    for ch in code.upper():
        value = (value << 8) | ord(ch)
    return value


def test_bad_arguments_get_the_contract_statuses(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            kv, si = await u.lads_structs(c)
            unit = await _unit(c)
            good = u.start_args(kv, si, "PressCycle", RECIPE, "bad-args-never-started", ["c1"])
            cases = {
                "BadArgumentsMissing": good[:4],
                "BadTooManyArguments": good + [ua.Variant("x", ua.VariantType.String)],
                "BadInvalidArgument": [ua.Variant(7, ua.VariantType.Int32)] + good[1:],
            }
            for want, args in cases.items():
                res = await _start(c, unit, args)
                assert res.StatusCode.name == want, (want, res.StatusCode)
            res = await _start(c, unit, [good[0], ua.Variant(kv(Key="hold_s", Value="1"), ua.VariantType.ExtensionObject),
                                         *good[2:]])
            assert res.StatusCode.name == "BadInvalidArgument"  # a scalar for an array
            assert [s.name for s in res.InputArgumentResults][1] == "BadTypeMismatch"
            def with_props(props: dict, job: str = "bad", samples: list[str] | None = None) -> list[ua.Variant]:
                return u.start_args(kv, si, "PressCycle", props, job, samples if samples is not None else ["c1"])
            refused = {
                "unknown template": (u.start_args(kv, si, "NoSuchTemplate", RECIPE, "bad", ["c1"]), "BadInvalidArgument"),
                "missing key": (with_props({k: v for k, v in RECIPE.items() if k != "hold_s"}), "BadInvalidArgument"),
                "unknown key": (with_props({**RECIPE, "colour": 1.0}), "BadInvalidArgument"),
                "unparseable": (with_props({**RECIPE, "hold_s": "ten"}), "BadInvalidArgument"),
                "not finite": (with_props({**RECIPE, "hold_s": "nan"}), "BadInvalidArgument"),
                "empty job id": (with_props(RECIPE, job=""), "BadInvalidArgument"),
                "duplicate sample": (with_props(RECIPE, samples=["c1", "c1"]), "BadInvalidArgument"),
                "above max pressure": (with_props({**RECIPE, "target_pressure_mpa": 5000.0}), "BadOutOfRange"),
                "more samples than Capacity": (with_props(RECIPE, samples=[f"c{i}" for i in range(9)]), "BadOutOfRange"),
            }
            for what, (args, want) in refused.items():
                res = await _start(c, unit, args)
                assert res.StatusCode.name == want, (what, res.StatusCode)
            assert await _state(c, unit) == "Stopped"  # P2: refusals leave no trace
            rs = await u.resolve(c, unit, [(u.LADS, "ProgramManager"), (u.LADS, "ResultSet")])
            names = [(await u.call(n.read_browse_name())).Name for n in await u.call(rs.get_children())]
            assert not [n for n in names if "run" in n]
    u.run(go())


def test_anonymous_and_viewer_may_read_but_not_start_or_write(press: JsPress) -> None:
    async def go() -> None:
        for user in (None, press.viewer):
            async with u.session(press.endpoint, press.client_cert, user) as c:
                kv, si = await u.lads_structs(c)
                unit = await _unit(c)
                res = await _start(c, unit, u.start_args(kv, si, "PressCycle", RECIPE, "anon-job", ["c1"]))
                assert res.StatusCode.name == "BadUserAccessDenied"
                tv = await u.resolve(c, unit, [(u.LADS, "FunctionSet"), (u.PLANT, "Pressure"), (u.LADS, "TargetValue")])
                assert isinstance(await u.call(tv.read_value()), float)
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await u.call(tv.write_value(ua.DataValue(ua.Variant(10.0, ua.VariantType.Double))))
                assert "BadUserAccessDenied" in type(err.value).__name__ + str(err.value)
        with pytest.raises(Exception):
            async with u.session(press.endpoint, press.client_cert, (press.operator[0], "wrong password")):
                pass
    u.run(go())


def test_operator_writes_target_only_when_stopped_inside_eurange(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            tv = await u.resolve(c, unit, [(u.LADS, "FunctionSet"), (u.PLANT, "Temperature"), (u.LADS, "TargetValue")])
            await u.call(tv.write_value(ua.DataValue(ua.Variant(40.0, ua.VariantType.Double))))
            assert await u.call(tv.read_value()) == 40.0
            for bad, status in ((ua.Variant(1000.0, ua.VariantType.Double), "BadOutOfRange"),
                                (ua.Variant("40", ua.VariantType.String), "BadTypeMismatch")):
                with pytest.raises(ua.UaStatusCodeError) as err:
                    await u.call(tv.write_value(ua.DataValue(bad)))
                assert status in type(err.value).__name__ + str(err.value)
            cur = await u.resolve(c, unit, [(u.LADS, "FunctionSet"), (u.PLANT, "Temperature"), (u.LADS, "CurrentValue")])
            with pytest.raises(ua.UaStatusCodeError):
                await u.call(cur.write_value(ua.DataValue(ua.Variant(40.0, ua.VariantType.Double))))
    u.run(go())


def test_start_is_idempotent_and_the_result_appears_only_when_complete(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            kv, si = await u.lads_structs(c)
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            cells = ["cell/1", "cell 2.b", "cell:3"]
            long_hold = {**RECIPE, "hold_s": 200.0}  # about 2 s wall at TimeScale 100
            args = u.start_args(kv, si, "PressCycle", long_hold, "job-idem-1", cells, task="task-9")
            first = await _start(c, unit, args)
            assert first.StatusCode.is_good(), first.StatusCode
            run_id = first.OutputArguments[0].Value
            assert await _state(c, unit) == "Running"  # P5
            active = [(u.LADS, "ProgramManager"), (u.LADS, "ActiveProgram")]
            rid = await u.resolve(c, unit, active + [(u.LADS, "DeviceProgramRunId")])
            assert await u.call(rid.read_value()) == run_id
            est = await u.resolve(c, unit, active + [(u.LADS, "EstimatedRuntime")])
            assert await u.call(est.read_value()) > 0
            again = await _start(c, unit, args)
            assert again.StatusCode.is_good() and again.OutputArguments[0].Value == run_id  # P1
            other = await _start(c, unit, u.start_args(kv, si, "PressCycle", RECIPE, "job-idem-2", ["x"]))
            assert other.StatusCode.name == "BadInvalidState"  # P3
            result_path = [(u.LADS, "ProgramManager"), (u.LADS, "ResultSet"), (u.PLANT, run_id)]
            seen_running_without_result = 0
            deadline = time.monotonic() + 120
            while await _state(c, unit) != "Stopped":
                assert time.monotonic() < deadline, "run did not end"
                res = await u.resolve(c, unit, result_path)
                state = await _state(c, unit)
                if res is None:
                    seen_running_without_result += 1
                else:  # R1: once there it is final, Stopped set
                    stopped = await u.resolve(c, res, [(u.LADS, "Stopped")])
                    assert await u.call(stopped.read_value()) is not None, state
                await asyncio.sleep(0.02)
            assert seen_running_without_result > 0
            res = await u.resolve(c, unit, result_path)
            assert res is not None, "a completed run has its Result"
            vs = [(u.LADS, "VariableSet")]

            async def value(name: str) -> Any:
                node = await u.resolve(c, res, vs + [(u.PLANT, name)])
                assert node is not None, name
                dv = await u.call(node.read_data_value())
                assert dv.StatusCode.is_good() and dv.SourceTimestamp is not None, name
                return dv.Value.Value

            assert await value("Outcome") == "Completed"
            assert await value("SampleIds") == cells
            assert await value("Faults") == []
            trace = json.loads(await value("Trace"))
            assert trace["phase"][-1] == 5 and trace["phase"] == sorted(trace["phase"])
            assert len(trace["t_s"]) == len(trace["p_mpa"]) == len(trace["temp_c"]) == len(trace["phase"])
            hold = [p for p, ph in zip(trace["p_mpa"], trace["phase"]) if ph == 3]
            assert math.isclose(await value("HoldPressureMean_MPa"), sum(hold) / len(hold), rel_tol=1e-9)
            assert math.isclose(await value("PeakPressure_MPa"), max(trace["p_mpa"]), rel_tol=1e-9)
            per_cell = await value("CellPressures_MPa")
            assert len(per_cell) == len(cells) and all(abs(p - 300) < 30 for p in per_cell)
            assert len(await value("CellPressureCV")) == len(cells)
            for key in ("Stopped", "Started", "SupervisoryJobId", "SupervisoryTaskId", "DeviceProgramRunId", "User"):
                assert await u.resolve(c, res, [(u.LADS, key)]) is not None, key
            job = await u.call((await u.resolve(c, res, [(u.LADS, "SupervisoryJobId")])).read_value())
            assert job == "job-idem-1"
            user = await u.call((await u.resolve(c, res, [(u.LADS, "User")])).read_value())
            assert user == press.operator[0]
            disp = await u.resolve(c, res, [(u.PLANT, "Dispositions")])
            assert await u.call(disp.read_value()) == "{}"
            after = await _start(c, unit, args)  # P1 also after the run ended
            assert after.StatusCode.is_good() and after.OutputArguments[0].Value == run_id
            assert await _state(c, unit) == "Stopped"
    u.run(go())
