"""`twin run`: the contract outputs (summary.json keys, cells.parquet one row per cell,
trace.sqlite tables), `--json`, option overrides and exit codes (0 ok, 1 expect failed)."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from typer.testing import CliRunner

from tests.helpers import exp, scenario_dict, station, write_yaml

runner = CliRunner()

CONTRACT_KEYS = ("cells_started", "cells_accepted", "cells_rejected", "cells_reworked", "throughput_per_h",
                 "first_pass_yield", "final_yield", "mean_cycle_time_h", "mean_wip", "utilisation",
                 "sim_time_h", "warmup_h", "replications", "seed", "ci95")
KPIS_WITH_CI = ("cells_started", "cells_accepted", "cells_rejected", "cells_reworked", "throughput_per_h",
                "first_pass_yield", "final_yield", "mean_cycle_time_h", "mean_wip")


def cli(*args):
    from twin.cli import app

    return runner.invoke(app, [str(a) for a in args])


def _line(expect=None, **kw):
    """prep -> inspect (accept 0.85 / rework 0.1 back to prep / reject 0.05)."""
    return scenario_dict(
        {"prep": station(exp(0.5), next="inspect", buffer_capacity=4),
         "inspect": {"kind": "inspect", "process_time_h": exp(0.3), "on_rework": "prep",
                     "fixed": {"p_accept": 0.85, "p_rework": 0.1, "p_reject": 0.05}}},
        interarrival_h=exp(1.0), duration_h=600, warmup_h=50, replications=2, seed=3, expect=expect, **kw)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    path = write_yaml(tmp / "line.yaml", _line(expect=[{"kpi": "throughput_per_h", "min": 0.5},
                                                       {"kpi": "utilisation.prep", "max": 0.99}]))
    res = cli("run", path, "--out", tmp / "out")
    return tmp / "out", res


def test_run_exit_0_and_kpi_table(run_dir):
    out, res = run_dir
    assert res.exit_code == 0, res.output
    assert "throughput_per_h" in res.output and "pass" in res.output


def test_summary_json_contract(run_dir):
    out, _ = run_dir
    s = json.loads((out / "summary.json").read_text())
    missing = [k for k in CONTRACT_KEYS if k not in s]
    assert not missing, missing
    assert s["replications"] == 2 and s["seed"] == 3
    assert s["warmup_h"] == 50 and s["sim_time_h"] == pytest.approx(550)
    assert set(s["utilisation"]) == {"prep", "inspect"}
    assert all(0 < u < 1 for u in s["utilisation"].values())
    for k in KPIS_WITH_CI:
        assert k in s["ci95"] and s["ci95"][k] is not None and s["ci95"][k] >= 0, k
    assert set(s["ci95"]["utilisation"]) == {"prep", "inspect"}
    assert s["cells_reworked"] > 0 and s["cells_rejected"] > 0
    assert 0 < s["first_pass_yield"] <= s["final_yield"] < 1
    assert s["throughput_per_h"] == pytest.approx(s["cells_accepted"] / s["sim_time_h"])
    assert s["passed"] is True


def test_cells_parquet_one_row_per_cell(run_dir):
    import pyarrow.parquet as pq

    out, _ = run_dir
    s = json.loads((out / "summary.json").read_text())
    t = pq.read_table(out / "cells.parquet").to_pydict()
    keys = list(zip(t["replication"], t["cell_id"]))
    assert len(keys) == len(set(keys)), "one row per cell"
    for rep, kpis in enumerate(s["per_replication"]):
        ids = sorted(c for r, c in keys if r == rep)
        assert ids == list(range(len(ids))), "every released cell has a row"
        done = [i for i, r in enumerate(t["replication"]) if r == rep and t["t_out_h"][i] is not None
                and t["t_out_h"][i] >= s["warmup_h"]]
        assert sum(t["outcome"][i] == "accepted" for i in done) == kpis["cells_accepted"]
        assert sum(t["outcome"][i] == "rejected" for i in done) == kpis["cells_rejected"]
        in_process = [i for i, r in enumerate(t["replication"]) if r == rep and t["outcome"][i] == "in_process"]
        assert len(in_process) == kpis["wip_end"]
    for i in range(len(keys)):
        if t["t_out_h"][i] is not None:
            assert t["t_out_h"][i] >= t["t_in_h"][i]


def test_trace_sqlite_tables(run_dir):
    import pyarrow.parquet as pq

    out, _ = run_dir
    with sqlite3.connect(out / "trace.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"cells", "visits", "runs"} <= tables
        n_cells = db.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        runs = db.execute("SELECT replication, seed, kpis FROM runs ORDER BY replication").fetchall()
        stations = {r[0] for r in db.execute("SELECT DISTINCT station FROM visits")}
        bad = db.execute("SELECT COUNT(*) FROM visits WHERE NOT (t_arrive_h <= t_start_h AND t_start_h <= t_end_h "
                         "AND t_end_h <= t_leave_h)").fetchone()[0]
        # every rework is one extra visit at prep and inspect
        reworks = db.execute("SELECT SUM(reworks) FROM cells").fetchone()[0]
    assert n_cells == pq.read_metadata(out / "cells.parquet").num_rows
    assert [r[0] for r in runs] == [0, 1] and all(r[1] == 3 for r in runs)
    assert json.loads(runs[0][2])["cells_started"] > 0
    assert stations == {"prep", "inspect"}
    assert bad == 0
    assert reworks > 0


def test_json_flag_prints_parseable_summary(tmp_path):
    path = write_yaml(tmp_path / "line.yaml", _line())
    res = cli("run", path, "--out", tmp_path / "out", "--json", "--replications", "3", "--seed", "5")
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert printed["replications"] == on_disk["replications"] == 3
    assert printed["seed"] == on_disk["seed"] == 5
    for k in KPIS_WITH_CI:
        assert printed[k] == pytest.approx(on_disk[k], nan_ok=True), k


def test_exit_1_when_an_expect_fails(tmp_path):
    path = write_yaml(tmp_path / "line.yaml", _line(expect=[{"kpi": "mean_wip", "max": 0.01},
                                                            {"kpi": "final_yield", "min": 0.5}]))
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["passed"] is False
    by_kpi = {e["kpi"]: e for e in s["expectations"]}
    assert by_kpi["mean_wip"]["passed"] is False and by_kpi["final_yield"]["passed"] is True
    assert by_kpi["mean_wip"]["value"] == pytest.approx(s["mean_wip"])


def test_summary_json_is_standard_json(tmp_path):
    """No NaN/Infinity tokens even when a KPI is undefined (no departures in the window)."""
    data = scenario_dict({"slow": station(exp(1000.0))}, interarrival_h=exp(10.0), duration_h=20, warmup_h=10,
                         replications=2)
    res = cli("run", write_yaml(tmp_path / "idle.yaml", data), "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "out" / "summary.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_rerun_into_same_directory_replaces_outputs(tmp_path):
    import pyarrow.parquet as pq

    path = write_yaml(tmp_path / "line.yaml", _line())
    assert cli("run", path, "--out", tmp_path / "out", "--replications", "2").exit_code == 0
    assert cli("run", path, "--out", tmp_path / "out", "--replications", "1").exit_code == 2  # never silently
    assert cli("run", path, "--out", tmp_path / "out", "--replications", "1", "--force").exit_code == 0
    assert set(pq.read_table(tmp_path / "out" / "cells.parquet").column("replication").to_pylist()) == {0}
    with sqlite3.connect(tmp_path / "out" / "trace.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert not math.isnan(json.loads((tmp_path / "out" / "summary.json").read_text())["mean_wip"])
