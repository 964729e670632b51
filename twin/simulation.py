"""The one facade of a run: `Simulation(scenario, ports=..., executor=...).run(out_dir)` runs
the replications (in simulated time by default, or one replication against equipment when
`ports` is a hardware backend such as `twin.hil.PlantEquipment`), writes summary.json,
cells.parquet and trace.sqlite through the one atomic writer, and judges the `expect:` block."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from twin.kpis import kpi_halfwidth, kpi_value
from twin.replication import Replication, quality_keys, run_replication
from twin.stats import across_replications, finite_mean, t_halfwidth
from twin.writer import RunWriter, json_safe

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario

__all__ = ["Simulation", "RunResult", "Expectation", "Equipment", "Replication", "run_replication", "summarise",
           "judge", "json_safe"]

PER_STATION = ("utilisation", "availability")
PER_GROUP = ("yield_by_lot", "yield_by_press", "cost_breakdown")


@dataclass
class Expectation:
    """One `expect:` row judged against a summary."""

    kpi: str
    value: float
    min: float | None
    max: float | None
    halfwidth: float = math.nan
    evidence: str = "mean"  # or "ci95": the bound on the safe side of the 95% interval must clear the threshold

    @property
    def judged(self) -> tuple[float, float]:
        """(value checked against min, value checked against max): the mean, or the 95% bounds."""
        if self.evidence == "ci95":
            hw = self.halfwidth if self.halfwidth is not None and math.isfinite(self.halfwidth) else math.nan
            return self.value - hw, self.value + hw
        return self.value, self.value

    @property
    def passed(self) -> bool:
        low, high = self.judged
        if self.value is None or math.isnan(low) or math.isnan(high):
            return False
        return (self.min is None or low >= self.min) and (self.max is None or high <= self.max)


@dataclass
class RunResult:
    """What a run returns: its summary and the verdict on each expectation."""

    summary: dict[str, Any]
    expectations: list[Expectation] = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)


def _group_mean(reps: list[dict], group: str) -> tuple[dict[str, float], dict[str, float]]:
    rows = [r.get(group) or {} for r in reps]
    keys = sorted({k for row in rows for k in row})
    means = {k: finite_mean([row.get(k, math.nan) for row in rows]) for k in keys}
    return means, {k: t_halfwidth([row.get(k, math.nan) for row in rows]) for k in keys}


def summarise(scenario: "Scenario", reps: list[dict], seed: int) -> dict[str, Any]:
    """Means across replications with Student-t 95% half-widths (`ci95`)."""
    scalars = [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in reps]
    means, hws = across_replications(scalars)
    summary: dict[str, Any] = {"scenario": scenario.name, **means}
    ci95: dict[str, Any] = dict(hws)
    for group in PER_STATION:
        stations = reps[0][group]
        summary[group] = {s: sum(r[group][s] for r in reps) / len(reps) for s in stations}
        ci95[group] = {s: t_halfwidth([r[group][s] for r in reps]) for s in stations}
    for group in PER_GROUP:
        summary[group], ci95[group] = _group_mean(reps, group)
    summary["station_states"], ci95["station_states"] = {}, {}
    for station in reps[0]["station_states"]:
        rows = [r["station_states"][station] for r in reps]
        summary["station_states"][station], ci95["station_states"][station] = _group_mean(
            [{"s": row} for row in rows], "s")
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
        currency=scenario.cost.currency if scenario.cost is not None else None,
        ci95=ci95,
        per_replication=reps,
    )
    if all("health" in r for r in reps):
        from twin.health import summarise_health

        summary["health"] = summarise_health(scenario, reps, ci95.get("mean_wip", math.nan))
    return summary


def judge(scenario: "Scenario", summary: dict[str, Any]) -> list[Expectation]:
    """The scenario's `expect:` assertions against a summary; the verdicts go into it too."""
    expectations = [Expectation(e.kpi, kpi_value(summary, e.kpi), e.min, e.max, kpi_halfwidth(summary, e.kpi),
                                e.evidence) for e in scenario.expect]
    summary["expectations"] = [
        {"kpi": e.kpi, "value": e.value, "min": e.min, "max": e.max, "evidence": e.evidence, "ci95": e.halfwidth,
         "passed": e.passed} for e in expectations
    ]
    summary["passed"] = all(e.passed for e in expectations)
    return expectations


class Equipment(Protocol):
    """A backend that runs one replication against equipment instead of in simulated time."""

    def check(self, scenario: "Scenario") -> None:
        """Refuse a scenario the equipment cannot run (raise with the field and the mismatch)."""
        ...

    async def run_async(self, scenario: "Scenario", seed: int, writer: RunWriter | None) -> dict[str, Any]:
        """Run on the running event loop, streaming records into `writer`; return the run's summary."""
        ...


