"""The measured-cell format: the process record of each cell joined by ``cell_id`` to the outcomes
measured later, in Parquet or CSV, validated per row and column.

``twin run`` and ``twin hil`` write the process side as ``process.parquet`` in every run folder, so a
line only adds its outcomes (one file with both sides, or two files joined by ``cell_id``).

Process record (one row per pressed, measured cell):

========================  ======================================================================
cell_id                   text, unique (the twin writes ``r<replication>-<cell id>``)
lot, press                text: collector lot and the press that pressed the cell (optional)
pressure_mpa              achieved hold pressure (mean over the cell), > 0
pressure_cv               spatial coefficient of variation of the pressure, in [0, 1]
hold_s                    cumulative hold time at pressure, >= 0
temperature_c             hold temperature
sq_um, sdq, pv_um         measured collector RMS height, RMS slope, peak-to-valley (pv >= sq)
waviness_um, waviness_mm  waviness amplitude and wavelength
cutoff_um                 short-wavelength cut-off of the flatness measurement (empty: 2.5 um)
disposition, reason       the line's decision on the cell (informative only)
========================  ======================================================================

Outcomes (empty where not measured; a cell with no outcome is ignored by the fit):

========================  ======================================================================
r_int_ohm_cm2             interfacial resistance from EIS, > 0
void_fraction             interfacial void fraction from imaging, in [0, 1]
shorted                   cycled: true/false (1/0) whether the cell shorted
cycles                    with ``shorted``: the cycle it shorted on, or the cycles it survived, >= 1
ccd_ma_cm2                CCD test (current ramp): the current density at which it shorted, > 0
ccd_censored              with ``ccd_ma_cm2``: true when the ramp ended there without a short
ccd_step_ma_cm2           with ``ccd_ma_cm2``: the ramp's step (the short happened on the step up to
                          ccd_ma_cm2); empty or 0: a continuous reading
current_ma_cm2            cycling current density of the short test (required with ``shorted``)
stack_pressure_mpa        stack pressure in the short or CCD test (required with either)
operating_temperature_c   cell temperature in the test (empty: 25 C)
========================  ======================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PROCESS_FILE = "process.parquet"
PROCESS_INPUTS = ("pressure_mpa", "pressure_cv", "hold_s", "temperature_c", "sq_um", "sdq", "pv_um",
                  "waviness_um", "waviness_mm", "cutoff_um")
TEST_INPUTS = ("current_ma_cm2", "stack_pressure_mpa", "operating_temperature_c")
TEXT_COLUMNS = ("cell_id", "lot", "press", "disposition", "reason")
OUTCOME_COLUMNS = ("r_int_ohm_cm2", "void_fraction", "shorted", "cycles", "ccd_ma_cm2", "ccd_censored",
                   "ccd_step_ma_cm2")
KNOWN = (*TEXT_COLUMNS, *PROCESS_INPUTS, *OUTCOME_COLUMNS, *TEST_INPUTS, "replication")
DEFAULTS = {"cutoff_um": 2.5, "operating_temperature_c": 25.0}
OUTCOME_BOUNDS = {"r_int_ohm_cm2": (0.0, math.inf, False), "void_fraction": (0.0, 1.0, True),
                  "cycles": (1.0, 1e9, True), "ccd_ma_cm2": (0.0, 100.0, False),
                  "ccd_step_ma_cm2": (0.0, 100.0, True)}
MAX_PROBLEMS = 20


class DataError(ValueError):
    """A measured-cell file that cannot be used; ``problems`` lists (row, column, message)."""

    def __init__(self, source: str, problems: list[tuple[int | None, str, str]]):
        self.source = source
        self.problems = problems
        shown = problems[:MAX_PROBLEMS]
        lines = [f"  {'row ' + str(r) + ', ' if r is not None else ''}column {c}: {m}" for r, c, m in shown]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{source}: {len(problems)} problem(s) (rows count from 1 after the header)\n"
                         + "\n".join(lines) + more)


@dataclass
class CellData:
    """Validated measured cells: model inputs per cell and the outcomes (NaN where not measured)."""

    cell_id: np.ndarray
    inputs: dict[str, np.ndarray]
    r_int: np.ndarray
    void: np.ndarray
    shorted: np.ndarray  # 1.0 shorted, 0.0 survived, NaN not cycled
    cycles: np.ndarray
    ccd: np.ndarray
    ccd_censored: np.ndarray
    ccd_step: np.ndarray
    lot: np.ndarray
    press: np.ndarray
    source: str = "<cells>"
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cell_id)

    def subset(self, index: Any) -> "CellData":
        """The cells at ``index`` (a mask or integer array; repeats allowed: bootstrap)."""
        take = (lambda a: a[index])
        return replace(self, cell_id=take(self.cell_id), inputs={k: take(v) for k, v in self.inputs.items()},
                       r_int=take(self.r_int), void=take(self.void), shorted=take(self.shorted),
                       cycles=take(self.cycles), ccd=take(self.ccd), ccd_censored=take(self.ccd_censored),
                       ccd_step=take(self.ccd_step), lot=take(self.lot), press=take(self.press), extra={k: take(v) for k, v in self.extra.items()})

    def measured(self) -> "CellData":
        """The cells with at least one outcome (the others inform nothing)."""
        return self.subset(np.isfinite(self.r_int) | np.isfinite(self.void) | np.isfinite(self.shorted)
                           | np.isfinite(self.ccd))

    def counts(self) -> dict[str, int]:
        """Cells with each outcome type."""
        return {"r_int": int(np.isfinite(self.r_int).sum()), "void": int(np.isfinite(self.void).sum()),
                "short": int(np.isfinite(self.shorted).sum()), "ccd": int(np.isfinite(self.ccd).sum())}

    def columns(self) -> dict[str, Any]:
        """The cells as columns of the file format (for writing)."""
        return {"cell_id": list(self.cell_id), "lot": list(self.lot), "press": list(self.press),
                **{k: self.inputs[k] for k in (*PROCESS_INPUTS, *TEST_INPUTS)},
                "r_int_ohm_cm2": self.r_int, "void_fraction": self.void, "shorted": self.shorted,
                "cycles": self.cycles, "ccd_ma_cm2": self.ccd, "ccd_censored": np.where(np.isnan(self.ccd), np.nan, self.ccd_censored.astype(float)),
                "ccd_step_ma_cm2": self.ccd_step}


def read_table(path: str | Path) -> dict[str, list[Any]]:
    """Columns of a Parquet or CSV file as Python lists (DataError when unreadable)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(p)
        elif p.suffix.lower() in (".csv", ".txt"):
            opts = pcsv.ConvertOptions(strings_can_be_null=True, column_types={"cell_id": pa.string()})
            table = pcsv.read_csv(p, convert_options=opts)
        else:
            raise DataError(str(p), [(None, "<file>", "expected a .parquet or .csv file")])
    except DataError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise DataError(str(p), [(None, "<file>", f"cannot read: {exc}")]) from None
    return {name: table.column(name).to_pylist() for name in table.column_names}


