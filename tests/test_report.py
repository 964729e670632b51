"""Reports: the HTML is self-contained (every plot embedded as a data: URI, a KPI table),
for a run directory and a sweep directory; a headless Chromium decodes every image."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.report import build_report
from twin.scenario import parse_scenario
from twin.simulation import Simulation
from twin.studies.sweep import parse_setting, run_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_FIGURES = {"throughput_wip", "utilisation", "reject_pareto", "quality_distributions"}
SWEEP_FIGURES = {"sweep_response", "sweep_paired_diff"}


def line() -> dict:
    lot = {k: {"dist": "fixed", "value": v} for k, v in
           (("sq_um", 0.2), ("sdq", 0.05), ("pv_um", 1.5), ("waviness_um", 1.0), ("waviness_mm", 5.0))}
    return {
        "name": "report-line",
        "run": {"duration_h": 150.0, "warmup_h": 20.0, "replications": 2, "seed": 4},
        "source": {"interarrival_h": {"dist": "exponential", "mean": 1.0}, "first": "prep"},
        "lots": {"a": lot},
        "stations": {
            "prep": {"kind": "process", "process_time_h": {"dist": "exponential", "mean": 0.7}, "next": "check"},
            "check": {"kind": "inspect", "process_time_h": {"dist": "fixed", "value": 0.05},
                      "fixed": {"p_accept": 0.85, "p_rework": 0.05, "p_reject": 0.1}, "on_rework": "prep"},
        },
        "cost": {"equipment_per_server_h": {"prep": 5.0}, "material_per_cell": 3.0},
    }


class Page(HTMLParser):
    """The parts of the report a reader relies on."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.figures: list[str] = []
        self.tables: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "figure":
            self.figures.append(a.get("id", ""))
        if tag == "table":
            self.tables.append(a.get("id", ""))
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.external.append(a.get("href") or a.get("src"))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_self_contained(html_path: Path, expected: set[str]) -> Page:
    page = parse(html_path)
    assert {f.removeprefix("fig-") for f in page.figures} >= expected
    assert len(page.images) == len(page.figures)
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert page.external == []
    assert "kpi-table" in page.tables
    for name in expected:
        assert (html_path.parent / "plots" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    return page


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    Simulation(parse_scenario(line())).run(d)
    return d


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    settings = [parse_setting("source.interarrival_h.mean=1.0,0.9,0.8"), parse_setting("stations.prep.servers=1,2")]
    run_sweep(line(), settings, replications=2, out_dir=d)
    return d


def test_run_report_embeds_every_plot_and_the_kpi_table(run_dir):
    path, figures = build_report(run_dir)
    assert {f.name for f in figures} == RUN_FIGURES
    check_self_contained(path, RUN_FIGURES)
    text = path.read_text()
    for kpi in ("throughput_per_h", "final_yield", "cost_per_good_cell", "utilisation.prep"):
        assert kpi in text


def test_sweep_report_embeds_response_curves_and_the_table(sweep_dir):
    path, figures = build_report(sweep_dir)
    assert SWEEP_FIGURES <= {f.name for f in figures}
    check_self_contained(path, SWEEP_FIGURES)
    text = path.read_text()
    assert len(re.findall(r"<tr><td>\d+</td>", text)) == 6  # one table row per grid point
    assert "Δ" in text


def test_cli_report_exit_codes(run_dir, tmp_path):
    ok = CliRunner().invoke(app, ["report", str(run_dir)])
    assert ok.exit_code == 0, ok.output
    assert (run_dir / "report.html").exists()
    empty = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert empty.exit_code == 2


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("which", ["run", "sweep"])
def test_headless_chromium_decodes_every_embedded_image(which, run_dir, sweep_dir, tmp_path):
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"headless browser check skipped: no Chromium at {CHROMIUM} (apt-get install chromium); "
                    "the HTML is still parsed and every data: URI decoded by the other tests")
    d = run_dir if which == "run" else sweep_dir
    path, figures = build_report(d)
    # a copy with a probe that records each image's decoded width once the page has loaded
    probe = path.read_text().replace(
        "</body>", "<script>window.addEventListener('load',()=>{document.body.setAttribute('data-widths',"
                   "[...document.images].map(i=>i.complete?i.naturalWidth:-1).join(','))});</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(probe, encoding="utf-8")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90)
    match = re.search(r'data-widths="([^"]*)"', proc.stdout)
    assert match, f"no probe result from Chromium (rc {proc.returncode}): {proc.stderr[-500:]}"
    widths = [int(w) for w in match.group(1).split(",") if w]
    assert len(widths) == len(figures)
    assert all(w > 100 for w in widths), widths
