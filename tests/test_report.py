"""The run and sweep reports on real outputs: every figure an engineer reads is drawn with units on
its axes, intervals inside their physical range, integer ticks for integer settings and bars for
categorical ones; missing records give a note, never a crash; the page is self-contained; the CLI
exits 0 when it wrote a report and 2 when there was nothing to report."""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.report_outputs import (
    as_older_output,
    axis_titles,
    categorical_sweep_dir,
    numeric_sweep_dir,
    plotted,
    run_dir,
    two_press_data,
)
from twin.cli import app
from twin.report import build_report
from twin.report.plotting import histogram, integer_axis

RUN_FIGURES = {"yield_waterfall", "throughput_wip", "buffer_levels", "utilisation", "station_state_shares",
               "station_state_gantt", "press_trace_0", "press_trace_1", "yield_by_press", "yield_by_lot",
               "interface_by_press", "interface_by_lot", "flatness_vs_outcome", "quality_distributions",
               "cost_breakdown"}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """A real two-press run: station states, buffer levels, press traces and cost breakdown as recorded."""
    return run_dir(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory) -> Path:
    """A real run without a cost section, as an older recorder wrote it (no station states, traces, buffer levels)."""
    data = two_press_data()
    del data["cost"]
    data["run"]["write_trace"] = True  # the visits table, from which the buffer plot is rebuilt
    return as_older_output(run_dir(tmp_path_factory.mktemp("bare"), data))


@pytest.fixture(scope="module")
def numeric_sweep(tmp_path_factory) -> Path:
    return numeric_sweep_dir(tmp_path_factory.mktemp("numeric"))


@pytest.fixture(scope="module")
def categorical_sweep(tmp_path_factory) -> Path:
    return categorical_sweep_dir(tmp_path_factory.mktemp("categorical"))


def errors_inside(trace: dict, low: float, high: float, axis: str = "y") -> bool:
    values = np.asarray(trace[axis], dtype=float)
    err = trace[f"error_{axis}"]
    plus = np.asarray(err["array"], dtype=float)
    minus = np.asarray(err.get("arrayminus", err["array"]), dtype=float)
    ok = np.isfinite(values)
    return bool(np.all(values[ok] + plus[ok] <= high + 1e-12) and np.all(values[ok] - minus[ok] >= low - 1e-12))


def test_run_report_draws_every_figure_an_engineer_reads(full_run):
    report = build_report(full_run)
    assert report.kind == "run" and report.failed == []
    drawn = {f.name for f in report.plotted}
    assert drawn == RUN_FIGURES, {f.name: f.note for f in report.figures if f.plot is None}
    summary = json.loads((full_run / "summary.json").read_text())

    # the waterfall balances: WIP at start + started - rejects by reason - WIP at end = good
    water = plotted(report, "yield_waterfall").data[0]
    labels, values = list(water.x), list(water.y)
    assert "not accounted for" not in labels
    assert labels[-1] == "good (accepted)" and values[-1] == pytest.approx(summary["cells_accepted"])
    assert sum(values[:-1]) == pytest.approx(values[-1], abs=0.5)
    assert {f"rejected: {r}" for r in summary["reject_reasons"]} <= set(labels)

    # quality split by press and by lot, yields with intervals cut at 1
    for group in ("yield_by_press", "yield_by_lot"):
        bar = plotted(report, group).data[0]
        assert set(bar.x) == set(summary[group])
        assert errors_inside(bar.to_plotly_json(), 0.0, 1.0)
    presses = {t.name for t in plotted(report, "interface_by_press").data}
    assert presses == {"wip_press", "uniaxial_press"}
    lots = {t.name for t in plotted(report, "interface_by_lot").data}
    assert lots == set(summary["yield_by_lot"])
    outcomes = {t.name for t in plotted(report, "flatness_vs_outcome").data}
    assert "accepted, first pass" in outcomes and any(o.startswith("rejected: ") for o in outcomes)

    util = plotted(report, "utilisation").data[0].to_plotly_json()
    assert errors_inside(util, 0.0, 1.0, axis="x")
    lanes = set(plotted(report, "station_state_gantt").data[0].y) | {
        y for t in plotted(report, "station_state_gantt").data for y in t.y}
    assert {"uniaxial_press #1", "uniaxial_press #4", "wip_press"} <= lanes
    shares = plotted(report, "station_state_shares")
    assert {t.name for t in shares.data} == {"busy", "blocked", "starved", "down", "off-shift"}

    # units on the axes; cost in its currency
    assert "EUR" in axis_titles(plotted(report, "cost_breakdown"))["yaxis"]
    assert axis_titles(plotted(report, "press_trace_0"))["yaxis"] == "pressure (MPa)"
    assert axis_titles(plotted(report, "buffer_levels"))["yaxis"] == "waiting (cells)"
    for f in report.plotted:
        assert_units_on_numeric_axes(f.name, f.plot)


def assert_units_on_numeric_axes(name: str, fig) -> None:
    """Every axis that carries numbers has a title with its unit in brackets."""
    titles = axis_titles(fig)
    for trace in fig.data:
        j = trace.to_plotly_json()
        for letter in ("x", "y"):
            values = j.get(letter)
            if values is None or j.get("type") == "waterfall" and letter == "x":
                continue
            numeric = [v for v in np.asarray(values, dtype=object).ravel() if v is not None]
            if numeric and all(isinstance(v, (int, float, np.number)) for v in numeric):
                axis = letter + "axis" + (j.get(letter + "axis") or letter)[1:]
                assert re.search(r"\(.+\)", titles.get(axis, "")), (name, axis, titles)
        if j.get("type") == "box":
            axis = "yaxis" + (j.get("yaxis") or "y")[1:]
            assert re.search(r"\(.+\)", titles.get(axis, "")), (name, axis, titles)


