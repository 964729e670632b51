"""A HIL run on an emulated WIP: what the twin reports equals what the device recorded;
faults the device reports quarantine exactly the cells of their cycles."""
from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from adapters import vocabulary as v
from tests.hil.hil_helpers import (HardwareRun, cell_of_sample, cells, db_rows, device, opcua_call, opcua_read,
                                   results_of, run_with, scaled, scenario, summary, until)

pytestmark = pytest.mark.timeout(900)  # a guard only: the waits inside scale with the load
FAULTS, INJECT = v.device_path("WIP-1") + v.FAULTS, v.device_path("WIP-1") + v.INJECT_FAULT


def test_happy_path_twin_and_device_agree(wip_plant, operator_env, tmp_path):
    dev = device(wip_plant)
    pf = wip_plant.running.plant
    # time-outs far beyond any answer on a loaded machine: this run must see none
    hw = HardwareRun(scenario(n_cells=6, call_timeout_s=scaled(5.0), connect_timeout_s=scaled(5.0),
                              give_up_s=scaled(30.0)), pf)
    out = tmp_path / "out"
    result = asyncio.run(run_with(hw, out))
    s = summary(out)
    assert result.summary["cells_started"] == s["cells_started"] == 6
    assert s["cells_accepted"] + s["cells_rejected"] == 6
    hwr = s["hardware"]
    assert hwr["drained"] is True and hwr["cells_in_process"] == 0
    assert hwr["runs_quarantined"] == 0 and hwr["runs_ok"] == len(hwr["runs"]) > 0
    assert hwr["dispositions_failed"] == [] and hwr["dispositions_pending"] == 0
    link = hwr["devices"]["press"]
    assert link["device"] == "WIP-1" and link["timeouts"] == link["stalls"] == link["restarts"] == 0

    # What the device holds for this run: one result per job the twin sent, read over OPC UA.
    mine = results_of(dev, hw.tag)
    assert sorted(r.job_id for r in mine) == sorted(r["job_id"] for r in hwr["runs"])
    assert len({r.job_id for r in mine}) == len(mine)
    endpoint = wip_plant.endpoints["WIP-1"]
    unit = v.unit_path("WIP-1", v.Unit.PRESS_CHAMBER)
    texts = asyncio.run(asyncio.wait_for(opcua_read(
        endpoint, [unit + v.result_path(r.run_id) + v.RESULT_DISPOSITIONS for r in mine]), 30))
    on_device = {(r.run_id, sid): d for r, text in zip(mine, texts) for sid, d in json.loads(text).items()}
    assert set(on_device) == {(r.run_id, sid) for r in mine for sid in r.samples}  # every pressed cell decided
    decisions = Counter(d["decision"] for d in on_device.values())
    reworked = {sid for (_, sid), d in on_device.items() if d["decision"] == "rework"}
    assert decisions["accept"] == s["cells_accepted"]
    assert decisions["reject"] == s["cells_rejected"]
    assert len(reworked) == s["cells_reworked"]
    assert decisions["rework"] >= s["cells_reworked"]

    # trace.sqlite: a row per cell (pressed on the device), per device run, per delivered decision.
    rows = cells(out)
    assert sorted(rows) == list(range(6))
    run_ids = {r.run_id for r in mine}
    for cid, row in rows.items():
        assert row["outcome"] in ("accepted", "rejected")
        assert row["press_runs"] and set(row["press_runs"].split(",")) <= run_ids
        assert row["quarantined"] == 0
        last = on_device[(row["press_runs"].split(",")[-1], f"{hw.tag}-c{cid}")]["decision"]
        assert row["outcome"] == {"accept": "accepted", "reject": "rejected"}[last]
    runs = db_rows(out, "SELECT job_id, run_id, ok, status FROM device_runs")
    assert sorted((j, r) for j, r, _, _ in runs) == sorted((r.job_id, r.run_id) for r in mine)
    assert all(ok == 1 and status == "Completed" for _, _, ok, status in runs)
    disp = db_rows(out, "SELECT run_id, sample_id, decision, delivered FROM dispositions")
    assert len(disp) == len(on_device)
    for run_id, sid, decision, delivered in disp:
        assert delivered == 1
        assert on_device[(run_id, sid)]["decision"] == decision


def test_reported_faults_quarantine_their_cycles(wip_plant, operator_env, tmp_path):
    dev = device(wip_plant)
    endpoint = wip_plant.endpoints["WIP-1"]
    hw = HardwareRun(scenario(n_cells=6, p=(1.0, 0.0, 0.0)), wip_plant.running.plant)
    out = tmp_path / "out"

    async def go():
        await until(lambda: dev.active is None, 30, "WIP-1 idle")
        await opcua_call(endpoint, FAULTS, INJECT, "leak")  # armed for the first cycle
        # While the run goes: once the first cycle is over, arm a communication loss.
        await until(lambda: len(results_of(dev, hw.tag)) >= 1, 60, "the first cycle's result")
        await opcua_call(endpoint, FAULTS, INJECT, "comm_loss")

    asyncio.run(run_with(hw, out, go()))
    s = summary(out)
    rows = cells(out)
    assert sorted(rows) == list(range(6)) and s["hardware"]["drained"] is True
    mine = results_of(dev, hw.tag)
    faulted = {r.run_id: r.faults for r in mine if r.faults}
    assert sorted(k for f in faulted.values() for k in f) == ["comm_loss", "leak"]
    assert mine[0].faults == ["leak"]
    runs = {r["run_id"]: r for r in s["hardware"]["runs"]}
    for r in mine:
        assert runs[r.run_id]["ok"] is (not r.faults)
        for sid in r.samples:
            row = rows[cell_of_sample(sid)]
            if r.faults:
                assert row["outcome"] == "rejected" and row["quarantined"] == 1
                assert row["reason"].startswith("press_fault") and r.faults[0] in row["reason"]
            else:  # every inspection accepts: only a fault can reject
                assert row["outcome"] == "accepted" and row["quarantined"] == 0
    bad = sum(len(r.samples) for r in mine if r.faults)
    assert s["cells_rejected"] == bad and s["cells_accepted"] == 6 - bad
    assert s["hardware"]["runs_quarantined"] == len(faulted)
    # The comm_loss cycle's trace stops halfway: the twin names that too.
    lost = next(r for r in mine if "comm_loss" in r.faults)
    assert "before unloading" in runs[lost.run_id]["problem"]
