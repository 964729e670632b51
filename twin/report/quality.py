"""Quality split the way an engineer asks: yield by press and by lot (95% intervals inside [0, 1]),
the interface model's outputs per press and per lot, measured collector flatness against the
cell's outcome, and the distribution of each interface output.

Output names and meanings come from the interface model's declared outputs (twin.interface),
surface names from twin.cell, so a renamed or added output shows up without a change here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from twin.report.data import RunOutputs, mapping, num
from twin.report.plotting import Figure, box_stats, clipped_errors, colour, count_axis, go, histogram, new_figure
from twin.report.units import FRACTION_UNIT, axis_title

DEPARTED = ("accepted", "rejected")
SIM_RUN_ID = re.compile(r"^sim-(?P<station>.+)-\d+$")


def quality_outputs(columns) -> list[tuple[str, str]]:
    """(name, meaning) of the interface model's outputs that the cell table has."""
    from twin.interface.model import load_model

    model = load_model("fast")
    return [(q.name, q.description) for q in model.outputs if q.name in set(columns)]


def surface_columns(columns) -> list[str]:
    from twin.cell import SURFACE_KEYS

    return [k for k in SURFACE_KEYS if k in set(columns)]


def yield_by(run: RunOutputs, group: str) -> Figure:
    """Final yield per press or per lot with its 95% interval, cut at 0 and 1."""
    what = group.removeprefix("yield_by_")
    title = f"Final yield by {what} (mean ± 95% CI)"
    values = {k: num(v) for k, v in mapping(run.summary, group).items()}
    values = {k: v for k, v in values.items() if math.isfinite(v)}
    if not values:
        return Figure(group, title, note=f"no yield by {what} recorded in this run")
    ci = mapping(mapping(run.summary, "ci95"), group)
    names = list(values)
    plus, minus = clipped_errors([values[n] for n in names], [ci.get(n) for n in names], 0.0, 1.0)
    fig = new_figure(height=340)
    fig.add_trace(go().Bar(x=names, y=[values[n] for n in names], marker_color=[colour(i) for i in range(len(names))],
                           error_y=dict(type="data", array=plus, arrayminus=minus, symmetric=False),
                           hovertemplate=f"{what} %{{x}}: %{{y:.4f}}<extra></extra>"))
    low = min(values[n] - m for n, m in zip(names, minus))
    fig.update_yaxes(title_text=f"final yield ({FRACTION_UNIT})", range=[max(0.0, min(low - 0.05, 0.9)), 1.0])
    fig.update_xaxes(title_text=what)
    note = "" if len(names) > 1 else f"Only one {what} in this run."
    return Figure(group, title, fig, note)


def cell_press(run: RunOutputs) -> tuple[Any, str]:
    """The press station of every cell: the `press_station` column, else its last press run's station."""
    cells = run.cells
    if "press_station" in cells.columns:
        return cells["press_station"].where(cells["press_station"].astype(str) != "", None), ""
    presses = set(mapping(run.summary, "yield_by_press"))
    if not presses or "press_runs" not in cells.columns:
        return None, ""
    by_run = {}
    runs = run.trace.get("device_runs")
    if runs is not None and {"run_id", "station"} <= set(runs.columns):
        by_run = dict(zip(runs["run_id"], runs["station"]))

    def press_of(text: Any) -> str | None:
        for run_id in reversed(run_ids(text)):
            match = SIM_RUN_ID.match(run_id)
            station = by_run.get(run_id) or (match.group("station") if match else None)
            if station in presses:
                return station
        return None

    return cells["press_runs"].map(press_of), "Press per cell taken from its press run ids (cells has no " \
                                              "press_station column)."


def run_ids(text: Any) -> list[str]:
    """The press run ids of a cell: a JSON array, or (older outputs) ids joined with commas."""
    raw = str(text or "").strip()
    if raw.startswith("["):
        try:
            ids = json.loads(raw)
        except json.JSONDecodeError:
            return []
        return [str(i) for i in ids] if isinstance(ids, list) else []
    return [r for r in raw.split(",") if r]


def interface_by(run: RunOutputs, by: str) -> Figure:
    """Box plots (quartiles, Tukey fences, mean) of each interface output per press or per lot."""
    name, title = f"interface_by_{by}", f"Interface-model outputs by {by} (cells that left the line)"
    cells = _departed(run)
    if cells is None:
        return Figure(name, title, note="no cell records with interface outputs in this run (cells.parquet)")
    outputs = quality_outputs(cells.columns)
    note = ""
    if by == "lot":
        groups = cells["lot"] if "lot" in cells.columns else None
    else:
        groups, note = cell_press(RunOutputs(run.directory, run.summary, cells, run.trace))
    if groups is None or not outputs or groups.dropna().empty:
        return Figure(name, title, note=f"no {by} or interface outputs recorded per cell in this run")
    return _box_grid(name, title, cells, groups, [(o, d) for o, d in outputs], run.currency, note)


