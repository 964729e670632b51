"""More of docs/opcua.md on the node-opcua press (test endpoints on): Stop, Abort and Clear
(5.2), an injected fault (X4) ending the run Aborted with a Fault Result until Clear,
SetDisposition (X1), and requested sampling intervals honoured (T2)."""
from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any, Iterator

import pytest
from asyncua import ua

from tests.interop import ua_client as u
from tests.interop.pressjs import JsPress, js_press
from tests.interop.test_press_js import RECIPE, STATE, _start, _state, _unit, _wait_state

pytestmark = pytest.mark.timeout(600)
PM = [(u.LADS, "ProgramManager")]


@pytest.fixture(scope="module")
def press(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsPress]:
    with js_press(tmp_path_factory.mktemp("pressjs-programs"), time_scale=100.0, test_endpoints=True) as p:
        yield p


async def _method(c: Any, obj: Any, path: list, *args: ua.Variant) -> str:
    m = await u.resolve(c, obj, path)
    assert m is not None, path
    parent = await u.resolve(c, obj, path[:-1]) if len(path) > 1 else obj
    return (await u.call_full(c, parent, m, list(args))).StatusCode.name


async def _result(c: Any, unit: Any, run_id: str, name: str) -> Any:
    node = await u.resolve(c, unit, PM + [(u.LADS, "ResultSet"), (u.PLANT, run_id), (u.LADS, "VariableSet"),
                                          (u.PLANT, name)])
    assert node is not None, name
    return await u.call(node.read_value())


async def _item_state(c: Any) -> str:
    node = await u.resolve(c, c.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1"),
                                                (u.MACH, "MachineryItemState"), (u.UA, "CurrentState")])
    return str((await u.call(node.read_value())).Text)


async def _faults(c: Any) -> list[str]:
    node = await u.resolve(c, c.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1"), (u.PLANT, "Faults"),
                                                (u.PLANT, "Active")])
    return list(await u.call(node.read_value()) or [])


async def _run(c: Any, unit: Any, job: str, props: dict, samples: list[str]) -> str:
    kv, si = await u.lads_structs(c)
    res = await _start(c, unit, u.start_args(kv, si, "PressCycle", props, job, samples))
    assert res.StatusCode.is_good(), res.StatusCode
    return str(res.OutputArguments[0].Value)


def test_stop_abort_and_clear(press: JsPress) -> None:
    long_run = {**RECIPE, "hold_s": 3000.0}

    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            assert await _method(c, unit, STATE + [(u.LADS, "Stop")]) == "BadInvalidState"
            run = await _run(c, unit, "job-stop", long_run, ["s1"])
            assert await _item_state(c) == "Executing"
            assert await _method(c, unit, STATE + [(u.LADS, "Stop")]) == "Good"
            await _wait_state(c, unit, "Stopped")
            assert await _result(c, unit, run, "Outcome") == "Stopped"
            trace = json.loads(await _result(c, unit, run, "Trace"))
            assert trace["phase"][-1] == 5 and 3 not in trace["phase"][-3:]
            run = await _run(c, unit, "job-abort", long_run, ["s1"])
            assert await _method(c, unit, STATE + [(u.LADS, "Abort")]) == "Good"
            await _wait_state(c, unit, "Aborted")
            assert await _result(c, unit, run, "Outcome") == "Aborted"
            assert await _item_state(c) == "OutOfService"
            kv, si = await u.lads_structs(c)
            refused = await _start(c, unit, u.start_args(kv, si, "PressCycle", RECIPE, "job-while-aborted", []))
            assert refused.StatusCode.name == "BadInvalidState"
            assert await _method(c, unit, STATE + [(u.LADS, "Clear")]) == "Good"
            await _wait_state(c, unit, "Stopped", 10.0)
            assert await _item_state(c) == "NotExecuting"
    u.run(go())


