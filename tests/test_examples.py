"""The example under examples/ runs as a user runs it (a fresh interpreter, from the repository root)
and answers its question: a feasible hold time whose yield bound clears 95%, with study folders a
report can be made of."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.helpers import REPO
from twin.cli import app


@pytest.mark.slow
def test_hold_time_study_answers_its_question(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "hold_time_study.py"), "--budget", "8",
                           "--replications", "2", "--samples", "2", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r"answer: hold (\d+) s, ([0-9.]+) EUR per good cell, final yield >= ([0-9.]+) \(lower 95% bound\), "
                  r"(\d+) simulation runs", proc.stdout)
    assert m, proc.stdout[-2000:]
    hold, cost, low, runs = int(m[1]), float(m[2]), float(m[3]), int(m[4])
    assert 60 <= hold <= 3600 and cost > 0 and low >= 0.95 and 0 < runs <= 8 * 2
    assert "mu_star" in proc.stdout
    for study in ("optimize", "sensitivity"):
        res = CliRunner().invoke(app, ["report", str(tmp_path / study)])
        assert res.exit_code == 0, res.output
