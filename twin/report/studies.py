"""Figures and tables of the studies: an optimisation's history, parameter importance, Pareto front
and parameter slices; a sensitivity study's tornado (indices with 95% intervals) and, for Morris,
mu* against sigma. They read the tables the studies wrote; Optuna and SALib are not needed here."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from twin.report.data import OptimizeOutputs, SensitivityOutputs, num
from twin.report.plotting import Figure, clipped_errors, colour, go, integer_axis, new_figure
from twin.report.units import axis_title, leaf, param_label, short_value, unit_of
from twin.stats import format_estimate

FEASIBLE, INFEASIBLE, FAILED = "#2ca02c", "#d62728", "#7f7f7f"


def objectives(opt: OptimizeOutputs) -> list[tuple[str, str]]:
    out = []
    for item in opt.meta.get("objectives") or []:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            out.append((str(item[0]), str(item[1])))
    return out


def param_paths(opt: OptimizeOutputs) -> list[str]:
    paths = [str(p).split("=", 1)[0] for p in opt.meta.get("params") or []]
    return [p for p in paths if p in opt.trials.columns]


def _column(df, name: str) -> np.ndarray:
    return np.array([num(v) for v in df[name]]) if name in df.columns else np.full(len(df), np.nan)


def _feasible(df) -> np.ndarray:
    return np.array([bool(v) is True for v in df["feasible"]]) if "feasible" in df.columns else np.zeros(len(df), bool)


def history(opt: OptimizeOutputs) -> list[Figure]:
    """Each objective per trial (feasible green, infeasible red) and the best feasible value so far."""
    out = []
    df = opt.trials
    for kpi, direction in objectives(opt):
        name, title = f"history_{leaf(kpi)}", f"Optimisation history: {kpi} ({direction})"
        y = _column(df, f"{kpi}.mean")
        trial = _column(df, "trial")
        ok = np.isfinite(y) & np.isfinite(trial)
        if not ok.any():
            out.append(Figure(name, title, note=f"no trial with a finite {kpi} in this study"))
            continue
        feasible = _feasible(df)
        fig = new_figure(height=380)
        for mask, label, c in ((ok & feasible, "feasible", FEASIBLE), (ok & ~feasible, "infeasible", INFEASIBLE)):
            if mask.any():
                fig.add_trace(go().Scatter(x=trial[mask], y=y[mask], mode="markers", name=label,
                                           marker=dict(color=c, size=8),
                                           hovertemplate="trial %{x}: %{y:.4g}<extra>" + label + "</extra>"))
        best = _best_so_far(trial, y, ok & feasible, direction)
        if best is not None:
            fig.add_trace(go().Scatter(x=best[0], y=best[1], mode="lines", line_shape="hv", name="best feasible so far",
                                       line=dict(color="#1f77b4")))
        fig.update_xaxes(title_text="trial (count)", **integer_axis(trial[ok]))
        fig.update_yaxes(title_text=axis_title(kpi, opt.currency), **_spread_axis(y[ok]))
        out.append(Figure(name, title, fig))
    return out or [Figure("history", "Optimisation history", note="this study names no objective")]


def _spread_axis(y: np.ndarray) -> dict[str, Any]:
    """A log axis when positive values span more than two decades (one awful trial would flatten the rest)."""
    finite = y[np.isfinite(y)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        return {"type": "log"}
    return {}


def _best_so_far(trial: np.ndarray, y: np.ndarray, mask: np.ndarray, direction: str):
    if not mask.any():
        return None
    order = np.argsort(trial)
    xs, ys, best = [], [], math.nan
    for i in order:
        if mask[i] and (not math.isfinite(best) or (y[i] < best if direction == "minimize" else y[i] > best)):
            best = float(y[i])
        if math.isfinite(best):
            xs.append(float(trial[i]))
            ys.append(best)
    return xs, ys


def importance(opt: OptimizeOutputs) -> Figure:
    """How much each parameter decides whether a trial is among the best (Optuna's PED-ANOVA)."""
    title = "Parameter importance (PED-ANOVA: how much each parameter separates the best trials from the rest)"
    raw = opt.meta.get("importance")
    scores = {k: v for k, v in raw.items() if isinstance(v, dict) and v} if isinstance(raw, dict) else {}
    if not scores:
        return Figure("importance", title, note="parameter importance not available (fewer than 3 complete trials, "
                                                "or no parameter varied)")
    fig = new_figure(height=max(260, 60 * max(len(v) for v in scores.values()) + 120), barmode="group")
    for i, (kpi, by_param) in enumerate(scores.items()):
        names = sorted(by_param, key=lambda p: -num(by_param[p]))
        fig.add_trace(go().Bar(y=[param_label(p) for p in names], x=[num(by_param[p]) for p in names], orientation="h",
                               name=kpi, marker_color=colour(i), customdata=names,
                               hovertemplate="%{customdata}: %{x:.3f}<extra>" + kpi + "</extra>"))
    fig.update_xaxes(title_text="importance (fraction, 0–1)", range=[0, 1.02])
    fig.update_yaxes(autorange="reversed", title_text="parameter")
    return Figure("importance", title, fig)


def pareto(opt: OptimizeOutputs) -> Figure:
    """Two objectives: every feasible trial and the non-dominated front the study found."""
    objs = objectives(opt)
    if len(objs) != 2:
        return Figure("pareto", "Pareto front", note="a Pareto front needs two objectives")
    title = f"Pareto front: {objs[0][0]} ({objs[0][1]}) against {objs[1][0]} ({objs[1][1]})"
    df = opt.trials
    x, y = _column(df, f"{objs[0][0]}.mean"), _column(df, f"{objs[1][0]}.mean")
    trial = _column(df, "trial")
    ok = np.isfinite(x) & np.isfinite(y)
    best = {int(b) for b in opt.meta.get("best") or [] if isinstance(b, (int, float))}
    on_front = np.array([int(t) in best if math.isfinite(t) else False for t in trial])
    if not ok.any():
        return Figure("pareto", title, note="no trial with both objectives finite")
    fig = new_figure(height=420)
    feasible = _feasible(df)
    groups = ((ok & ~feasible, "infeasible", INFEASIBLE), (ok & feasible & ~on_front, "feasible", "#9edae5"),
              (ok & on_front, "Pareto front", FEASIBLE))
    for mask, label, c in groups:
        if mask.any():
            order = np.argsort(x[mask])
            fig.add_trace(go().Scatter(x=x[mask][order], y=y[mask][order], customdata=trial[mask][order],
                                       mode="lines+markers" if label == "Pareto front" else "markers", name=label,
                                       marker=dict(color=c, size=9), line=dict(color=c, dash="dot"),
                                       hovertemplate="trial %{customdata}: %{x:.4g}, %{y:.4g}<extra></extra>"))
    fig.update_xaxes(title_text=axis_title(objs[0][0], opt.currency))
    fig.update_yaxes(title_text=axis_title(objs[1][0], opt.currency))
    return Figure("pareto", title, fig)


def slices(opt: OptimizeOutputs) -> list[Figure]:
    """The first objective against each parameter: where the good region lies."""
    objs = objectives(opt)
    if not objs:
        return []
    kpi = objs[0][0]
    df = opt.trials
    y = _column(df, f"{kpi}.mean")
    hw = _column(df, f"{kpi}.ci95")
    feasible = _feasible(df)
    out = []
    for i, path in enumerate(param_paths(opt)):
        raw = list(df[path])
        numeric = [num(v) for v in raw]
        is_numeric = all(math.isfinite(v) for v in numeric if v == v) and any(math.isfinite(v) for v in numeric) \
            and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) or v is None for v in raw)
        xs = numeric if is_numeric else [short_value(v) for v in raw]
        ok = np.isfinite(y)
        name, title = f"slice_{i}", f"{kpi} against {path}"
        if not ok.any():
            out.append(Figure(name, title, note=f"no trial with a finite {kpi}"))
            continue
        fig = new_figure(height=360)
        for mask, label, c in ((ok & feasible, "feasible", FEASIBLE), (ok & ~feasible, "infeasible", INFEASIBLE)):
            if mask.any():
                idx = np.flatnonzero(mask)
                fig.add_trace(go().Scatter(x=[xs[j] for j in idx], y=y[idx], mode="markers", name=label,
                                           marker=dict(color=c, size=8),
                                           error_y=dict(type="data",
                                                        array=[v if math.isfinite(v) else 0 for v in hw[idx]]),
                                           hovertemplate="%{x}: %{y:.4g}<extra>" + label + "</extra>"))
        axis: dict[str, Any] = {}
        if is_numeric and all(float(v).is_integer() for v in numeric if math.isfinite(v)):
            axis = integer_axis(numeric)
        elif not is_numeric:
            axis = {"type": "category"}
        fig.update_xaxes(title_text=axis_title(path, label=param_label(path), numeric=is_numeric), **axis)
        fig.update_yaxes(title_text=axis_title(kpi, opt.currency), **_spread_axis(y[ok]))
        out.append(Figure(name, title, fig))
    return out


