"""Where the cells and the money go: the yield waterfall from started to good, throughput and WIP
over time, WIP per buffer, and the cost of a good cell by category."""

from __future__ import annotations

import math

import numpy as np

from twin.report.data import RunOutputs, mapping, num
from twin.report.plotting import Figure, colour, count_axis, finite, go, new_figure, thin
from twin.report.units import axis_title

DEFAULT_WINDOW_H = 24.0  # the window of a reconstructed buffer plot, as the recorder's default timeline
BALANCE_TOLERANCE_CELLS = 0.5
COST_CATEGORIES = ("equipment", "materials", "scrap", "rework", "overhead")


def yield_waterfall(run: RunOutputs) -> Figure:
    """Cells in the window: WIP at the start plus cells started, minus each reject reason, minus WIP left
    at the end, equals good cells (means per replication)."""
    title = "Yield waterfall: from cells started to good cells (mean per replication)"
    s = run.summary
    started, wip0, wip1, good = (num(s.get(k)) for k in ("cells_started", "wip_start", "wip_end", "cells_accepted"))
    if not (math.isfinite(started) and math.isfinite(good)):
        return Figure("yield_waterfall", title, note="cells_started or cells_accepted not recorded in this run")
    labels, values, measures = [], [], []
    for label, value in (("in process at start", wip0), ("started in window", started)):
        if math.isfinite(value) and value:
            labels.append(label)
            values.append(value)
            measures.append("relative")
    reasons = {k: num(v) for k, v in mapping(s, "reject_reasons").items() if math.isfinite(num(v)) and num(v) > 0}
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        labels.append(f"rejected: {reason}")
        values.append(-count)
        measures.append("relative")
    if math.isfinite(wip1) and wip1:
        labels.append("in process at end")
        values.append(-wip1)
        measures.append("relative")
    gap = sum(values) - good
    if abs(gap) > BALANCE_TOLERANCE_CELLS:
        labels.append("not accounted for")
        values.append(-gap)
        measures.append("relative")
    labels.append("good (accepted)")
    values.append(good)
    measures.append("total")
    fig = new_figure(height=420)
    fig.add_trace(go().Waterfall(x=labels, y=values, measure=measures, textposition="outside",
                                  text=[f"{v:+.4g}" if m == "relative" else f"{v:.4g}"
                                        for v, m in zip(values, measures)],
                                  decreasing=dict(marker=dict(color="#d62728")),
                                  increasing=dict(marker=dict(color="#1f77b4")),
                                  totals=dict(marker=dict(color="#2ca02c")),
                                  hovertemplate="%{x}: %{y:.4g} cells<extra></extra>"))
    fig.update_yaxes(title_text="cells per replication (cells)", rangemode="tozero")
    fig.update_xaxes(tickangle=-25)
    reworked = num(s.get("cells_reworked"))
    note = f"{reworked:.4g} cells per replication were reworked on the way (counted once, in their final outcome)." \
        if math.isfinite(reworked) and reworked > 0 else ""
    if abs(gap) > BALANCE_TOLERANCE_CELLS:
        note += f" The flow does not balance by {gap:.3g} cells: the record is incomplete."
    return Figure("yield_waterfall", title, fig, note.strip())


def throughput_wip(run: RunOutputs) -> Figure:
    """Accepted cells per hour and WIP over simulated time, mean over replications."""
    title = "Throughput and WIP over time (mean over replications)"
    cells = run.cells
    duration = num(run.summary.get("duration_h"))
    needed = {"replication", "t_in_h", "t_out_h", "outcome"}
    if cells is None or not needed <= set(cells.columns) or not len(cells) or not duration > 0:
        return Figure("throughput_wip", title, note="no cell records in this run (cells.parquet)")
    from plotly.subplots import make_subplots

    reps = cells["replication"].dropna().unique()
    edges = np.linspace(0.0, duration, 61)
    grid = np.linspace(0.0, duration, 400)
    thr = np.zeros(len(edges) - 1)
    wip = np.zeros(len(grid))
    for r in reps:
        sel = cells[cells["replication"] == r]
        t_in = np.sort(finite(sel["t_in_h"]))
        t_out = sel["t_out_h"].to_numpy(dtype=float)
        good = t_out[(sel["outcome"] == "accepted").to_numpy() & np.isfinite(t_out)]
        thr += np.histogram(good, edges)[0] / np.diff(edges)
        done = np.sort(t_out[np.isfinite(t_out)])
        wip += np.searchsorted(t_in, grid, side="right") - np.searchsorted(done, grid, side="right")
    n = max(len(reps), 1)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    fig.update_layout(template="plotly_white", height=460, margin=dict(l=70, r=30, t=30, b=50), showlegend=False)
    fig.add_trace(go().Scatter(x=edges[:-1], y=thr / n, line_shape="hv", name="accepted cells/h",
                                hovertemplate="%{x:.1f} h: %{y:.3g} cells/h<extra></extra>"), row=1, col=1)
    fig.add_trace(go().Scatter(x=grid, y=wip / n, name="WIP",
                               hovertemplate="%{x:.1f} h: %{y:.3g} cells<extra></extra>"),
                  row=2, col=1)
    fig.update_yaxes(title_text="accepted (cells/h)", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="WIP (cells)", row=2, col=1, rangemode="tozero")
    fig.update_xaxes(title_text="simulated time (h)")
    warmup = num(run.summary.get("warmup_h"))
    if math.isfinite(warmup) and warmup > 0:
        fig.add_vline(x=warmup, line_dash="dash", line_color="grey", annotation_text="end of warm-up")
    return Figure("throughput_wip", title, fig)


