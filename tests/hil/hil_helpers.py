"""Small HIL scenarios and plants for the robustness tests (seconds per run)."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable

from plant.plantfile import PlantFile
from tests.plant.plant_helpers import plant_config
from tests.hil.proxy import free_port
from tests.progress import scaled
from twin.scenario import Scenario, parse_scenario

# WIP recipe of 360 simulated s (load 150, ramp 20, hold 30, decompression 10, unload 150):
# half a wall second per cycle at this time scale; one simulated hour is 5 wall s.
TIME_SCALE = 720.0
RECIPE = {"target_pressure_mpa": 100.0, "ramp_rate_mpa_s": 5.0, "hold_s": 30.0, "temperature_c": 22.0,
          "decompression_rate_mpa_s": 10.0}
CYCLE_WALL_S = 0.5
RUN_TIMEOUT_S = 90.0  # a whole HIL run, wall seconds (generous: the machine may be loaded)

FIXED = {"dist": "fixed"}


def _fixed(v: float) -> dict:
    return {**FIXED, "value": v}


def hil_plant(shared: Path, devices: tuple[str, ...] = ("WIP-1",), ports: dict[str, int] | None = None,
              **overrides: Any) -> PlantFile:
    """The test plant with only `devices`, each on a fixed free port (so the plant file tells
    the twin where they are, and a restarted device comes back on the same port)."""
    kinds = {"WIP-1": "wip", "UniPress-1": "automatic_uniaxial", "Glovebox-1": "glovebox",
             "Profilometer-1": "profilometer"}
    ports = ports or {}
    devs = [{"name": d, "kind": kinds[d], "port": ports.get(d) or free_port()} for d in devices]
    return plant_config(shared, time_scale=TIME_SCALE, devices=devs, **overrides)


def scenario_data(n_cells: int = 6, endpoint: str | None = None, device: str = "WIP-1",
                  batch: int = 2, p: tuple[float, float, float] = (0.6, 0.25, 0.15), seed: int = 11,
                  **connection: Any) -> dict:
    """Cells released every 0.05 h into a WIP bound to `device`, then a fixed-probability
    inspection (accept / rework on the same press / reject). Short time-outs throughout."""
    binding: dict[str, Any] = {"device": device}
    if endpoint is not None:
        binding["endpoint"] = endpoint
    conn = {"security_policy": "None", "call_timeout_s": 2.0, "connect_timeout_s": 2.0,
            "backoff_initial_s": 0.1, "backoff_max_s": 0.4, "give_up_s": 6.0,
            "stall_timeouts": 2, **connection}
    return {
        "name": "hil_test",
        "run": {"duration_h": 0.35, "seed": seed},
        "source": {"interarrival_h": _fixed(0.05), "first": "press", "max_cells": n_cells},
        "lots": {"cu": {"sq_um": _fixed(0.2), "sdq": _fixed(0.06), "pv_um": _fixed(1.5),
                        "waviness_um": _fixed(1.0), "waviness_mm": _fixed(5.0)}},
        "stations": {
            "press": {"kind": "batch", "batch": {"capacity_cells": batch, "min_cells": 1, "timeout_h": 0.1},
                      "press": {"spec": "wip", "recipe": dict(RECIPE)}, "next": "inspection"},
            "inspection": {"kind": "inspect", "process_time_h": _fixed(0.005),
                           "fixed": {"p_accept": p[0], "p_rework": p[1], "p_reject": p[2]},
                           "on_accept": "sink", "on_rework": "press", "on_reject": "scrap"},
        },
        "quality": {"mode": "fixed"},
        "hardware": {"bindings": {"press": binding}, "connection": conn, "drain_limit_h": 3.0},
    }


def scenario(**kw: Any) -> Scenario:
    return parse_scenario(scenario_data(**kw), "<hil test>")


class HardwareRun:
    """A run of `scenario` on the plant's equipment through the one facade, with the run's tag
    (the prefix of its job and sample ids) known before it starts."""

    def __init__(self, scenario: Any, plant: Any) -> None:
        from twin.hil import PlantEquipment
        from twin.simulation import Simulation

        self.equipment = PlantEquipment(plant)
        self.simulation = Simulation(scenario, ports=self.equipment)
        self.tag = self.equipment.tag

    async def run_async(self, out: Path) -> Any:
        return await self.simulation.run_async(out)


async def run_with(hw_run: Any, out: Path, *watchers: Any) -> Any:
    """Run `hw_run` and the `watchers` (coroutines poking the link) side by side; the run's
    result once everything is done, all under one generous time-out."""
    async def go() -> Any:
        task = asyncio.ensure_future(hw_run.run_async(out))
        try:
            await asyncio.gather(*watchers)
        except BaseException:
            task.cancel()
            raise
        return await task
    return await asyncio.wait_for(go(), scaled(RUN_TIMEOUT_S))


async def until(cond: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.01) -> Any:
    """Poll `cond` until it returns something truthy; `timeout_s` is a load-scaled budget
    (tests/progress.py), so a loaded machine stretches it instead of failing the test."""
    from tests.progress import until_async

    return await until_async(cond, timeout_s, what, poll_s)


def db_rows(out: Path, sql: str, *args: Any) -> list[tuple]:
    """Rows of `sql` on the run's trace.sqlite (readable while the run writes it)."""
    path = out / "trace.sqlite"
    partial = out.with_name(out.name + ".partial") / "trace.sqlite"  # while the run is going
    if partial.exists():
        path = partial
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        db.close()