def best_table(opt: OptimizeOutputs) -> str:
    df = opt.trials
    best = {int(b) for b in opt.meta.get("best") or [] if isinstance(b, (int, float))}
    rows = df[[int(t) in best if math.isfinite(num(t)) else False for t in df["trial"]]] if "trial" in df.columns \
        else df.iloc[0:0]
    if not len(rows):
        return "<p class=note>No feasible trial: no setting met every constraint within the budget.</p>"
    cols = ["trial", *param_paths(opt)]
    cols += [f"{k}.mean" for k, _ in objectives(opt)]
    cols += [c for c in df.columns if c.endswith(".evidence")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols if c in df.columns)
    body = "".join("<tr>" + "".join(f"<td class=n>{html.escape(_cell(r[c]))}</td>" for c in cols if c in df.columns)
                   + "</tr>" for _, r in rows.iterrows())
    return f"<div class=wide><table class=kpi id=best-table><tr>{head}</tr>{body}</table></div>"


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return format_estimate(v if math.isfinite(v) else None)
    return str(v)


def tornado(sens: SensitivityOutputs) -> list[Figure]:
    """Per KPI: parameters ranked by their index (Morris mu*, Sobol ST), with 95% intervals."""
    method = str(sens.meta.get("method", "morris"))
    key, conf = ("mu_star", "mu_star_conf") if method == "morris" else ("ST", "ST_conf")
    df = sens.indices
    out = []
    if not {"kpi", "param", key}.issubset(df.columns):
        return [Figure("tornado", "Sensitivity tornado", note=f"the indices table has no {key} column")]
    for i, (kpi, g) in enumerate(df.groupby("kpi", sort=False)):
        name, title = f"tornado_{i}", f"Sensitivity of {kpi}: {key} by parameter ({method}, ± 95% CI)"
        vals = [(str(r["param"]), num(r[key]), num(r.get(conf))) for _, r in g.iterrows()]
        vals = [v for v in vals if math.isfinite(v[1])]
        if not vals:
            out.append(Figure(name, title, note=f"{kpi} was undefined at some sample points: no indices"))
            continue
        vals.sort(key=lambda v: abs(v[1]))
        unit = (unit_of(kpi, sens.currency) or "dimensionless") if method == "morris" else "fraction, 0–1"
        fig = new_figure(height=max(260, 45 * len(vals) + 120))
        extra = f"{key} of " + (f"{kpi} over the whole range" if method == "morris" else "total variance")
        high = 1.0 if method == "sobol" else math.inf
        plus, minus = clipped_errors([v for _, v, _ in vals], [c for _, _, c in vals], 0.0, high)
        fig.add_trace(go().Bar(y=[param_label(p) for p, _, _ in vals], x=[v for _, v, _ in vals], orientation="h",
                               customdata=[p for p, _, _ in vals], marker_color=colour(i), name=f"{key} ± 95% CI",
                               error_x=dict(type="data", array=plus, arrayminus=minus, symmetric=False),
                               hovertemplate="%{customdata}: %{x:.4g}<extra>" + extra + "</extra>"))
        if method == "sobol" and "S1" in g.columns:
            s1 = {str(r["param"]): num(r["S1"]) for _, r in g.iterrows()}
            fig.add_trace(go().Scatter(y=[param_label(p) for p, _, _ in vals],
                                       x=[s1.get(p, math.nan) for p, _, _ in vals], mode="markers",
                                       name="S1 (first order)", marker=dict(symbol="diamond", size=10, color="#000")))
        fig.update_xaxes(title_text=f"{key} ({unit})", rangemode="tozero")
        fig.update_yaxes(title_text="parameter")
        out.append(Figure(name, title, fig))
    return out or [Figure("tornado", "Sensitivity tornado", note="no indices in this study")]


