"""`twin hil` end to end on the node-opcua press (tests/interop/press, written from docs/opcua.md
alone): cells accepted on both secure policies through the CLI, and the failure cases each as
a test: the press killed (and restarted) mid-run, a latched fault that refuses starts until it
is cleared at the panel (cells held, not scrapped), and an Uncertain per-cell pressure that
quarantines exactly that run's cells."""
from __future__ import annotations

import asyncio
import shutil
import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import ua

from tests.hil.hil_helpers import HardwareRun, cells, hil_plant, scenario_data, summary
from tests.interop import ua_client as u
from tests.interop.pressjs import JsPress, js_press
from twin.scenario import parse_scenario

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
TIME_SCALE = 720.0  # the press's process seconds per wall second, and the twin's (hil_plant)
NOMINAL_S = 70.0  # the hil RECIPE's cycle on this press; the template gives no EstimatedRuntime (MAY)
RUN_TIMEOUT_S = 300.0
DEVICE = "JS-Press-1"
UNIT = [(u.DI, "DeviceSet"), (u.PLANT, DEVICE), (u.LADS, "FunctionalUnitSet"), (u.PLANT, "PressChamber")]


def js_scenario(press: JsPress, policy: str = "Basic256Sha256", n_cells: int = 6, hold_s: float | None = None,
                **connection: Any) -> dict:
    # the integrator trusts the vendor's server certificate (the twin refuses unknown servers: adapters.pki)
    trusted = press.client_cert[0].parent / "servers" / "trusted"
    trusted.mkdir(parents=True, exist_ok=True)
    shutil.copy(press.server_certificate, trusted / press.server_certificate.name)
    conn = {"security_policy": policy, "client_cert_dir": str(press.client_cert[0].parent), "give_up_s": 20.0,
            "call_timeout_s": 5.0, "connect_timeout_s": 10.0, **connection}
    data = scenario_data(n_cells=n_cells, endpoint=press.endpoint, device=DEVICE, batch=2, p=(1.0, 0.0, 0.0), **conn)
    data["hardware"]["bindings"]["press"]["nominal_duration_s"] = NOMINAL_S + (hold_s or 30.0) - 30.0
    if hold_s is not None:
        data["stations"]["press"]["press"]["recipe"]["hold_s"] = hold_s
    return data


