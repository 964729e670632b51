"""Plumbing for the end-to-end hardware-in-the-loop test (tests/hil/test_e2e.py): temp plant,
users, credentials and scenario files, `twin plant serve` / `twin hil` subprocesses run as a
user would run them, and an independent asyncua reader of what the presses recorded.

Every wait has a deadline and every OPC UA call a time-out; nothing here asserts a speed.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import yaml

from adapters import vocabulary as v
from plant.security import ensure_certificate, hash_password, save_users

CALL_TIMEOUT_S = 10.0
PORT_DEADLINE_S = 60.0
HIL_DEADLINE_S = 240.0
NAMESPACE = "urn:twin:plant"


def twin_exe() -> str:
    """The `twin` console script of the interpreter running the tests."""
    here = Path(sys.executable).parent / "twin"
    if here.exists():
        return str(here)
    import shutil

    found = shutil.which("twin")
    assert found, "the `twin` console script is not installed (pip install -e .)"
    return found


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# -- files ------------------------------------------------------------------------------------
def write_security(tmp: Path) -> dict[str, Path]:
    """A users file with one operator (random password) and a credentials file for it."""
    user, password = "e2e-operator", secrets.token_urlsafe(12)
    users = tmp / "users.yaml"
    save_users(users, {user: hash_password(password, "operator")})
    creds = tmp / "operator.credentials.yaml"
    creds.write_text(yaml.safe_dump({"username": user, "password": password}), encoding="utf-8")
    creds.chmod(0o600)
    from plant.pki import TrustList, ensure_own_certificate
    from twin.hil import CLIENT_CERT_NAME

    # the plant trusts the twin's client certificate (made now, as an operator would provision it)
    twin_cert, _ = ensure_own_certificate(tmp / "twin-client-pki", CLIENT_CERT_NAME, "urn:twin:hil-client",
                                          "127.0.0.1", client=True)
    TrustList(tmp / "plant-pki").ensure().add(twin_cert)
    return {"users": users, "credentials": creds, "cert_dir": tmp / "plant-pki",
            "client_cert_dir": tmp / "twin-client-pki"}


def write_plant(path: Path, devices: list[dict], sec: dict[str, Path], time_scale: float) -> Path:
    """A plant file with only `devices` (each {name, kind, port}), secure endpoints only."""
    data = {
        "name": path.stem, "host": "127.0.0.1", "time_scale": time_scale, "publish_hz": 20.0,
        "test_endpoints": False, "seed": 4242,
        "security": {"policies": ["Basic256Sha256"], "allow_insecure": False, "allow_anonymous": True,
                     "users_file": str(sec["users"]), "cert_dir": str(sec["cert_dir"])},
        "devices": devices,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def scenario_dict(sec: dict[str, Path], cells: int = 30) -> dict:
    """A small line: simulated metrology -> uniaxial pre-press (UniPress-1, 1 cell per cycle) ->
    warm isostatic press (WIP-1, starts with whatever waits, so it is nearly always busy) ->
    a simulated rest long enough that dispositions are still queued when a press goes away ->
    inspection (physics; at 340 MPa some cells need a rework, which goes back to WIP-1 once)."""
    return {
        "name": "hil_e2e",
        "run": {"duration_h": 0.1 * cells, "warmup_h": 0.0, "seed": 31},
        "source": {"interarrival_h": {"dist": "exponential", "mean": 0.1}, "first": "metrology",
                   "max_cells": cells},
        "lots": {"cu": {
            "sq_um": {"dist": "lognormal", "mean": 0.25, "sd": 0.08},
            "sdq": {"dist": "lognormal", "mean": 0.08, "sd": 0.03},
            "pv_um": {"dist": "lognormal", "mean": 2.0, "sd": 0.8},
            "waviness_um": {"dist": "lognormal", "mean": 1.5, "sd": 0.6},
            "waviness_mm": {"dist": "uniform", "low": 3.0, "high": 8.0}}},
        "stations": {
            "metrology": {"kind": "metrology", "instrument": "profilometer",
                          "process_time_h": {"dist": "fixed", "value": 0.01}, "next": "prepress"},
            "prepress": {"kind": "batch", "batch": {"capacity_cells": 1},
                         "press": {"spec": "automatic_uniaxial",
                                   "recipe": {"target_pressure_mpa": 100, "ramp_rate_mpa_s": 10, "hold_s": 30,
                                              "temperature_c": 25, "decompression_rate_mpa_s": 10}},
                         "next": "wip_press"},
            "wip_press": {"kind": "batch", "batch": {"capacity_cells": 8, "min_cells": 1, "timeout_h": 0.0},
                          "press": {"spec": "wip",
                                    "recipe": {"target_pressure_mpa": 340, "ramp_rate_mpa_s": 5, "hold_s": 600,
                                               "temperature_c": 60, "decompression_rate_mpa_s": 5}},
                          "next": "rest"},
            "rest": {"kind": "process", "servers": 50, "process_time_h": {"dist": "fixed", "value": 0.5},
                     "next": "inspection"},
            "inspection": {"kind": "inspect", "process_time_h": {"dist": "fixed", "value": 0.01},
                           "on_accept": "sink", "on_rework": "wip_press", "on_reject": "scrap"},
        },
        "quality": {"mode": "physics",
                    "disposition": {"max_reworks": 1, "rework_extra_hold_s": 600.0}},
        "hardware": {
            "bindings": {"prepress": {"device": "UniPress-1"}, "wip_press": {"device": "WIP-1"}},
            "connection": {"security_policy": "Basic256Sha256", "client_cert_dir": str(sec["client_cert_dir"]),
                           "credentials": {"file": sec["credentials"].name},
                           "backoff_initial_s": 0.1, "backoff_max_s": 1.0, "give_up_s": 45.0},
            # the drain ends when the line is empty; its limit (simulated h, 150 wall s at the tests' scale
            # of 3600) only has to outlast a press restart on a loaded machine, never a normal run
            "drain_limit_h": 150.0,
        },
        "expect": [{"kpi": "cells_started", "min": 1}],
    }


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- processes --------------------------------------------------------------------------------
class Proc:
    """A CLI subprocess in its own process group, output to a log file; always reaped."""

    def __init__(self, args: list[str], log: Path, cwd: Path) -> None:
        self.args = args
        self.log_path = log
        self._log = open(log, "ab")
        self.p = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL the process (and its group: it started none), then reap it."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        """Teardown: SIGKILL if still running (the emulators keep nothing worth a graceful stop),
        reap, close the log."""
        self.kill()
        self._log.close()

    def wait(self, timeout_s: float) -> int:
        try:
            return self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{' '.join(self.args[:3])} did not finish in {timeout_s:.0f} s:\n"
                                 f"{self.output()[-4000:]}") from None


def serve(plant_file: Path, time_scale: float, log: Path, cwd: Path) -> Proc:
    """`twin plant serve PLANT --time-scale X` (not waiting for it)."""
    return Proc([twin_exe(), "plant", "serve", str(plant_file), "--time-scale", f"{time_scale:g}"], log, cwd)


def wait_ports(proc: Proc, ports: list[int], deadline_s: float = PORT_DEADLINE_S) -> None:
    """Until every port accepts TCP connections; fails if the server process dies first.
    `deadline_s` is a load-scaled budget restarted while the server uses CPU (tests/progress.py)."""
    from tests.progress import Deadline, watch_process_cpu

    deadline = Deadline(deadline_s, f"ports {ports} to listen")
    todo = list(ports)
    while todo:
        if not proc.alive():
            raise AssertionError(f"plant server exited with {proc.p.returncode}:\n{proc.output()[-4000:]}")
        port = todo[0]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                todo.pop(0)
                continue
        except OSError:
            pass
        deadline.progress(watch_process_cpu(proc.p.pid))
        if deadline.expired():
            raise AssertionError(f"ports {todo} not listening after {deadline_s:.0f} s (load-scaled) without "
                                 f"progress:\n{proc.output()[-4000:]}")
        time.sleep(0.05)


def hil(scenario: Path, plant_file: Path, time_scale: float, out: Path, log: Path, cwd: Path) -> Proc:
    """`twin hil SCENARIO --plant PLANT --time-scale X --out DIR` (not waiting for it)."""
    return Proc([twin_exe(), "hil", str(scenario), "--plant", str(plant_file), "--time-scale", f"{time_scale:g}",
                 "--out", str(out)], log, cwd)


# -- trace.sqlite -----------------------------------------------------------------------------
def query(db: Path, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
    """Rows of `sql` on a trace store, read-only (never creates the file); [] if not there yet."""
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return []
    try:
        con.row_factory = sqlite3.Row
        return con.execute(sql, args).fetchall()
    except sqlite3.Error:  # table not created yet, or a write in progress
        return []
    finally:
        con.close()


# -- an independent OPC UA reader of the presses ------------------------------------------------
async def call(aw: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    return await asyncio.wait_for(aw, timeout_s)


async def reader_cert(cert_dir: Path) -> tuple[Path, Path]:
    """A client certificate of the test's own (anonymous, SignAndEncrypt) reader."""
    return await ensure_certificate(cert_dir, "e2e-reader", "urn:twin:e2e-reader", "127.0.0.1", client=True)