def morris_sigma(sens: SensitivityOutputs) -> list[Figure]:
    """Morris mu* against sigma: far right = influential; high sigma = non-linear or interacting."""
    if sens.meta.get("method") != "morris" or not {"mu_star", "sigma", "kpi"}.issubset(sens.indices.columns):
        return []
    out = []
    for i, (kpi, g) in enumerate(sens.indices.groupby("kpi", sort=False)):
        mu, sigma = _column(g, "mu_star"), _column(g, "sigma")
        ok = np.isfinite(mu) & np.isfinite(sigma)
        name, title = f"morris_sigma_{i}", f"Morris screening of {kpi}: mu* against sigma"
        if not ok.any():
            out.append(Figure(name, title, note=f"{kpi}: no finite indices"))
            continue
        labels = [param_label(str(p)) for p in g["param"]]
        fig = new_figure(height=360)
        fig.add_trace(go().Scatter(x=mu[ok], y=sigma[ok], mode="markers+text", text=[labels[j] for j in
                                                                                     np.flatnonzero(ok)],
                                   textposition="top center", marker=dict(size=10, color=colour(i)),
                                   hovertemplate="%{text}: mu* %{x:.4g}, sigma %{y:.4g}<extra></extra>"))
        unit = unit_of(kpi, sens.currency) or "dimensionless"
        fig.update_xaxes(title_text=f"mu* ({unit})", rangemode="tozero")
        fig.update_yaxes(title_text=f"sigma ({unit})", rangemode="tozero")
        out.append(Figure(name, title, fig))
    return out


def indices_table(sens: SensitivityOutputs) -> str:
    df = sens.indices
    cols = [c for c in df.columns if c != "method"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td class=n>{html.escape(_cell(r[c]))}</td>" for c in cols) + "</tr>"
                   for _, r in df.iterrows())
    return f"<div class=wide><table class=kpi id=indices-table><tr>{head}</tr>{body}</table></div>"