def test_an_injected_fault_ends_the_run_aborted_until_clear(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, None) as anon:
            dev = await u.resolve(anon, anon.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1")])
            kind = ua.Variant("overpressure", ua.VariantType.String)
            assert await _method(anon, dev, [(u.PLANT, "Faults"), (u.PLANT, "InjectFault")], kind) == \
                "BadUserAccessDenied"
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            dev = await u.resolve(c, c.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1")])
            inject = [(u.PLANT, "Faults"), (u.PLANT, "InjectFault")]
            assert await _method(c, dev, inject, ua.Variant("gremlins", ua.VariantType.String)) == "BadInvalidArgument"
            assert await _method(c, dev, inject, ua.Variant("overpressure", ua.VariantType.String)) == "Good"
            assert await _faults(c) == ["overpressure"]
            run = await _run(c, unit, "job-fault", RECIPE, ["f1", "f2"])
            await _wait_state(c, unit, "Aborted")
            assert await _result(c, unit, run, "Outcome") == "Fault"
            assert await _result(c, unit, run, "Faults") == ["overpressure"]
            assert len(await _result(c, unit, run, "CellPressures_MPa")) == 2  # J9: every variable, every outcome
            assert await _faults(c) == ["overpressure"]  # suffered kinds stay listed until Clear
            assert await _method(c, unit, STATE + [(u.LADS, "Clear")]) == "Good"
            await _wait_state(c, unit, "Stopped", 10.0)
            assert await _faults(c) == []
    u.run(go())


def test_set_disposition(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            run = await _run(c, unit, "job-disp", RECIPE, ["d/1", "d 2"])
            await _wait_state(c, unit, "Stopped")
            sd = PM + [(u.PLANT, "SetDisposition")]

            def args(r: str, s: str, d: str, why: str = "") -> list[ua.Variant]:
                return [ua.Variant(x, ua.VariantType.String) for x in (r, s, d, why)]
            assert await _method(c, unit, sd, *args(run, "d/1", "accept", "fine")) == "Good"
            assert await _method(c, unit, sd, *args(run, "d 2", "reject", "void")) == "Good"
            assert await _method(c, unit, sd, *args(run, "d 2", "rework", "again")) == "Good"  # overwrites
            assert await _method(c, unit, sd, *args("no such run", "d/1", "accept")) == "BadNotFound"
            assert await _method(c, unit, sd, *args(run, "stranger", "accept")) == "BadInvalidArgument"
            assert await _method(c, unit, sd, *args(run, "d/1", "maybe")) == "BadInvalidArgument"
            node = await u.resolve(c, unit, PM + [(u.LADS, "ResultSet"), (u.PLANT, run), (u.PLANT, "Dispositions")])
            assert json.loads(await u.call(node.read_value())) == {
                "d/1": {"decision": "accept", "reason": "fine"}, "d 2": {"decision": "rework", "reason": "again"}}
        async with u.session(press.endpoint, press.client_cert, None) as anon:
            unit = await _unit(anon)
            assert await _method(anon, unit, PM + [(u.PLANT, "SetDisposition")],
                                 *[ua.Variant(x, ua.VariantType.String) for x in (run, "d/1", "reject", "")]) == \
                "BadUserAccessDenied"
    u.run(go())


def test_requested_sampling_intervals_are_honoured(press: JsPress) -> None:
    class Count:
        def __init__(self) -> None:
            self.n = 0

        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            self.n += 1

    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            cv = await u.resolve(c, unit, [(u.LADS, "FunctionSet"), (u.PLANT, "Pressure"), (u.LADS, "CurrentValue")])
            counts = {100: Count(), 500: Count()}
            subs = []
            for ms, handler in counts.items():
                sub = await u.call(c.create_subscription(ms, handler))
                await u.call(sub.subscribe_data_change(cv, sampling_interval=ms))
                subs.append(sub)
            t0 = time.monotonic()
            await _run(c, unit, "job-sampling", {**RECIPE, "hold_s": 300.0}, [])
            await _wait_state(c, unit, "Stopped", 120.0)
            wall = time.monotonic() - t0
            for sub in subs:
                await u.call(sub.delete())
            assert counts[500].n <= math.ceil(wall / 0.5) + 3, (counts[500].n, wall)
            assert counts[100].n <= math.ceil(wall / 0.1) + 3, (counts[100].n, wall)
            assert counts[100].n > counts[500].n >= 2
    u.run(go())


def test_comm_loss_makes_the_device_not_available_then_a_fault_result(press: JsPress) -> None:
    async def go() -> None:
        async with u.session(press.endpoint, press.client_cert, press.operator) as c:
            unit = await _unit(c)
            await _wait_state(c, unit, "Stopped")
            dev = await u.resolve(c, c.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, "JS-Press-1")])
            inject = [(u.PLANT, "Faults"), (u.PLANT, "InjectFault")]
            assert await _method(c, dev, inject, ua.Variant("comm_loss", ua.VariantType.String)) == "Good"
            run = await _run(c, unit, "job-comm-loss", RECIPE, ["k1"])
            assert await _item_state(c) == "NotAvailable"
            kv, si = await u.lads_structs(c)
            busy = await _start(c, unit, u.start_args(kv, si, "PressCycle", RECIPE, "job-while-offline", []))
            assert busy.StatusCode.name == "BadInvalidState"
            await _wait_state(c, unit, "Aborted", 60.0)
            assert await _result(c, unit, run, "Outcome") == "Fault"
            assert "comm_loss" in await _result(c, unit, run, "Faults")
            assert await _method(c, unit, STATE + [(u.LADS, "Clear")]) == "Good"
            await _wait_state(c, unit, "Stopped", 10.0)
    u.run(go())
