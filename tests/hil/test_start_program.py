"""StartProgram is never sent twice to start a second cycle: an answer lost on the wire is
reconciled by SupervisoryJobId on the same server instance; after a restart the cycle is
given up (CycleLost) instead of being started again."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from adapters.opcua import CycleLost, DeviceSession, LinkLost, StartAttempt, start_program, wait_result
from adapters.opcua.results import plain
from tests.hil.hil_helpers import RECIPE, device, scaled, hil_plant, press_nodes, press_session, until
from plant.serve import PlantThread

pytestmark = pytest.mark.timeout(900)  # a guard only: the waits inside scale with the load


class LosesFirstStartAnswer(DeviceSession):
    """The first StartProgram really reaches the device; its answer is then lost (LinkLost).
    `on_lost` runs in between (e.g. to restart the device)."""

    on_lost = None
    starts_sent = 0
    lost_run_id = None

    async def method(self, obj, method, *args, retry=True):
        is_start = method[-1].name == "StartProgram"
        result = await super().method(obj, method, *args, retry=retry)
        if is_start:
            self.starts_sent += 1
            if self.lost_run_id is None:
                self.lost_run_id = str(result[0])
                if self.on_lost is not None:
                    await self.on_lost()
                raise LinkLost("the answer to StartProgram was lost on the wire")
        return result


def _job() -> tuple[str, list[str]]:
    tag = f"t-{uuid.uuid4().hex[:8]}"
    return f"{tag}-press-00001", [f"{tag}-c0", f"{tag}-c1"]


def test_lost_answer_is_reconciled_by_job_id(wip_plant):
    dev = device(wip_plant)
    job, samples = _job()

    async def go():
        await until(lambda: dev.active is None, 30, "WIP-1 idle")
        before = dev.run_count
        session = press_session(wip_plant.endpoints["WIP-1"], session_cls=LosesFirstStartAnswer)
        try:
            nodes = press_nodes()
            run_id, instance = await start_program(session, nodes, "PressCycle", RECIPE, StartAttempt(job), samples,
                                                   time.monotonic() + scaled(30), 0.05)
            started = dev.run_count - before
            values = plain(await wait_result(session, nodes, run_id, instance, time.monotonic() + scaled(60), 0.5),
                           nodes.section)
        finally:
            await session.close()
        return session, run_id, instance, started, values

    session, run_id, instance, started, values = asyncio.run(asyncio.wait_for(go(), scaled(120)))
    assert session.lost_run_id is not None and session.starts_sent == 2  # the repeat went out...
    assert started == 1  # ...and started nothing: one program on the device
    assert run_id == session.lost_run_id == dev.runs_by_job[job]  # the RunId the device created
    assert instance == session.instance
    assert [r.run_id for r in dev.results.values() if r.job_id == job] == [run_id]
    assert values["_job"] == job and list(values["sample_ids"]) == samples
    assert session.log.restarts == 0


def test_restart_in_between_loses_the_cycle_instead_of_starting_again(shared_dir):
    pf = hil_plant(shared_dir)
    plants = [PlantThread(pf).start()]
    job, samples = _job()

    async def restart() -> None:
        await asyncio.to_thread(plants[0].stop)
        plants.append(await asyncio.to_thread(lambda: PlantThread(pf).start()))  # same port

    async def go():
        session = press_session(plants[0].endpoints["WIP-1"], session_cls=LosesFirstStartAnswer)
        session.on_lost = restart
        try:
            with pytest.raises(CycleLost, match="restarted"):
                await start_program(session, press_nodes(), "PressCycle", RECIPE, StartAttempt(job), samples,
                                    time.monotonic() + scaled(30), 0.05)
        finally:
            await session.close()
        return session

    try:
        old = device(plants[0])
        session = asyncio.run(asyncio.wait_for(go(), scaled(120)))
        new = device(plants[1])
    finally:
        for p in plants:
            p.stop()
    assert old.run_count == 1 and old.runs_by_job[job] == session.lost_run_id
    assert session.starts_sent == 1  # never sent to the new instance
    assert new.run_count == 0 and job not in new.runs_by_job
    assert session.log.restarts == 1