def _credentials(press: JsPress, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_OPCUA_USERNAME", press.operator[0])
    monkeypatch.setenv("TWIN_OPCUA_PASSWORD", press.operator[1])


def _plant(tmp: Path) -> Any:
    d = tmp / "plant"
    d.mkdir(exist_ok=True)
    return hil_plant(d)


async def _run(tmp: Path, out: Path, data: dict, *watchers: Any) -> HardwareRun:
    hw = HardwareRun(parse_scenario(data, "<js e2e>"), _plant(tmp))

    async def go() -> None:
        task = asyncio.ensure_future(hw.run_async(out))
        try:
            await asyncio.gather(*watchers)
        except BaseException:
            task.cancel()
            raise
        await task
    await asyncio.wait_for(go(), RUN_TIMEOUT_S)
    return hw


def _balanced(s: dict, rows: dict[int, dict]) -> None:
    """No cell record lost: every started cell ended accepted or rejected, each with its row."""
    assert s["cells_started"] == s["cells_accepted"] + s["cells_rejected"] == len(rows)
    assert all(r["outcome"] in ("accepted", "rejected") for r in rows.values()), rows


@pytest.mark.parametrize("policy", ["Basic256Sha256", "Aes256_Sha256_RsaPss"])
def test_twin_hil_cli_drives_the_js_press(tmp_path: Path, policy: str) -> None:
    with js_press(tmp_path / "press", time_scale=TIME_SCALE) as press:
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text(yaml.safe_dump(js_scenario(press, policy)), encoding="utf-8")
        plant = tmp_path / "plant.yaml"
        plant.write_text(yaml.safe_dump(_plant(tmp_path).model_dump(mode="json")), encoding="utf-8")
        env = {**os.environ, "TWIN_OPCUA_USERNAME": press.operator[0], "TWIN_OPCUA_PASSWORD": press.operator[1]}
        from tests.hil.e2e_helpers import twin_exe

        proc = subprocess.run([twin_exe(), "hil", str(scenario), "--plant", str(plant), "--time-scale",
                               f"{TIME_SCALE:g}", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = summary(tmp_path / "out")
    assert s["cells_started"] == 6 and s["cells_accepted"] == 6, s
    hw = s["hardware"]
    assert hw["runs_ok"] == len(hw["runs"]) == 3 and hw["runs_quarantined"] == 0
    assert all(" run " in r["run_id"] and "/" in r["run_id"] for r in hw["runs"])  # RunIds with "/" and spaces
    assert hw["dispositions_sent"] == 6 and hw["dispositions_pending"] == 0
    _balanced(s, cells(tmp_path / "out"))


def test_press_killed_and_restarted_mid_run_loses_no_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    with ExitStack() as stack:
        press = stack.enter_context(js_press(tmp_path / "press", time_scale=TIME_SCALE))
        _credentials(press, monkeypatch)
        port = int(press.endpoint.rsplit(":", 1)[1])
        killed: dict[str, Any] = {}

        async def kill_when_running() -> None:
            async with u.session(press.endpoint, press.client_cert, None) as c:
                deadline = time.monotonic() + 120
                while True:
                    unit = await u.resolve(c, c.nodes.objects, UNIT)
                    state = await u.resolve(c, unit, [(u.LADS, "FunctionalUnitState"), (u.UA, "CurrentState")])
                    if (await u.call(state.read_value())).Text == "Running":
                        rid = await u.resolve(c, unit, [(u.LADS, "ProgramManager"), (u.LADS, "ActiveProgram"),
                                                        (u.LADS, "DeviceProgramRunId")])
                        killed["run_id"] = await u.call(rid.read_value())
                        break
                    assert time.monotonic() < deadline, "the press never ran"
                    await asyncio.sleep(0.02)
            press.kill()
            killed["wall"] = time.time()
            again = await asyncio.to_thread(lambda: stack.enter_context(
                js_press(tmp_path / "press", time_scale=TIME_SCALE, port=port, client_cert=press.client_cert)))
            killed["restarted"] = again.endpoint

        data = js_scenario(press, hold_s=1200.0, give_up_s=120.0)
        data["hardware"]["drain_limit_h"] = 48.0  # a restart of the press takes hours at this time scale
        asyncio.run(_run(tmp_path, out, data, kill_when_running()))
    s = summary(out)
    rows = cells(out)
    _balanced(s, rows)
    runs = s["hardware"]["runs"]
    lost = [r for r in runs if r["run_id"] == killed["run_id"]]
    assert lost and not lost[0]["ok"], (killed, runs)
    for sid in lost[0]["samples"]:
        row = rows[int(sid.rsplit("-c", 1)[1])]
        assert row["quarantined"] == 1 and row["outcome"] == "rejected", row  # never accepted
    assert s["hardware"]["devices"]["press"]["restarts"] >= 1
    assert any(r["ok"] and r["wall_start"] > killed["wall"] for r in runs), "nothing ran on the restarted press"
    jobs = [r["job_id"] for r in runs if r["ok"]]
    assert len(jobs) == len(set(jobs))  # no job ran twice


def test_latched_fault_holds_the_cells_until_cleared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    devices = [{"name": DEVICE, "capacity_cells": 8, "latched_fault_s": 3.0}]  # Aborted at boot, panel clear at 3 s
    with js_press(tmp_path / "press", time_scale=TIME_SCALE, devices=devices) as press:
        _credentials(press, monkeypatch)
        asyncio.run(_run(tmp_path, out, js_scenario(press, n_cells=4, backoff_max_s=0.3)))
    s = summary(out)
    rows = cells(out)
    _balanced(s, rows)
    assert s["cells_accepted"] == 4 and s["cells_rejected"] == 0  # held, then pressed: none scrapped
    assert all(r["quarantined"] == 0 for r in rows.values())
    first = s["hardware"]["runs"][0]
    assert first["ok"] and first["start_failures"] >= 1 and first["held_s"] > 0, first
    assert s["hardware"]["cells_held"] >= 1


def test_uncertain_cell_pressure_quarantines_that_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    devices = [{"name": DEVICE, "capacity_cells": 8, "untrusted": ["CellPressures_MPa"], "untrusted_runs": [1]}]
    with js_press(tmp_path / "press", time_scale=TIME_SCALE, devices=devices) as press:
        _credentials(press, monkeypatch)
        asyncio.run(_run(tmp_path, out, js_scenario(press, n_cells=4)))
    s = summary(out)
    rows = cells(out)
    _balanced(s, rows)
    runs = s["hardware"]["runs"]
    bad = [r for r in runs if not r["ok"]]
    assert len(bad) == 1 and "UncertainSensorNotAccurate" in bad[0]["problem"], runs
    for r in runs:
        for sid in r["samples"]:
            row = rows[int(sid.rsplit("-c", 1)[1])]
            assert row["quarantined"] == (0 if r["ok"] else 1)
            if not r["ok"]:
                assert row["outcome"] == "rejected" and "UncertainSensorNotAccurate" in row["reason"]
    assert s["cells_accepted"] == 2 and s["cells_rejected"] == 2


def test_a_faulted_run_quarantines_its_cells_and_the_twin_clears_the_unit(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    with js_press(tmp_path / "press", time_scale=TIME_SCALE, test_endpoints=True) as press:
        _credentials(press, monkeypatch)

        async def arm() -> None:  # the next run trips on overpressure (X4), before the twin starts anything
            async with u.session(press.endpoint, press.client_cert, press.operator) as c:
                dev = await u.resolve(c, c.nodes.objects, [(u.DI, "DeviceSet"), (u.PLANT, DEVICE)])
                inject = await u.resolve(c, dev, [(u.PLANT, "Faults"), (u.PLANT, "InjectFault")])
                faults = await u.resolve(c, dev, [(u.PLANT, "Faults")])
                res = await u.call_full(c, faults, inject, [ua.Variant("overpressure", ua.VariantType.String)])
                assert res.StatusCode.is_good()
        u.run(arm())
        asyncio.run(_run(tmp_path, out, js_scenario(press, n_cells=6)))
    s = summary(out)
    rows = cells(out)
    _balanced(s, rows)
    runs = s["hardware"]["runs"]
    bad = [r for r in runs if not r["ok"]]
    assert len(bad) == 1 and bad[0]["status"] == "Fault", runs
    for sid in bad[0]["samples"]:
        row = rows[int(sid.rsplit("-c", 1)[1])]
        assert row["quarantined"] == 1 and row["outcome"] == "rejected"
    assert s["cells_accepted"] == 6 - len(bad[0]["samples"])  # the unit was cleared: the later runs went on
