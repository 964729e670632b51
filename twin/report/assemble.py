"""The pages: which figures and tables a run or a sweep report shows, in reading order.

Each figure builder is called through `guarded`, so one figure that meets data nobody foresaw
costs that figure (with the error on the page and in the log), never the report. The test suite
treats such a figure as a failure: the guard is a seat belt, not the design.
"""

from __future__ import annotations

import functools
import html
import logging
import math
from collections.abc import Callable

from twin.report import flow, quality, stations, studies
from twin.report import sweep as sweep_figures
from twin.report.data import OptimizeOutputs, RunOutputs, SensitivityOutputs, SweepOutputs, num
from twin.report.page import Section, render
from twin.report.plotting import Figure
from twin.report.tables import expectations_table, run_kpi_table, settings_text, sweep_table

log = logging.getLogger(__name__)


def guarded(name: str, title: str, build: Callable[[], Figure | list[Figure]]) -> list[Figure]:
    try:
        made = build()
    except Exception as exc:  # noqa: BLE001 - any failure of one figure must not cost the report
        log.warning("report figure %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=True)
        return [Figure(name, title, note=f"This figure could not be drawn ({type(exc).__name__}: {exc}).",
                       failed=True)]
    return made if isinstance(made, list) else [made]


def _figures(run: RunOutputs, *builders: tuple[str, str, Callable]) -> list[Figure]:
    out: list[Figure] = []
    for name, title, build in builders:
        out += guarded(name, title, functools.partial(build, run))
    return out


def run_page(run: RunOutputs) -> tuple[str, list[Figure]]:
    s = run.summary
    sections = [
        Section("KPIs", expectations_table(s) + run_kpi_table(run)),
        Section("Flow", figures=_figures(
            run, ("yield_waterfall", "Yield waterfall", flow.yield_waterfall),
            ("throughput_wip", "Throughput and WIP", flow.throughput_wip),
            ("buffer_levels", "WIP per buffer", flow.buffer_levels))),
        Section("Stations", figures=_figures(
            run, ("utilisation", "Utilisation", stations.utilisation),
            ("station_state_shares", "Station states", stations.state_shares),
            ("station_state_gantt", "Station state Gantt", stations.state_gantt),
            ("press_trace", "Press cycle", stations.press_traces))),
        Section("Quality", figures=_figures(
            run, ("yield_by_press", "Yield by press", lambda r: quality.yield_by(r, "yield_by_press")),
            ("yield_by_lot", "Yield by lot", lambda r: quality.yield_by(r, "yield_by_lot")),
            ("interface_by_press", "Interface by press", lambda r: quality.interface_by(r, "press")),
            ("interface_by_lot", "Interface by lot", lambda r: quality.interface_by(r, "lot")),
            ("flatness_vs_outcome", "Flatness vs outcome", quality.flatness_vs_outcome),
            ("quality_distributions", "Distributions", quality.distributions))),
        Section("Cost", figures=_figures(run, ("cost_breakdown", "Cost breakdown", flow.cost_breakdown))),
    ]
    from twin.calibration.plots import uncertainty_sections  # only when the run drew parameters

    sections += uncertainty_sections(s)
    window, warmup = num(s.get("sim_time_h")), num(s.get("warmup_h"))
    intro = (f"<p>{_n(s.get('replications'))} replication(s) of {_h(window)} after a {_h(warmup)} warm-up, seed "
             f"{html.escape(str(s.get('seed', '–')))}. Intervals are Student-t 95% across replications.</p>")
    intro += "".join(f"<p class=note>{html.escape(n)}</p>" for n in run.notes)
    figures = [f for sec in sections for f in sec.figures]
    return render(f"Run report: {s.get('scenario', run.directory.name)}", intro, sections), figures


def sweep_page(sw: SweepOutputs) -> tuple[str, list[Figure]]:
    meta = sw.meta
    figures: list[Figure] = []
    for name, title, kwargs in (("sweep_response", "Sweep response", {}),
                                ("sweep_paired_diff", "Paired differences", {"diff": True}),
                                ("sweep_stations", "Station KPIs", {"station_kpis": True})):
        figures += guarded(name, title, functools.partial(sweep_figures.response, sw, **kwargs))
    sets = "; ".join(settings_text(meta)) or "no settings"
    intro = (f"<p>Sweep of <b>{html.escape(str(meta.get('scenario', sw.directory.name)))}</b>: {html.escape(sets)}. "
             f"{_n(meta.get('replications'))} replication(s) per point, "
             f"seed {html.escape(str(meta.get('seed', '–')))}, "
             "common random numbers.</p>")
    sections = [Section("Results table", sweep_table(sw)), Section("Plots", figures=figures)]
    return render(f"Sweep report: {meta.get('scenario', sw.directory.name)}", intro, sections), figures


def optimize_page(opt: OptimizeOutputs) -> tuple[str, list[Figure]]:
    meta = opt.meta
    figures = guarded("history", "Optimisation history", functools.partial(studies.history, opt))
    figures += guarded("importance", "Parameter importance", functools.partial(studies.importance, opt))
    if len(studies.objectives(opt)) == 2:
        figures += guarded("pareto", "Pareto front", functools.partial(studies.pareto, opt))
    figures += guarded("slices", "Parameter slices", functools.partial(studies.slices, opt))
    objs = ", ".join(f"{k} ({d})" for k, d in studies.objectives(opt)) or "–"
    cons = ", ".join(str(c) for c in meta.get("constraints") or []) or "none"
    intro = (f"<p>Optimisation of <b>{html.escape(str(meta.get('scenario', opt.directory.name)))}</b>: "
             f"{html.escape(objs)} over {html.escape('; '.join(map(str, meta.get('params') or [])))}; constraints "
             f"{html.escape(cons)} (judged on the 95% bound; @p: share of replications). "
             f"{_n(meta.get('trials'))} trial(s) x {_n(meta.get('replications'))} replication(s) = "
             f"{_n(meta.get('runs'))} runs, seed {html.escape(str(meta.get('seed', '–')))}, common random numbers."
             "</p>")
    intro += "".join(f"<p class=note>{html.escape(n)}</p>" for n in opt.notes)
    sections = [Section("Best", studies.best_table(opt)), Section("Plots", figures=figures)]
    return render(f"Optimisation report: {meta.get('scenario', opt.directory.name)}", intro, sections), figures


def sensitivity_page(sens: SensitivityOutputs) -> tuple[str, list[Figure]]:
    meta = sens.meta
    figures = guarded("tornado", "Tornado", functools.partial(studies.tornado, sens))
    figures += guarded("morris_sigma", "Morris mu* vs sigma", functools.partial(studies.morris_sigma, sens))
    intro = (f"<p>Sensitivity ({html.escape(str(meta.get('method', '–')))}) of "
             f"<b>{html.escape(str(meta.get('scenario', sens.directory.name)))}</b> to "
             f"{html.escape('; '.join(map(str, meta.get('params') or [])))}: {_n(meta.get('points'))} points x "
             f"{_n(meta.get('replications'))} replication(s) = {_n(meta.get('runs'))} runs, common random numbers. "
             "Morris mu* is the mean absolute change of the KPI when a parameter moves across its whole range; "
             "Sobol S1/ST are first-order and total shares of the KPI's variance.</p>")
    intro += "".join(f"<p class=note>{html.escape(n)}</p>" for n in sens.notes)
    sections = [Section("Indices", studies.indices_table(sens)), Section("Plots", figures=figures)]
    return render(f"Sensitivity report: {meta.get('scenario', sens.directory.name)}", intro, sections), figures


def _n(value) -> str:
    x = num(value)
    return f"{x:.0f}" if math.isfinite(x) else "–"


def _h(value: float) -> str:
    return f"{value:g} h" if math.isfinite(value) else "– h"
