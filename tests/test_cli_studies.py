"""The study commands and the CLI habits as a user meets them: `twin optimize` / `twin sensitivity`
end to end (JSON out, report of the result), an `expect:` row judged on the 95% bound, `--version`,
`--log-level`, progress lines when piped, output folders never replaced without --force, tables not
cut to 80 columns, shell completion."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.helpers import REPO, exp, fixed, scenario_dict, station, write_yaml
from twin import __version__
from twin.cli import app

FIXED_YIELD = {"p_accept": 0.95, "p_rework": 0.0, "p_reject": 0.05}


def line(**over) -> dict:
    """A queue and an inspection that accepts 95% of cells at random: final yield ~0.95 with noise."""
    return scenario_dict({"prep": station(exp(0.5), next="check"),
                          "check": {"kind": "inspect", "process_time_h": fixed(0.01), "fixed": FIXED_YIELD,
                                    "on_rework": "prep"}},
                         duration_h=300.0, warmup_h=10.0, replications=3, seed=3, run={"write_trace": False},
                         cost={"equipment_per_server_h": {"prep": 5.0}, "material_per_cell": 2.0}, **over)


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_optimize_end_to_end_json_and_report(tmp_path):
    path = write_yaml(tmp_path / "line.yaml", line())
    out = tmp_path / "opt"
    res = cli("optimize", path, "--param", "stations.prep.servers=1:3:int", "--objective", "cost_per_good_cell",
              "--constraint", "mean_wip<=5", "--budget", "4", "--replications", "2", "--out", out, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout[res.stdout.index("{"):])
    distinct = {t["stations.prep.servers"] for t in doc["trials"]}
    assert doc["meta"]["trials"] == 4 and doc["meta"]["runs"] == 2 * len(distinct)  # a repeated point is not rerun
    assert len(doc["trials"]) == 4 and distinct <= {1, 2, 3}
    again = cli("optimize", path, "--param", "stations.prep.servers=1:3:int", "--objective", "cost_per_good_cell",
                "--budget", "4", "--out", out)
    assert again.exit_code == 2 and "exists" in again.output
    rep = cli("report", out, "--json")
    assert rep.exit_code == 0, rep.output
    figures = {f["name"]: f for f in json.loads(rep.stdout)["figures"]}
    assert figures["history_cost_per_good_cell"]["plotted"] and "importance" in figures


def test_sensitivity_end_to_end_and_a_bad_method_exits_2(tmp_path):
    path = write_yaml(tmp_path / "line.yaml", line())
    out = tmp_path / "sens"
    res = cli("sensitivity", path, "--param", "cost.material_per_cell=1:3", "--param",
              "source.interarrival_h.mean=0.8:1.2", "--kpi", "cost_per_good_cell", "--samples", "3",
              "--replications", "2", "--out", out)
    assert res.exit_code == 0, res.output
    assert "material_per_cell" in res.stdout and (out / "indices.parquet").exists()
    assert cli("report", out).exit_code == 0
    bad = cli("sensitivity", path, "--param", "cost.material_per_cell=1:3", "--method", "latin", "--out",
              tmp_path / "bad")
    assert bad.exit_code == 2 and "method" in bad.output


def test_an_expectation_on_evidence_fails_where_the_mean_passes(tmp_path):
    """The issue's case: final yield ~0.95 +- noise; `min` just under the mean passes on the mean only."""
    probe = cli("run", write_yaml(tmp_path / "probe.yaml", line()), "--out", tmp_path / "probe", "--json")
    summary = json.loads((tmp_path / "probe" / "summary.json").read_text())
    mean, hw = summary["final_yield"], summary["ci95"]["final_yield"]
    assert probe.exit_code == 0 and hw > 0.002
    threshold = round(mean - hw / 2, 6)  # the mean clears it, the lower 95% bound does not
    on_mean = line(expect=[{"kpi": "final_yield", "min": threshold}])
    on_evidence = line(expect=[{"kpi": "final_yield", "min": threshold, "evidence": "ci95"}])
    assert cli("run", write_yaml(tmp_path / "a.yaml", on_mean), "--out", tmp_path / "a").exit_code == 0
    res = cli("run", write_yaml(tmp_path / "b.yaml", on_evidence), "--out", tmp_path / "b")
    assert res.exit_code == 1, res.output
    verdict = json.loads((tmp_path / "b" / "summary.json").read_text())["expectations"][0]
    assert verdict["evidence"] == "ci95" and not verdict["passed"]
    assert verdict["ci95"] == pytest.approx(hw)
    bad = cli("validate", write_yaml(tmp_path / "c.yaml", line(expect=[{"kpi": "final_yield", "min": 0.9,
                                                                        "evidence": "lucky"}])))
    assert bad.exit_code == 2 and "evidence" in bad.output


def test_run_refuses_an_existing_folder_unless_forced(tmp_path):
    path = write_yaml(tmp_path / "line.yaml", line())
    out = tmp_path / "out"
    assert cli("run", path, "--out", out).exit_code == 0
    (out / "keep.txt").write_text("mine")
    res = cli("run", path, "--out", out)
    assert res.exit_code == 2 and "--force" in res.output
    assert (out / "keep.txt").exists()
    assert cli("run", path, "--out", out, "--force").exit_code == 0
    assert not (out / "keep.txt").exists()


def test_version_log_level_and_completion():
    res = cli("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"twin {__version__}"
    assert cli("--log-level", "loud", "validate", REPO / "scenarios" / "mm1.yaml").exit_code == 2
    assert cli("--log-level", "ERROR", "validate", REPO / "scenarios" / "mm1.yaml").exit_code == 0
    assert "--install-completion" in cli("--help").stdout


def test_piped_output_has_progress_lines_and_full_tables(tmp_path):
    """Through a real pipe: one progress line per replication on stderr, rows not cut at 80 columns."""
    long_name = "a_station_with_a_rather_long_descriptive_name_for_the_table"
    data = line()
    data["stations"][long_name] = data["stations"].pop("prep")
    data["stations"]["check"]["on_rework"] = long_name
    data["source"]["first"] = long_name
    data["cost"]["equipment_per_server_h"] = {long_name: 5.0}
    path = write_yaml(tmp_path / "line.yaml", data)
    proc = subprocess.run([sys.executable, "-m", "twin.cli", "run", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "replication" in ln]
    assert len(lines) == 3 and lines[-1].startswith("run test: 3/3 replication 2")
    assert f"utilisation.{long_name}" in proc.stdout
    assert max(len(ln) for ln in proc.stdout.splitlines()) > 80
