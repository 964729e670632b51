"""The link to a press breaks during a HIL run: a stalled device (sockets open, no answers),
a dropped and refused connection, a device restarted mid-cycle. The run always ends with a
summary and every cell's record; a cycle whose outcome cannot be trusted is quarantined,
and no cycle ever runs twice on the device."""
from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest

from tests.hil.hil_helpers import (HardwareRun, active_job, cell_of_sample, cells, db_rows, device, hil_plant, press_session, results_of,
                         run_with, scenario, summary, until)
from plant.serve import PlantThread
from tests.hil.proxy import TcpProxy

pytestmark = pytest.mark.timeout(180)
N_CELLS = 6


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _check_complete(out, s) -> dict:
    """The run ended normally: summary written, every cell recorded and out of the line."""
    rows = cells(out)
    assert sorted(rows) == list(range(N_CELLS))
    assert all(r["outcome"] in ("accepted", "rejected") for r in rows.values())
    assert s["cells_started"] == N_CELLS and s["cells_accepted"] + s["cells_rejected"] == N_CELLS
    assert s["hardware"]["drained"] is True
    return rows


def _quarantined(rows: dict, samples: list[str], why: str) -> None:
    for sid in samples:
        row = rows[cell_of_sample(sid)]
        assert row["outcome"] == "rejected" and row["quarantined"] == 1
        assert row["reason"].startswith("press_fault") and why in row["reason"]


def _session_messages(proxy: TcpProxy) -> int:
    """How many messages a DeviceSession sends to open its session (through `proxy`)."""
    async def go() -> int:
        session = press_session(proxy.endpoint)
        try:
            await session.connect()
            return proxy.client_messages()[-1]
        finally:
            await session.close()
    return asyncio.run(asyncio.wait_for(go(), 30))


@pytest.mark.parametrize("mode", ["frozen", "requests_hang"])
def test_stalled_device_times_out_and_quarantines_its_cycle(wip_plant, operator_env, tmp_path, mode):
    """frozen: sockets stay open, nothing comes back, new sessions cannot open either;
    requests_hang: new sessions open, but no request on them is ever answered."""
    dev = device(wip_plant)
    out = tmp_path / "out"
    with TcpProxy(_port(wip_plant.endpoints["WIP-1"])) as proxy:
        handshake = _session_messages(proxy)
        hw = HardwareRun(scenario(n_cells=N_CELLS, endpoint=proxy.endpoint, p=(1.0, 0.0, 0.0), call_timeout_s=1.0,
                                  connect_timeout_s=1.0, give_up_s=3.0), wip_plant.running.plant)
        frozen = {}

        async def stall_second_cycle():
            run = await until(lambda: active_job(dev, hw.tag, nth=2), 60, "the second cycle on WIP-1")
            # mid-cycle: the device goes on, the twin hears nothing
            proxy.freeze() if mode == "frozen" else proxy.hang_requests(handshake)
            frozen.update(job=run.job_id, samples=list(run.samples))
            # Hold it until the twin has given the cycle up (its device_runs row).
            await until(lambda: db_rows(out, "SELECT ok FROM device_runs WHERE job_id = ?", run.job_id),
                        60, "the twin to give up the stalled cycle", poll_s=0.05)
            proxy.thaw() if mode == "frozen" else proxy.hang_requests(None)

        asyncio.run(run_with(hw, out, stall_second_cycle()))
    s = summary(out)
    rows = _check_complete(out, s)
    link = s["hardware"]["devices"]["press"]
    assert link["timeouts"] >= 2 and link["stalls"] >= 1
    assert any(e["event"] == "stalled" for e in link["events"])
    runs = {r["job_id"]: r for r in s["hardware"]["runs"]}
    stalled = runs[frozen["job"]]
    assert stalled["ok"] is False
    _quarantined(rows, frozen["samples"], "WIP-1")
    if mode == "requests_hang":  # sessions kept opening: the cycle's own deadline gave it up
        assert link["reconnects"] >= 1 and "in time" in stalled["problem"]
    # The stalled cycle did finish on the device; the twin just could not trust it. Cycles
    # after the link came back ran normally on the same device, and only a fault rejects.
    assert frozen["job"] in {r.job_id for r in results_of(dev, hw.tag)}
    later = [r for r in s["hardware"]["runs"] if r["wall_start"] > stalled["wall_end"]]
    assert later and all(r["ok"] for r in later)
    assert s["cells_rejected"] == len(frozen["samples"])