@asynccontextmanager
async def connect(endpoint: str, cert: tuple[Path, Path]) -> AsyncIterator[Any]:
    """An anonymous Basic256Sha256 session (anonymous may browse and read)."""
    from asyncua import Client, ua
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    client = Client(endpoint, timeout=CALL_TIMEOUT_S)
    client.application_uri = "urn:twin:e2e-reader"
    await client.set_security(SecurityPolicyBasic256Sha256, str(cert[0]), str(cert[1]),
                              mode=ua.MessageSecurityMode.SignAndEncrypt)
    await call(client.connect(), 30.0)
    try:
        yield client
    finally:
        try:
            await call(client.disconnect(), 5.0)
        except Exception:
            client.disconnect_socket()


async def node_at(client: Any, path: Any) -> Any:
    """The node at a vocabulary path (from Objects), each element's namespace looked up by URI."""
    from asyncua import ua
    from adapters.opcua.paths import NamespaceMap, translate

    ns = NamespaceMap(await call(client.get_namespace_array()))
    (got,) = await call(translate(client, ns, ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)), [path]))
    assert not isinstance(got, ua.StatusCode), f"{path} does not resolve: {got}"
    return client.get_node(got)


def press_unit(device: str) -> Any:
    return v.unit_path(device, v.Unit.PRESS_CHAMBER)


