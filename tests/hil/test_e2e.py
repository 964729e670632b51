"""End to end, as a user runs it: `twin plant serve` subprocesses serving the presses over secure
OPC UA (users file, credentials file, own PKI), `twin hil` against them, then what the twin wrote
(summary.json, trace.sqlite) is checked against what the presses themselves recorded, read back
with an independent asyncua client.

1. A clean run: exit 0, and the accepted / reworked / rejected counts of summary.json are the
   final decisions the presses hold per cell (Results/<RunId>/Dispositions); every pressed cell's
   decision was delivered to the run that last pressed it.
2. The warm isostatic press is served by its own process, SIGKILLed while a cycle is on it and
   restarted on the same port: no cell record is lost, the cycle in flight quarantines its cells,
   the twin saw the restart, no SupervisoryJobId ran twice, and decisions addressed to runs the
   dead server forgot are recorded as not delivered.
"""
from __future__ import annotations

import asyncio
import collections
import json
import time
from pathlib import Path

import pytest
import yaml

from tests.hil import e2e_helpers as h
from tests.hil.hil_helpers import scaled

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]  # a guard only: the waits scale with the load

TIME_SCALE = 3600.0  # simulated s per wall s, for the plant and the twin alike
CELLS = 30
DECISION_OF_OUTCOME = {"accepted": "accept", "rejected": "reject"}


