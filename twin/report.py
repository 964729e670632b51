"""Plots and one self-contained HTML report of a run directory (summary.json,
cells.parquet, trace.sqlite) or a sweep directory (sweep.json, sweep.parquet).

Every figure is written as a PNG under DIR/plots and embedded in DIR/report.html as a
base64 data: URI, so the HTML can be mailed or archived on its own. matplotlib (Agg) is
imported only here, only when a report is made.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.stats import format_estimate

RESPONSE_KPIS = ("throughput_per_h", "final_yield", "first_pass_yield", "cost_per_good_cell", "mean_wip",
                 "mean_cycle_time_h")
QUALITY_COLUMNS = (("contact_fraction", "contact fraction"), ("r_int_ohm_cm2", "interface resistance (ohm cm²)"),
                   ("p_short", "short risk P_short"))


class ReportError(Exception):
    """The directory holds neither a run nor a sweep."""


@dataclass
class Figure:
    name: str
    title: str
    png: bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


# --- run plots ------------------------------------------------------------------------

def _cells(run_dir: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    path = run_dir / "cells.parquet"
    if not path.exists():
        return {}
    names = ["replication", "t_in_h", "t_out_h", "outcome", *(c for c, _ in QUALITY_COLUMNS)]
    table = pq.read_table(path, columns=[n for n in names if n in pq.read_schema(path).names])
    out = {}
    for name in table.column_names:
        col = table.column(name).to_pylist()
        if name == "outcome":
            out[name] = np.array(col, dtype=object)
        else:
            out[name] = np.array([math.nan if v is None else v for v in col], dtype=float)
    return out


def fig_throughput_wip(summary: dict, cells: dict) -> Figure:
    """Accepted cells per hour and WIP over time, averaged over replications."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    duration = float(summary.get("duration_h") or 0.0)
    if not cells or not len(cells.get("t_in_h", [])) or duration <= 0:
        _empty(ax1, "no cell records")
        _empty(ax2, "no cell records")
        return Figure("throughput_wip", "Throughput and WIP over time", _png(fig))
    reps = np.unique(cells["replication"])
    edges = np.linspace(0.0, duration, 61)
    grid = np.linspace(0.0, duration, 400)
    thr = np.zeros(len(edges) - 1)
    wip = np.zeros(len(grid))
    for r in reps:
        sel = cells["replication"] == r
        t_in = np.sort(cells["t_in_h"][sel])
        t_out = cells["t_out_h"][sel]
        good = t_out[(cells["outcome"][sel] == "accepted") & ~np.isnan(t_out)]
        thr += np.histogram(good, edges)[0] / np.diff(edges)
        done = np.sort(t_out[~np.isnan(t_out)])
        wip += np.searchsorted(t_in, grid, side="right") - np.searchsorted(done, grid, side="right")
    ax1.step(edges[:-1], thr / len(reps), where="post")
    ax1.set_ylabel("accepted cells / h")
    ax2.plot(grid, wip / len(reps))
    ax2.set_ylabel("WIP (cells)")
    ax2.set_xlabel("simulated time (h)")
    warmup = float(summary.get("warmup_h") or 0.0)
    for ax in (ax1, ax2):
        if warmup > 0:
            ax.axvline(warmup, color="grey", ls="--", lw=1, label="end of warm-up")
        ax.grid(alpha=0.3)
    ax1.set_title(f"mean over {len(reps)} replication(s)")
    if warmup > 0:
        ax1.legend(loc="lower right")
    return Figure("throughput_wip", "Throughput and WIP over time", _png(fig))


