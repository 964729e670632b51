"""Resumable studies: an interrupted sweep keeps its finished replications (points.sqlite, keyed by
the scenario's content hash, seed and replication), `--resume` continues it to the same numbers
as an uninterrupted sweep, and re-running a finished one recomputes nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import REPO, scenario_dict, write_yaml
from tests.progress import wait_until, watch_process_cpu

runner = CliRunner()
SETTING = "stations.server.process_time_h.mean=0.5,0.6,0.7,0.8"
REPS = 4


def _scenario(tmp: Path) -> Path:
    data = scenario_dict(duration_h=3000, warmup_h=50, replications=REPS, seed=5)
    data["run"]["write_trace"] = False
    return write_yaml(tmp / "s.yaml", data)


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def _sweep(*args) -> object:
    from twin.cli import app

    return runner.invoke(app, ["sweep", *map(str, args)])


def test_content_hash_follows_what_decides_the_numbers():
    from tests.helpers import build
    from twin.studies.cache import content_hash

    a = build(scenario_dict(duration_h=100, replications=2, seed=1))
    assert content_hash(a) == content_hash(build(scenario_dict(duration_h=100, replications=7, seed=9)))
    assert content_hash(a) != content_hash(build(scenario_dict(duration_h=101, replications=2, seed=1)))


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_numbers(tmp_path):
    scenario = _scenario(tmp_path)
    whole = tmp_path / "whole"
    result = _sweep(scenario, "--set", SETTING, "--out", whole, "--json")
    assert result.exit_code == 0, result.output
    expected = json.loads((whole / "sweep.json").read_text())["per_replication"]

    out = tmp_path / "cut"
    partial = tmp_path / "cut.partial"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "sweep", str(scenario), "--set", SETTING,
                             "--out", str(out)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_until(lambda: _rows(partial / "points.sqlite") >= 3 or proc.poll() is not None, 60.0,
               "3 sweep replications kept", progress=lambda: watch_process_cpu(proc.pid))
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: proc.poll() is not None, 60.0, "the sweep to stop after Ctrl-C",
               progress=lambda: watch_process_cpu(proc.pid))
    _, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    kept = _rows(partial / "points.sqlite")
    assert 3 <= kept < 4 * REPS and not out.exists()

    result = _sweep(scenario, "--set", SETTING, "--out", out, "--resume", "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["reused"] == kept
    assert json.dumps(meta["per_replication"]) == json.dumps(expected)  # number for number

    again = _sweep(scenario, "--set", SETTING, "--out", out, "--resume", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "sweep.json").read_text())["reused"] == 4 * REPS  # nothing recomputed


def test_resume_never_reuses_results_of_another_scenario(tmp_path):
    scenario = _scenario(tmp_path)
    out = tmp_path / "out"
    assert _sweep(scenario, "--set", "stations.server.process_time_h.mean=0.5,0.6", "--replications", 2,
                  "--out", out).exit_code == 0
    result = _sweep(scenario, "--set", "stations.server.process_time_h.mean=0.6,0.7", "--replications", 2,
                    "--out", out, "--resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "sweep.json").read_text())["reused"] == 2  # only the point 0.6 is the same


@pytest.mark.parametrize("flag", [[], ["--force"]])
def test_without_resume_a_sweep_starts_afresh(tmp_path, flag):
    scenario = _scenario(tmp_path)
    out = tmp_path / "out"
    assert _sweep(scenario, "--set", SETTING, "--replications", 2, "--out", out).exit_code == 0
    result = _sweep(scenario, "--set", SETTING, "--replications", 2, "--out", out, *flag)
    if not flag:
        assert result.exit_code == 2  # an existing folder is refused
        return
    assert result.exit_code == 0
    assert json.loads((out / "sweep.json").read_text())["reused"] == 0


def test_a_finished_sensitivity_study_resumes_without_recomputing(tmp_path):
    from tests.test_studies_sensitivity import PARAMS, line
    from twin.studies.sensitivity import sensitivity
    from twin.studies.space import parse_param

    params = [parse_param(p) for p in PARAMS]
    out = tmp_path / "sens"
    first = sensitivity(line(), params, "morris", kpis=["cost_per_good_cell"], samples=2, out_dir=out)
    assert first.meta["reused"] == 0 and (out / "points.sqlite").exists()
    again = sensitivity(line(), params, "morris", kpis=["cost_per_good_cell"], samples=2, out_dir=out, resume=True)
    assert again.meta["reused"] == first.runs
    assert again.indices.equals(first.indices)
