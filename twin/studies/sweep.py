"""Sweeps: a grid of scenario variants from `--set path.to.field=V1,V2,...`, run with
common random numbers, summarised as one table (Parquet + CSV).

Settings are applied to the scenario DATA before validation, so every field of the YAML
file can be swept (`stations.wip_press.servers=1,2,3`,
`stations.wip_press.press.recipe.target_pressure_mpa=375,490`). Values are YAML scalars
(or flow collections). Every grid point runs the same replication indices with the same
seed, so replication r of every point sees the same random numbers: the table carries
each point's mean and 95% interval per KPI and the paired difference against the first
point, whose interval is usually much narrower than the unpaired one.

With `param_draws` N (a scenario with a calibrated parameter file, quality.params), each point's
replications are repeated for N parameter sets drawn from the file, the same sets and the same
replication seeds at every point (twin.calibration.propagate.parameter_uncertainty): the table
gains PARAM_COLUMNS, sweep.json a `parameter_uncertainty` block per point. The plain columns are
those of the sweep without draws.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from twin.experiment import kpi_of, run_points
from twin.kpis import SCALAR_KPIS, KpiError, parse_kpi
from twin.scenario import Scenario, ScenarioError, parse_scenario
from twin.stats import t_halfwidth


TABLE_COLUMNS = ("point", "label", "kpi", "n", "mean", "ci95", "ci_low", "ci_high",
                 "diff_mean", "diff_ci95", "diff_ci_low", "diff_ci_high")
PARAM_COLUMNS = ("param_mean", "sd_parameter", "sd_simulation", "param_ci_low", "param_ci_high")


@dataclass(frozen=True)
class Setting:
    """One `--set`: a dotted path into the scenario data and the values to try."""

    path: str
    values: tuple


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets/braces/quotes, so `[1, 2],[3, 4]` is two values."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def parse_setting(text: str, source: str = "--set") -> Setting:
    """`path.to.field=V1,V2,...` -> Setting; values parsed as YAML."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or not raw.strip():
        raise ScenarioError(source, [(path, f"expected PATH=V1,V2,... (got {text!r})")])
    if any(not part for part in path.split(".")):
        raise ScenarioError(source, [(path, "empty segment in the dotted path")])
    values = []
    for item in _split_values(raw):
        try:
            values.append(yaml.safe_load(item) if item else None)
        except yaml.YAMLError as exc:
            raise ScenarioError(source, [(path, f"value {item!r} is not valid YAML: {exc}")]) from None
    return Setting(path, tuple(values))


def apply_setting(data: dict, path: str, value: Any) -> dict:
    """A deep copy of `data` with the field at `path` set (missing mappings are created)."""
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for depth, key in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            try:
                idx = int(key)
                node[idx]
            except (ValueError, IndexError):
                raise ScenarioError("--set", [(path, f"'{where}': no list item {key!r} (list of {len(node)})")]) from None
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            parent = ".".join(parts[:depth])
            raise ScenarioError("--set", [(path, f"'{parent}' is a value ({node!r}), not a mapping or list")])
    return out


