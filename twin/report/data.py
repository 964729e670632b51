"""Reading what a run, sweep or study wrote, without ever failing on an optional part.

The main file of a directory (summary.json, sweep.json + sweep.parquet, ...) must be readable,
or there is nothing to report (ReportError, exit 2). Everything else (cells.parquet, the
tables of trace.sqlite, columns added by newer versions) is optional: a missing or unreadable
part becomes None and a note for the page, never an exception.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACE_TABLES = ("station_states", "buffer_levels", "press_traces", "device_runs")
TEXT_COLUMNS = frozenset({"station", "run_id", "phase", "job_id", "device", "samples", "status", "problem",
                          "wall_start", "wall_end"})


class ReportError(Exception):
    """The directory holds nothing reportable."""


@dataclass
class RunOutputs:
    """A run directory: summary.json plus whatever optional records it has."""

    directory: Path
    summary: dict
    cells: Any = None  # pandas.DataFrame of cells.parquet, or None
    trace: dict[str, Any] = field(default_factory=dict)  # table name -> DataFrame or None
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str | None:
        return currency_of(self.summary)

    @property
    def per_replication(self) -> list[dict]:
        reps = self.summary.get("per_replication")
        return [r for r in reps if isinstance(r, dict)] if isinstance(reps, list) else []


@dataclass
class SweepOutputs:
    """A sweep directory: sweep.json (grid, per-replication KPIs) and sweep.parquet (the table)."""

    directory: Path
    meta: dict
    rows: Any  # pandas.DataFrame, one row per (grid point, KPI)
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str | None:
        for reps in self.meta.get("per_replication") or []:
            for rep in reps if isinstance(reps, list) else []:
                found = currency_of(rep) if isinstance(rep, dict) else None
                if found:
                    return found
        return currency_of(self.meta) or scenario_currency(self.meta.get("source"))


@dataclass
class OptimizeOutputs:
    """An optimisation directory: optimize.json (study, best trials, importance) and trials.parquet."""

    directory: Path
    meta: dict
    trials: Any  # pandas.DataFrame, one row per trial
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str | None:
        return currency_of(self.meta) or scenario_currency(self.meta.get("source"))


@dataclass
class SensitivityOutputs:
    """A sensitivity directory: sensitivity.json, indices.parquet and samples.parquet."""

    directory: Path
    meta: dict
    indices: Any  # pandas.DataFrame, one row per (kpi, param)
    samples: Any = None  # pandas.DataFrame, one row per sample point, or None
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str | None:
        return currency_of(self.meta) or scenario_currency(self.meta.get("source"))


def currency_of(record: dict) -> str | None:
    """The currency a summary or a replication's KPIs name (cost_breakdown.currency or currency)."""
    breakdown = record.get("cost_breakdown")
    if isinstance(breakdown, dict) and isinstance(breakdown.get("currency"), str):
        return breakdown["currency"]
    value = record.get("currency")
    return value if isinstance(value, str) else None


def scenario_currency(source: Any) -> str | None:
    """The cost currency of the scenario file a study ran (its default when the file omits it)."""
    if not isinstance(source, str) or not Path(source).is_file():
        return None
    import yaml

    from twin.cost import CostModel

    try:
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    cost = data.get("cost") if isinstance(data, dict) else None
    if not isinstance(cost, dict):
        return None
    value = cost.get("currency", CostModel.model_fields["currency"].default)
    return value if isinstance(value, str) else None


def read_json(path: Path) -> dict:
    """A JSON object, or ReportError saying why not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_parquet(path: Path, notes: list[str]) -> Any:
    """A DataFrame of the file, None (with a note) when it is missing or unreadable."""
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same: not usable
        notes.append(f"{path.name} could not be read ({type(exc).__name__}: {exc}); plots from it are left out")
        return None


def read_trace(path: Path, notes: list[str]) -> dict[str, Any]:
    """The trace tables the report draws (None for each one absent), plus visits of the first replication."""
    out: dict[str, Any] = {name: None for name in (*TRACE_TABLES, "visits")}
    if not path.exists():
        return out
    import pandas as pd

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        notes.append(f"{path.name} could not be opened ({exc})")
        return out
    try:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for name in TRACE_TABLES:
            if name in names:
                out[name] = numeric(pd.read_sql_query(f"SELECT * FROM {name}", db))
        if "visits" in names:
            out["visits"] = numeric(pd.read_sql_query(
                "SELECT station, t_arrive_h, t_start_h FROM visits "
                "WHERE replication = (SELECT MIN(replication) FROM visits)", db))
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        notes.append(f"{path.name} could not be read ({exc}); plots from it are left out")
    finally:
        db.close()
    return out


def numeric(table: Any) -> Any:
    """The table with every column but the text ones as numbers (a stray text value becomes NaN)."""
    import pandas as pd

    for col in table.columns:
        if col not in TEXT_COLUMNS:
            table[col] = pd.to_numeric(table[col], errors="coerce")
        else:
            table[col] = table[col].map(lambda v: v if v is None else str(v))
    return table


def load_run(directory: Path) -> RunOutputs:
    notes: list[str] = []
    summary = read_json(directory / "summary.json")
    cells = read_parquet(directory / "cells.parquet", notes)
    return RunOutputs(directory, summary, cells, read_trace(directory / "trace.sqlite", notes), notes)


def load_sweep(directory: Path) -> SweepOutputs:
    import pyarrow.parquet as pq

    meta = read_json(directory / "sweep.json")
    try:
        rows = pq.read_table(directory / "sweep.parquet").to_pandas()
    except Exception as exc:  # noqa: BLE001 - the table is the sweep: without it there is nothing to report
        raise ReportError(f"{directory / 'sweep.parquet'}: cannot be read ({type(exc).__name__}: {exc})") from None
    return SweepOutputs(directory, meta, rows)


def load_optimize(directory: Path) -> OptimizeOutputs:
    from twin.studies.optimize import META_FILE, TRIALS_FILE

    meta = read_json(directory / META_FILE)
    notes: list[str] = []
    trials = read_parquet(directory / TRIALS_FILE, notes)
    if trials is None:
        raise ReportError(f"{directory / TRIALS_FILE}: missing or unreadable; it is the study's result")
    return OptimizeOutputs(directory, meta, trials, notes)


def load_sensitivity(directory: Path) -> SensitivityOutputs:
    from twin.studies.sensitivity import INDICES_FILE, META_FILE, SAMPLES_FILE

    meta = read_json(directory / META_FILE)
    notes: list[str] = []
    indices = read_parquet(directory / INDICES_FILE, notes)
    if indices is None:
        raise ReportError(f"{directory / INDICES_FILE}: missing or unreadable; it is the study's result")
    return SensitivityOutputs(directory, meta, indices, read_parquet(directory / SAMPLES_FILE, notes), notes)


def num(value: Any) -> float:
    """A JSON number as float, NaN when missing or not a number."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def mapping(record: Any, key: str) -> dict:
    """record[key] when it is a mapping, else {} (a field an older or partial output lacks)."""
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, dict) else {}