def test_reconnects_with_backoff_and_never_runs_a_cycle_twice(wip_plant, operator_env, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="adapters.opcua.session")
    dev = device(wip_plant)
    out = tmp_path / "out"
    with TcpProxy(_port(wip_plant.endpoints["WIP-1"])) as proxy:
        hw = HardwareRun(scenario(n_cells=N_CELLS, endpoint=proxy.endpoint, give_up_s=8.0, connect_timeout_s=0.5),
                         wip_plant.running.plant)
        cut = {}

        async def outage():
            await until(lambda: active_job(dev, hw.tag, nth=1), 60, "the first cycle on WIP-1")
            proxy.refuse(True)
            cut["dropped"] = proxy.drop()
            await asyncio.sleep(2.0)  # every reconnection attempt in here is turned away
            cut["refused"] = proxy.refused
            proxy.refuse(False)
            cut["allowed_at"] = time.time()

        asyncio.run(run_with(hw, out, outage()))
    s = summary(out)
    rows = _check_complete(out, s)
    link = s["hardware"]["devices"]["press"]
    assert cut["dropped"] >= 1 and cut["refused"] >= 2  # it kept trying while turned away
    assert link["disconnects"] >= 1 and link["reconnects"] >= 1 and link["restarts"] == 0
    back = [e for e in link["events"] if e["event"] == "reconnected"]
    assert back and back[0]["wall"] >= cut["allowed_at"] - 0.01  # not before the device could be reached
    # Exponential back-off between the attempts: 0.1 s, doubling, at most 0.4 s.
    waits = [float(m.group(1)) for r in caplog.records
             if (m := re.search(r"retrying in ([0-9.]+) s", r.getMessage()))]
    assert len(waits) >= 2 and waits[0] == pytest.approx(0.1)
    assert all(b == pytest.approx(min(2 * a, 0.4)) for a, b in zip(waits, waits[1:]))
    # A short outage on the same server instance loses nothing: every cycle's result was read.
    assert s["hardware"]["runs_quarantined"] == 0
    assert all(r["quarantined"] == 0 for r in rows.values())
    # No cycle ran twice: one device run per job the twin sent, no job id repeated.
    mine = results_of(dev, hw.tag)
    jobs_on_device = [r.job_id for r in mine]
    assert len(jobs_on_device) == len(set(jobs_on_device))
    assert sorted(jobs_on_device) == sorted(r["job_id"] for r in s["hardware"]["runs"])
    assert len([j for j in dev.runs_by_job if j.startswith(hw.tag + "-")]) == len(mine)


def test_device_restarted_mid_cycle(shared_dir, operator_env, tmp_path):
    pf = hil_plant(shared_dir)
    out = tmp_path / "out"
    plants = [PlantThread(pf).start()]
    try:
        old = device(plants[0])
        hw = HardwareRun(scenario(n_cells=N_CELLS, give_up_s=15.0), pf)
        lost = {}

        async def restart_during_second_cycle():
            run = await until(lambda: active_job(old, hw.tag, nth=2), 60, "the second cycle on WIP-1")
            lost.update(job=run.job_id, samples=list(run.samples))
            await asyncio.to_thread(plants[0].stop)
            plants.append(await asyncio.to_thread(lambda: PlantThread(pf).start()))  # same port

        asyncio.run(run_with(hw, out, restart_during_second_cycle()))
        new = device(plants[1])
    finally:
        for p in plants:
            p.stop()
    s = summary(out)
    rows = _check_complete(out, s)
    link = s["hardware"]["devices"]["press"]
    assert link["restarts"] >= 1 and link["reconnects"] >= 1
    runs = {r["job_id"]: r for r in s["hardware"]["runs"]}
    assert runs[lost["job"]]["ok"] is False and "restarted" in runs[lost["job"]]["problem"]
    _quarantined(rows, lost["samples"], "restarted")
    # The lost cycle was not started again on the new instance; later cycles ran there.
    assert lost["job"] not in new.runs_by_job
    later = results_of(new, hw.tag)
    assert later and all(runs[r.job_id]["ok"] for r in later)
    assert not {r.run_id for r in later} & {r.run_id for r in results_of(old, hw.tag)}
