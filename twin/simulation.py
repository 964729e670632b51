"""The one facade of a run: `Simulation(scenario).run(out_dir)` runs the replications,
writes summary.json, cells.parquet and trace.sqlite, and checks the `expect:` block."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from twin.scenario import Scenario
from twin.stats import across_replications, t_halfwidth

PER_STATION = ("utilisation", "availability")
PER_GROUP = ("yield_by_lot", "yield_by_press")


@dataclass
class Replication:
    """What one replication returns: its KPIs and its cell/visit records."""

    index: int
    kpis: dict
    cell_rows: list[tuple]
    visits: list[tuple]


def run_replication(scenario: Scenario, index: int, seed: int | None = None, keep_visits: bool = True) -> Replication:
    """Run replication `index` of a scenario (independent streams per replication)."""
    from twin.line import Line
    from twin.store import cell_row

    line = Line(scenario, index, seed=seed)
    kpis = line.run()
    rows = [cell_row(index, c) for c in line.cells]
    return Replication(index, kpis, rows, line.visits if keep_visits else [])


@dataclass
class Expectation:
    kpi: str
    value: float
    min: float | None
    max: float | None

    @property
    def passed(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return (self.min is None or self.value >= self.min) and (self.max is None or self.value <= self.max)


@dataclass
class RunResult:
    summary: dict
    expectations: list[Expectation] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)


def summarise(scenario: Scenario, reps: list[dict], seed: int) -> dict:
    """Means across replications with Student-t 95% half-widths (`ci95`)."""
    scalars = [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in reps]
    means, hws = across_replications(scalars)
    summary: dict = {"scenario": scenario.name, **means}
    ci95: dict = dict(hws)
    for group in PER_STATION:
        stations = reps[0][group]
        summary[group] = {s: sum(r[group][s] for r in reps) / len(reps) for s in stations}
        ci95[group] = {s: t_halfwidth([r[group][s] for r in reps]) for s in stations}
    for group in PER_GROUP:
        keys = sorted({k for r in reps for k in r[group]})
        summary[group] = {k: float(np.nanmean([r[group].get(k, math.nan) for r in reps])) for k in keys}
        ci95[group] = {k: t_halfwidth([r[group].get(k, math.nan) for r in reps]) for k in keys}
    reasons: dict[str, float] = {}
    for r in reps:
        for k, v in r["reject_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v / len(reps)
    summary["reject_reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))
    summary.update(
        sim_time_h=scenario.run.duration_h - scenario.run.warmup_h,
        duration_h=scenario.run.duration_h,
        warmup_h=scenario.run.warmup_h,
        replications=len(reps),
        seed=seed,
        ci95=ci95,
        per_replication=reps,
    )
    return summary


def kpi_value(summary: dict, kpi: str) -> float:
    head, _, tail = kpi.partition(".")
    value = summary[head][tail] if tail else summary[kpi]
    return float(value)


def judge(scenario: Scenario, summary: dict) -> list[Expectation]:
    """The scenario's `expect:` assertions against a summary; the verdicts go into it too."""
    expectations = [Expectation(e.kpi, kpi_value(summary, e.kpi), e.min, e.max) for e in scenario.expect]
    summary["expectations"] = [
        {"kpi": e.kpi, "value": e.value, "min": e.min, "max": e.max, "passed": e.passed} for e in expectations
    ]
    summary["passed"] = all(e.passed for e in expectations)
    return expectations


class Simulation:
    """Runs a scenario's replications and writes the run's outputs."""

    def __init__(self, scenario: Scenario, replications: int | None = None, seed: int | None = None,
                 executor=None):
        self.scenario = scenario
        self.executor = executor  # None: in this process; or see twin.experiment
        self.replications = replications or scenario.run.replications
        self.seed = scenario.run.seed if seed is None else seed

    def run(self, out_dir: str | Path | None = None, on_replication: Callable[[int], None] | None = None) -> RunResult:
        from twin.experiment import replications

        writers = self._open(out_dir) if out_dir is not None else None
        reps = []
        try:
            for rep in replications(self.scenario, range(self.replications), self.seed, self.executor,
                                    keep_visits=self.scenario.run.write_trace):
                i = rep.index
                reps.append(rep.kpis)
                if writers is not None:
                    trace, cells = writers
                    trace.add_cells(rep.cell_rows)
                    trace.add_visits(i, rep.visits)
                    trace.add_run(i, self.seed, rep.kpis)
                    cells.add(rep.cell_rows)
                if on_replication is not None:
                    on_replication(i)
        finally:
            if writers is not None:
                for w in writers:
                    w.close()
        summary = summarise(self.scenario, reps, self.seed)
        expectations = judge(self.scenario, summary)
        if out_dir is not None:
            (Path(out_dir) / "summary.json").write_text(json.dumps(json_safe(summary), indent=2))
        return RunResult(summary, expectations)

    @staticmethod
    def _open(out_dir: str | Path):
        from twin.store import ParquetCells, TraceStore

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("trace.sqlite", "trace.sqlite-wal", "trace.sqlite-shm", "cells.parquet"):
            (out / name).unlink(missing_ok=True)
        return TraceStore(out / "trace.sqlite"), ParquetCells(out / "cells.parquet")


def json_safe(x):
    """The same data with NaN and infinities as null, so the JSON is standard."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