def fig_utilisation(summary: dict) -> Figure:
    """Utilisation per station with 95% intervals."""
    plt = _plt()
    util = summary.get("utilisation", {})
    ci = summary.get("ci95", {}).get("utilisation", {})
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(util), 3) + 1))
    if util:
        names = list(util)
        err = [0.0 if ci.get(n) is None or ci.get(n) != ci.get(n) else ci[n] for n in names]
        ax.barh(names, [util[n] for n in names], xerr=err, capsize=3, color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("utilisation (busy share of servers)")
        ax.grid(axis="x", alpha=0.3)
    else:
        _empty(ax, "no stations")
    return Figure("utilisation", "Utilisation per station", _png(fig))


def fig_reject_pareto(summary: dict) -> Figure:
    """Reject reasons, most frequent first, with the cumulative share."""
    plt = _plt()
    reasons = sorted((summary.get("reject_reasons") or {}).items(), key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(8, 4))
    if reasons and sum(v for _, v in reasons) > 0:
        names = [k for k, _ in reasons]
        counts = np.array([v for _, v in reasons], dtype=float)
        ax.bar(names, counts, color="tab:red")
        ax.set_ylabel("rejected cells per replication")
        ax.tick_params(axis="x", rotation=30)
        ax2 = ax.twinx()
        ax2.plot(names, 100 * np.cumsum(counts) / counts.sum(), "k.-")
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative %")
    else:
        _empty(ax, "no rejected cells")
    return Figure("reject_pareto", "Yield Pareto: reject reasons", _png(fig))


def fig_quality(cells: dict) -> Figure:
    """Distributions of the interface-quality outputs over all cells."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(QUALITY_COLUMNS), figsize=(11, 3.2))
    for ax, (col, label) in zip(axes, QUALITY_COLUMNS):
        x = cells.get(col, np.array([]))
        x = x[~np.isnan(x)] if len(x) else x
        if len(x):
            ax.hist(x, bins=40, color="tab:green")
            ax.set_xlabel(label)
            ax.set_ylabel("cells")
        else:
            _empty(ax, f"{label}:\nno data (fixed quality mode)")
    return Figure("quality_distributions", "Contact fraction, resistance and short risk", _png(fig))


# --- sweep plots ----------------------------------------------------------------------

def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _curves(meta: dict, rows: list[dict], kpis: list[str], diff: bool) -> Any:
    plt = _plt()
    settings = meta["settings"]
    points = meta["points"]
    ncol = 2
    nrow = math.ceil(len(kpis) / ncol) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.2 * nrow), squeeze=False)
    xs_raw = settings[0]["values"] if settings else [0]
    numeric = _numeric(xs_raw)
    by = {(r["point"], r["kpi"]): r for r in rows}
    groups: dict[tuple, list[int]] = {}
    for pt in points:
        rest = tuple(json.dumps(v) for v in pt["values"][1:])
        groups.setdefault(rest, []).append(pt["point"])
    for ax, kpi in zip(axes.flat, kpis):
        for rest, pts in groups.items():
            x = [xs_raw.index(points[p]["values"][0]) if not numeric else points[p]["values"][0] for p in pts] \
                if settings else [0]
            key = ("diff_mean", "diff_ci95") if diff else ("mean", "ci95")
            y = [by[(p, kpi)][key[0]] for p in pts]
            e = [by[(p, kpi)][key[1]] for p in pts]
            y = [math.nan if v is None else v for v in y]
            e = [0.0 if v is None or v != v else v for v in e]
            label = ", ".join(f"{s['path'].rsplit('.', 1)[-1]}={r}" for s, r in zip(settings[1:], rest)) or None
            ax.errorbar(x, y, yerr=e, marker="o", capsize=4, label=label)
        if diff:
            ax.axhline(0.0, color="grey", lw=1)
        if not numeric and settings:
            ax.set_xticks(range(len(xs_raw)), [str(v) for v in xs_raw], rotation=20, fontsize=7)
        ax.set_title(("Δ " if diff else "") + kpi, fontsize=10)
        ax.set_xlabel(settings[0]["path"] if settings else "")
        ax.grid(alpha=0.3)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(kpis):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def sweep_figures(meta: dict, rows: list[dict]) -> list[Figure]:
    """Response curves (mean ± 95% CI) and paired differences vs the first point."""
    present = {r["kpi"] for r in rows if r["mean"] is not None and r["mean"] == r["mean"]}
    kpis = [k for k in RESPONSE_KPIS if k in present]
    util = [k for k in meta.get("kpis", []) if k.startswith("utilisation.") and k in present]
    out = [Figure("sweep_response", "Sweep response curves (mean ± 95% CI)", _png(_curves(meta, rows, kpis, False))),
           Figure("sweep_paired_diff", "Paired differences vs the first grid point (± 95% CI, common random numbers)",
                  _png(_curves(meta, rows, kpis, True)))]
    if util:
        out.append(Figure("sweep_utilisation", "Utilisation per station across the sweep",
                          _png(_curves(meta, rows, util, False))))
    return out


# --- HTML -----------------------------------------------------------------------------

def run_table(summary: dict) -> str:
    from twin.kpis import SCALAR_KPIS

    ci = summary.get("ci95", {})
    rows = [(k, format_estimate(summary.get(k), ci.get(k))) for k in SCALAR_KPIS]
    rows += [(f"utilisation.{s}", format_estimate(u, ci.get("utilisation", {}).get(s)))
             for s, u in summary.get("utilisation", {}).items()]
    rows += [(f"rejects: {r}", format_estimate(float(n))) for r, n in (summary.get("reject_reasons") or {}).items()]
    rows += [(f"expect {e['kpi']} in [{e['min']}, {e['max']}]", f"{format_estimate(e['value'])} {'pass' if e['passed'] else 'FAIL'}")
             for e in summary.get("expectations", [])]
    body = "".join(f"<tr><td>{html.escape(k)}</td><td class=n>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class=kpi id=kpi-table><tr><th>KPI</th><th>mean ± 95% CI</th></tr>{body}</table>"


def sweep_table(meta: dict, rows: list[dict]) -> str:
    kpis = [k for k in meta.get("kpis", []) if not k.startswith("utilisation.")]
    by = {(r["point"], r["kpi"]): r for r in rows}
    head = "".join(f"<th>{html.escape(k)}</th>" for k in kpis)
    body = []
    for pt in meta["points"]:
        cells = []
        for k in kpis:
            r = by.get((pt["point"], k))
            if r is None:
                cells.append("<td>–</td>")
                continue
            diff = "" if pt["point"] == 0 else f"<br><small>Δ {html.escape(format_estimate(r['diff_mean'], r['diff_ci95']))}</small>"
            cells.append(f"<td class=n>{html.escape(format_estimate(r['mean'], r['ci95']))}{diff}</td>")
        body.append(f"<tr><td>{pt['point']}</td><td>{html.escape(pt['label'])}</td>{''.join(cells)}</tr>")
    return (f"<table class=kpi id=kpi-table><tr><th>#</th><th>grid point</th>{head}</tr>{''.join(body)}</table>"
            "<p><small>mean ± 95% CI; Δ = paired difference against point 0 (same random numbers) ± 95% CI</small></p>")


CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table.kpi{border-collapse:collapse;font-size:0.9em}table.kpi td,table.kpi th{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1.5em 0}img{max-width:100%}"""


def render_html(title: str, intro: str, table: str, figures: list[Figure]) -> str:
    """One self-contained page: KPI table and every figure as a data: URI."""
    figs = "".join(
        f'<figure id="fig-{f.name}"><figcaption><b>{html.escape(f.title)}</b></figcaption>'
        f'<img alt="{html.escape(f.title)}" src="data:image/png;base64,{base64.b64encode(f.png).decode()}"></figure>'
        for f in figures)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{intro}<h2>KPIs</h2>{table}"
            f"<h2>Plots</h2>{figs}</body></html>")


