"""`twin optimize` and `twin sensitivity`: parse the options, call twin.studies.api (the same
functions notebooks call), print a table or JSON. Registered on the `twin` app by twin.cli."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from twin.cli import EXIT_INVALID, EXIT_OK, _scenario_error, app, err, interrupted_exits, out, progress
from twin.stats import format_estimate


def _fail(what: str, exc: Exception) -> None:
    err.print(f"[bold red]{what}[/]: {exc}")
    raise typer.Exit(EXIT_INVALID)


def _records(df: Any) -> list[dict]:
    from twin.writer import json_safe

    return json_safe(df.to_dict("records"))


def _trials_table(result: Any) -> Table:
    meta = result.meta
    objs = [k for k, _ in meta["objectives"]]
    params = [p.split("=", 1)[0] for p in meta["params"]]
    best = set(meta["best"])
    table = Table(title=f"{meta['scenario']}: {meta['trials']} trial(s) x {meta['replications']} replication(s) = "
                        f"{meta['runs']} runs; objective mean ± 95% CI; * best"
                        + ("" if len(objs) == 1 else " (Pareto front)"))
    for col in ("trial", *params, *objs, *(f"{c} (evidence)" for c in meta["constraints"]), "feasible"):
        table.add_column(col, justify="left" if col in params else "right")
    for _, r in result.trials.iterrows():
        cells = [f"{r['trial']}{' *' if r['trial'] in best else ''}", *(str(r[p]) for p in params)]
        cells += [format_estimate(_f(r.get(f"{k}.mean")), _f(r.get(f"{k}.ci95"))) for k in objs]
        cells += [format_estimate(_f(r.get(f"{c}.evidence"))) for c in meta["constraints"]]
        cells.append("yes" if r["feasible"] else ("FAILED " + str(r["error"]) if r["state"] == "FAIL" else "no"))
        table.add_row(*cells)
    return table


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@app.command()
def optimize(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    params: List[str] = typer.Option(..., "--param", help="PATH=LOW:HIGH[:int|:log] or PATH=A,B,C (repeatable)"),
    objectives: List[str] = typer.Option(..., "--objective", help="KPI to optimise (KPI:min / KPI:max; twice for a "
                                                                  "Pareto front)"),
    maximize: bool = typer.Option(False, "--maximize/--minimize", help="direction of objectives without :min/:max"),
    constraints: List[str] = typer.Option([], "--constraint", help="KPI>=X or KPI<=X on the 95% bound; KPI>=X@p: "
                                                                   "in at least a share p of replications"),
    budget: int = typer.Option(20, min=1, help="trials in total (a resumed study counts its earlier ones)"),
    replications: Optional[int] = typer.Option(None, min=1, help="replications per trial"),
    seed: Optional[int] = typer.Option(None, min=0, max=2**63 - 1, help="override run.seed"),
    workers: int = typer.Option(1, min=1, help="local worker processes"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://127.0.0.1:8786"),
    out_dir: Path = typer.Option(Path("optimize"), "--out", help="folder for study.sqlite, trials.parquet/.csv, "
                                                                 "optimize.json"),
    resume: bool = typer.Option(False, "--resume", help="continue the study in --out up to --budget trials"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
    as_json: bool = typer.Option(False, "--json", help="print the trials and the best as JSON"),
):
    """Optimise KPIs over scenario parameters on Optuna: common random numbers, constraints on evidence."""
    from twin.scenario import ScenarioError
    from twin.studies.api import optimize as run

    if out_dir.exists() and not (resume or force):
        _fail("output exists", FileExistsError(f"{out_dir} (use --resume to continue its study or --force)"))
    try:
        with interrupted_exits(), progress(f"optimize {scenario.name}", budget) as step:
            result = run(scenario, params, objectives, constraints, budget, replications, seed,
                         "maximize" if maximize else "minimize", out_dir, resume, force, workers, scheduler,
                         on_trial=lambda t: step(f"trial {t['trial']} {t['params']} -> "
                                                 f"{t['error'] or [round(v, 6) for v in t['values']]}"))
    except ScenarioError as exc:
        _scenario_error(exc)
    except (OSError, RuntimeError, TimeoutError) as exc:
        _fail("cannot run the study", exc)
    if as_json:
        from twin.writer import json_safe

        out.print_json(json.dumps({"meta": json_safe(result.meta), "best": _records(result.best),
                                   "trials": _records(result.trials)}))
    else:
        out.print(_trials_table(result))
        if not len(result.best):
            out.print("[bold red]no feasible trial[/]: no setting met every constraint within the budget")
        out.print(f"wrote {out_dir}/study.sqlite, trials.parquet, trials.csv, optimize.json")
    raise typer.Exit(EXIT_OK)


@app.command()
def sensitivity(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    params: List[str] = typer.Option(..., "--param", help="PATH=LOW:HIGH[:int|:log] (repeatable)"),
    method: str = typer.Option("morris", help="morris (screening: mu*, sigma) or sobol (S1, ST)"),
    kpis: List[str] = typer.Option([], "--kpi", help="KPI to analyse (repeatable; default yield, throughput, cost)"),
    samples: int = typer.Option(10, min=2, help="Morris trajectories, or Sobol base samples (a power of 2)"),
    replications: Optional[int] = typer.Option(None, min=1, help="replications per sample point"),
    seed: Optional[int] = typer.Option(None, min=0, max=2**63 - 1, help="override run.seed"),
    workers: int = typer.Option(1, min=1, help="local worker processes"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://127.0.0.1:8786"),
    out_dir: Path = typer.Option(Path("sensitivity"), "--out", help="folder for indices.parquet/.csv, "
                                                                    "samples.parquet, sensitivity.json"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
    as_json: bool = typer.Option(False, "--json", help="print the indices as JSON"),
    resume: bool = typer.Option(False, "--resume", help="reuse the replications an interrupted or finished "
                                                        "study in --out kept (points.sqlite)"),
):
    """Global sensitivity of KPIs to scenario parameters on SALib (Morris or Sobol, 95% intervals)."""
    from twin.scenario import ScenarioError
    from twin.studies.api import sensitivity as run
    from twin.studies.sensitivity import RANKING, ranked, runs_needed

    if out_dir.exists() and not (force or resume):
        _fail("output exists", FileExistsError(f"{out_dir} (use --force to replace it, or --resume)"))
    n_runs = runs_needed(method, samples, len(params), replications or 1) if method in RANKING else None
    try:
        with interrupted_exits(), progress(f"sensitivity {scenario.name}", n_runs if replications else None) as step:
            result = run(scenario, params, method, kpis or None, samples, replications, seed, out_dir, force,
                         workers, scheduler, on_result=lambda p, r: step(f"point {p} replication {r}"), resume=resume)
    except typer.Exit:
        raise
    except ScenarioError as exc:
        _scenario_error(exc)
    except (OSError, RuntimeError, TimeoutError) as exc:
        _fail("cannot run the study", exc)
    if as_json:
        from twin.writer import json_safe

        out.print_json(json.dumps({"meta": json_safe(result.meta), "indices": _records(result.indices)}))
        raise typer.Exit(EXIT_OK)
    key, conf = RANKING[method]
    table = Table(title=f"{result.meta['scenario']}: {method}, {result.meta['points']} points x "
                        f"{result.meta['replications']} replication(s) = {result.runs} runs "
                        f"({key} ± 95% CI, most influential first)")
    for col in ("KPI", "parameter", key, *(["sigma"] if method == "morris" else ["S1"])):
        table.add_column(col, justify="right" if col not in ("KPI", "parameter") else "left")
    idx = result.indices.set_index(["kpi", "param"])
    for kpi in result.meta["kpis"]:
        for param, value, hw in ranked(result.indices, kpi, method):
            other = idx.loc[(kpi, param), "sigma" if method == "morris" else "S1"]
            table.add_row(kpi, param, format_estimate(_f(value), _f(hw)), format_estimate(_f(other)))
    out.print(table)
    out.print(f"wrote {out_dir}/indices.parquet, indices.csv, samples.parquet, sensitivity.json")
    raise typer.Exit(EXIT_OK)