class Simulation:
    """Runs a scenario and writes the run's outputs."""

    def __init__(self, scenario: "Scenario", replications: int | None = None, seed: int | None = None,
                 executor: Any = None, ports: Equipment | None = None):
        self.scenario = scenario
        self.executor = executor  # None: in this process; or see twin.experiment
        self.ports = ports
        self.replications = replications or scenario.run.replications
        self.seed = scenario.run.seed if seed is None else seed
        self.warmup_auto = scenario.run.warmup_auto
        if self.warmup_auto and ports is None:
            from twin.health import detect_warmup

            self.scenario = scenario = detect_warmup(scenario, self.seed)
        if ports is not None:
            if executor is not None:
                raise ValueError("a run against equipment runs in this process (no executor)")
            self.replications = 1
            ports.check(scenario)

    def run(self, out_dir: str | Path | None = None, on_replication: Callable[[int], None] | None = None,
            overwrite: bool = True) -> RunResult:
        """Run and write the outputs to `out_dir` (atomically; nothing written without it)."""
        if self.ports is not None:
            result = asyncio.run(self.run_async(out_dir, overwrite=overwrite))
            if on_replication is not None:
                on_replication(0)
            return result
        from twin.interrupt import Interrupted

        writer = self._writer(out_dir, overwrite)
        try:
            summary = self._simulate(writer, on_replication)
            return self._judge_and_commit(summary, writer)
        except (Interrupted, KeyboardInterrupt) as exc:
            kept = writer.replications_committed if writer is not None else []
            if writer is not None:
                writer.abort("Ctrl-C")
            if isinstance(exc, Interrupted):
                raise
            raise Interrupted(kept, writer.partial if writer is not None else None) from None
        except BaseException as exc:
            if writer is not None:
                writer.abort(type(exc).__name__)
            raise

    async def run_async(self, out_dir: str | Path | None = None, overwrite: bool = True) -> RunResult:
        """A run against equipment on the running event loop (`ports` must be given)."""
        if self.ports is None:
            raise ValueError("run_async runs against equipment: give `ports`")
        if out_dir is not None and hasattr(self.ports, "recover"):  # before the writer clears a partial folder
            self.ports.recover(Path(out_dir))
        writer = self._writer(out_dir, overwrite)
        try:
            summary = await self.ports.run_async(self.scenario, self.seed, writer)
            return self._judge_and_commit(summary, writer)
        except BaseException as exc:
            if writer is not None:
                writer.abort(type(exc).__name__)
            raise

    def _writer(self, out_dir: str | Path | None, overwrite: bool) -> RunWriter | None:
        if out_dir is None:
            return None
        return RunWriter(out_dir, quality_keys(self.scenario), overwrite=overwrite)

    def _judge_and_commit(self, summary: dict[str, Any], writer: RunWriter | None) -> RunResult:
        expectations = judge(self.scenario, summary)
        target = writer.commit(summary) if writer is not None else None
        return RunResult(summary, expectations, target)

    def _simulate(self, writer: RunWriter | None, on_replication: Callable[[int], None] | None) -> dict[str, Any]:
        from twin import interrupt
        from twin.experiment import replications
        from twin.replication import stream_replication

        reps = []
        keep_visits = self.scenario.run.write_trace
        streamed: Iterator[Replication]
        if self.executor is None and writer is not None:  # in this process: records streamed as the run goes
            streamed = (stream_replication(self.scenario, i, self.seed, writer, keep_visits)
                        for i in range(self.replications))
        else:
            streamed = replications(self.scenario, range(self.replications), self.seed, self.executor,
                                    keep_visits=keep_visits)
        for rep in streamed:
            reps.append(rep.kpis)
            if writer is not None:
                writer.add_replication(rep.index, self.seed, rep.kpis, rep.cell_rows, rep.visits, rep.timeline)
            if on_replication is not None:
                on_replication(rep.index)
            if interrupt.requested() and len(reps) < self.replications:
                kept = writer.replications_committed if writer is not None else [r for r in range(len(reps))]
                raise interrupt.Interrupted(kept, writer.partial if writer is not None else None)
        summary = summarise(self.scenario, reps, self.seed)
        if self.warmup_auto and "health" in summary:
            summary["health"]["warmup_detected"] = {"method": "MSER-5 on a pilot replication",
                                                    "warmup_h": self.scenario.run.warmup_h}
        return summary
