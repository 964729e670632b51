"""Sweep figures: each KPI's response to the first swept setting (mean ± 95% CI, one trace per
combination of the other settings) and the paired differences against grid point 0.

A numeric setting is drawn as a line on a numeric axis (integer ticks for integer settings); a
categorical one (press spec files, recipes) as grouped bars with short labels and the full value
on hover. Intervals of fractions are cut at 0 and 1.
"""

from __future__ import annotations

import json
import math
from typing import Any

from twin.report.data import SweepOutputs, num
from twin.report.plotting import Figure, clipped_errors, colour, go, integer_axis
from twin.report.units import axis_title, bounds_of, leaf, param_label, short_value

RESPONSE_KPIS = ("throughput_per_h", "final_yield", "first_pass_yield", "cost_per_good_cell", "mean_wip",
                 "mean_cycle_time_h")
STATION_PREFIXES = ("utilisation.", "blocked.", "starved.")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def axis_kind(values: list) -> str:
    """'integer', 'numeric' or 'categorical' for the values of a setting."""
    if values and all(_is_number(v) for v in values):
        return "integer" if all(float(v).is_integer() for v in values) else "numeric"
    return "categorical"


class Grid:
    """The grid of a sweep as the report needs it: x value, group label and point index of every point."""

    def __init__(self, meta: dict):
        settings = [s for s in meta.get("settings") or [] if isinstance(s, dict)]
        points = [p for p in meta.get("points") or [] if isinstance(p, dict)]
        self.x_path = str(settings[0].get("path", "")) if settings else ""
        self.rest = [str(s.get("path", "")) for s in settings[1:]]
        self.points: list[tuple[int, Any, str]] = []
        for i, p in enumerate(points):
            raw = p.get("values")
            values: list = raw if isinstance(raw, list) else []
            x = values[0] if values and settings else p.get("label", i)
            group = ", ".join(f"{param_label(path)}={short_value(v)}" for path, v in zip(self.rest, values[1:]))
            index = p.get("point", i)
            self.points.append((index if isinstance(index, int) else i, x, group))
        xs = list(dict.fromkeys(json.dumps(x, sort_keys=True, default=str) for _, x, _ in self.points))
        self.x_values = [json.loads(x) for x in xs]
        self.kind = axis_kind(self.x_values)

    def groups(self) -> dict[str, list[tuple[int, Any]]]:
        out: dict[str, list[tuple[int, Any]]] = {}
        for index, x, group in self.points:
            out.setdefault(group, []).append((index, x))
        return out


def kpis_to_plot(sweep: SweepOutputs, station_kpis: bool) -> list[str]:
    rows = sweep.rows
    if rows is None or not len(rows) or not {"kpi", "mean"} <= set(rows.columns):
        return []
    finite = rows[[math.isfinite(num(v)) for v in rows["mean"]]]
    present = list(dict.fromkeys(str(k) for k in finite["kpi"]))
    if station_kpis:
        return [k for k in present if k.startswith(STATION_PREFIXES)]
    return [k for k in RESPONSE_KPIS if k in present]


