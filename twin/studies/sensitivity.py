"""Global sensitivity of KPIs to scenario parameters, on SALib: which inputs matter, and how much?

`morris` (elementary effects: mu*, the mean absolute effect of moving a parameter across its
whole range, with a bootstrap 95% interval, and sigma, its spread from interactions and
non-linearity) screens many parameters cheaply: N trajectories cost N x (D + 1) points.
`sobol` (Saltelli sampling: first-order S1 and total ST variance shares with 95% intervals)
costs N x (D + 2) points and quantifies. Parameters are sampled on [0, 1] and mapped to their
range (log-uniform for `:log`, rounded for `:int`); every point runs the same replications at
the same seed (common random numbers), so the indices measure the design, not the noise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.scenario import ScenarioError
from twin.studies.space import Param, check_kpis, estimate, evaluate, variant

log = logging.getLogger(__name__)
METHODS = ("morris", "sobol")
META_FILE = "sensitivity.json"
INDICES_FILE = "indices.parquet"
SAMPLES_FILE = "samples.parquet"
MORRIS_LEVELS = 4
BOOTSTRAP_RESAMPLES = 1000
DEFAULT_KPIS = ("final_yield", "throughput_per_h", "cost_per_good_cell")
# the index a tornado sorts by, and its interval, per method
RANKING = {"morris": ("mu_star", "mu_star_conf"), "sobol": ("ST", "ST_conf")}


@dataclass
class SensitivityResult:
    indices: Any  # pandas.DataFrame: one row per (kpi, param)
    samples: Any  # pandas.DataFrame: one row per sample point (parameter values, KPI means)
    meta: dict

    @property
    def runs(self) -> int:
        return int(self.meta.get("runs", 0))


def runs_needed(method: str, n: int, d: int, replications: int) -> int:
    """Simulation runs a study of N trajectories / base samples over D parameters costs."""
    return n * (d + 1 if method == "morris" else d + 2) * replications


def _problem(params: Sequence[Param]) -> dict:
    return {"num_vars": len(params), "names": [p.path for p in params], "bounds": [[0.0, 1.0]] * len(params)}


def _sample(method: str, problem: dict, n: int, seed: int) -> np.ndarray:
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=MORRIS_LEVELS, seed=seed)
    from SALib.sample import sobol

    return sobol.sample(problem, n, calc_second_order=False, seed=seed)


def _analyse(method: str, problem: dict, x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    if method == "morris":
        from SALib.analyze import morris

        r = morris.analyze(problem, x, y, num_resamples=BOOTSTRAP_RESAMPLES, conf_level=0.95,
                           num_levels=MORRIS_LEVELS, seed=seed)
        return {k: np.ma.filled(np.asarray(r[k], dtype=float), np.nan) for k in ("mu", "mu_star", "mu_star_conf",
                                                                                 "sigma")}
    from SALib.analyze import sobol

    r = sobol.analyze(problem, y, calc_second_order=False, num_resamples=BOOTSTRAP_RESAMPLES, conf_level=0.95,
                      seed=seed)
    return {k: np.asarray(r[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def check(method: str, params: Sequence[Param], samples: int) -> None:
    problems = []
    if method not in METHODS:
        problems.append(("--method", f"one of {', '.join(METHODS)} (got {method!r})"))
    problems += [(p.path, "sensitivity needs a numeric range LOW:HIGH, not choices") for p in params if not p.numeric]
    if not params:
        problems.append(("--param", "give at least one --param"))
    if samples < 2:
        problems.append(("--samples", f"needs at least 2 (got {samples})"))
    if method == "sobol" and samples & (samples - 1):
        problems.append(("--samples", f"Sobol (Saltelli) sampling needs a power of 2 (got {samples})"))
    if problems:
        raise ScenarioError("sensitivity", problems)


def sensitivity(data: dict, params: Sequence[Param], method: str = "morris", kpis: Sequence[str] | None = None,
                samples: int = 10, replications: int | None = None, seed: int | None = None, executor: Any = None,
                out_dir: str | Path | None = None, source: str = "<scenario>", base_dir: str | Path | None = None,
                overwrite: bool = False, on_result: Callable[[int, int], None] | None = None,
                resume: bool = False) -> SensitivityResult:
    """Sample, run every point with common random numbers, and compute the indices of every KPI.
    With `out_dir`, finished replications are kept in its points.sqlite as they arrive; `resume`
    carries on from an interrupted or finished study there (twin.studies.cache)."""
    import pandas as pd

    from twin.scenario import parse_scenario

    check(method, params, samples)
    base = parse_scenario(data, source, base_dir)
    n = replications or base.run.replications
    seed = base.run.seed if seed is None else seed
    names = list(kpis or [k for k in DEFAULT_KPIS if k != "cost_per_good_cell" or base.cost is not None])
    check_kpis(base, names, source)
    if out_dir is not None and Path(out_dir).exists() and not (overwrite or resume):
        raise FileExistsError(f"{out_dir} exists (use --force to replace it, or --resume)")
    problem = _problem(params)
    unit = _sample(method, problem, samples, seed)
    points = [{p.path: p.from_unit(float(u)) for p, u in zip(params, row)} for row in unit]
    scenarios = [variant(data, point, source, base_dir) for point in points]  # every point validated before any run
    from twin.studies.cache import open_study_output

    writer, cache = open_study_output(out_dir, overwrite, resume)
    try:
        reps = evaluate(scenarios, n, seed, executor, on_result, cache)
    except BaseException as exc:
        if writer is not None:
            from twin.interrupt import Interrupted

            cache.close()
            stopped = isinstance(exc, (Interrupted, KeyboardInterrupt))
            partial = writer.abort("Ctrl-C" if stopped else type(exc).__name__)
            if stopped:
                raise Interrupted(["the finished point replications (twin sensitivity --resume continues)"],
                                  partial, "results:") from None
        raise
    if cache is not None:
        cache.close()
    y = {k: np.array([estimate(r, k).mean for r in reps]) for k in names}
    rows = []
    for k in names:
        if not np.all(np.isfinite(y[k])):
            log.warning("%s is undefined at %d of %d points: its indices are left out", k,
                        int(np.sum(~np.isfinite(y[k]))), len(y[k]))
            idx = {name: np.full(len(params), np.nan) for name in _index_names(method)}
        else:
            idx = _analyse(method, problem, unit, y[k], seed)
        for i, p in enumerate(params):
            rows.append({"kpi": k, "param": p.path, "method": method, **{name: float(v[i]) for name, v in idx.items()}})
    indices = pd.DataFrame(rows)
    table = pd.DataFrame([{**pt, **{k: float(y[k][i]) for k in names}} for i, pt in enumerate(points)])
    meta = {"scenario": base.name, "source": source, "seed": seed, "method": method, "samples": samples,
            "replications": n, "params": [p.text() for p in params], "kpis": names, "points": len(points),
            "runs": len(points) * n, "reused": cache.hits if cache is not None else 0, "ranking": list(RANKING[method]),
            "currency": base.cost.currency if base.cost is not None else None}
    result = SensitivityResult(indices, table, meta)
    if writer is not None:
        write(result, Path(out_dir), overwrite, writer)  # type: ignore[arg-type]
    return result


def _index_names(method: str) -> tuple[str, ...]:
    return ("mu", "mu_star", "mu_star_conf", "sigma") if method == "morris" else ("S1", "S1_conf", "ST", "ST_conf")


def write(result: SensitivityResult, out_dir: Path, overwrite: bool = False, writer: Any = None) -> Path:
    """indices.parquet / indices.csv, samples.parquet and sensitivity.json, through the one atomic
    writer: the folder appears complete or not at all."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from twin.writer import RunWriter

    writer = writer if writer is not None else RunWriter(out_dir, overwrite=overwrite)
    indices = pa.Table.from_pandas(result.indices, preserve_index=False)
    pq.write_table(indices, writer.file(INDICES_FILE))
    pacsv.write_csv(indices, writer.file("indices.csv"))
    pq.write_table(pa.Table.from_pandas(result.samples, preserve_index=False), writer.file(SAMPLES_FILE))
    return writer.commit({**result.meta, "indices": result.indices.to_dict("records")}, META_FILE)


def ranked(indices: Any, kpi: str, method: str) -> list[tuple[str, float, float]]:
    """(param, index, interval) of one KPI, most influential first (NaN last)."""
    key, conf = RANKING[method]
    rows = indices[indices["kpi"] == kpi]
    out = [(str(r["param"]), float(r[key]), float(r[conf])) for _, r in rows.iterrows()]
    return sorted(out, key=lambda t: (not math.isfinite(t[1]), -abs(t[1]) if math.isfinite(t[1]) else 0.0))
