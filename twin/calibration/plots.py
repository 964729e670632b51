"""Pages and report sections of the calibration (plotly, through twin.report's page builder):
predicted-vs-measured R_int, the reliability diagram of the short probability, the tables of the
calibrated values, identifiability and goodness of fit, and the run report's section that shows
simulation noise and parameter uncertainty side by side."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from twin.report.page import Section, render, write_atomic
from twin.report.plotting import Figure, new_figure


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"<td class=n>{v:.4g}</td>" if math.isfinite(v) else "<td class=n>–</td>"
        return f"<td>{html.escape(str(v))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return ("<div class=wide><table class=kpi><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + f"</tr>{body}</table></div>")


def predicted_vs_measured(measured: list[float], predicted: list[float], low: list[float] | None = None,
                          high: list[float] | None = None, title: str = "R_int predicted vs measured") -> Figure:
    go = __import__("plotly.graph_objects", fromlist=["Scatter"])
    fig = new_figure(height=420, xaxis_title="predicted R_int (ohm cm2)", yaxis_title="measured R_int (ohm cm2)",
                     xaxis_type="log", yaxis_type="log")
    kw: dict[str, Any] = {}
    if low is not None and high is not None:
        kw["error_x"] = dict(type="data", symmetric=False, array=np.subtract(high, predicted).tolist(),
                             arrayminus=np.subtract(predicted, low).tolist(), thickness=0.5, width=0)
    fig.add_trace(go.Scatter(x=predicted, y=measured, mode="markers", name="cells", marker=dict(size=4, opacity=0.5),
                             **kw))
    both = [v for v in (*measured, *predicted) if v > 0 and math.isfinite(v)]
    if both:
        ends = [min(both), max(both)]
        fig.add_trace(go.Scatter(x=ends, y=ends, mode="lines", name="1:1", line=dict(dash="dash", color="#555")))
    return Figure("predicted_vs_measured", title, plot=fig)


def reliability_diagram(rows: list[dict[str, float]], title: str = "Short probability: reliability") -> Figure:
    go = __import__("plotly.graph_objects", fromlist=["Scatter"])
    if not rows:
        return Figure("reliability", title, note="no cycled cells with a known outcome at the horizon")
    fig = new_figure(height=420, xaxis_title="predicted short probability", yaxis_title="observed frequency",
                     xaxis_range=[0, 1], yaxis_range=[0, 1])
    fig.add_trace(go.Scatter(x=[r["predicted"] for r in rows], y=[r["observed"] for r in rows], mode="markers+lines",
                             name="bins", text=[f"{r['cells']} cells" for r in rows],
                             marker=dict(size=[6 + 14 * math.sqrt(r["cells"] / max(x["cells"] for x in rows))
                                               for r in rows])))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dash", color="#555")))
    return Figure("reliability", title, plot=fig)


def fit_page(pf: Any, check: dict[str, Any], out: Path) -> Path:
    """The calibration page beside the parameter file: values, identifiability, fit, plots."""
    rows = [[k, v.value, v.unit, v.interval[0] if v.interval else math.nan,
             v.interval[1] if v.interval else math.nan, v.status] for k, v in pf.parameters.items()]
    rows += [[k, math.nan, "", math.nan, math.nan, f"not identified: {why}"] for k, why in pf.not_identified.items()]
    gof = pf.goodness_of_fit
    tests = [[k, t["chi2"], t["df"], t["p_value"]] for k, t in (gof.get("tests") or {}).items()]
    intro = (f"<p>Calibration ({html.escape(pf.method)}, {pf.level:.0%} intervals) from "
             f"{html.escape(', '.join(map(str, pf.source.get('data', []))))}: {html.escape(str(pf.source.get('cells')))}"
             f". Noise: {html.escape(', '.join(f'{k} {v:.3g}' for k, v in pf.noise.items()))}.</p>"
             f"<p class=note>Goodness of fit: {html.escape(str(gof.get('note', '–')))}</p>")
    sections = [Section("Parameters", _table(["parameter", "value", "unit", "low", "high", "status"], rows)),
                Section("Goodness of fit", _table(["outcome", "chi2", "bins", "p-value"], tests)),
                Section("Predictions on the fitted cells", figures=_figures(check))]
    write_atomic(out, render("Calibration", intro, sections))
    return out


def _figures(check: dict[str, Any]) -> list[Figure]:
    figs = []
    r = check.get("r_int")
    if r:
        figs.append(predicted_vs_measured(r["measured"], r["predicted"], r["low"], r["high"]))
    if check.get("short"):
        figs.append(reliability_diagram(check["short"]["reliability"]))
    return figs


def check_page(check: dict[str, Any], out: Path) -> Path:
    """The held-out model check page."""
    rows = []
    for key in ("r_int", "void", "ccd"):
        if key in check:
            rows.append([f"{key} predictive interval coverage", check[key]["coverage"], f"nominal {check['level']:g}"])
    if "r_int" in check:
        rows.append(["r_int relative bias", check["r_int"]["relative_bias"], "0 ideal"])
    if "short" in check:
        s = check["short"]
        rows += [["short log loss", s["log_loss"], ""], ["short Brier score", s["brier"], ""],
                 ["short rate observed / predicted", s["observed_rate"], f"{s['predicted_rate']:.4g}"]]
    sections = [Section("Summary", _table(["check", "value", "reference"], rows)),
                Section("Plots", figures=_figures(check))]
    write_atomic(out, render("Model check on held-out cells", f"<p>{html.escape(str(check.get('cells')))}</p>",
                             sections))
    return out


def uncertainty_sections(summary: dict[str, Any]) -> list[Section]:
    """The run report's section on parameter uncertainty (empty without it)."""
    pu = summary.get("parameter_uncertainty")
    if not pu:
        return []
    go = __import__("plotly.graph_objects", fromlist=["Bar"])
    rows, names, sim, par = [], [], [], []
    for k, v in (pu.get("kpis") or {}).items():
        lo, hi = (v.get("interval95_parameter") or [math.nan, math.nan])
        ci = v.get("ci95_simulation")
        rows.append([k, v.get("mean", math.nan), ci if ci is not None else math.nan, v.get("sd_simulation", math.nan),
                     v.get("sd_parameter", math.nan), lo if lo is not None else math.nan,
                     hi if hi is not None else math.nan])
        names.append(k)
        sim.append(v.get("sd_simulation") or 0.0)
        par.append(v.get("sd_parameter") or 0.0)
    fig = new_figure(height=380, barmode="group", yaxis_title="sd relative to the mean")
    means = [abs(r[1]) if isinstance(r[1], float) and r[1] else 1.0 for r in rows]
    fig.add_trace(go.Bar(x=names, y=[s / m for s, m in zip(sim, means)], name="simulation noise (one replication)"))
    fig.add_trace(go.Bar(x=names, y=[p / m for p, m in zip(par, means)], name="parameter uncertainty"))
    intro = (f"<p>{pu.get('draws')} parameter draws ({html.escape(str(pu.get('method')))}) from "
             f"{html.escape(str(pu.get('source')))}, {pu.get('replications_per_draw')} replication(s) each, common "
             "random numbers.</p>")
    table = _table(["KPI", "mean over draws", "run ci95 (simulation)", "sd simulation", "sd parameters",
                    "param 2.5%", "param 97.5%"], rows)
    return [Section("Parameter uncertainty", intro + table,
                    figures=[Figure("uncertainty_sources", "Simulation noise and parameter uncertainty", plot=fig)])]