def cells(out: Path) -> dict[int, dict]:
    """cell_id -> row of the cells table."""
    db = sqlite3.connect(out / "trace.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["cell_id"]: dict(r) for r in db.execute("SELECT * FROM cells")}
    finally:
        db.close()


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def cell_of_sample(sample_id: str) -> int:
    """The twin's cell id in a SampleId `<tag>-c<id>`."""
    return int(sample_id.rsplit("-c", 1)[1])


def device(plant: Any, name: str = "WIP-1") -> Any:
    """The emulated device object behind a PlantThread's server (read from the test thread)."""
    return plant.running.servers[name].device


def results_of(dev: Any, tag: str) -> list[Any]:
    """The device's results of one HIL run (its SupervisoryJobIds start with the run's tag)."""
    return sorted((r for r in list(dev.results.values()) if r.job_id.startswith(tag + "-")),
                  key=lambda r: r.run_id)


def active_job(dev: Any, tag: str, nth: int | None = None) -> Any:
    """The device's active run of this HIL run (optionally only its `nth` run), else None."""
    run = dev.active
    if run is None or not run.job_id.startswith(tag + "-"):
        return None
    if nth is not None and len(results_of(dev, tag)) != nth - 1:
        return None
    return run


LADS = None  # the LADS profile, loaded once


def lads_profile() -> Any:
    global LADS
    if LADS is None:
        from adapters.opcua.profiles import load_profile
        LADS = load_profile(None)
    return LADS


def press_nodes() -> Any:
    """The LADS profile's press section as paths (adapters.opcua.programs.ProgramNodes)."""
    from adapters.opcua.programs import ProgramNodes
    prof = lads_profile()
    return ProgramNodes.of(prof, prof.press)


async def _resolve(c: Any, paths: list[Any]) -> list[Any]:
    """Node ids of Objects-relative vocabulary paths, resolved by namespace URI (independently of
    the adapters' session code, with the same TranslateBrowsePaths request)."""
    from asyncua import ua
    from adapters.opcua.paths import NamespaceMap, translate

    ns = NamespaceMap(await c.get_namespace_array())
    got = await translate(c, ns, ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)), paths)
    for p, g in zip(paths, got):
        assert not isinstance(g, ua.StatusCode), f"{p} does not resolve: {g}"
    return got


async def opcua_call(endpoint: str, obj: Any, method: Any, *args: Any) -> Any:
    """Call the method at vocabulary path `method` on `obj` (both from Objects) as the operator
    over the insecure test endpoint."""
    from tests.plant.plant_helpers import OPERATOR, call, connect

    async with connect(endpoint, OPERATOR) as c:
        oid, mid = await call(_resolve(c, [obj, method]))
        return await call(c.get_node(oid).call_method(mid, *args))


async def opcua_read(endpoint: str, paths: list[Any]) -> list[Any]:
    """Values at vocabulary paths (from Objects), read over OPC UA."""
    from tests.plant.plant_helpers import OPERATOR, call, connect

    async with connect(endpoint, OPERATOR) as c:
        ids = await call(_resolve(c, paths))
        return [await call(c.get_node(n).read_value()) for n in ids]


def press_session(endpoint: str, device_name: str = "WIP-1", session_cls: Any = None, **connection: Any) -> Any:
    """An adapters.opcua.session.DeviceSession (or subclass) to a LADS device, as the operator, no security."""
    from adapters import vocabulary as v
    from adapters.opcua.session import DeviceSession
    from adapters.settings import Connection
    from tests.plant.plant_helpers import OPERATOR

    conn = Connection(**{"security_policy": "None", "call_timeout_s": 2.0, "connect_timeout_s": 2.0,
                         "backoff_initial_s": 0.1, "backoff_max_s": 0.4, "give_up_s": 10.0, **connection})
    return (session_cls or DeviceSession)(device_name, endpoint, conn, OPERATOR, None, v.device_path(device_name))