def _fmt(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _short(v: Any) -> str:
    """A value for a label: a file path by its stem."""
    if isinstance(v, str) and ("/" in v or v.endswith((".yaml", ".yml"))):
        return Path(v).stem
    return _fmt(v)


@dataclass
class Grid:
    """The cartesian product of the settings; point 0 takes every first value."""

    settings: list[Setting]
    points: list[tuple] = field(init=False)

    def __post_init__(self):
        self.points = list(itertools.product(*(s.values for s in self.settings)))

    def label(self, p: int) -> str:
        return ", ".join(f"{s.path.rsplit('.', 1)[-1]}={_short(v)}" for s, v in zip(self.settings, self.points[p]))

    def scenarios(self, data: dict, source: str, base_dir: str | Path | None = None) -> list[Scenario]:
        """Validated scenarios of every point; ScenarioError names the offending --set path."""
        out = []
        for point in self.points:
            d = data
            for s, v in zip(self.settings, point):
                d = apply_setting(d, s.path, v)
            try:
                out.append(parse_scenario(d, source, base_dir))
            except ScenarioError as exc:
                where = ", ".join(f"{s.path}={_fmt(v)}" for s, v in zip(self.settings, point))
                head = [(s.path, f"invalid with {where}") for s in self.settings if _touches(exc, s.path)]
                head = head or [(self.settings[0].path if self.settings else "", f"invalid with {where}")]
                raise ScenarioError(f"{source} with {where}", head + exc.problems) from None
        return out


def _touches(exc: ScenarioError, path: str) -> bool:
    """Whether a validation problem lies on (or under) the swept path."""
    want = path.split(".")
    for loc, _ in exc.problems:
        got = [p for p in loc.split(".") if p]
        # discriminated unions add the tag (e.g. 'batch') to pydantic's location: skip it
        pruned = [p for i, p in enumerate(got) if not (i == 2 and got[0] == "stations" and p not in want)]
        if pruned[: len(want)] == want or want[: len(pruned)] == pruned:
            return True
    return False


def sweep_kpis(reps_by_point: Sequence[Sequence[dict]]) -> list[str]:
    """KPI names of the table: the scalar KPIs, then utilisation per station."""
    first = reps_by_point[0][0]
    stations = dict.fromkeys(s for reps in reps_by_point for r in reps for s in r.get("utilisation", {}))
    return [k for k in SCALAR_KPIS if k in first] + [f"utilisation.{s}" for s in stations]


def _interval(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    mean = float(np.mean(finite)) if finite else math.nan
    return mean, t_halfwidth(values)


def summarise_sweep(grid: Grid, reps_by_point: Sequence[Sequence[dict]]) -> list[dict]:
    """Rows of the results table: per point and KPI, mean, 95% CI and paired difference vs point 0."""
    rows = []
    base = reps_by_point[0]
    for p, reps in enumerate(reps_by_point):
        params = {s.path: v for s, v in zip(grid.settings, grid.points[p])}
        for kpi in sweep_kpis(reps_by_point):
            x = [kpi_of(r, kpi) for r in reps]
            x0 = [kpi_of(r, kpi) for r in base]
            mean, hw = _interval(x)
            diffs = [a - b for a, b in zip(x, x0)]
            dmean, dhw = _interval(diffs)
            rows.append({
                "point": p, "label": grid.label(p), **params, "kpi": kpi, "n": len(x),
                "mean": mean, "ci95": hw, "ci_low": mean - hw, "ci_high": mean + hw,
                "diff_mean": dmean, "diff_ci95": dhw, "diff_ci_low": dmean - dhw, "diff_ci_high": dmean + dhw,
            })
    return rows


def _column(values: list) -> tuple[list, Any]:
    """A parameter column: numeric when every value is a number, else text."""
    import pyarrow as pa

    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values, pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], pa.float64()
    return [_fmt(v) for v in values], pa.string()


def write_table(rows: list[dict], settings: list[Setting], out_dir: Path) -> tuple[Path, Path]:
    """sweep.parquet and sweep.csv: one row per (grid point, KPI)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    names = ["point", "label", *(s.path for s in settings), *TABLE_COLUMNS[2:]]
    if rows and PARAM_COLUMNS[0] in rows[0]:
        names += PARAM_COLUMNS
    arrays = []
    for name in names:
        col = [r[name] for r in rows]
        if name in {s.path for s in settings}:
            col, typ = _column(col)
        elif name in ("point", "n"):
            typ = pa.int64()
        elif name in ("label", "kpi"):
            typ = pa.string()
        else:
            typ = pa.float64()
            col = [None if (v is None or math.isnan(v)) else v for v in col]
        arrays.append(pa.array(col, type=typ))
    table = pa.Table.from_arrays(arrays, names=names)
    pq.write_table(table, out_dir / "sweep.parquet")
    pacsv.write_csv(table, out_dir / "sweep.csv")
    return out_dir / "sweep.parquet", out_dir / "sweep.csv"


@dataclass
class SweepResult:
    grid: Grid
    rows: list[dict]
    reps_by_point: list[list[dict]]
    meta: dict


def run_sweep(data: dict, settings: list[Setting], source: str = "<scenario>", replications: int | None = None,
              seed: int | None = None, executor: Any = None, target: tuple[str, float] | None = None,
              max_replications: int = 100, out_dir: str | Path | None = None,
              on_result: Callable[[int, int], None] | None = None, base_dir: str | Path | None = None,
              overwrite: bool = True, resume: bool = False, param_draws: int | None = None,
              on_draw: Callable[[int, int, int], None] | None = None) -> SweepResult:
    """Validate every grid point, run them all with common random numbers, and tabulate.
    With `out_dir`, finished replications are kept in its points.sqlite as they arrive
    (twin.studies.cache); `resume` carries on from an interrupted or finished sweep there.
    With `param_draws`, every point is also run for that many parameter draws (module docstring;
    `on_draw(point, draw, replication)`); a point without quality.params raises NoCalibration
    before anything runs."""
    grid = Grid(settings)
    scenarios = grid.scenarios(data, source, base_dir)
    if param_draws:
        from twin.calibration.propagate import require_calibration

        for p, sc in enumerate(scenarios):
            require_calibration(sc, f" at point {p} ({grid.label(p)})" if settings else "")
    base = scenarios[0]
    n = replications or base.run.replications
    seed = base.run.seed if seed is None else seed
    if target is not None:
        kpi = target[0]
        try:
            parse_kpi(kpi, base.stations, base.lots, base.resolved.presses)
        except KpiError as exc:
            raise ScenarioError("--target-ci", [(kpi, str(exc))]) from None
        n = max(n, 2)
    from twin.studies.cache import open_study_output

    writer, cache = open_study_output(out_dir, overwrite, resume)
    try:
        reps = run_points(scenarios, seed, n, executor, target, max(max_replications, n), on_result, cache)
        rows = summarise_sweep(grid, reps)
        uncertainty = (_param_draws(grid, scenarios, reps, rows, param_draws, seed, executor, on_draw, cache)
                       if param_draws else None)
    except BaseException as exc:
        if writer is not None:
            from twin.interrupt import Interrupted

            if cache is not None:
                cache.close()
            partial = writer.abort("Ctrl-C" if isinstance(exc, (Interrupted, KeyboardInterrupt)) else type(exc).__name__)
            if isinstance(exc, (Interrupted, KeyboardInterrupt)):
                raise Interrupted([f"{_count(partial)} point replication(s) (twin sweep --resume continues)"],
                                  partial, "results:") from None
        raise
    meta = {
        "scenario": base.name, "source": source, "seed": seed,
        "replications": len(reps[0]), "target_ci": list(target) if target else None,
        "settings": [{"path": s.path, "values": list(s.values)} for s in settings],
        "points": [{"point": p, "label": grid.label(p), "values": list(pt)} for p, pt in enumerate(grid.points)],
        "kpis": sweep_kpis(reps),
        "reused": cache.hits if cache is not None else 0,
        "per_replication": reps,
    }
    if uncertainty is not None:
        meta["parameter_uncertainty"] = uncertainty
    if writer is not None:
        assert cache is not None
        cache.close()
        write_table(rows, settings, writer.partial)
        writer.commit(meta, "sweep.json")
    return SweepResult(grid, rows, reps, meta)


def _param_draws(grid: Grid, scenarios: list[Scenario], reps: list[list[dict]], rows: list[dict], draws: int,
                 seed: int, executor: Any, on_draw: Callable[[int, int, int], None] | None, cache: Any
                 ) -> list[dict]:
    """Each point's parameter_uncertainty block (for sweep.json); its columns added to `rows`."""
    from twin.calibration.propagate import parameter_uncertainty

    kpis = sweep_kpis(reps)
    blocks = []
    for p, sc in enumerate(scenarios):
        mine = [r for r in rows if r["point"] == p]
        summary = {"ci95": {r["kpi"]: r["ci95"] for r in mine}}
        tick = None if on_draw is None else (lambda d, r, p=p: on_draw(p, d, r))
        block = parameter_uncertainty(sc, summary, draws, len(reps[p]), seed, executor, tick, kpis, cache)
        for r in mine:
            parts = block["kpis"].get(r["kpi"]) or {}
            low, high = parts.get("interval95_parameter") or (math.nan, math.nan)
            r.update(param_mean=parts.get("mean", math.nan), sd_parameter=parts.get("sd_parameter", math.nan),
                     sd_simulation=parts.get("sd_simulation", math.nan), param_ci_low=low, param_ci_high=high)
        blocks.append({"point": p, "label": grid.label(p), **block})
    return blocks


def _count(partial: Path) -> int:
    from twin.studies.cache import CACHE_FILE, PointCache

    cache = PointCache(partial / CACHE_FILE)
    try:
        return len(cache)
    finally:
        cache.close()


def total_runs(data: dict, settings: list[Setting], replications: int | None, param_draws: int | None = None) -> int:
    """How many replication runs a sweep starts with (for a progress bar): N + 1 per point with draws."""
    points = math.prod(len(s.values) for s in settings) if settings else 1
    n = replications or int((data.get("run") or {}).get("replications", 1))
    return points * n * (1 + (param_draws or 0))