def write_table(path: str | Path, columns: dict[str, Any]) -> Path:
    """Write columns as Parquet or CSV (by suffix)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table({k: (pa.array(list(v)) if not isinstance(v, np.ndarray) else pa.array(v)) for k, v in
                      columns.items()})
    p = Path(path)
    if p.suffix.lower() == ".csv":
        pcsv.write_csv(table, p)
    else:
        pq.write_table(table, p)
    return p


def _float(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("", "na", "nan", "null", "none"):
            return math.nan
        return float(t)
    return float(v)


def _bool(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("", "na", "nan", "null", "none"):
            return math.nan
        if t in ("true", "yes", "1", "1.0"):
            return 1.0
        if t in ("false", "no", "0", "0.0"):
            return 0.0
        raise ValueError(f"expected true/false or 1/0 (got {v!r})")
    x = float(v)
    if math.isnan(x):
        return x
    if x not in (0.0, 1.0):
        raise ValueError(f"expected true/false or 1/0 (got {v!r})")
    return x


def _numbers(cols: dict[str, list[Any]], name: str, n: int, problems: list, parse: Any = _float) -> np.ndarray:
    raw = cols.get(name)
    out = np.full(n, math.nan)
    if raw is None:
        return out
    for i, v in enumerate(raw):
        try:
            out[i] = parse(v)
        except (TypeError, ValueError) as exc:
            problems.append((i + 1, name, str(exc) if parse is _bool else f"not a number (got {v!r})"))
    return out


def join(process: dict[str, list[Any]], outcomes: dict[str, list[Any]], source: str) -> dict[str, list[Any]]:
    """The process columns with the outcome columns joined by cell_id (outcome rows must be unique
    and name a cell of the process record)."""
    problems: list[tuple[int | None, str, str]] = []
    for name, cols in (("process", process), ("outcomes", outcomes)):
        if "cell_id" not in cols:
            raise DataError(source, [(None, "cell_id", f"missing in the {name} file")])
    index = {str(c): i for i, c in enumerate(process["cell_id"])}
    n = len(process["cell_id"])
    merged = {k: list(v) for k, v in process.items()}
    seen: set[str] = set()
    for j, cid in enumerate(outcomes["cell_id"]):
        key = str(cid)
        if key in seen:
            problems.append((j + 1, "cell_id", f"{key!r} appears twice in the outcomes"))
        seen.add(key)
        if key not in index:
            problems.append((j + 1, "cell_id", f"{key!r} is not in the process record"))
    if problems:
        raise DataError(source, problems)
    for name, values in outcomes.items():
        if name == "cell_id":
            continue
        column: list[Any] = merged[name] if name in merged else [None] * n
        for cid, v in zip(outcomes["cell_id"], values):
            column[index[str(cid)]] = v
        merged[name] = column
    return merged


def load_cells(path: str | Path, outcomes: str | Path | None = None) -> CellData:
    """Read and validate measured cells (one file, or a process file and an outcomes file)."""
    cols = read_table(path)
    source = str(path)
    if outcomes is not None:
        source = f"{path} + {outcomes}"
        cols = join(cols, read_table(outcomes), source)
    return validate(cols, source)


def validate(cols: dict[str, list[Any]], source: str = "<cells>") -> CellData:
    """Columns -> CellData; DataError naming every bad row and column."""
    from twin.interface.fast import INPUTS, check_inputs

    problems: list[tuple[int | None, str, str]] = []
    unknown = sorted(set(cols) - set(KNOWN))
    if unknown:
        problems.append((None, ", ".join(unknown), f"unknown column(s); known: {', '.join(KNOWN)}"))
    if "cell_id" not in cols:
        raise DataError(source, [*problems, (None, "cell_id", "missing (every row needs a unique cell id)")])
    n = len(cols["cell_id"])
    ids = np.array(["" if c is None else str(c) for c in cols["cell_id"]], dtype=object)
    seen: dict[str, int] = {}
    for i, c in enumerate(ids):
        if not c:
            problems.append((i + 1, "cell_id", "empty"))
        elif c in seen:
            problems.append((i + 1, "cell_id", f"{c!r} repeats row {seen[c]}"))
        else:
            seen[c] = i + 1
    bounds = {q.name: q for q in INPUTS}
    inputs: dict[str, np.ndarray] = {}
    for name in (*PROCESS_INPUTS, *TEST_INPUTS):
        a = _numbers(cols, name, n, problems)
        if name in DEFAULTS:
            a = np.where(np.isnan(a), DEFAULTS[name], a)
        q = bounds[name]
        missing = np.isnan(a)
        if name in PROCESS_INPUTS:
            if name not in cols:
                problems.append((None, name, f"missing ({q.description})"))
            else:
                problems.extend((int(i) + 1, name, "empty (a process value every cell needs)")
                                for i in np.flatnonzero(missing))
        bad = ~missing & (q.outside(np.where(missing, 0.0, a)) | ~np.isfinite(np.where(missing, 0.0, a)))
        problems.extend((int(i) + 1, name, f"must be {q.bound_text()} (got {a[i]:g})") for i in np.flatnonzero(bad))
        inputs[name] = a
    out = {name: _numbers(cols, name, n, problems) for name in OUTCOME_BOUNDS}
    shorted = _numbers(cols, "shorted", n, problems, _bool)
    censored = _numbers(cols, "ccd_censored", n, problems, _bool)
    for name, (lo, hi, lo_inclusive) in OUTCOME_BOUNDS.items():
        a = out[name]
        ok = np.isnan(a) | ((a >= lo if lo_inclusive else a > lo) & (a <= hi))
        problems.extend((int(i) + 1, name, f"must be {'>=' if lo_inclusive else '>'} {lo:g} and <= {hi:g} "
                         f"(got {a[i]:g})") for i in np.flatnonzero(~ok))
    cycled = ~np.isnan(shorted)
    problems.extend((int(i) + 1, "cycles", "needed with `shorted` (cycle of the short, or cycles survived)")
                    for i in np.flatnonzero(cycled & np.isnan(out["cycles"])))
    tested = ~np.isnan(out["ccd_ma_cm2"])
    problems.extend((int(i) + 1, "ccd_censored", "given without ccd_ma_cm2")
                    for i in np.flatnonzero(~tested & (censored == 1.0)))
    step = out["ccd_step_ma_cm2"]
    problems.extend((int(i) + 1, "ccd_step_ma_cm2", "must be at most ccd_ma_cm2 (the short was on the step up to it)")
                    for i in np.flatnonzero(tested & (step > out["ccd_ma_cm2"] * (1 + 1e-9))))
    needs = {"current_ma_cm2": cycled, "stack_pressure_mpa": cycled | tested}
    for name, rows in needs.items():
        problems.extend((int(i) + 1, name, "needed with a short or CCD test outcome (the test condition)")
                        for i in np.flatnonzero(rows & np.isnan(inputs[name])))
    if not problems:
        problems.extend(_cross_problems(inputs, check_inputs))
    if problems:
        problems.sort(key=lambda p: (p[0] or 0, p[1]))
        raise DataError(source, problems)
    text = {k: np.array(["" if v is None else str(v) for v in cols.get(k, [None] * n)], dtype=object)
            for k in ("lot", "press")}
    return CellData(ids, inputs, out["r_int_ohm_cm2"], out["void_fraction"], shorted, out["cycles"],
                    out["ccd_ma_cm2"], censored == 1.0, np.where(tested, np.nan_to_num(step), np.nan), text["lot"], text["press"], source)


def _cross_problems(inputs: dict[str, np.ndarray], check: Any) -> list[tuple[int | None, str, str]]:
    """Cross-column consistency of the interface model (PV >= Sq, cut-off < waviness), per row."""
    out: list[tuple[int | None, str, str]] = []
    for i in np.flatnonzero(inputs["pv_um"] < inputs["sq_um"]):
        out.append((int(i) + 1, "pv_um", f"must be >= sq_um (got {inputs['pv_um'][i]:g} < {inputs['sq_um'][i]:g})"))
    for i in np.flatnonzero(inputs["cutoff_um"] >= inputs["waviness_mm"] * 1000.0):
        out.append((int(i) + 1, "cutoff_um", "must be shorter than the waviness wavelength waviness_mm"))
    return out


def process_columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The process record of a run's cells (rows of cells.parquet): pressed and measured cells only."""
    keep = [r for r in rows if r.get("pressure_mpa") is not None and r.get("sq_um") is not None
            and r.get("pressure_cv") is not None and r.get("temperature_c") is not None]
    out: dict[str, list[Any]] = {"cell_id": [f"r{r['replication']}-{r['cell_id']}" for r in keep],
                                 "replication": [r["replication"] for r in keep],
                                 "lot": [r.get("lot") for r in keep], "press": [r.get("press_station") for r in keep]}
    for name in PROCESS_INPUTS:
        out[name] = [r.get(name) if r.get(name) is not None else DEFAULTS.get(name) for r in keep]
    out["disposition"] = [r.get("outcome") for r in keep]
    out["reason"] = [r.get("reason") for r in keep]
    return out


def write_process_record(folder: str | Path) -> Path | None:
    """Write ``process.parquet`` beside a run's ``cells.parquet`` (nothing when there is none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = Path(folder)
    cells = d / "cells.parquet"
    if not cells.exists():
        return None
    rows = pq.read_table(cells).to_pylist()
    cols = process_columns(rows)
    types = {"cell_id": pa.string(), "replication": pa.int64(), "lot": pa.string(), "press": pa.string(),
             "disposition": pa.string(), "reason": pa.string()}
    table = pa.table({k: pa.array(v, type=types.get(k, pa.float64())) for k, v in cols.items()})
    path = d / PROCESS_FILE
    pq.write_table(table, path)
    return path
