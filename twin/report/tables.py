"""HTML tables of a report: KPIs with units and 95% intervals, the expect: verdicts, a sweep's grid."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

from twin.report.data import RunOutputs, SweepOutputs, mapping, num
from twin.report.units import bounds_of, unit_of
from twin.stats import format_estimate


def _interval(name: str, mean: float, hw: float) -> str:
    if not (math.isfinite(mean) and math.isfinite(hw)):
        return "–"
    lo, hi = bounds_of(name)
    low, high = max(mean - hw, lo), min(mean + hw, hi)
    return f"[{low:.4g}, {high:.4g}]"


def kpi_rows(run: RunOutputs) -> list[tuple[str, float, float]]:
    """(KPI name, mean, 95% half-width) of every KPI the summary holds: the catalog's table rows
    (twin.kpis.table_rows, the one KPI table), then cost by category and rejects by reason."""
    from twin.kpis import table_rows

    s, ci = run.summary, mapping(run.summary, "ci95")
    try:
        rows = [(name, num(v), num(hw)) for name, v, hw, _ in table_rows(_tidy(s))]
    except (AttributeError, TypeError, ValueError):  # a summary too damaged for the catalog: scalars only
        from twin.kpis import SCALAR_KPIS

        rows = [(k, num(s.get(k)), num(ci.get(k))) for k in SCALAR_KPIS if k in s]
    breakdown, breakdown_ci = mapping(s, "cost_breakdown"), mapping(ci, "cost_breakdown")
    rows += [(f"cost_breakdown.{k}", num(v), num(breakdown_ci.get(k))) for k, v in breakdown.items() if k != "currency"]
    rows += [(f"rejects.{k}", num(v), math.nan) for k, v in mapping(s, "reject_reasons").items()]
    return rows


def _tidy(summary: dict) -> dict:
    """The summary with every group a mapping (an older or partial output may lack or mangle one)."""
    from twin.kpis import MEMBER_GROUPS

    out = dict(summary)
    for group in (*MEMBER_GROUPS, "station_states"):
        if group in out and not isinstance(out[group], dict):
            out[group] = {}
    states = out.get("station_states") or {}
    out["station_states"] = {k: v for k, v in states.items() if isinstance(v, dict)}
    ci = out.get("ci95")
    out["ci95"] = ci if isinstance(ci, dict) else {}
    return out


def run_kpi_table(run: RunOutputs) -> str:
    currency = run.currency
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(unit_of(name, currency))}</td>"
        f"<td class=n>{html.escape(format_estimate(mean if math.isfinite(mean) else None, hw))}</td>"
        f"<td class=n>{html.escape(_interval(name, mean, hw))}</td></tr>"
        for name, mean, hw in kpi_rows(run))
    return ("<table class=kpi id=kpi-table><tr><th>KPI</th><th>unit</th><th>mean ± 95% CI</th>"
            f"<th>95% interval</th></tr>{body}</table>"
            "<p class=small>Rejects are cells per replication by reason; shares and yields are fractions of 1 "
            "(intervals cut at 0 and 1).</p>")


def expectations_table(summary: dict) -> str:
    rows = [e for e in summary.get("expectations") or [] if isinstance(e, dict)]
    if not rows:
        return "<p class=note>This scenario has no expect: block.</p>"
    extra = sorted({k for e in rows for k in e} - {"kpi", "min", "max", "value", "passed"})
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("KPI", "min", "max", "value", *extra, "verdict"))
    body = []
    for e in rows:
        verdict = "pass" if e.get("passed") else "FAIL"
        cells = [str(e.get("kpi", "")), _text(e.get("min")), _text(e.get("max")), _text(e.get("value")),
                 *(_text(e.get(k)) for k in extra)]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                    + f"<td class={verdict.lower()}>{verdict}</td></tr>")
    return f"<table class=kpi id=expect-table><tr>{head}</tr>{''.join(body)}</table>"


def _text(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return format_estimate(v)
    return str(v)


def sweep_table(sweep: SweepOutputs) -> str:
    """One row per grid point: every KPI's mean ± 95% CI and its paired difference against point 0."""
    rows = sweep.rows
    kpis = [str(k) for k in dict.fromkeys(rows["kpi"])] if "kpi" in rows.columns else []
    by = {}
    for rec in rows.to_dict("records"):
        point = num(rec.get("point"))
        if math.isfinite(point):
            by[(int(point), str(rec.get("kpi")))] = rec
    currency = sweep.currency
    head = "".join(f"<th>{html.escape(k)}<br><small>{html.escape(unit_of(k, currency))}</small></th>" for k in kpis)
    body = []
    for i, pt in enumerate(p for p in sweep.meta.get("points") or [] if isinstance(p, dict)):
        index = pt.get("point", i)
        cells = []
        for k in kpis:
            r = by.get((index, k))
            if r is None:
                cells.append("<td>–</td>")
                continue
            diff = "" if index == 0 else \
                f"<br><small>Δ {html.escape(_estimate(r.get('diff_mean'), r.get('diff_ci95')))}</small>"
            cells.append(f"<td class=n>{html.escape(_estimate(r.get('mean'), r.get('ci95')))}{diff}</td>")
        label = html.escape(str(pt.get("label", "")))
        body.append(f"<tr><td>{html.escape(str(index))}</td><td>{label}</td>{''.join(cells)}</tr>")
    return (f"<div class=wide><table class=kpi id=kpi-table><tr><th>#</th><th>grid point</th>{head}</tr>"
            f"{''.join(body)}</table></div><p class=small>mean ± 95% CI; Δ = paired difference against point 0 "
            "(same random numbers) ± 95% CI</p>")


def _estimate(mean: Any, hw: Any) -> str:
    m, h = num(mean), num(hw)
    return format_estimate(m if math.isfinite(m) else None, h if math.isfinite(h) else None)


def settings_text(meta: dict) -> Iterable[str]:
    for s in meta.get("settings") or []:
        if isinstance(s, dict):
            yield f"{s.get('path')} = {', '.join(map(str, s.get('values') or []))}"