def test_run_report_without_the_optional_records_says_what_is_missing(bare_run, tmp_path):
    report = build_report(bare_run)
    notes = {f.name: f.note for f in report.figures if f.plot is None}
    assert report.failed == []
    assert set(notes) == {"station_state_shares", "station_state_gantt", "press_trace", "cost_breakdown"}
    assert all("not recorded in this run" in n or "no cost" in n for n in notes.values()), notes
    assert "buffer_levels" in {f.name for f in report.plotted}  # rebuilt from the visits table

    bare = tmp_path / "only-summary"
    bare.mkdir()
    shutil.copy(bare_run / "summary.json", bare)
    (bare / "trace.sqlite").write_bytes(b"not a database")
    report = build_report(bare)
    assert report.failed == []
    assert "trace.sqlite could not be" in report.path.read_text()
    assert {f.name for f in report.plotted} == {"yield_waterfall", "utilisation", "yield_by_press", "yield_by_lot"}


def test_numeric_sweep_has_integer_ticks_groups_and_clipped_yields(numeric_sweep):
    report = build_report(numeric_sweep)
    assert report.kind == "sweep" and report.failed == []
    fig = plotted(report, "sweep_response")
    layout = fig.to_plotly_json()["layout"]
    x_axes = [v for k, v in layout.items() if k.startswith("xaxis")]
    assert all(a.get("tickvals") == [2, 3, 4] for a in x_axes)
    assert all("servers" in a["title"]["text"] for a in x_axes)
    assert {t.name for t in fig.data} == {"hold_s=200", "hold_s=400"}
    for t in fig.data:
        j = t.to_plotly_json()
        axis = "yaxis" + (j.get("yaxis") or "y")[1:]
        title = layout[axis]["title"]["text"]
        if "yield" in title:
            assert "fraction" in title and errors_inside(j, 0.0, 1.0)
        if "cost" in title:
            assert "EUR per good cell" in title
        if "cells" in title or "(h)" in title:
            assert errors_inside(j, 0.0, math.inf)
    diff = plotted(report, "sweep_paired_diff")
    assert all(t.type == "scatter" for t in diff.data)
    assert any(s.get("y0") == 0.0 for s in diff.to_plotly_json()["layout"].get("shapes", []))
    table = report.path.read_text()
    assert len(re.findall(r"<tr><td>\d+</td>", table)) == 6  # one row per grid point


def test_categorical_sweep_is_drawn_as_bars_with_short_labels(categorical_sweep):
    report = build_report(categorical_sweep)
    fig = plotted(report, "sweep_response")
    assert fig.data and all(t.type == "bar" for t in fig.data)
    labels = {x for t in fig.data for x in t.x}
    assert labels == {"heated_uniaxial_cv10", "heated_uniaxial_cv05", "heated_uniaxial_cv01"}
    assert all("/" in c for t in fig.data for c in t.customdata)  # the full path on hover
    note = next(f.note for f in report.figures if f.name == "sweep_response")
    assert "heated_uniaxial_cv05 = " in note


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.external: list[str] = []
        self.scripts = 0
        self.figures: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "script", "img", "iframe") and (a.get("href") or a.get("src")):
            self.external.append(a.get("href") or a.get("src"))
        if tag == "figure":
            self.figures.append(a.get("id", ""))


def test_page_is_self_contained_with_plotly_inlined_once(full_run):
    report = build_report(full_run)
    text = report.path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    assert page.external == []
    assert text.count("plotly.js v") == 1  # the library banner: inlined once, in the head
    assert {f.removeprefix("fig-") for f in page.figures} == {f.name for f in report.figures}
    assert page.scripts == 1 + len(report.plotted)
    assert not list(full_run.glob(".report.html.*.tmp"))


def test_histogram_survives_the_columns_that_crashed_the_old_report():
    assert histogram([]) is None and histogram([math.nan, None]) is None
    centres, counts, widths = histogram([3.0] * 500)
    assert counts.tolist() == [500] and widths[0] > 0
    near = 3.0 + np.random.default_rng(1).normal(0, 1e-13, 1000)  # the r_int that broke bins=40
    centres, counts, widths = histogram(near)
    assert counts.sum() == 1000 and len(counts) <= 60
    assert integer_axis([2, 3, 4])["tickvals"] == [2, 3, 4]
    assert integer_axis(range(0, 100))["dtick"] >= 1


def test_cli_report_exit_codes(bare_run, numeric_sweep, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["report", str(bare_run)])
    assert ok.exit_code == 0, ok.output
    assert "run report" in ok.output and (bare_run / "report.html").exists()
    assert runner.invoke(app, ["report", str(numeric_sweep)]).exit_code == 0
    assert runner.invoke(app, ["report", str(tmp_path)]).exit_code == 2  # empty directory
    assert runner.invoke(app, ["report", str(tmp_path / "missing")]).exit_code == 2
    (tmp_path / "summary.json").write_text("{not json")
    bad = runner.invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "summary.json" in bad.output
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    shutil.copy(numeric_sweep / "sweep.json", sweep)
    (sweep / "sweep.parquet").write_bytes(b"PAR1 broken")
    assert runner.invoke(app, ["report", str(sweep)]).exit_code == 2


def test_reading_a_run_for_its_report_leaves_the_run_folder_as_it_was(full_run):
    """The trace is closed out of WAL mode, so even a read-only reader adds no -wal/-shm files."""
    before = sorted(p.name for p in full_run.iterdir())
    build_report(full_run)
    assert sorted(p.name for p in full_run.iterdir() if p.name != "report.html") == \
        [n for n in before if n != "report.html"]
    assert not any(n.endswith(("-wal", "-shm")) for n in before)
