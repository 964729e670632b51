"""Optimisation of a scenario on Optuna: which settings give the best KPI while constraints hold?

A trial is a point of the search space (twin.studies.space) run for R replications at the study's
seed, so every trial sees the same random numbers (common random numbers) and trials are compared
on the design, not on luck. The objective is the KPI's mean over the replications. A constraint
`KPI>=X` is judged on evidence: by default the lower 95% bound of the KPI must clear X (`<=`: the
upper bound); `KPI>=X@p` is a chance constraint (at least a share p of the replications clear
X). Two objectives give a Pareto front. The study lives in DIR/study.sqlite, so an interrupted
study resumes where it stopped.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from twin.interrupt import Interrupted, requested
from twin.kpis import SCALAR_KPIS
from twin.scenario import ScenarioError
from twin.studies.space import Estimate, Param, check_kpis, estimate, evaluate, variant

log = logging.getLogger(__name__)
STUDY_FILE = "study.sqlite"
TRIALS_FILE = "trials.parquet"
META_FILE = "optimize.json"
STUDY_NAME = "twin-optimize"
CONSTRAINT = re.compile(r"^\s*(?P<kpi>[A-Za-z0-9_.\-]+)\s*(?P<op>>=|<=)\s*(?P<value>[-+0-9.eE]+)"
                        r"\s*(?:@\s*(?P<chance>[0-9.eE]+))?\s*$")


@dataclass(frozen=True)
class Objective:
    kpi: str
    direction: Literal["minimize", "maximize"]

    def value(self, est: Estimate) -> float:
        """The mean; an undefined mean (e.g. cost without good cells) counts as the worst value."""
        m = est.mean
        if math.isfinite(m):
            return m
        return math.inf if self.direction == "minimize" else -math.inf


@dataclass(frozen=True)
class Constraint:
    """`KPI>=X` / `KPI<=X` on the 95% bound, or with `@p` as a chance constraint over replications."""

    kpi: str
    op: str
    threshold: float
    chance: float | None = None

    @property
    def text(self) -> str:
        return f"{self.kpi}{self.op}{self.threshold:g}" + (f"@{self.chance:g}" if self.chance is not None else "")

    def evidence(self, est: Estimate) -> float:
        """What is judged: the 95% bound on the safe side, or the share of replications that clear X."""
        if self.chance is not None:
            vals = est.finite
            ok = [v >= self.threshold if self.op == ">=" else v <= self.threshold for v in vals]
            return sum(ok) / len(est.values) if est.values else math.nan
        return est.low if self.op == ">=" else est.high

    def violation(self, est: Estimate) -> float:
        """<= 0 when the constraint holds (Optuna's convention); +inf when it cannot be judged."""
        e = self.evidence(est)
        if not math.isfinite(e):
            return math.inf
        if self.chance is not None:
            return self.chance - e
        return self.threshold - e if self.op == ">=" else e - self.threshold


def parse_objective(text: str, direction: str = "minimize") -> Objective:
    """`KPI`, `KPI:min` or `KPI:max` -> Objective (the suffix wins over `direction`)."""
    kpi, _, suffix = text.strip().partition(":")
    chosen = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize",
              "": direction}.get(suffix.strip().lower())
    if not kpi or chosen not in ("minimize", "maximize"):
        raise ScenarioError("--objective", [(text, "expected KPI, KPI:min or KPI:max")])
    return Objective(kpi, "minimize" if chosen == "minimize" else "maximize")


def parse_constraint(text: str) -> Constraint:
    m = CONSTRAINT.match(text)
    if m is None:
        raise ScenarioError("--constraint", [(text, "expected KPI>=VALUE or KPI<=VALUE, optionally @SHARE "
                                                    "for a chance constraint (e.g. final_yield>=0.95@0.9)")])
    chance = float(m["chance"]) if m["chance"] else None
    if chance is not None and not 0 < chance <= 1:
        raise ScenarioError("--constraint", [(text, f"the chance share must be in (0, 1] (got {chance:g})")])
    return Constraint(m["kpi"], m["op"], float(m["value"]), chance)


