"""The `twin` command: parses, calls, prints. Exit codes: 0 ok, 1 an `expect:` failed,
2 invalid input (or an output folder that exists without --force), 4 the line jammed, 130 Ctrl-C.

Habits of every command: `--version`; `--log-level` for twin's and the libraries' logs (asyncua,
Optuna, Dask; Python warnings too), all on stderr; `--json` where a command produces results;
progress as a bar on a terminal, else one line per replication or trial on stderr; an existing
output folder is refused unless `--force`; full tables when piped; shell completion
(`--install-completion`)."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, List, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from twin.stats import format_estimate

app = typer.Typer(add_completion=True, no_args_is_help=True,
                  help="Digital twin of an anode-less solid-state cell line, with its presses in the loop.")
plant_app = typer.Typer(no_args_is_help=True, help="Emulated plant: presses, glovebox, profilometer as OPC UA servers.")
app.add_typer(plant_app, name="plant")

PIPED_WIDTH = 10_000  # a table written to a pipe or file is never cut to 80 columns
out = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
err = Console(stderr=True)

EXIT_OK, EXIT_EXPECT, EXIT_INVALID, EXIT_EQUIPMENT = 0, 1, 2, 3
class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"

LIBRARY_LOGGERS = ("asyncua", "optuna", "distributed", "py.warnings")


def _version(value: bool) -> None:
    if value:
        from twin import __version__

        out.print(f"twin {__version__}")
        raise typer.Exit(EXIT_OK)


def setup_logging(level: str) -> None:
    """One handler on stderr for twin's and the libraries' loggers, all at `level` (warnings included)."""
    numeric = getattr(logging, level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(numeric)  # also for libraries that set their own logger's level when imported (Optuna)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        lib.handlers[:] = []
        lib.propagate = True
        lib.setLevel(numeric)
    logging.captureWarnings(True)


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
    log_level: LogLevel = typer.Option(LogLevel.warning, "--log-level", case_sensitive=False,
                                       help="log level of twin and its libraries (asyncua, Optuna, Dask), on stderr"),
) -> None:
    """Digital twin of an anode-less solid-state cell line, with its presses in the loop."""
    setup_logging(log_level.value)


@contextmanager
def progress(label: str, total: int | None) -> Iterator:
    """A step(text) function: a progress bar on a terminal, else one line per step on stderr."""
    if sys.stdout.isatty() and sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(label, total=total)

            def step(text: str = "") -> None:
                if total is not None and bar.tasks[0].completed >= (bar.tasks[0].total or 0):
                    bar.update(task, total=(bar.tasks[0].total or 0) + 1)
                bar.advance(task)

            yield step
        return
    start, done = time.monotonic(), [0]

    def line(text: str = "") -> None:
        done[0] += 1
        of = f"/{total}" if total else ""
        sys.stderr.write(f"{label}: {done[0]}{of} {text} ({time.monotonic() - start:.1f} s)\n")
        sys.stderr.flush()

    yield line


def refuse_existing(out_dir: Path, force: bool) -> None:
    """An existing output folder is replaced only with --force (exit 2 otherwise, before any work)."""
    if out_dir.exists() and not force:
        err.print(f"[bold red]output exists[/]: {out_dir} (use --force to replace it, or choose another --out)")
        raise typer.Exit(EXIT_INVALID)


@contextmanager
def interrupted_exits() -> Iterator[None]:
    """Ctrl-C finishes the step under way, says what was kept and exits 130 (twin.interrupt)."""
    from twin.interrupt import EXIT_INTERRUPTED, Interrupted, graceful

    try:
        with graceful():
            yield
    except Interrupted as exc:
        err.print(f"[bold yellow]{exc}[/] (PARTIAL.txt there says what it holds; "
                  "the previous output folder is untouched)")
        raise typer.Exit(EXIT_INTERRUPTED)


def _load(path: Path):
    from twin.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        fail_with_fields("invalid scenario", exc.source, exc.problems)


def _kpi_table(summary: dict) -> Table:
    from twin.kpis import table_rows

    table = Table(title=f"{summary['scenario']}: {summary['replications']} replication(s), "
                        f"{summary['sim_time_h']:g} h after {summary['warmup_h']:g} h warm-up (mean ± 95% CI)")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for name, value, halfwidth, unit in table_rows(summary):
        if name.startswith(("availability.", "blocked.", "starved.", "yield_by_")):
            continue  # per-station detail: in summary.json and the report
        table.add_row(name, format_estimate(value, halfwidth), unit)
    for reason, n in summary.get("reject_reasons", {}).items():
        table.add_row(f"rejects: {reason}", format_estimate(float(n)), "cells")
    for e in summary.get("expectations", []):
        mark = "[green]pass[/]" if e["passed"] else "[bold red]FAIL[/]"
        on = " (95% CI)" if e.get("evidence") == "ci95" else ""
        table.add_row(f"expect {e['kpi']} in [{e['min']}, {e['max']}]{on}", f"{format_estimate(e['value'])} {mark}", "")
    return table


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    out_dir: Path = typer.Option(Path("out"), "--out", help="directory for summary.json, cells.parquet, trace.sqlite"),
    replications: Optional[int] = typer.Option(None, min=1, help="override run.replications"),
    seed: Optional[int] = typer.Option(None, min=0, max=2**63 - 1, help="override run.seed"),
    as_json: bool = typer.Option(False, "--json", help="print summary.json instead of a table"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
    workers: int = typer.Option(1, min=1, help="local worker processes (results identical to serial)"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://127.0.0.1:8786"),
    param_draws: Optional[int] = typer.Option(None, "--param-draws", min=2,
                                              help="repeat the replications for N parameter sets drawn from the "
                                                   "scenario's calibrated file (quality.params)"),
    live: bool = typer.Option(False, "--live", help="watch the run in a local web page (the `live` extra)"),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="with --live: the page's port (0: a free one)"),
    bind: str = typer.Option("127.0.0.1", "--bind", help="with --live: address; beyond loopback a token is needed"),
    pace: float = typer.Option(0.0, "--pace", min=0, help="with --live: simulated hours per wall second (0: flat out)"),
    hold: bool = typer.Option(False, "--hold", help="with --live: keep the page up after the run, until Ctrl-C"),
):
    """Run a scenario's replications and check its `expect:` block."""
    from twin.cli_calibration import param_draws_step
    from twin.cli_live import check_live_options, run_live
    from twin.experiment import executor_for
    from twin.simulation import Simulation, json_safe

    sc = _load(scenario)
    check_live_options(live, port, bind, pace, hold)
    refuse_existing(out_dir, force)
    after = param_draws_step(sc, param_draws)
    with interrupted_exits(), executor_for(workers, scheduler) as executor:
        sim = Simulation(sc, replications=replications, seed=seed, executor=executor)
        with progress(f"run {sc.name}", sim.replications) as step:
            if live:
                result = run_live(sc, out_dir, replications, seed, port=port, bind=bind, pace=pace, hold=hold,
                                  on_replication=lambda i: step(f"replication {i}"))
            else:
                result = sim.run(out_dir, on_replication=lambda i: step(f"replication {i}"), overwrite=True)
        if after is not None:
            after(result, executor)
    if as_json:
        out.print_json(json.dumps(json_safe(result.summary)))
    else:
        out.print(_kpi_table(result.summary))
        out.print(f"wrote {out_dir}/summary.json, cells.parquet, trace.sqlite")
    health_exit(result.summary)
    raise typer.Exit(EXIT_OK if result.passed else EXIT_EXPECT)


