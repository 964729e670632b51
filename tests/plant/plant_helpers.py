"""Utilities for the plant network tests: plant config, client sessions, calls with timeouts."""
from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from asyncua import ua

from adapters import vocabulary as v

from plant.plantfile import PlantFile
from plant.security import hash_password, save_users

OPERATOR = ("op", "op-secret")
VIEWER = ("view", "view-secret")
CALL_TIMEOUT_S = 10.0
PLANT_START_TIMEOUT_S = 180.0  # the first plant of a process imports the nodesets: ~20 s wall at load 18 on 2 cores
TIME_SCALE = 500.0


def write_users(path: Path) -> Path:
    """A users file with one operator and one viewer."""
    save_users(path, {OPERATOR[0]: hash_password(OPERATOR[1], "operator"),
                      VIEWER[0]: hash_password(VIEWER[1], "viewer")})
    return path


def plant_config(tmp: Path, **overrides: Any) -> PlantFile:
    """Every device kind on free ports; a demo plant with the insecure endpoint on (for speed; the
    role checks apply on it too), test endpoints on."""
    data: dict[str, Any] = {
        "name": "test", "time_scale": TIME_SCALE, "publish_hz": 20.0, "test_endpoints": True,
        "comm_loss_offline_s": 0.3, "seed": 7,
        "security": {"demo": True, "allow_insecure": True, "users_file": str(write_users(tmp / "users.yaml")),
                     "cert_dir": str(tmp / "pki")},
        "devices": [{"name": "WIP-1", "kind": "wip", "port": 0},
                    {"name": "CIP-1", "kind": "cip", "port": 0},
                    {"name": "UniPress-1", "kind": "automatic_uniaxial", "port": 0},
                    {"name": "Glovebox-1", "kind": "glovebox", "port": 0},
                    {"name": "Profilometer-1", "kind": "profilometer", "port": 0}],
    }
    data.update(overrides)
    return PlantFile.model_validate(data)


def run(coro: Any, timeout_s: float = 60.0) -> Any:
    """Run a coroutine to completion with an overall timeout."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


async def call(aw: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    """Await one client call with a timeout."""
    return await asyncio.wait_for(aw, timeout_s)


@asynccontextmanager
async def connect(url: str, user: tuple[str, str] | None = None) -> AsyncIterator[Any]:
    """An asyncua client session (NoSecurity endpoint) as ``user`` or anonymous."""
    from asyncua import Client
    client = Client(url, timeout=CALL_TIMEOUT_S)
    if user is not None:
        client.set_user(user[0])
        client.set_password(user[1])
    await call(client.connect())
    try:
        yield client
    finally:
        await call(client.disconnect())


async def resolve(client: Any, path: v.Path, start: Any = None) -> Any:
    """The node at a vocabulary path (from Objects, or from ``start``), resolved element by element
    with each namespace looked up by URI."""
    ns = await call(client.get_namespace_array())
    names = [ua.QualifiedName(q.name, ns.index(q.namespace_uri)) for q in path]
    base = client.nodes.objects if start is None else start
    return await call(base.get_child(names))


async def unit(client: Any, device: str) -> Any:
    """The device's functional unit."""
    return await resolve(client, v.unit_path(device, UNITS[device]))


async def node(client: Any, device: str, path: v.Path, on_unit: bool = True) -> Any:
    """The node at ``path`` below the device's unit (``on_unit``) or below the device."""
    base = v.unit_path(device, UNITS[device]) if on_unit else v.device_path(device)
    return await resolve(client, base + path)


UNITS = {"WIP-1": v.Unit.PRESS_CHAMBER, "CIP-1": v.Unit.PRESS_CHAMBER, "UniPress-1": v.Unit.PRESS_CHAMBER,
         "Glovebox-1": v.Unit.MAIN_CHAMBER, "Profilometer-1": v.Unit.PROFILER}
WIP_RECIPE = {"target_pressure_mpa": 375.0, "ramp_rate_mpa_s": 5.0, "hold_s": 120.0,
              "temperature_c": 80.0, "decompression_rate_mpa_s": 10.0}


