"""`twin run --workers N`: replications on a local process pool give the serial run's
outputs exactly (summary.json, cells.parquet, trace.sqlite), since every replication's
numbers depend only on (scenario, index, seed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tests.helpers import exp, scenario_dict, station, write_yaml


def _dump(db_path: Path) -> dict:
    db = sqlite3.connect(db_path)
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    db.close()
    return out


def test_workers_give_the_serial_outputs(tmp_path: Path):
    import pyarrow.parquet as pq

    from twin.cli import app

    data = scenario_dict({"prep": station(exp(0.5), next="inspect", buffer_capacity=4),
                          "inspect": {"kind": "inspect", "process_time_h": exp(0.3), "on_rework": "prep",
                                      "fixed": {"p_accept": 0.85, "p_rework": 0.1, "p_reject": 0.05}}},
                         interarrival_h=exp(1.0), duration_h=400, warmup_h=20, replications=3, seed=4)
    path = write_yaml(tmp_path / "line.yaml", data)
    runner = CliRunner()
    serial = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "serial"), "--json"])
    pooled = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "pooled"), "--json", "--workers", "2"])
    assert serial.exit_code == 0, serial.output
    assert pooled.exit_code == 0, pooled.output
    s = json.loads((tmp_path / "serial" / "summary.json").read_text())
    p = json.loads((tmp_path / "pooled" / "summary.json").read_text())
    assert s == p
    assert pq.read_table(tmp_path / "pooled" / "cells.parquet").equals(pq.read_table(tmp_path / "serial" / "cells.parquet"))
    assert _dump(tmp_path / "pooled" / "trace.sqlite") == _dump(tmp_path / "serial" / "trace.sqlite")


def test_workers_must_be_positive(tmp_path: Path):
    from twin.cli import app

    path = write_yaml(tmp_path / "line.yaml", scenario_dict(duration_h=10))
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert res.exit_code == 2