@dataclass
class OptimizeResult:
    """The finished (or resumed) study: every trial as a table, the best trial(s), the study itself."""

    trials: Any  # pandas.DataFrame, one row per trial
    best: Any  # pandas.DataFrame: the feasible optimum, or the Pareto front for two objectives
    meta: dict
    study: Any = field(repr=False, default=None)

    @property
    def runs(self) -> int:
        return int(self.meta.get("runs", 0))


def _sampler(objectives: Sequence[Objective], seed: int, budget: int) -> Any:
    import optuna

    startup = max(3, min(10, budget // 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def open_study(out_dir: Path, meta: dict, resume: bool, objectives: Sequence[Objective], budget: int,
               overwrite: bool = False) -> Any:
    """The SQLite-backed Optuna study of DIR: new, or the one a previous call left (`resume`).

    An existing DIR is never reused silently: resume its study, or replace it with `overwrite`."""
    import optuna

    db = out_dir / STUDY_FILE
    if out_dir.exists() and not resume:
        if not overwrite:
            raise FileExistsError(f"{out_dir} exists (use --resume to continue its study or --force to replace it)")
        shutil.rmtree(out_dir)
    if resume and not db.exists():
        raise FileNotFoundError(f"{db}: no study to resume")
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume and db.exists():
        old = json.loads((out_dir / META_FILE).read_text()) if (out_dir / META_FILE).exists() else {}
        for key in ("params", "objectives", "constraints", "replications", "seed"):
            if key in old and old[key] != meta[key]:
                raise ScenarioError("--resume", [(key, f"the study in {out_dir} was started with {old[key]!r}, "
                                                       f"not {meta[key]!r}")])
    return optuna.create_study(storage=f"sqlite:///{db}", study_name=STUDY_NAME, load_if_exists=True,
                               directions=[o.direction for o in objectives],
                               sampler=_sampler(objectives, meta["sampler_seed"], budget))


def optimize(data: dict, params: Sequence[Param], objectives: Sequence[Objective],
             constraints: Sequence[Constraint] = (), budget: int = 20, replications: int | None = None,
             seed: int | None = None, executor: Any = None, out_dir: str | Path | None = None,
             source: str = "<scenario>", resume: bool = False, overwrite: bool = False, parallel_trials: int = 1,
             base_dir: str | Path | None = None, on_trial: Callable[[dict], None] | None = None,
             sampler_seed: int | None = None) -> OptimizeResult:
    """Run (or resume) a study of `budget` trials in total and tabulate it. The sampler is seeded
    with `sampler_seed` (default: the simulation seed), so a study is reproducible."""
    import optuna

    from twin.scenario import parse_scenario

    if not params:
        raise ScenarioError("--param", [("", "give at least one --param")])
    if not 1 <= len(objectives) <= 2:
        raise ScenarioError("--objective", [("", "give one objective, or two for a Pareto front")])
    base = parse_scenario(data, source, base_dir)
    n = replications or base.run.replications
    seed = base.run.seed if seed is None else seed
    if any(c.chance is None for c in constraints) and n < 2:
        raise ScenarioError("--replications", [("", "a constraint judged on its 95% bound needs >= 2 replications")])
    check_kpis(base, [o.kpi for o in objectives] + [c.kpi for c in constraints], source)
    meta: dict[str, Any] = {"scenario": base.name, "source": source, "seed": seed, "replications": n, "budget": budget,
            "sampler_seed": seed if sampler_seed is None else sampler_seed,
            "currency": base.cost.currency if base.cost is not None else None,
            "params": [p.text() for p in params], "objectives": [[o.kpi, o.direction] for o in objectives],
            "constraints": [c.text for c in constraints]}
    optuna.logging.disable_default_handler()  # Optuna's log goes through the logging tree (--log-level)
    optuna.logging.enable_propagation()
    if out_dir is not None:
        study = open_study(Path(out_dir), meta, resume, objectives, budget, overwrite)
    else:
        study = optuna.create_study(directions=[o.direction for o in objectives],
                                    sampler=_sampler(objectives, meta["sampler_seed"], budget))
    finished = [t for t in study.trials if t.state.is_finished()]
    remaining = max(0, budget - len(finished))
    while remaining > 0:
        batch = [study.ask() for _ in range(min(parallel_trials, remaining))]
        _run_batch(study, batch, data, params, objectives, constraints, n, seed, executor, source, base_dir, on_trial)
        remaining -= len(batch)
        if remaining > 0 and requested():  # Ctrl-C: the trials told so far are in the storage; stop here
            _stop(study, params, objectives, constraints, meta, out_dir)
    result = tabulate(study, params, objectives, constraints, meta)
    if out_dir is not None:
        write(result, Path(out_dir))
    return result


def _stop(study, params, objectives, constraints, meta, out_dir) -> None:
    """Write the trials finished so far (when there is an output folder) and raise Interrupted."""
    done = sum(t.state.is_finished() for t in study.trials)
    where = Path(out_dir) if out_dir is not None else None
    if where is not None:
        write(tabulate(study, params, objectives, constraints, meta), where)
    raise Interrupted([f"{done} finished trial(s) (twin optimize --resume continues)"], where, "results:")


def _run_batch(study, batch, data, params, objectives, constraints, n, seed, executor, source, base_dir,
               on_trial) -> None:
    """Run a batch of asked trials. A point the study already ran is not run again: with common
    random numbers its replications would repeat exactly, so its results are copied (0 runs)."""
    from optuna.trial import TrialState

    done = {_key(t.params): t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    points, scenarios, trials = [], [], []
    for trial in batch:
        point = {p.path: p.suggest(trial) for p in params}
        twin_trial = done.get(_key(trial.params))
        if twin_trial is not None:
            for key, value in twin_trial.user_attrs.items():
                trial.set_user_attr(key, value)
            trial.set_user_attr("runs", 0)
            trial.set_user_attr("same_as", twin_trial.number)
            for name, value in (getattr(twin_trial, "constraints", None) or {}).items():
                trial.set_constraint(name, value)
            values = list(twin_trial.values)
            study.tell(trial, values if len(values) > 1 else values[0])
            _report(on_trial, trial.number, point, values, None)
            continue
        try:
            scenarios.append(variant(data, point, source, base_dir))
        except ScenarioError as exc:
            trial.set_user_attr("error", str(exc).splitlines()[-1].strip())
            study.tell(trial, state=TrialState.FAIL)
            log.warning("trial %d invalid: %s", trial.number, exc)
            _report(on_trial, trial.number, point, None, str(exc))
            continue
        points.append(point)
        trials.append(trial)
    if not trials:
        return
    for trial, point, reps in zip(trials, points, evaluate(scenarios, n, seed, executor)):
        values = []
        for o in objectives:
            est = estimate(reps, o.kpi)
            trial.set_user_attr(f"{o.kpi}.mean", est.mean)
            trial.set_user_attr(f"{o.kpi}.ci95", est.halfwidth)
            values.append(o.value(est))
        for c in constraints:
            est = estimate(reps, c.kpi)
            trial.set_user_attr(f"{c.text}.evidence", c.evidence(est))
            trial.set_user_attr(f"{c.kpi}.mean", est.mean)
            trial.set_user_attr(f"{c.kpi}.ci95", est.halfwidth)
            trial.set_constraint(c.text, c.violation(est))
        for kpi in SCALAR_KPIS:  # every scalar KPI's mean, so the trial table answers more than the objective
            trial.set_user_attr(f"{kpi}.mean", estimate(reps, kpi).mean)
        trial.set_user_attr("runs", n)
        study.tell(trial, values if len(values) > 1 else values[0])
        _report(on_trial, trial.number, point, values, None)


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _report(on_trial, number: int, point: dict, values, error) -> None:
    if on_trial is not None:
        on_trial({"trial": number, "params": point, "values": values, "error": error})


def tabulate(study, params: Sequence[Param], objectives: Sequence[Objective], constraints: Sequence[Constraint],
             meta: dict) -> OptimizeResult:
    """Trials, best trial(s) and importance as a table and a JSON-ready summary."""
    import pandas as pd

    rows = []
    for t in study.trials:
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        row.update({p.path: t.params.get(p.path) for p in params})
        for key in dict.fromkeys([f"{o.kpi}.mean" for o in objectives] + [f"{o.kpi}.ci95" for o in objectives]
                                 + [f"{c.kpi}.{s}" for c in constraints for s in ("mean", "ci95")]
                                 + [f"{c.text}.evidence" for c in constraints]
                                 + [f"{k}.mean" for k in SCALAR_KPIS]):
            row[key] = t.user_attrs.get(key, math.nan)
        cons = getattr(t, "constraints", None) or {}
        row["feasible"] = t.state.name == "COMPLETE" and all(v <= 0 for v in cons.values())
        row["runs"] = t.user_attrs.get("runs", 0)
        row["error"] = t.user_attrs.get("error", "")
        rows.append(row)
    trials = pd.DataFrame(rows)
    best_numbers = _best(study)
    best = trials[trials["trial"].isin(best_numbers)] if len(trials) else trials
    meta = {**meta, "trials": len(trials), "runs": int(trials["runs"].sum()) if len(trials) else 0,
            "best": [int(b) for b in best_numbers], "importance": _importance(study, objectives)}
    return OptimizeResult(trials, best.reset_index(drop=True), meta, study)


def _best(study) -> list[int]:
    """Feasible best trial (one objective) or feasible Pareto front (two)."""
    try:
        if len(study.directions) == 1:
            return [study.best_trial.number]
        return sorted(t.number for t in study.best_trials)
    except ValueError:  # no feasible complete trial yet
        return []


def _importance(study, objectives: Sequence[Objective]) -> dict[str, dict[str, float]]:
    """PED-ANOVA importance (Optuna's default evaluator) of each parameter for each objective, each
    oriented so that the good direction is low (empty while there are too few trials to tell)."""
    import optuna

    out = {}
    for i, o in enumerate(objectives):
        done = [t for t in study.trials if t.state.name == "COMPLETE" and math.isfinite(t.values[i])]
        if len(done) < 3 or len({json.dumps(t.params, sort_keys=True, default=str) for t in done}) < 2:
            continue
        try:
            sign = 1.0 if o.direction == "minimize" else -1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "computes importances to achieve low values"
                scores = optuna.importance.get_param_importances(
                    study, target=functools.partial(_value, index=i, sign=sign),
                    evaluator=optuna.importance.PedAnovaImportanceEvaluator())
        except (ValueError, RuntimeError) as exc:
            log.info("no parameter importance for %s: %s", o.kpi, exc)
            continue
        out[o.kpi] = {k: float(v) for k, v in scores.items()}
    return out


def _value(trial: Any, index: int, sign: float) -> float:
    return sign * float(trial.values[index])


def write(result: OptimizeResult, out_dir: Path) -> None:
    """trials.parquet / trials.csv and optimize.json beside the study (each written atomically)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from twin.simulation import json_safe

    table = pa.Table.from_pandas(_storable(result.trials), preserve_index=False)
    for name, writer in ((TRIALS_FILE, pq.write_table), ("trials.csv", pacsv.write_csv)):
        tmp = out_dir / f".{name}.tmp"
        writer(table, tmp)
        tmp.replace(out_dir / name)
    tmp = out_dir / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(json_safe(result.meta), indent=2))
    tmp.replace(out_dir / META_FILE)


def _storable(df):
    """Parameter columns of mixed choice types as text, so Parquet can hold them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and col not in ("state", "error"):
            kinds = {type(v) for v in out[col].dropna()}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool}):
                out[col] = out[col].map(lambda v: None if v is None else (v if isinstance(v, str) else json.dumps(v)))
    return out