def health_exit(summary: dict) -> None:
    """Line-health warnings on stderr (twin.health); a jammed line exits 4."""
    from twin.health import EXIT_JAM

    health = summary.get("health") or {}
    for w in health.get("warnings", []):
        err.print(f"[bold yellow]warning[/]: {w}")
    if health.get("jams"):
        err.print("[bold red]the line jammed[/]: see summary.json health.jams")
        raise typer.Exit(EXIT_JAM)


@app.command()
def validate(scenario: Path = typer.Argument(..., help="scenario YAML file"),
             as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON")):
    """Check a scenario file; report every problem with its field path."""
    if as_json:
        from twin.scenario import ScenarioError, load_scenario

        try:
            sc = load_scenario(scenario)
        except ScenarioError as exc:
            out.print_json(json.dumps({"valid": False, "source": exc.source,
                                       "problems": [{"field": loc, "message": msg} for loc, msg in exc.problems]}))
            raise typer.Exit(EXIT_INVALID)
        out.print_json(json.dumps({"valid": True, "name": sc.name, "stations": list(sc.stations),
                                   "lots": list(sc.lots)}))
        return
    sc = _load(scenario)
    out.print(f"[green]ok[/] {scenario}: {sc.name}, {len(sc.stations)} stations, {len(sc.lots)} lot(s)")


@app.command()
def schema():
    """Print the JSON Schema of scenario files."""
    from twin.scenario import json_schema

    sys.stdout.write(json_schema() + "\n")


@app.command()
def interface(
    pressure_mpa: float = typer.Option(490.0, min=0, help="achieved hold pressure"),
    pressure_cv: float = typer.Option(0.03, min=0, help="spatial coefficient of variation of the pressure over the cell"),
    hold_s: float = typer.Option(1800.0, min=0, help="hold time at pressure"),
    temperature_c: float = typer.Option(80.0, help="hold temperature"),
    sq_um: float = typer.Option(0.2, min=0, help="collector RMS height"),
    sdq: float = typer.Option(0.06, min=0, help="collector RMS slope"),
    pv_um: float = typer.Option(1.5, min=0, help="collector peak-to-valley"),
    waviness_um: float = typer.Option(1.0, min=0, help="waviness amplitude"),
    waviness_mm: float = typer.Option(5.0, min=0, help="waviness wavelength"),
    current_ma_cm2: float = typer.Option(1.0, min=0, help="plating current density"),
    scenario: Optional[Path] = typer.Option(None, help="take material parameters and thresholds from this scenario"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
):
    """Evaluate the interface-quality model for one cell."""
    from adapters.vocabulary import Decision
    from twin.interface import evaluate

    params = policy = model = None
    if scenario is not None:
        sc = _load(scenario)
        params, policy, model = sc.resolved.interface_params, sc.quality.disposition, sc.resolved.interface_model
    inputs = dict(pressure_mpa=pressure_mpa, pressure_cv=pressure_cv, hold_s=hold_s, temperature_c=temperature_c,
                  sq_um=sq_um, sdq=sdq, pv_um=pv_um, waviness_um=waviness_um, waviness_mm=waviness_mm,
                  current_ma_cm2=current_ma_cm2)
    try:
        result = evaluate(**inputs, params=params, policy=policy, model=model)
    except ValueError as exc:
        err.print(f"[bold red]invalid input[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)
    values = {k: (v.item() if hasattr(v, "item") else v) for k, v in result.items()}
    values["decision_name"] = Decision(int(values["decision"])).wire_name
    if as_json:
        out.print_json(json.dumps({"inputs": inputs, "outputs": values}))
        return
    table = Table(title="interface-quality model")
    table.add_column("output")
    table.add_column("value", justify="right")
    for k, v in values.items():
        table.add_row(k, format_estimate(v))
    out.print(table)


@app.command()
def hil(
    scenario: Path = typer.Argument(..., help="scenario YAML file with a `hardware:` section"),
    plant_file: Path = typer.Option(..., "--plant", help="plant YAML file: device names, endpoints"),
    out_dir: Path = typer.Option(Path("out"), "--out", help="directory for summary.json, cells.parquet, trace.sqlite"),
    time_scale: Optional[float] = typer.Option(None, "--time-scale", min=0,
                                               help="simulated s per wall s (default: the plant file's; "
                                                    "must match the plant's)"),
    seed: Optional[int] = typer.Option(None, min=0, max=2**63 - 1, help="override run.seed"),
    as_json: bool = typer.Option(False, "--json", help="print summary.json instead of tables"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
    live: bool = typer.Option(False, "--live", help="watch the run and the equipment in a local web page"),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="with --live: the page's port (0: a free one)"),
    bind: str = typer.Option("127.0.0.1", "--bind", help="with --live: address; beyond loopback a token is needed"),
    hold: bool = typer.Option(False, "--hold", help="with --live: keep the page up after the run, until Ctrl-C"),
):
    """Run a scenario with its bound stations on OPC UA equipment (exit 3: equipment unreachable)."""
    from plant.plantfile import load_plant_file
    from twin.cli_live import check_live_options, hil_live
    from twin.hil import EquipmentUnreachable, HilSetupError, PlantEquipment
    from twin.simulation import Simulation, json_safe

    sc = _load(scenario)
    check_live_options(live, port, bind, hold=hold)
    refuse_existing(out_dir, force)
    try:
        pf = load_plant_file(plant_file)
    except (OSError, ValueError) as exc:
        err.print(f"[bold red]invalid plant file[/] {plant_file}: {exc}")
        raise typer.Exit(EXIT_INVALID)
    try:
        sim = Simulation(sc, seed=seed, ports=PlantEquipment(pf, time_scale=time_scale,
                                                             scenario_dir=scenario.resolve().parent))
        result = hil_live(sim, out_dir, port=port, bind=bind, hold=hold) if live else sim.run(out_dir)
    except EquipmentUnreachable as exc:
        err.print(f"[bold red]equipment[/]: {exc}")
        raise typer.Exit(EXIT_EQUIPMENT)
    except HilSetupError as exc:
        err.print(f"[bold red]invalid hardware setup[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        out.print_json(json.dumps(json_safe(result.summary)))
    else:
        out.print(_kpi_table(result.summary))
        out.print(_hardware_table(result.summary["hardware"]))
        out.print(f"wrote {out_dir}/summary.json, cells.parquet, trace.sqlite")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_EXPECT)


def _hardware_table(hw: dict) -> Table:
    runs: dict[str, list[int]] = {}
    for r in hw["runs"]:
        tally = runs.setdefault(r["station"], [0, 0])
        tally[0] += 1
        tally[1] += not r["ok"]
    clock = hw["clock"]
    table = Table(title=f"hardware: plant {hw['plant']} at {hw['time_scale']:g} sim s per wall s, "
                        f"clock lag p95 {clock['lag_p95_ms']:.1f} ms, max {clock['lag_max_ms']:.1f} ms")
    for col in ("station", "device", "runs", "quarantined", "time-outs", "stalls", "reconnects", "restarts",
                "call p95 ms"):
        table.add_column(col, justify="left" if col in ("station", "device") else "right")
    for station, d in hw["devices"].items():
        n, bad = runs.get(station, [0, 0])
        p95 = d["call_ms_p95"]
        table.add_row(station, d["device"], str(n), str(bad), str(d["timeouts"]), str(d["stalls"]),
                      str(d["reconnects"]), str(d["restarts"]), "–" if p95 is None else f"{p95:.1f}")
    failed = len(hw["dispositions_failed"])
    table.caption = (f"dispositions written to equipment: {hw['dispositions_sent']}, not delivered: {failed}, "
                     f"pending: {hw['dispositions_pending']}; cells still in process: {hw['cells_in_process']}")
    return table


@plant_app.command("serve")
def plant_serve(
    plant_file: Path = typer.Argument(..., help="plant YAML file (devices, ports, security)"),
    time_scale: Optional[float] = typer.Option(None, "--time-scale", min=0, help="simulated seconds per wall second"),
):
    """Start the plant's emulated devices as OPC UA servers; runs until stopped."""
    from plant.serve import run_plant

    try:
        run_plant(plant_file, time_scale=time_scale)
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"[bold red]invalid plant file[/] {plant_file}: {exc}")
        raise typer.Exit(EXIT_INVALID)
    except KeyboardInterrupt:
        err.print("stopped")


def fail_with_fields(title: str, source: object, problems: Iterable[tuple[str, str]]) -> NoReturn:
    """Print an input error with each problem's field path, and exit 2."""
    err.print(f"[bold red]{title}[/] {source}")
    for loc, msg in problems:
        err.print(f"  [yellow]{loc or '<root>'}[/]: {msg}")
    raise typer.Exit(EXIT_INVALID)


def _scenario_error(exc) -> None:
    fail_with_fields("invalid input", exc.source, exc.problems)


def _sweep_table(result) -> Table:
    kpis = ("throughput_per_h", "final_yield", "first_pass_yield", "cost_per_good_cell", "mean_wip")
    by = {(r["point"], r["kpi"]): r for r in result.rows}
    shown = [k for k in kpis if any(by.get((p, k), {}).get("mean") == by.get((p, k), {}).get("mean")
                                    for p in range(len(result.grid.points)))]
    table = Table(title=f"{result.meta['scenario']}: {result.meta['replications']} replication(s) per point "
                        "(mean ± 95% CI; Δ paired vs point 0)")
    table.add_column("#", justify="right")
    table.add_column("grid point")
    for k in shown:
        table.add_column(k, justify="right")
    for p in range(len(result.grid.points)):
        cells = []
        for k in shown:
            r = by[(p, k)]
            text = format_estimate(r["mean"], r["ci95"])
            text = text if p == 0 else f"{text}\nΔ {format_estimate(r['diff_mean'], r['diff_ci95'])}"
            sd = r.get("sd_parameter")  # with --param-draws
            cells.append(text if sd is None or sd != sd else f"{text}\nparam sd {format_estimate(sd)}")
        table.add_row(str(p), result.grid.label(p), *cells)
    return table


@app.command()
def sweep(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    settings: List[str] = typer.Option([], "--set", help="PATH=V1,V2,... into the scenario data (repeatable)"),
    replications: Optional[int] = typer.Option(None, min=1, help="replications per grid point"),
    seed: Optional[int] = typer.Option(None, min=0, max=2**63 - 1, help="override run.seed"),
    workers: int = typer.Option(1, min=1, help="local worker processes"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://127.0.0.1:8786"),
    target_ci: Optional[str] = typer.Option(None, "--target-ci",
                                            help="KPI=HALFWIDTH: add replications until every point's 95% CI is this narrow"),
    max_replications: int = typer.Option(50, min=2, help="upper bound with --target-ci"),
    out_dir: Path = typer.Option(Path("sweep"), "--out", help="directory for sweep.parquet, sweep.csv, sweep.json"),
    as_json: bool = typer.Option(False, "--json", help="print the results table as JSON"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
    resume: bool = typer.Option(False, "--resume", help="reuse the replications an interrupted or finished "
                                                        "sweep in --out kept (points.sqlite)"),
    param_draws: Optional[int] = typer.Option(None, "--param-draws", min=2,
                                              help="also run every point for N parameter sets drawn from the "
                                                   "scenario's calibrated file (quality.params)"),
):
    """Run a grid of scenario variants with common random numbers; one results table."""
    from twin.calibration.propagate import NoCalibration
    from twin.cli_calibration import refuse_param_draws
    from twin.experiment import executor_for
    from twin.scenario import ScenarioError, load_scenario_data
    from twin.studies.sweep import parse_setting, run_sweep, total_runs

    target = None
    try:
        data = load_scenario_data(scenario)
        parsed = [parse_setting(s) for s in settings]
        if target_ci is not None:
            kpi, sep, value = target_ci.partition("=")
            try:
                target = (kpi.strip(), float(value))
            except ValueError:
                raise ScenarioError("--target-ci", [(kpi, f"expected KPI=HALFWIDTH (got {target_ci!r})")]) from None
            if not sep or target[1] <= 0:
                raise ScenarioError("--target-ci", [(kpi, f"expected KPI=HALFWIDTH > 0 (got {target_ci!r})")])
    except ScenarioError as exc:
        _scenario_error(exc)
    refuse_existing(out_dir, force or resume)
    try:
        with interrupted_exits(), executor_for(workers, scheduler) as executor, \
                progress(f"sweep {scenario.name}", total_runs(data, parsed, replications, param_draws)) as step:
            result = run_sweep(data, parsed, str(scenario), replications, seed, executor, target,
                               max_replications, out_dir, on_result=lambda p, r: step(f"point {p} replication {r}"),
                               base_dir=scenario.resolve().parent, overwrite=True, resume=resume,
                               param_draws=param_draws,
                               on_draw=lambda p, d, r: step(f"point {p} draw {d} replication {r}"))
    except typer.Exit:  # Ctrl-C's exit 130 (click's Exit is a RuntimeError)
        raise
    except ScenarioError as exc:
        _scenario_error(exc)
    except NoCalibration as exc:
        refuse_param_draws(exc)
    except (OSError, RuntimeError, TimeoutError) as exc:
        err.print(f"[bold red]cannot run the sweep[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        from twin.writer import json_safe

        meta = {k: v for k, v in result.meta.items() if k != "per_replication"}
        out.print_json(json.dumps(json_safe({"meta": meta, "rows": result.rows})))
    else:
        out.print(_sweep_table(result))
        out.print(f"wrote {out_dir}/sweep.parquet, sweep.csv, sweep.json")
    raise typer.Exit(EXIT_OK)


@app.command()
def report(directory: Path = typer.Argument(..., help="a run, sweep, optimize or sensitivity output folder"),
           as_json: bool = typer.Option(False, "--json", help="print what the report shows as JSON")):
    """One self-contained, interactive HTML report (DIR/report.html) of a run, sweep or study."""
    from twin.report import ReportError, build_report

    try:
        made = build_report(directory)
    except ReportError as exc:
        err.print(f"[bold red]nothing to report[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)
    for fig in made.failed:
        err.print(f"[yellow]warning[/]: {fig.name}: {fig.note}")
    if as_json:
        out.print_json(json.dumps({"path": str(made.path), "kind": made.kind, "figures": [
            {"name": f.name, "title": f.title, "plotted": f.plot is not None, "note": f.note} for f in made.figures]}))
        return
    out.print(f"wrote {made.path} ({made.kind} report, {len(made.plotted)} plots)")


from twin import cli_studies  # noqa: E402,F401  (registers `twin optimize` and `twin sensitivity`)
from twin import cli_calibration  # noqa: E402,F401  (registers `twin calibrate` and `twin check-model`)
from twin import cli_live  # noqa: E402,F401  (registers `twin view`)
from twin import cli_probe  # noqa: E402,F401  (registers `twin plant probe`)
from twin import cli_plant_security  # noqa: E402,F401  (registers `twin plant user` and `twin plant trust`)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # python -m twin.cli
    main()
