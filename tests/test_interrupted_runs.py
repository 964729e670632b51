"""Nothing lost: a real `twin run` subprocess killed (SIGKILL) or interrupted (SIGINT) while it
writes into a folder that holds a previous result leaves that result untouched, and a clearly
named partial folder whose PARTIAL.txt lists exactly the replications it holds, each readable
(its own Parquet file, its trace rows). Ctrl-C finishes the replication under way, commits it,
says what was kept and exits 130."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, scenario_dict, write_yaml
from tests.progress import wait_until, watch_process_cpu

REPLICATION_BUDGET_S = 60.0  # load-scaled wait for one replication (~1 s of CPU) to show progress


def _scenario(tmp: Path, replications: int) -> Path:
    # M/M/1, 4000 h: about a second of CPU and ~4000 cells per replication
    return write_yaml(tmp / "s.yaml", scenario_dict(duration_h=4000, replications=replications, seed=11))


def _previous_result(tmp: Path) -> tuple[Path, bytes]:
    from typer.testing import CliRunner

    from twin.cli import app

    out = tmp / "out"
    small = write_yaml(tmp / "small.yaml", scenario_dict(duration_h=50, replications=1, seed=3))
    result = CliRunner().invoke(app, ["run", str(small), "--out", str(out)])
    assert result.exit_code in (0, 1), result.output
    return out, (out / "summary.json").read_bytes()


def _start(tmp: Path, out: Path, replications: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "twin.cli", "run", str(_scenario(tmp, replications)),
                             "--out", str(out), "--force"], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _committed(partial: Path) -> list[int]:
    note = partial / "PARTIAL.txt"
    if not note.exists():
        return []
    found = re.search(r"Replications committed: ([0-9, ]+|none)", note.read_text())
    assert found, note.read_text()
    return [] if found.group(1) == "none" else [int(x) for x in found.group(1).split(",")]


def _wait_committed(proc: subprocess.Popen, partial: Path, n: int) -> None:
    wait_until(lambda: len(_committed(partial)) >= n or proc.poll() is not None, REPLICATION_BUDGET_S,
               f"{n} replication(s) committed in {partial}", progress=lambda: watch_process_cpu(proc.pid))
    assert proc.poll() is None, proc.communicate()


def _check_partial(partial: Path) -> list[int]:
    """PARTIAL.txt's replications are exactly those with a Parquet file and trace rows."""
    import pyarrow.parquet as pq

    kept = _committed(partial)
    files = sorted((partial / "replications").glob("cells-*.parquet"))
    assert [int(f.stem.split("-")[1]) for f in files] == kept
    for f, rep in zip(files, kept):
        reps = set(pq.read_table(f, columns=["replication"]).column(0).to_pylist())
        assert reps == {rep}
    db = sqlite3.connect(partial / "trace.sqlite")
    try:
        assert sorted(r for (r,) in db.execute("SELECT replication FROM runs")) == kept
        assert sorted(r for (r,) in db.execute("SELECT DISTINCT replication FROM cells")) == kept
    finally:
        db.close()
    return kept


@pytest.mark.parametrize("at_least", [1, 2])
def test_sigkill_leaves_the_previous_result_and_an_honest_partial_folder(tmp_path, at_least):
    out, before = _previous_result(tmp_path)
    proc = _start(tmp_path, out, replications=30)
    partial = out.with_name("out.partial")
    _wait_committed(proc, partial, at_least)
    proc.kill()
    proc.communicate()
    assert (out / "summary.json").read_bytes() == before  # the previous result, untouched
    assert sorted(p.name for p in out.iterdir()) == ["cells.parquet", "process.parquet", "summary.json", "trace.sqlite"]
    kept = _check_partial(partial)
    assert len(kept) >= at_least and kept == list(range(len(kept)))
    assert "not a result" in (partial / "PARTIAL.txt").read_text()


def test_sigint_commits_the_current_replication_says_so_and_exits_130(tmp_path):
    out, before = _previous_result(tmp_path)
    proc = _start(tmp_path, out, replications=30)
    partial = out.with_name("out.partial")
    _wait_committed(proc, partial, 1)
    proc.send_signal(signal.SIGINT)
    seen = len(_committed(partial))
    wait_until(lambda: proc.poll() is not None, REPLICATION_BUDGET_S, "twin run to stop after Ctrl-C",
               progress=lambda: watch_process_cpu(proc.pid))
    _, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    kept = _check_partial(partial)
    assert seen <= len(kept) <= seen + 1 < 30  # the replication under way was finished and kept
    assert f"kept replication(s) {', '.join(map(str, kept))}" in stderr.replace("\n", "")
    assert "interrupted (Ctrl-C)" in (partial / "PARTIAL.txt").read_text()
    assert (out / "summary.json").read_bytes() == before


def test_a_finished_run_leaves_no_partial_folder(tmp_path):
    out, _ = _previous_result(tmp_path)
    assert not out.with_name("out.partial").exists()
    assert not (out / "replications").exists() and not (out / "PARTIAL.txt").exists()