def response(sweep: SweepOutputs, diff: bool = False, station_kpis: bool = False) -> Figure:
    """One panel per KPI against the first setting; `diff` draws paired differences vs point 0."""
    if station_kpis:
        name, title = "sweep_stations", "Station KPIs across the sweep (mean ± 95% CI)"
    elif diff:
        name, title = "sweep_paired_diff", "Paired differences vs grid point 0 (± 95% CI, common random numbers)"
    else:
        name, title = "sweep_response", "Sweep response (mean ± 95% CI)"
    kpis = kpis_to_plot(sweep, station_kpis)
    if not kpis:
        return Figure(name, title, note="no KPI with a finite value in this sweep")
    grid = Grid(sweep.meta)
    if diff and len(grid.points) < 2:
        return Figure(name, title, note="a single grid point: nothing to compare against")
    from plotly.subplots import make_subplots

    rows = math.ceil(len(kpis) / 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[("Δ " if diff else "") + k for k in kpis],
                        vertical_spacing=min(0.12, 0.5 / rows))
    groups = grid.groups()
    fig.update_layout(template="plotly_white", height=300 * rows + 100, margin=dict(l=70, r=30, t=50, b=60),
                      barmode="group", showlegend=len(groups) > 1, legend=dict(orientation="h", y=-0.08))
    table = _by_point(sweep)
    currency = sweep.currency
    for i, kpi in enumerate(kpis):
        r, c = i // 2 + 1, i % 2 + 1
        for k, (group, pts) in enumerate(groups.items()):
            _add_series(fig, grid, table, kpi, group, pts, diff, colour(k), show_legend=(i == 0), row=r, col=c)
        prefix = "Δ " if diff else ""
        fig.update_yaxes(title_text=prefix + axis_title(kpi, currency, leaf(kpi) if "." in kpi else kpi), row=r, col=c)
        x_title = axis_title(grid.x_path, label=param_label(grid.x_path), numeric=grid.kind != "categorical")
        fig.update_xaxes(title_text=x_title if grid.x_path else "grid point",
                         row=r, col=c, **_x_axis(grid))
        if diff:
            fig.add_hline(y=0.0, line_color="grey", line_width=1, row=r, col=c)
    shortened = [f"{short_value(v)} = {v}" for v in grid.x_values if short_value(v) != str(v)]
    note = ("Short labels: " + "; ".join(shortened)) if grid.kind == "categorical" and shortened else ""
    return Figure(name, title, fig, note)


def _by_point(sweep: SweepOutputs) -> dict[tuple[int, str], dict]:
    rows = sweep.rows
    out = {}
    for rec in rows.to_dict("records"):
        point = rec.get("point")
        if isinstance(point, (int, float)) and math.isfinite(point):
            out[(int(point), str(rec.get("kpi")))] = rec
    return out


def _x_axis(grid: Grid) -> dict[str, Any]:
    if grid.kind == "integer":
        return integer_axis(grid.x_values)
    if grid.kind == "categorical":
        return {"type": "category", "tickangle": -20 if len(grid.x_values) > 3 else 0}
    return {}


def _add_series(fig, grid: Grid, table: dict, kpi: str, group: str, pts: list[tuple[int, Any]], diff: bool,
                colour_: str, show_legend: bool, row: int, col: int) -> None:
    mean_key, hw_key = ("diff_mean", "diff_ci95") if diff else ("mean", "ci95")
    xs, ys, hws, hover = [], [], [], []
    for index, x in pts:
        rec = table.get((index, kpi), {})
        xs.append(short_value(x) if grid.kind == "categorical" else x)
        ys.append(num(rec.get(mean_key)))
        hws.append(num(rec.get(hw_key)))
        hover.append(str(x))
    low, high = (-math.inf, math.inf) if diff else bounds_of(kpi)
    plus, minus = clipped_errors(ys, hws, low, high)
    shown = [y if math.isfinite(y) else None for y in ys]
    error = dict(type="data", array=plus, arrayminus=minus, symmetric=False)
    label = group or "all points"
    template = f"{param_label(grid.x_path) or 'point'} %{{customdata}}: %{{y:.4g}}<extra>{label}</extra>"
    if grid.kind == "categorical":
        trace = go().Bar(x=xs, y=shown, error_y=error, name=label, marker_color=colour_, customdata=hover,
                         legendgroup=label, showlegend=show_legend, hovertemplate=template)
    else:
        trace = go().Scatter(x=xs, y=shown, error_y=error, name=label, mode="lines+markers", line=dict(color=colour_),
                             customdata=hover, legendgroup=label, showlegend=show_legend, hovertemplate=template)
    fig.add_trace(trace, row=row, col=col)