def flatness_vs_outcome(run: RunOutputs) -> Figure:
    """Measured collector flatness (the metrology's numbers) split by what became of the cell."""
    name, title = "flatness_vs_outcome", "Measured collector flatness against the cell's outcome"
    cells = _departed(run)
    columns = surface_columns(cells.columns) if cells is not None else []
    if cells is None or not columns:
        return Figure(name, title, note="no measured flatness per cell in this run (cells.parquet)")
    outcome = cells["outcome"].astype(str)
    reworks = cells["reworks"].fillna(0) if "reworks" in cells.columns else 0
    reason = cells["reason"].fillna("").astype(str) if "reason" in cells.columns else ""
    group = outcome.where(outcome != "accepted", "accepted, first pass")
    group = group.where(~((outcome == "accepted") & (reworks > 0)), "accepted after rework")
    group = group.where(outcome != "rejected", "rejected: " + reason)
    return _box_grid(name, title, cells, group, [(c, "measured") for c in columns], run.currency,
                     "Measured values, with the metrology's bandwidth and noise (true values are in cells.parquet "
                     "as true_*).")


def distributions(run: RunOutputs) -> Figure:
    """Histogram of each interface output over the cells that left the line."""
    name, title = "quality_distributions", "Distributions of the interface-model outputs"
    cells = _departed(run)
    outputs = quality_outputs(cells.columns) if cells is not None else []
    if cells is None or not outputs:
        return Figure(name, title, note="no interface outputs per cell in this run (fixed quality mode or no cells)")
    from plotly.subplots import make_subplots

    rows = math.ceil(len(outputs) / 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[d for _, d in outputs],
                        vertical_spacing=min(0.12, 0.6 / rows))
    fig.update_layout(template="plotly_white", height=260 * rows + 60, showlegend=False,
                      margin=dict(l=70, r=30, t=50, b=50))
    empty = []
    for i, (col, _) in enumerate(outputs):
        r, c = i // 2 + 1, i % 2 + 1
        hist = histogram(cells[col])
        if hist is None:
            empty.append(col)
            continue
        centres, counts, widths = hist
        fig.add_trace(go().Bar(x=centres, y=counts, width=widths, marker_color="#2ca02c",
                               hovertemplate=f"{col} %{{x:.4g}}: %{{y:d}} cells<extra></extra>"), row=r, col=c)
        fig.update_xaxes(title_text=axis_title(col), row=r, col=c)
        fig.update_yaxes(title_text="count (cells)", row=r, col=c, **count_axis(float(max(counts))))
    note = f"No finite values of {', '.join(empty)}." if empty else ""
    return Figure(name, title, fig, note)


def _departed(run: RunOutputs) -> Any:
    cells = run.cells
    if cells is None or "outcome" not in cells.columns or not len(cells):
        return None
    departed = cells[cells["outcome"].isin(DEPARTED)]
    return departed if len(departed) else None


def _box_grid(name: str, title: str, cells, groups, columns: list[tuple[str, str]], currency: str | None,
              note: str) -> Figure:
    from plotly.subplots import make_subplots

    labels = sorted({str(g) for g in groups.dropna()})
    rows = math.ceil(len(columns) / 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[f"{c}: {d}" for c, d in columns],
                        vertical_spacing=min(0.14, 0.6 / rows))
    fig.update_layout(template="plotly_white", height=300 * rows + 80, showlegend=False,
                      margin=dict(l=70, r=30, t=60, b=50))
    fig.update_annotations(font_size=12)
    for i, (col, _) in enumerate(columns):
        r, c = i // 2 + 1, i % 2 + 1
        for k, label in enumerate(labels):
            stats = box_stats(cells.loc[groups.astype(str) == label, col])
            if stats is None:
                continue
            n = stats.pop("n")
            fig.add_trace(go().Box(x=[label], name=label, marker_color=colour(k), boxmean=True,
                                   q1=[stats["q1"]], median=[stats["median"]], q3=[stats["q3"]],
                                   lowerfence=[stats["lowerfence"]], upperfence=[stats["upperfence"]],
                                   mean=[stats["mean"]], hovertext=[f"{n} cells"]), row=r, col=c)
        fig.update_yaxes(title_text=axis_title(col, currency), row=r, col=c)
        fig.update_xaxes(type="category", row=r, col=c, tickangle=-20)
    return Figure(name, title, fig, note)
