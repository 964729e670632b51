"""The HTML report of a run, sweep, optimisation or sensitivity directory: one self-contained, interactive page
(plotly, with plotly.js inlined) written to DIR/report.html.

`build_report(DIR)` never fails on what a run or sweep wrote: optional records that are
missing or unreadable become a note on the page. It raises ReportError only when DIR holds
nothing reportable (the CLI exits 2). plotly and pandas (the `report` extra) are imported
only when a report is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.report.data import ReportError
from twin.report.plotting import Figure

__all__ = ["Report", "ReportError", "build_report", "Figure"]
REPORT_FILE = "report.html"


@dataclass
class Report:
    path: Path
    kind: str
    figures: list[Figure]

    @property
    def plotted(self) -> list[Figure]:
        return [f for f in self.figures if f.plot is not None]

    @property
    def failed(self) -> list[Figure]:
        return [f for f in self.figures if f.failed]


def kind_of(directory: Path) -> str:
    """'sweep' or 'run' by the files the directory holds; ReportError when it holds neither."""
    if not directory.is_dir():
        raise ReportError(f"{directory}: not a directory")
    if (directory / "optimize.json").exists():
        return "optimize"
    if (directory / "sensitivity.json").exists():
        return "sensitivity"
    if (directory / "sweep.json").exists() and (directory / "sweep.parquet").exists():
        return "sweep"
    if (directory / "summary.json").exists():
        return "run"
    raise ReportError(f"{directory}: holds no run (summary.json), sweep (sweep.json, sweep.parquet), "
                      "optimisation (optimize.json) or sensitivity study (sensitivity.json)")


def build_report(directory: str | Path) -> Report:
    """Write DIR/report.html for a run or sweep directory and return what it shows."""
    from twin.report import assemble, data
    from twin.report.page import write_atomic

    d = Path(directory)
    kind = kind_of(d)
    try:
        import pandas  # noqa: F401
        import plotly  # noqa: F401
    except ImportError as exc:
        raise ReportError(f"the report needs plotly and pandas ({exc}): pip install 'anodeless-twin[report]'") from None
    if kind == "optimize":
        page, figures = assemble.optimize_page(data.load_optimize(d))
    elif kind == "sensitivity":
        page, figures = assemble.sensitivity_page(data.load_sensitivity(d))
    elif kind == "sweep":
        page, figures = assemble.sweep_page(data.load_sweep(d))
    else:
        page, figures = assemble.run_page(data.load_run(d))
    out = d / REPORT_FILE
    write_atomic(out, page)
    return Report(out, kind, figures)
