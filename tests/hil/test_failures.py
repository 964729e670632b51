"""What the adapters do when equipment says no, on the Acme press driven through its profile:

- a start refused with BadInvalidState holds the cells (retried with the same job id): no cell
  is scrapped as pressed, nothing runs twice;
- a per-cell pressure flagged UncertainSensorNotAccurate quarantines exactly that run's cells,
  naming the value and its status;
- a batch larger than the device's Capacity is refused at connect, before any cycle;
- a refused login is a configuration error: `twin hil` exits 2 at once, naming the device;
- decisions the device cannot take (link down, or status saying so) stay pending and are
  delivered after the link is back, and by the next `twin hil` run on the same folder.
"""
from __future__ import annotations

import asyncio
import time

import pytest
import yaml
from typer.testing import CliRunner

from tests.hil.acme_helpers import acme_run, acme_scenario, with_acme
from tests.hil.hil_helpers import cells, hil_plant, scenario_data, summary, until
from tests.hil.proxy import TcpProxy
from twin.cli import app

pytestmark = pytest.mark.timeout(180)


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_refused_starts_hold_the_cells_instead_of_scrapping_them(tmp_path, operator_env):
    out = tmp_path / "out"

    async def go(press):
        press.refuse_starts = 3  # the first three StartProgram calls: BadInvalidState, nothing started
        await acme_run(tmp_path, out, press, acme_scenario(press.endpoint, n_cells=4, backoff_max_s=0.2))
        return press

    press = asyncio.run(with_acme(go))
    s = summary(out)
    assert press.starts_refused == 3
    assert s["cells_accepted"] == 4 and s["cells_rejected"] == 0  # every cell pressed, none scrapped
    assert all(r["quarantined"] == 0 for r in cells(out).values())
    first = s["hardware"]["runs"][0]
    assert first["ok"] is True and first["start_failures"] >= 1 and first["held_s"] > 0
    assert s["hardware"]["cells_held"] >= 2
    orders = [r.order for r in press.runs.values()]
    assert len(orders) == len(set(orders)) == 2  # one device run per job: the retries started nothing twice


def test_start_refused_for_the_role_stops_the_run_as_a_setup_error(tmp_path, operator_env):
    from twin.hil import HilSetupError

    async def go(press):
        press.refuse_starts, press.refuse_status = 1, "BadUserAccessDenied"
        t0 = time.monotonic()
        with pytest.raises(HilSetupError, match=r"Acme-7 .*BadUserAccessDenied.*hardware\.bindings\.press"):
            await acme_run(tmp_path, tmp_path / "out", press, acme_scenario(press.endpoint, give_up_s=30.0))
        return time.monotonic() - t0

    took = asyncio.run(with_acme(go))
    assert took < 30.0  # not retried
    assert not (tmp_path / "out" / "summary.json").exists()


def test_uncertain_cell_pressure_quarantines_that_run(tmp_path, operator_env):
    out = tmp_path / "out"

    async def go(press):
        press.uncertain_next = True  # the first run's CellPressure_kPa: UncertainSensorNotAccurate
        await acme_run(tmp_path, out, press, acme_scenario(press.endpoint, n_cells=4))
        return press

    press = asyncio.run(with_acme(go))
    s = summary(out)
    runs = s["hardware"]["runs"]
    bad = [r for r in runs if not r["ok"]]
    assert len(bad) == 1 and "cell_pressure_mpa: UncertainSensorNotAccurate" in bad[0]["problem"]
    rows = cells(out)
    for r in runs:
        for sid in r["samples"]:
            row = rows[int(sid.rsplit("-c", 1)[1])]
            assert row["quarantined"] == (0 if r["ok"] else 1)
            if not r["ok"]:
                assert row["outcome"] == "rejected" and "UncertainSensorNotAccurate" in row["reason"]
    assert s["cells_rejected"] == 2 and s["cells_accepted"] == 2


def test_batch_beyond_the_device_capacity_is_refused_at_connect(tmp_path, operator_env):
    from twin.hil import HilSetupError

    async def go(press):
        with pytest.raises(HilSetupError, match=r"hardware\.bindings\.press\.device: .*loads 3 cells.*takes 2"):
            await acme_run(tmp_path, tmp_path / "out", press, acme_scenario(press.endpoint, n_cells=3, batch=3))
        return press

    press = asyncio.run(with_acme(go))
    assert press.runs == {}  # nothing was started


