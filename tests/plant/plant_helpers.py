"""Utilities for the plant network tests: plant config, client sessions, calls with timeouts."""
from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from asyncua import ua

from plant.plantfile import PlantFile
from plant.security import hash_password, save_users

OPERATOR = ("op", "op-secret")
VIEWER = ("view", "view-secret")
CALL_TIMEOUT_S = 10.0
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


async def node(client: Any, device: str, path: str) -> Any:
    """The node at ``device/path`` (slash-separated browse path from the device object)."""
    idx = await call(client.get_namespace_index("urn:twin:plant"))
    parts = [f"{idx}:{device}"] + [f"{idx}:{p}" for p in path.split("/") if p]
    return await call(client.nodes.objects.get_child(parts))

WIP_RECIPE = {"target_pressure_mpa": 375.0, "ramp_rate_mpa_s": 5.0, "hold_s": 120.0,
              "temperature_c": 80.0, "decompression_rate_mpa_s": 10.0}


def strings(values: list[str]) -> ua.Variant:
    """A String[] argument."""
    return ua.Variant(values, ua.VariantType.String, is_array=True)


async def start(client: Any, device: str, template: str, recipe: dict | str, job: str,
                samples: list[str]) -> str:
    """Call StartProgram; returns the RunId."""
    pm = await node(client, device, "ProgramManager")
    meth = await node(client, device, "ProgramManager/StartProgram")
    text = recipe if isinstance(recipe, str) else json.dumps(recipe)
    return await call(pm.call_method(meth, template, text, job, strings(samples)))


async def wait_result(client: Any, device: str, run_id: str, timeout_s: float = 30.0) -> dict:
    """Wait for Results/<RunId>/Status and return every child value by browse name."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            st = await node(client, device, f"ProgramManager/Results/{run_id}/Status")
            await call(st.read_value())
            break
        except ua.UaStatusCodeError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result for {run_id}")
            await asyncio.sleep(0.1)
    res = await node(client, device, f"ProgramManager/Results/{run_id}")
    out = {}
    for ch in await call(res.get_children()):
        out[(await call(ch.read_browse_name())).Name] = await call(ch.read_value())
    return out


async def wait_idle(client: Any, device: str, timeout_s: float = 30.0) -> None:
    """Wait until the device has no active program."""
    cs = await node(client, device, "State/CurrentState")
    deadline = time.monotonic() + timeout_s
    while await call(cs.read_value()) not in ("Idle", "Fault"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{device} still busy")
        await asyncio.sleep(0.1)