async def read_state(client: Any, device: str) -> str:
    """The press unit's FunctionalUnitState/CurrentState text."""
    value = await call((await node_at(client, press_unit(device) + v.UNIT_CURRENT_STATE)).read_value())
    return str(getattr(value, "Text", value))


async def read_results(endpoint: str, device: str, cert: tuple[Path, Path]) -> dict[str, dict]:
    """RunId -> {SupervisoryJobId, Status (the Outcome), SampleIds, Dispositions (parsed)} of every
    result the device at `endpoint` holds."""
    out: dict[str, dict] = {}
    wanted = {"SupervisoryJobId": v.RESULT_JOB_ID, "Status": v.result_variable(v.ResultVar.OUTCOME.value),
              "SampleIds": v.result_variable(v.ResultVar.SAMPLE_IDS.value), "Dispositions": v.RESULT_DISPOSITIONS}
    from asyncua import ua

    async with connect(endpoint, cert) as client:
        results = await node_at(client, press_unit(device) + v.UNIT_RESULT_SET)
        for run in await call(results.get_children(nodeclassmask=ua.NodeClass.Object)):
            run_id = (await call(run.read_browse_name())).Name
            values = {}
            for key, path in wanted.items():
                values[key] = await call((await node_at(client, press_unit(device) + v.result_path(run_id) + path))
                                         .read_value())
            values["SampleIds"] = list(values.get("SampleIds") or [])
            values["Dispositions"] = json.loads(values.get("Dispositions") or "{}")
            out[run_id] = values
    return out


def run_async(coro: Any, timeout_s: float = 120.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout_s))
