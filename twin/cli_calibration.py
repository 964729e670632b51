"""`twin calibrate` and `twin check-model`, and the `--param-draws` step of `twin run`: parse, call
twin.calibration, print. Registered on the `twin` app by twin.cli.

Exit codes: 0 ok; 1 the calibration data depart from the model (goodness of fit flags a misfit);
2 invalid input (a bad data or parameter file names the row and column or the field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, List, NoReturn, Optional

import typer
from rich.table import Table

from twin.cli import EXIT_EXPECT, EXIT_INVALID, EXIT_OK, app, err, fail_with_fields, out, progress
from twin.stats import format_estimate


def _cells(data: Path, outcomes: Optional[Path]) -> Any:
    from twin.calibration.data import DataError, load_cells

    try:
        return load_cells(data, outcomes).measured()
    except DataError as exc:
        err.print(f"[bold red]invalid cell data[/] {exc.source}")
        for row, col, msg in exc.problems[:20]:
            err.print(f"  {'row ' + str(row) + ', ' if row is not None else ''}column [yellow]{col}[/]: {msg}")
        if len(exc.problems) > 20:
            err.print(f"  ... and {len(exc.problems) - 20} more")
        raise typer.Exit(EXIT_INVALID)


def _paramfile(path: Path) -> Any:
    from twin.calibration.paramfile import ParamFileError, load

    try:
        return load(path)
    except ParamFileError as exc:
        fail_with_fields("invalid parameter file", exc.source, exc.problems)


@app.command()
def calibrate(
    data: Path = typer.Argument(..., help="measured cells (.parquet or .csv): process record and outcomes"),
    outcomes: Optional[Path] = typer.Option(None, "--outcomes", help="outcomes file joined to DATA by cell_id"),
    params_out: Path = typer.Option(..., "--out", help="the parameter file to write (YAML)"),
    method: str = typer.Option("wald", "--method", help="intervals: wald | profile | bootstrap | emcee"),
    names: List[str] = typer.Option([], "--param", help="calibrate only these parameters (repeatable)"),
    bootstrap: int = typer.Option(100, "--bootstrap", min=20, help="refits with --method bootstrap"),
    steps: int = typer.Option(600, "--steps", min=50, help="sampler steps with --method emcee"),
    reference_cycles: float = typer.Option(100.0, "--reference-cycles", min=1,
                                           help="cycles the model's short probability refers to"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the bootstrap / sampler"),
    report: bool = typer.Option(True, "--report/--no-report", help="also write PARAMS.html (plots, tables)"),
    as_json: bool = typer.Option(False, "--json", help="print the parameter file as JSON"),
    force: bool = typer.Option(False, "--force", help="replace an existing parameter file"),
):
    """Fit the interface parameters the data identify, with uncertainty; write a parameter file."""
    from twin.calibration import check, fit, observe, paramfile
    from twin.calibration.plots import fit_page

    if method not in fit.METHODS:
        err.print(f"[bold red]invalid option[/] --method: one of {', '.join(fit.METHODS)} (got {method!r})")
        raise typer.Exit(EXIT_INVALID)
    if params_out.exists() and not force:
        err.print(f"[bold red]output exists[/]: {params_out} (use --force to replace it)")
        raise typer.Exit(EXIT_INVALID)
    cells = _cells(data, outcomes)
    try:
        with progress("calibrate", None) as step:
            result = fit.fit(cells, list(names) or None, method, reference_cycles=reference_cycles,
                             bootstrap=bootstrap, seed=seed, emcee_steps=steps)
            step("fitted")
    except (ValueError, RuntimeError) as exc:
        err.print(f"[bold red]cannot calibrate[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)
    lik = observe.Likelihood(cells, result.parameters, reference_cycles=reference_cycles)
    gof = check.goodness(lik, result.phi)
    files = [str(data)] + ([str(outcomes)] if outcomes else [])
    pf = paramfile.from_fit(result, files, gof)
    paramfile.save(pf, params_out)
    if report:
        fit_page(pf, check.check_model(cells, pf, draws=50, seed=seed), params_out.with_suffix(".html"))
    if as_json:
        out.print_json(json.dumps(pf.model_dump(mode="json", exclude={"samples"})))
    else:
        out.print(_fit_table(pf))
        out.print(f"goodness of fit: {gof['note']}")
        out.print(f"wrote {params_out}" + (f", {params_out.with_suffix('.html')}" if report else ""))
    raise typer.Exit(EXIT_EXPECT if gof["misfit"] else EXIT_OK)


def _fit_table(pf: Any) -> Table:
    table = Table(title=f"calibration ({pf.method}, {pf.level:.0%} intervals): {pf.source.get('cells')}")
    for col in ("parameter", "value", "interval", "unit", "status"):
        table.add_column(col, justify="right" if col in ("value", "interval") else "left")
    for k, v in pf.parameters.items():
        iv = f"[{v.interval[0]:.4g}, {v.interval[1]:.4g}]" if v.interval else "–"
        table.add_row(k, format_estimate(v.value), iv, v.unit, v.status)
    for k, why in pf.not_identified.items():
        table.add_row(k, "–", "–", "", why)
    for k, v in pf.noise.items():
        table.add_row(f"noise: {k}", format_estimate(v), "", "", "fitted")
    return table


@app.command("check-model")
def check_model(
    data: Path = typer.Argument(..., help="measured cells held back from the fit (.parquet or .csv)"),
    params: Path = typer.Option(..., "--params", help="parameter file written by `twin calibrate`"),
    outcomes: Optional[Path] = typer.Option(None, "--outcomes", help="outcomes file joined to DATA by cell_id"),
    draws: int = typer.Option(200, "--draws", min=20, help="parameter draws for the predictive intervals"),
    seed: int = typer.Option(0, "--seed", min=0),
    report: Optional[Path] = typer.Option(None, "--report", help="write the check page (HTML) here"),
    as_json: bool = typer.Option(False, "--json", help="print the check as JSON"),
):
    """Predictions against held-out cells: interval coverage, short-probability calibration, R_int bias."""
    from twin.calibration.check import check_model as run_check
    from twin.calibration.plots import check_page

    pf = _paramfile(params)
    cells = _cells(data, outcomes)
    result = run_check(cells, pf, draws, seed)
    if report is not None:
        check_page(result, report)
    if as_json:
        slim = {k: ({kk: vv for kk, vv in v.items() if kk not in ("measured", "predicted", "low", "high")}
                    if isinstance(v, dict) else v) for k, v in result.items()}
        out.print_json(json.dumps(slim))
        raise typer.Exit(EXIT_OK)
    table = Table(title=f"model check on {len(cells)} held-out cells ({draws} parameter draws)")
    table.add_column("check")
    table.add_column("value", justify="right")
    for key in ("r_int", "void", "ccd"):
        if key in result:
            table.add_row(f"{key}: coverage of the {result['level']:.0%} predictive interval",
                          format_estimate(result[key]["coverage"]))
    if "r_int" in result:
        table.add_row("r_int: relative bias", format_estimate(result["r_int"]["relative_bias"]))
    if "short" in result:
        s = result["short"]
        table.add_row(f"short within {s['horizon_cycles']:g} cycles: log loss", format_estimate(s["log_loss"]))
        table.add_row("short: Brier score", format_estimate(s["brier"]))
        table.add_row("short: observed / predicted rate",
                      f"{format_estimate(s['observed_rate'])} / {format_estimate(s['predicted_rate'])}")
    out.print(table)
    if report is not None:
        out.print(f"wrote {report}")
    raise typer.Exit(EXIT_OK)


def refuse_param_draws(exc: Exception) -> NoReturn:
    """`--param-draws` without a calibrated parameter file (`twin run`, `twin sweep`): exit 2."""
    err.print(f"[bold red]invalid option[/] --param-draws: {exc}")
    raise typer.Exit(EXIT_INVALID)


def param_draws_step(scenario: Any, draws: Optional[int]) -> Callable[[Any, Any], None] | None:
    """`twin run --param-draws N`: checked before the run; after it, the parameter-uncertainty block."""
    from twin.calibration.propagate import NoCalibration, require_calibration

    if not draws:
        return None
    try:
        require_calibration(scenario)
    except NoCalibration as exc:
        refuse_param_draws(exc)

    def after(result: Any, executor: Any = None) -> None:
        from twin.calibration.propagate import add_to_run

        reps = int(result.summary.get("replications") or 1)
        with progress(f"parameter draws {scenario.name}", draws * reps) as step:
            add_to_run(scenario, result, draws, executor=executor,
                       on_result=lambda d, r: step(f"draw {d} replication {r}"))

    return after
