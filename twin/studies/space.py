"""The search space of a study: `--param PATH=LOW:HIGH[:int|:log]` (a range) or `--param PATH=A,B,C`
(choices), scenario variants at a point of it, and the replications that evaluate them.

Every variant runs the same replication indices with the same seed, so point x and point y see
the same random numbers (common random numbers): differences between points are differences of
the design, not of luck. A point whose scenario does not validate is reported with the field
that fails, never run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.kpis import KpiError, kpi_value, parse_kpi
from twin.scenario import Scenario, ScenarioError, parse_scenario
from twin.stats import t_halfwidth
from twin.studies.sweep import apply_setting, parse_setting

RANGE = re.compile(r"^\s*(?P<low>[-+0-9.eE]+)\s*:\s*(?P<high>[-+0-9.eE]+)\s*(?::\s*(?P<kind>int|log))?\s*$")


@dataclass(frozen=True)
class Param:
    """One dimension: a dotted scenario path and its range (float, int, log) or its choices."""

    path: str
    kind: str  # "float", "int", "log" or "choice"
    low: float = math.nan
    high: float = math.nan
    choices: tuple = ()

    @property
    def numeric(self) -> bool:
        return self.kind != "choice"

    def text(self) -> str:
        if self.kind == "choice":
            return f"{self.path}={','.join(json.dumps(c) if not isinstance(c, str) else c for c in self.choices)}"
        suffix = "" if self.kind == "float" else f":{self.kind}"
        return f"{self.path}={self.low:g}:{self.high:g}{suffix}"

    def from_unit(self, u: float) -> Any:
        """The value at u in [0, 1] of the range (log-uniform for log, rounded for int)."""
        if self.kind == "log":
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        value = self.low + u * (self.high - self.low)
        return int(round(value)) if self.kind == "int" else float(value)

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial proposes for this dimension."""
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high))
        if self.kind in ("float", "log"):
            return trial.suggest_float(self.path, self.low, self.high, log=self.kind == "log")
        label = trial.suggest_categorical(self.path, [_label(c) for c in self.choices])
        return next(c for c in self.choices if _label(c) == label)


def _label(value: Any) -> Any:
    """A choice as Optuna stores it (None, bool, int, float or str); other YAML values as JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def parse_param(text: str, source: str = "--param") -> Param:
    """`PATH=LOW:HIGH[:int|:log]` or `PATH=A,B,C` -> Param; ScenarioError (exit 2) naming the problem."""
    path, sep, spec = text.partition("=")
    path = path.strip()
    if not sep or not path or not spec.strip():
        raise ScenarioError(source, [(path, f"expected PATH=LOW:HIGH[:int|:log] or PATH=A,B,C (got {text!r})")])
    match = RANGE.match(spec)
    if match is None:
        setting = parse_setting(text, source)
        if len(setting.values) < 2:
            raise ScenarioError(source, [(path, f"give a range LOW:HIGH or at least two choices (got {spec!r})")])
        return Param(setting.path, "choice", choices=setting.values)
    try:
        low, high = float(match["low"]), float(match["high"])
    except ValueError:
        raise ScenarioError(source, [(path, f"LOW and HIGH must be numbers (got {spec!r})")]) from None
    kind = match["kind"] or "float"
    problems = []
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        problems.append(f"needs LOW < HIGH, both finite (got {low:g}:{high:g})")
    if kind == "log" and low <= 0:
        problems.append(f"a log range needs LOW > 0 (got {low:g})")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        problems.append(f"an int range needs integer bounds (got {low:g}:{high:g})")
    if problems:
        raise ScenarioError(source, [(path, p) for p in problems])
    return Param(path, kind, low, high)


def variant(data: dict, point: dict[str, Any], source: str, base_dir: str | Path | None = None) -> Scenario:
    """The validated scenario at one point; ScenarioError names the point and the failing field.
    Relative spec paths resolve against `base_dir` (the scenario file's folder)."""
    d = data
    for path, value in point.items():
        d = apply_setting(d, path, value)
    try:
        return parse_scenario(d, source, base_dir)
    except ScenarioError as exc:
        where = ", ".join(f"{p}={v}" for p, v in point.items())
        raise ScenarioError(f"{source} with {where}", exc.problems) from None


@dataclass
class Estimate:
    """A KPI over the replications of one point: mean, 95% half-width and the values themselves."""

    values: list[float]

    @property
    def finite(self) -> list[float]:
        return [v for v in self.values if v is not None and math.isfinite(v)]

    @property
    def mean(self) -> float:
        f = self.finite
        return sum(f) / len(f) if f else math.nan

    @property
    def halfwidth(self) -> float:
        return t_halfwidth(self.finite)

    @property
    def low(self) -> float:
        return self.mean - self.halfwidth

    @property
    def high(self) -> float:
        return self.mean + self.halfwidth


def evaluate(scenarios: Sequence[Scenario], replications: int, seed: int, executor: Any = None,
             on_result: Callable[[int, int], None] | None = None, cache: Any = None) -> list[list[dict]]:
    """Per-replication KPIs of every scenario: replications 0..n-1 at one seed (common random
    numbers); finished ones read from / written to `cache` (twin.studies.cache.PointCache)."""
    from twin.experiment import run_points

    return run_points(scenarios, seed, replications, executor, on_result=on_result, cache=cache)


def estimate(reps: Sequence[dict], kpi: str) -> Estimate:
    return Estimate([kpi_value(r, kpi) for r in reps])


def check_kpis(base: Scenario, names: Sequence[str], source: str) -> None:
    """Every KPI name known to the catalog, with members that exist in the scenario (else exit 2)."""
    problems = []
    for name in names:
        try:
            parse_kpi(name, base.stations, base.lots, base.resolved.presses)
        except KpiError as exc:
            problems.append((name, str(exc)))
    if problems:
        raise ScenarioError(source, problems)