def test_recipe_beyond_the_device_pressure_range_is_refused_at_connect(tmp_path, operator_env):
    from twin.hil import HilSetupError

    async def go(press):
        # the recipe asks 100 MPa; this press's PressureLimits_kPa say 0 .. 50 000 kPa
        with pytest.raises(HilSetupError, match=r"target_pressure_mpa 100 but 'Acme-7' allows 0 to 50"):
            await acme_run(tmp_path, tmp_path / "out", press, acme_scenario(press.endpoint))
        return press

    press = asyncio.run(with_acme(go, max_pressure_kpa=50_000.0))
    assert press.runs == {}


def test_refused_login_exits_2_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_OPCUA_USERNAME", "op")
    monkeypatch.setenv("TWIN_OPCUA_PASSWORD", "not-the-password")
    plant = hil_plant(tmp_path)
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(yaml.safe_dump(plant.model_dump(mode="json")))

    async def go(press):
        data = scenario_data(endpoint=press.endpoint, device="Acme-7", give_up_s=30.0)
        data["hardware"]["bindings"]["press"].update(
            profile=str(__import__("tests.hil.acme_helpers", fromlist=["PROFILE"]).PROFILE), nominal_duration_s=200)
        scen = tmp_path / "scenario.yaml"
        scen.write_text(yaml.safe_dump(data))
        t0 = time.monotonic()
        result = await asyncio.to_thread(CliRunner().invoke, app, ["hil", str(scen), "--plant", str(plant_file),
                                                                   "--out", str(tmp_path / "out")])
        return result, time.monotonic() - t0

    result, took = asyncio.run(with_acme(go))
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Acme-7" in text and "login" in text and "refused" in text
    assert took < 30.0  # not retried until give_up_s as if the network were down
    assert not (tmp_path / "out" / "summary.json").exists()


def test_undelivered_decisions_are_sent_after_the_link_is_back(tmp_path, operator_env):
    out = tmp_path / "out"

    async def go(press):
        with TcpProxy(_port(press.endpoint)) as proxy:
            async def outage(hw):
                # once the first cycle's decisions are due, cut the link for a while
                await until(lambda: any(r.done for r in press.runs.values()), 60, "the first cycle")
                proxy.refuse(True)
                proxy.drop()
                await asyncio.sleep(1.5)
                proxy.refuse(False)
            await acme_run(tmp_path, out, press, acme_scenario(proxy.endpoint, n_cells=6, give_up_s=20.0,
                                                               disposition_retry_s=0.3), outage)
        return press

    press = asyncio.run(with_acme(go))
    s = summary(out)
    hw = s["hardware"]
    assert hw["devices"]["press"]["reconnects"] >= 1
    assert hw["dispositions_failed"] == [] and hw["dispositions_pending"] == 0
    on_device = {sid for r in press.runs.values() for sid in r.verdicts}
    assert on_device == {f"{hw['tag']}-c{i}" for i in range(6)}  # every decision arrived, none lost


def test_decisions_left_pending_are_sent_by_the_next_run(tmp_path, operator_env):
    out = tmp_path / "out"

    async def go(press):
        press.report_status = "BadCommunicationError"  # the device cannot take decisions now
        first = await acme_run(tmp_path, out, press, acme_scenario(press.endpoint, n_cells=4, give_up_s=2.0,
                                                                   disposition_retry_s=0.3))
        pending = summary(out)["hardware"]["dispositions_pending"]
        press.report_status = None  # the twin is restarted on the same output folder
        second = await acme_run(tmp_path, out, press, acme_scenario(press.endpoint, n_cells=2))
        return press, first, second, pending

    press, first, second, pending = asyncio.run(with_acme(go))
    assert pending == 4 and press.reports_refused >= 4
    s = summary(out)
    assert s["hardware"]["dispositions_carried_over"] == 4
    assert s["hardware"]["dispositions_pending"] == 0 and s["hardware"]["dispositions_failed"] == []
    on_device = {sid for r in press.runs.values() for sid in r.verdicts}
    assert {f"{first.tag}-c{i}" for i in range(4)} <= on_device  # the first run's decisions, delivered
    assert {f"{second.tag}-c{i}" for i in range(2)} <= on_device