def key_values(props: dict | list) -> ua.Variant:
    """A KeyValueType[] argument from a mapping (numbers as decimal strings) or (key, value) pairs."""
    pairs = v.properties_from(props) if isinstance(props, dict) else list(props)
    return ua.Variant([ua.KeyValueType(Key=k, Value=val) for k, val in pairs], ua.VariantType.ExtensionObject,
                      is_array=True)


def sample_infos(ids: list[str]) -> ua.Variant:
    """A SampleInfoType[] argument."""
    return ua.Variant([ua.SampleInfoType(ContainerId="tray-1", SampleId=s, Position=str(i), CustomData="")
                       for i, s in enumerate(ids)], ua.VariantType.ExtensionObject, is_array=True)


def strings(values: list[str]) -> ua.Variant:
    """A String[] argument."""
    return ua.Variant(values, ua.VariantType.String, is_array=True)


async def start(client: Any, device: str, template: str, props: dict | list, job: str,
                samples: list[str], task: str = "") -> str:
    """Call StartProgram on the unit's FunctionalUnitState; returns the DeviceProgramRunId."""
    sm = await node(client, device, v.UNIT_STATE)
    meth = await node(client, device, v.UNIT_START_PROGRAM)
    return await call(sm.call_method(meth, template, key_values(props), job, task, sample_infos(samples)))


async def method(client: Any, device: str, path: v.Path, *args: Any, on_unit: bool = True) -> Any:
    """Call the method at ``path`` (below the unit, or the device) on its parent object."""
    parent = await node(client, device, path[:-1], on_unit=on_unit)
    return await call(parent.call_method(await node(client, device, path, on_unit=on_unit), *args))


async def unit_state(client: Any, device: str) -> str:
    """FunctionalUnitState/CurrentState text."""
    return (await call((await node(client, device, v.UNIT_CURRENT_STATE)).read_value())).Text


async def item_state(client: Any, device: str) -> str:
    """MachineryItemState/CurrentState text."""
    return (await call((await node(client, device, v.ITEM_STATE, on_unit=False)).read_value())).Text


async def wait_result(client: Any, device: str, run_id: str, timeout_s: float = 30.0) -> dict:
    """Wait for ResultSet/<RunId> with Stopped set; its VariableSet values, Dispositions and the
    standard properties, by browse name (`timeout_s` is load-scaled: tests/progress.py)."""
    from tests.progress import Deadline

    deadline = Deadline(timeout_s, f"the result of {run_id}")
    while True:
        try:
            res = await node(client, device, v.result_path(run_id))
            stopped = await call((await resolve(client, v.RESULT_STOPPED, res)).read_value())
            break
        except ua.UaStatusCodeError:
            deadline.check()
            await asyncio.sleep(0.1)
    out: dict[str, Any] = {"Stopped": stopped}
    for ch in await call((await resolve(client, v.RESULT_VARIABLE_SET, res)).get_children()):
        out[(await call(ch.read_browse_name())).Name] = await call(ch.read_value())
    for path in (v.RESULT_DISPOSITIONS, v.RESULT_JOB_ID, v.RESULT_TASK_ID, v.RESULT_RUN_ID, v.RESULT_SAMPLES,
                 v.RESULT_PROPERTIES, v.RESULT_STARTED, v.RESULT_TOTAL_RUNTIME, (v.lads("User"),)):
        out[path[-1].name] = await call((await resolve(client, path, res)).read_value())
    return out


async def wait_state(client: Any, device: str, states: tuple[str, ...] = ("Stopped",),
                     timeout_s: float = 30.0) -> str:
    """Wait until the unit's state is one of ``states`` (`timeout_s` load-scaled: tests/progress.py)."""
    from tests.progress import Deadline

    deadline = Deadline(timeout_s, f"{device} to reach {' or '.join(states)}")
    while (st := await unit_state(client, device)) not in states:
        deadline.check()
        await asyncio.sleep(0.05)
    return st


async def wait_idle(client: Any, device: str, timeout_s: float = 30.0) -> None:
    """Wait until the unit can take a program (Stopped), clearing an Aborted unit."""
    st = await wait_state(client, device, ("Stopped", "Aborted"), timeout_s)
    if st == "Aborted":
        await method(client, device, v.UNIT_CLEAR)
        await wait_state(client, device, ("Stopped",), timeout_s)