def buffer_levels(run: RunOutputs) -> Figure:
    """Cells waiting in front of each station over a window of replication 0."""
    title = "WIP per buffer over time (cells waiting in front of each station, replication 0)"
    levels, note = _recorded_levels(run)
    if levels is None:
        levels, note = _levels_from_visits(run)
    if levels is None:
        return Figure("buffer_levels", title, note="buffer levels not recorded in this run (trace.sqlite "
                                                   "has neither buffer_levels nor visits)")
    fig = new_figure(height=420, hovermode="x unified")
    top = 0.0
    for i, (station, (t, y)) in enumerate(levels.items()):
        keep = thin(len(t))
        fig.add_trace(go().Scatter(x=t[keep], y=y[keep], name=station, line_shape="hv", line=dict(color=colour(i)),
                                    hovertemplate=f"{station}: %{{y:d}} cells<extra></extra>"))
        top = max(top, float(np.max(y)) if len(y) else 0.0)
    fig.update_xaxes(title_text="simulated time (h)")
    fig.update_yaxes(title_text="waiting (cells)", **count_axis(top))
    return Figure("buffer_levels", title, fig, note)


def _recorded_levels(run: RunOutputs) -> tuple[dict | None, str]:
    table = run.trace.get("buffer_levels")
    if table is None or not {"station", "t_h", "waiting"} <= set(table.columns) or not len(table):
        return None, ""
    if "replication" in table.columns and table["replication"].notna().any():
        table = table[table["replication"] == table["replication"].min()]
    out = {}
    for station, g in table.groupby("station", sort=False):
        g = g.sort_values("t_h")
        t, y = g["t_h"].to_numpy(dtype=float), g["waiting"].to_numpy(dtype=float)
        ok = np.isfinite(t) & np.isfinite(y)
        if ok.any():
            out[str(station)] = (t[ok], y[ok])
    return (out or None), ""


def _levels_from_visits(run: RunOutputs) -> tuple[dict | None, str]:
    """Queue lengths rebuilt from the visits table (arrival +1, start of service -1)."""
    visits = run.trace.get("visits")
    if visits is None or not len(visits):
        return None, ""
    start = num(run.summary.get("warmup_h"))
    start = start if math.isfinite(start) else 0.0
    end = start + DEFAULT_WINDOW_H
    out = {}
    for station, g in visits.groupby("station", sort=False):
        arrive = finite(g["t_arrive_h"])
        begin = finite(g["t_start_h"])
        times = np.concatenate([arrive, begin])
        steps = np.concatenate([np.ones(arrive.size), -np.ones(begin.size)])
        order = np.lexsort((steps, times))  # a start at the same instant as an arrival goes first
        t, y = times[order], np.cumsum(steps[order])
        window = (t >= start) & (t <= end)
        if window.any():
            out[str(station)] = (t[window], y[window])
    note = (f"Reconstructed from the visits table over {DEFAULT_WINDOW_H:g} h after warm-up (this run has no "
            "recorded buffer_levels).")
    return (out or None), note


def cost_breakdown(run: RunOutputs) -> Figure:
    """Cost per good cell by category, in the run's currency."""
    title = "Cost breakdown per good cell"
    s = run.summary
    parts = {k: num(v) for k, v in mapping(s, "cost_breakdown").items() if k != "currency"}
    parts = {k: v for k, v in parts.items() if math.isfinite(v)}
    if not parts:
        total = num(s.get("cost_per_good_cell"))
        why = ("cost breakdown not recorded in this run (summary.json has cost_per_good_cell "
               f"{total:.4g} but no cost_breakdown)") if math.isfinite(total) else \
            "no cost in this run (the scenario has no cost section, or no good cells)"
        return Figure("cost_breakdown", title, note=why)
    ci = mapping(mapping(s, "ci95"), "cost_breakdown")
    names = [k for k in COST_CATEGORIES if k in parts] + sorted(k for k in parts if k not in COST_CATEGORIES)
    values = [parts[k] for k in names]
    errs = [num(ci.get(k)) for k in names]
    currency = run.currency
    fig = new_figure(height=360)
    fig.add_trace(go().Bar(x=names, y=values, marker_color=[colour(i) for i in range(len(names))],
                            error_y=dict(type="data", array=[e if math.isfinite(e) else 0.0 for e in errs]),
                            text=[f"{v:.3g}" for v in values], textposition="outside",
                            hovertemplate=f"%{{x}}: %{{y:.4g}} {currency or ''} per good cell<extra></extra>"))
    fig.update_yaxes(title_text=axis_title("cost_per_good_cell", currency, "cost"), rangemode="tozero")
    total = num(s.get("cost_per_good_cell"))
    note = f"Total {total:.4g} {currency or ''} per good cell." if math.isfinite(total) else ""
    return Figure("cost_breakdown", title, fig, note)