def _load_sweep_rows(directory: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(directory / "sweep.parquet").to_pylist()


def build_report(directory: str | Path) -> tuple[Path, list[Figure]]:
    """Write DIR/report.html and DIR/plots/*.png for a run or sweep directory."""
    d = Path(directory)
    if (d / "sweep.json").exists() and (d / "sweep.parquet").exists():
        meta = json.loads((d / "sweep.json").read_text())
        rows = _load_sweep_rows(d)
        figures = sweep_figures(meta, rows)
        sets = "; ".join(f"{s['path']} = {', '.join(map(str, s['values']))}" for s in meta["settings"])
        intro = (f"<p>Sweep of <b>{html.escape(meta['scenario'])}</b>: {html.escape(sets)}. "
                 f"{meta['replications']} replication(s) per point, seed {meta['seed']}, common random numbers.</p>")
        page = render_html(f"Sweep report: {meta['scenario']}", intro, sweep_table(meta, rows), figures)
    elif (d / "summary.json").exists():
        summary = json.loads((d / "summary.json").read_text())
        cells = _cells(d)
        figures = [fig_throughput_wip(summary, cells), fig_utilisation(summary), fig_reject_pareto(summary),
                   fig_quality(cells)]
        intro = (f"<p>{summary.get('replications')} replication(s), {summary.get('sim_time_h')} h after "
                 f"{summary.get('warmup_h')} h warm-up, seed {summary.get('seed')}.</p>")
        page = render_html(f"Run report: {summary.get('scenario')}", intro, run_table(summary), figures)
    else:
        raise ReportError(f"{d}: neither a run (summary.json) nor a sweep (sweep.json, sweep.parquet)")
    plots = d / "plots"
    plots.mkdir(exist_ok=True)
    for f in figures:
        (plots / f"{f.name}.png").write_bytes(f.png)
    out = d / "report.html"
    out.write_text(page, encoding="utf-8")
    return out, figures