@pytest.fixture(scope="module")
def security(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Users, credentials and certificate directories shared by the tests (keys made once)."""
    sec = h.write_security(tmp_path_factory.mktemp("hil-e2e-security"))
    sec["reader_cert"] = h.run_async(h.reader_cert(sec["cert_dir"].parent / "reader-pki"))
    from plant.pki import TrustList
    TrustList(sec["cert_dir"]).ensure().add(sec["reader_cert"][0])  # the plant trusts the test's reader
    return sec


@pytest.fixture
def procs():
    """Every subprocess started by a test; killed and reaped at teardown whatever happened."""
    started: list[h.Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


def _endpoint(port: int) -> str:
    return f"opc.tcp://127.0.0.1:{port}"


def _setup(tmp: Path, security: dict, cells: int = CELLS):
    """Free ports, the full plant file (both presses) and the scenario file."""
    p_wip, p_uni = h.free_ports(2)
    wip = {"name": "WIP-1", "kind": "wip", "port": p_wip}
    uni = {"name": "UniPress-1", "kind": "automatic_uniaxial", "port": p_uni}
    plant = h.write_plant(tmp / "plant.yaml", [wip, uni], security, TIME_SCALE)
    # the scenario names its credentials file relative to itself; never on the command line
    creds = tmp / security["credentials"].name
    creds.write_bytes(security["credentials"].read_bytes())
    creds.chmod(0o600)
    scenario = h.write_yaml(tmp / "scenario.yaml", h.scenario_dict(security, cells))
    return p_wip, p_uni, wip, uni, plant, scenario


def _trace(out: Path) -> dict[str, list[dict]]:
    db = out / "trace.sqlite"
    assert db.exists(), "no trace.sqlite written"
    return {t: [dict(r) for r in h.query(db, f"SELECT * FROM {t}")]
            for t in ("cells", "visits", "device_runs", "dispositions")}


def _sample(tag: str, cell_id: int) -> str:
    return f"{tag}-c{cell_id}"


def _check_visits(trace: dict) -> None:
    """Visits are of known cells; every finished cell went through inspection."""
    cells = {c["cell_id"]: c for c in trace["cells"]}
    assert {v["cell_id"] for v in trace["visits"]} <= set(cells)
    inspected = {v["cell_id"] for v in trace["visits"] if v["station"] == "inspection"}
    assert {i for i, c in cells.items() if c["outcome"] != "in_process"} <= inspected


def _run_hil(tmp: Path, scenario: Path, plant: Path, procs: list) -> h.Proc:
    out = tmp / "out"
    proc = h.hil(scenario, plant, TIME_SCALE, out, tmp / "hil.log", tmp)
    procs.append(proc)
    return proc


def test_dispositions_on_the_presses_match_the_summary(tmp_path: Path, security: dict, procs: list) -> None:
    p_wip, p_uni, _, _, plant, scenario = _setup(tmp_path, security)
    server = h.serve(plant, TIME_SCALE, tmp_path / "plant.log", tmp_path)
    procs.append(server)
    h.wait_ports(server, [p_wip, p_uni])

    hil = _run_hil(tmp_path, scenario, plant, procs)
    rc = hil.wait(scaled(h.HIL_DEADLINE_S))
    assert rc == 0, f"twin hil exited {rc}:\n{hil.output()[-6000:]}"
    password = yaml.safe_load(security["credentials"].read_text())["password"]
    assert not any(password in a for a in hil.args), "credentials must never be on the command line"

    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    hw = summary["hardware"]
    trace = _trace(out)
    tag = hw["tag"]

    # the line drained: every released cell has a final row, nothing quarantined, nothing pending
    assert hw["drained"] and hw["cells_in_process"] == 0
    assert len(trace["cells"]) == summary["cells_started"] == CELLS
    assert summary["cells_accepted"] + summary["cells_rejected"] == CELLS
    assert hw["runs_quarantined"] == 0 and hw["dispositions_failed"] == [] and hw["dispositions_pending"] == 0
    assert all(d["restarts"] == 0 for d in hw["devices"].values())
    _check_visits(trace)

    results = {
        "prepress": h.run_async(h.read_results(_endpoint(p_uni), "UniPress-1", security["reader_cert"])),
        "wip_press": h.run_async(h.read_results(_endpoint(p_wip), "WIP-1", security["reader_cert"])),
    }
    # every run the devices did is a device run of the trace, with the samples sent, once per job
    runs = {r["run_id"]: r for r in trace["device_runs"]}
    assert len(runs) == len(trace["device_runs"])
    for station, res in results.items():
        assert set(res) == {r["run_id"] for r in trace["device_runs"] if r["station"] == station}
        jobs = [v["SupervisoryJobId"] for v in res.values()]
        assert len(set(jobs)) == len(jobs)
        for run_id, v in res.items():
            assert v["Status"] == "Completed"
            assert v["SupervisoryJobId"] == runs[run_id]["job_id"]
            assert v["SampleIds"] == runs[run_id]["samples"].split(",")
    assert len(results["prepress"]) == CELLS  # one cell per uniaxial cycle
    assert not any(v["Dispositions"] for v in results["prepress"].values())  # WIP pressed them last

    # final decision per cell as the presses recorded it, runs taken in the order they ran
    final: dict[str, str] = {}
    reworked: set[str] = set()
    ordered = sorted(results["wip_press"].items(), key=lambda kv: runs[kv[0]]["wall_start"])
    for _, v in ordered:
        for sample, d in v["Dispositions"].items():
            assert sample in v["SampleIds"]
            final[sample] = d["decision"]
            if d["decision"] == "rework":
                reworked.add(sample)
    counts = collections.Counter(final.values())
    assert counts["rework"] == 0, "a rework must be followed by a final decision on a later run"
    assert counts["accept"] == summary["cells_accepted"]
    assert counts["reject"] == summary["cells_rejected"]
    assert len(reworked) == summary["cells_reworked"]

    # every cell with press runs: its decision delivered to the run that last pressed it
    delivered = {(d["run_id"], d["sample_id"]): d for d in trace["dispositions"]}
    for cell in trace["cells"]:
        assert cell["press_runs"], f"cell {cell['cell_id']} was never pressed"
        sample = _sample(tag, cell["cell_id"])
        last = cell["press_runs"].split(",")[-1]
        decision = DECISION_OF_OUTCOME[cell["outcome"]]
        assert results["wip_press"][last]["Dispositions"][sample]["decision"] == decision
        assert final[sample] == decision
        assert delivered[(last, sample)]["delivered"] == 1
        assert (sample in reworked) == (cell["reworks"] > 0)
    print(f"\nclean run: {CELLS} cells, {len(results['prepress'])} uniaxial + {len(results['wip_press'])} WIP runs, "
          f"accepted {summary['cells_accepted']:.0f}, reworked {summary['cells_reworked']:.0f}, "
          f"rejected {summary['cells_rejected']:.0f}, {hw['wall_s']:.1f} s wall")


async def _kill_when_running(wip_proc: h.Proc, hil: h.Proc, db: Path, port: int, cert, min_runs: int,
                             deadline_s: float) -> tuple[float, str]:
    """SIGKILL the WIP server once `min_runs` WIP runs are in the trace and a cycle is running on it;
    returns (wall time of the kill, RunId that was active)."""
    end = time.monotonic() + deadline_s
    while len(h.query(db, "SELECT 1 FROM device_runs WHERE station = 'wip_press' AND ok = 1")) < min_runs:
        assert hil.alive(), f"twin hil ended before the kill:\n{hil.output()[-4000:]}"
        assert time.monotonic() < end, "no WIP runs recorded in time"
        await asyncio.sleep(0.05)
    async with h.connect(_endpoint(port), cert) as client:
        state = await h.node_at(client, h.press_unit("WIP-1") + h.v.UNIT_CURRENT_STATE)
        active = await h.node_at(client, h.press_unit("WIP-1") + h.v.active_program("DeviceProgramRunId"))
        while True:
            assert hil.alive(), f"twin hil ended before the kill:\n{hil.output()[-4000:]}"
            assert time.monotonic() < end, "WIP-1 never seen running"
            values = await h.call(client.read_values([state, active]))
            if getattr(values[0], "Text", values[0]) == "Running":
                wall = time.time()
                wip_proc.kill()
                break
            await asyncio.sleep(0.01)
    return wall, str(values[1])


def test_press_killed_and_restarted_mid_run_loses_no_cell(tmp_path: Path, security: dict, procs: list) -> None:
    p_wip, p_uni, wip, uni, plant, scenario = _setup(tmp_path, security)
    # the WIP press in a process of its own (same port as in the full plant file twin hil reads)
    wip_plant = h.write_plant(tmp_path / "plant-wip.yaml", [wip], security, TIME_SCALE)
    rest_plant = h.write_plant(tmp_path / "plant-rest.yaml", [uni], security, TIME_SCALE)
    wip_server = h.serve(wip_plant, TIME_SCALE, tmp_path / "plant-wip-1.log", tmp_path)
    procs.append(wip_server)
    rest_server = h.serve(rest_plant, TIME_SCALE, tmp_path / "plant-rest.log", tmp_path)
    procs.append(rest_server)
    h.wait_ports(wip_server, [p_wip])
    h.wait_ports(rest_server, [p_uni])

    hil = _run_hil(tmp_path, scenario, plant, procs)
    out = tmp_path / "out"
    t_kill, active_run = h.run_async(_kill_when_running(
        wip_server, hil, out.with_name(out.name + ".partial") / "trace.sqlite", p_wip, security["reader_cert"], min_runs=2,
        deadline_s=scaled(h.HIL_DEADLINE_S)), timeout_s=scaled(h.HIL_DEADLINE_S) + 30)
    assert not wip_server.alive()
    time.sleep(1.0)  # down for a second, then back on the same port as a new server instance
    wip_again = h.serve(wip_plant, TIME_SCALE, tmp_path / "plant-wip-2.log", tmp_path)
    procs.append(wip_again)
    h.wait_ports(wip_again, [p_wip])

    rc = hil.wait(scaled(h.HIL_DEADLINE_S))
    assert rc in (0, 1), f"twin hil exited {rc}:\n{hil.output()[-6000:]}"
    summary = json.loads((out / "summary.json").read_text())
    hw = summary["hardware"]
    trace = _trace(out)
    tag = hw["tag"]
    cells = {c["cell_id"]: c for c in trace["cells"]}
    runs = {r["job_id"]: r for r in trace["device_runs"]}
    wip_runs = [r for r in trace["device_runs"] if r["station"] == "wip_press"]

    # no cell record lost: one row per released cell, each finished or still in process
    assert len(cells) == len(trace["cells"]) == summary["cells_started"] == CELLS
    outcomes = collections.Counter(c["outcome"] for c in cells.values())
    assert set(outcomes) <= {"accepted", "rejected", "in_process"}
    assert outcomes["in_process"] == hw["cells_in_process"]
    assert summary["cells_accepted"] + summary["cells_rejected"] + hw["cells_in_process"] == summary["cells_started"]
    assert outcomes["accepted"] == summary["cells_accepted"] and outcomes["rejected"] == summary["cells_rejected"]
    _check_visits(trace)

    # the twin saw the press come back as a new server instance
    assert hw["devices"]["wip_press"]["restarts"] >= 1
    assert hw["devices"]["prepress"]["restarts"] == 0

    # the cycle(s) in flight at the kill: lost, their cells quarantined and rejected, never accepted
    in_flight = [r for r in wip_runs if r["wall_start"] <= t_kill <= r["wall_end"]]
    assert in_flight, f"no WIP cycle in flight at the kill (active on the device: {active_run})"
    for r in in_flight:
        assert not r["ok"] and r["problem"], r
    for r in trace["device_runs"]:
        if r["ok"]:
            continue
        for sample in r["samples"].split(","):
            cell = cells[int(sample.rsplit("-c", 1)[1])]
            assert cell["outcome"] != "accepted", (r, cell)
            assert cell["quarantined"] == 1, (r, cell)
            if cell["outcome"] == "rejected":
                assert cell["reason"].startswith("press_fault"), cell
    assert all(c["outcome"] == "rejected" for r in in_flight for c in
               (cells[int(s.rsplit("-c", 1)[1])] for s in r["samples"].split(",")))

    # RunIds carry the server boot: two WIP instances; the restarted one never reran a job
    boots = {r["run_id"].split("-")[2] for r in wip_runs if r["run_id"]}
    assert len(boots) >= 2
    new = h.run_async(h.read_results(_endpoint(p_wip), "WIP-1", security["reader_cert"]))
    new_jobs = [v["SupervisoryJobId"] for v in new.values()]
    assert len(new_jobs) == len(set(new_jobs)), "a SupervisoryJobId ran twice on the restarted press"
    assert not {r["run_id"] for r in in_flight} & set(new)
    for run_id, v in new.items():
        job = v["SupervisoryJobId"]
        assert runs[job]["run_id"] == run_id, "a job of the twin ran on a run it does not know"
        assert runs[job]["wall_start"] > t_kill, "a job started before the kill ran again after the restart"
    uni_res = h.run_async(h.read_results(_endpoint(p_uni), "UniPress-1", security["reader_cert"]))
    uni_jobs = [v["SupervisoryJobId"] for v in uni_res.values()]
    assert len(uni_jobs) == len(set(uni_jobs)) == len([r for r in trace["device_runs"] if r["station"] == "prepress"])
    run_ids = [r["run_id"] for r in trace["device_runs"] if r["run_id"]]
    assert len(run_ids) == len(set(run_ids))

    # decisions: every one recorded, delivered or explicitly not (none left pending); those not
    # delivered are for runs the killed server forgot; those delivered to the new one are there
    disp = trace["dispositions"]
    assert hw["dispositions_pending"] == 0
    assert all(d["delivered"] in (0, 1) for d in disp)
    not_delivered = [d for d in disp if d["delivered"] == 0]
    assert len(not_delivered) == len(hw["dispositions_failed"])
    assert not_delivered, "no decision was addressed to a run the killed press forgot"
    old_boot = in_flight[0]["run_id"].split("-")[2]
    for d in not_delivered:
        assert d["run_id"] not in new and d["run_id"].split("-")[2] == old_boot and d["error"], d
    for d in disp:
        if d["delivered"] == 1 and d["run_id"] in new:
            assert new[d["run_id"]]["Dispositions"][d["sample_id"]]["decision"] == d["decision"], d
    keyed = {(d["run_id"], d["sample_id"]) for d in disp}
    known_runs = {r["run_id"] for r in trace["device_runs"] if r["run_id"]}
    for c in cells.values():
        if c["outcome"] == "in_process" or not c["press_runs"]:
            continue
        last = c["press_runs"].split(",")[-1]
        if last in known_runs:
            assert (last, _sample(tag, c["cell_id"])) in keyed, f"decision of cell {c['cell_id']} lost"

    print(f"\nkill/restart: {CELLS} cells ({outcomes['accepted']} accepted, {outcomes['rejected']} rejected, "
          f"{outcomes['in_process']} in process), {len(trace['device_runs'])} device runs "
          f"({len(wip_runs)} WIP, {hw['runs_quarantined']} quarantined, {len(in_flight)} in flight at the kill), "
          f"restarts {hw['devices']['wip_press']['restarts']}, dispositions delivered {hw['dispositions_sent']}, "
          f"not delivered {len(not_delivered)}, {hw['wall_s']:.1f} s wall")
