"""A HIL run writes the process side of the measured-cell format (process.parquet) like a simulated
run: one row per disposed cell with the press record the device reported."""
from __future__ import annotations

import asyncio

import pytest

from tests.hil.hil_helpers import HardwareRun, cells, run_with, scenario_data
from twin.calibration.data import load_cells
from twin.scenario import parse_scenario

pytestmark = pytest.mark.timeout(180)


def test_a_hil_run_writes_the_process_record(wip_plant, operator_env, tmp_path):
    data = scenario_data(n_cells=6)
    data["source"]["first"] = "metrology"  # a simulated profilometer before the bound press: flatness is measured
    data["stations"]["metrology"] = {"kind": "metrology", "instrument": "profilometer", "next": "press",
                                     "process_time_h": {"dist": "fixed", "value": 0.005}}
    hw = HardwareRun(parse_scenario(data, "<hil test>"), wip_plant.running.plant)
    out = tmp_path / "out"
    asyncio.run(run_with(hw, out))
    record = load_cells(out / "process.parquet")
    trace = cells(out)
    assert sorted(record.cell_id) == sorted(f"r0-{cid}" for cid in trace)
    for i, cid in enumerate(record.cell_id):
        row = trace[int(cid.split("-")[1])]
        assert record.inputs["pressure_mpa"][i] == row["pressure_mpa"]
        assert record.inputs["hold_s"][i] == row["hold_s"]
        assert record.inputs["sq_um"][i] == row["sq_um"]
    assert record.counts() == {"r_int": 0, "void": 0, "short": 0, "ccd": 0}  # outcomes come from the line
