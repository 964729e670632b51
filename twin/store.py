"""Per-cell traceability: SQLite (`trace.sqlite`: cells, visits, runs, device runs,
dispositions, the timeline) and Parquet (`cells.parquet`). Every `add_*` call commits, so a
crash never loses what was already written. The cell columns include the interface model's
outputs, read from the model (`twin.interface.model`). Folders are written by
`twin.writer.RunWriter`."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from twin.lots import SURFACE_KEYS
from twin.writer import json_safe

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.recorder import Timeline

BASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("replication", "INTEGER"),
    ("cell_id", "INTEGER"),
    ("lot", "TEXT"),
    ("t_in_h", "REAL"),
    ("t_out_h", "REAL"),
    ("outcome", "TEXT"),
    ("reason", "TEXT"),
    ("reworks", "INTEGER"),
    ("quarantined", "INTEGER"),
    *((f"true_{k}", "REAL") for k in SURFACE_KEYS),
    *((k, "REAL") for k in SURFACE_KEYS),
    ("cutoff_um", "REAL"),
    ("pressure_mpa", "REAL"),
    ("pressure_cv", "REAL"),
    ("hold_s", "REAL"),
    ("temperature_c", "REAL"),
    ("h2o_max_ppm", "REAL"),
    ("press_station", "TEXT"),
)
DEVICE_RUN_COLUMNS = ("run_id", "job_id", "station", "device", "samples", "status", "ok", "problem",
                      "sim_start_h", "sim_end_h", "device_duration_s", "wall_start", "wall_end")
DISPOSITION_COLUMNS = ("run_id", "sample_id", "cell_id", "device", "decision", "reason", "sim_h", "delivered", "error")
VISIT_COLUMNS = (("replication", "INTEGER"), ("cell_id", "INTEGER"), ("station", "TEXT"), ("t_arrive_h", "REAL"),
                 ("t_start_h", "REAL"), ("t_end_h", "REAL"), ("t_leave_h", "REAL"))
TIMELINE_TABLES = {
    "station_states": "replication INTEGER, station TEXT, t_h REAL, busy INTEGER, blocked INTEGER, "
                      "starved INTEGER, down INTEGER, off_shift INTEGER",
    "buffer_levels": "replication INTEGER, station TEXT, t_h REAL, waiting INTEGER",
    "press_traces": "replication INTEGER, station TEXT, run_id TEXT, t_s REAL, p_mpa REAL, temp_c REAL, phase INTEGER",
}


def cell_columns(quality_keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Columns of the cells table: the record, the interface outputs, the press RunIds."""
    return (*BASE_COLUMNS, *((k, "REAL") for k in quality_keys), ("press_runs", "TEXT"))


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def cell_row(replication: int, cell: "Cell", quality_keys: Sequence[str]) -> tuple:
    """One cell as a row of `cell_columns(quality_keys)`."""
    true = cell.true_surface or {}
    meas = cell.surface
    q = cell.quality or {}
    pressed = bool(cell.press_runs)
    return (
        replication, cell.id, cell.lot, cell.t_in, _num(cell.t_out), cell.outcome or "in_process", cell.reason,
        cell.reworks, int(cell.quarantined),
        *(_num(true.get(k)) for k in SURFACE_KEYS),
        *(_num(getattr(meas, k)) if meas is not None else None for k in SURFACE_KEYS),
        _num(meas.cutoff_um) if meas is not None else None,
        _num(cell.pressure_mpa) if pressed else None, _num(cell.pressure_cv),
        _num(cell.hold_s) if pressed else None, _num(cell.temperature_c), _num(cell.h2o_max_ppm),
        cell.press_station or None,
        *(_num(q.get(k)) for k in quality_keys),
        ",".join(cell.press_runs),
    )


class TraceStore:
    """The run's SQLite trace; rows are committed per `add_*` call."""

    def __init__(self, path: str | Path, quality_keys: Sequence[str]):
        self.path = Path(path)
        self.columns = cell_columns(quality_keys)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        cols = ", ".join(f"{n} {t}" for n, t in self.columns)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS cells ({cols}, PRIMARY KEY (replication, cell_id))")
        vcols = ", ".join(f"{n} {t}" for n, t in VISIT_COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS visits ({vcols})")
        self.db.execute("CREATE TABLE IF NOT EXISTS runs (replication INTEGER PRIMARY KEY, seed INTEGER, kpis TEXT)")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS device_runs ({', '.join(DEVICE_RUN_COLUMNS)}, "
                        "PRIMARY KEY (job_id))")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS dispositions ({', '.join(DISPOSITION_COLUMNS)}, "
                        "PRIMARY KEY (run_id, sample_id))")
        for table, cols in TIMELINE_TABLES.items():
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        self.db.commit()

    def add_device_run(self, run: dict) -> None:
        """A program run on equipment (hardware-in-the-loop), keyed by its SupervisoryJobId."""
        row = {**run, "samples": ",".join(run["samples"]), "ok": int(run["ok"])}
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO device_runs VALUES ({','.join('?' * len(DEVICE_RUN_COLUMNS))})",
                            tuple(row.get(k) for k in DEVICE_RUN_COLUMNS))

    def add_disposition(self, record: dict) -> None:
        """A decision sent to equipment; written again once delivered (or not)."""
        row = {**record, "delivered": None if "delivered" not in record else int(record["delivered"])}
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO dispositions VALUES ({','.join('?' * len(DISPOSITION_COLUMNS))})",
                            tuple(row.get(k) for k in DISPOSITION_COLUMNS))

    def add_cells(self, rows: Iterable[tuple]) -> None:
        with self.db:
            self._cells(rows)

    def _cells(self, rows: Iterable[tuple]) -> None:
        marks = ",".join("?" * len(self.columns))
        self.db.executemany(f"INSERT OR REPLACE INTO cells VALUES ({marks})", rows)

    def add_visits(self, replication: int, visits: Iterable[tuple]) -> None:
        with self.db:
            self._visits(replication, visits)

    def _visits(self, replication: int, visits: Iterable[tuple]) -> None:
        self.db.executemany("INSERT INTO visits VALUES (?,?,?,?,?,?,?)", ((replication, *v) for v in visits))

    def add_run(self, replication: int, seed: int, kpis: dict) -> None:
        with self.db:
            self._run(replication, seed, kpis)

    def _run(self, replication: int, seed: int, kpis: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?)", (replication, seed, json.dumps(json_safe(kpis))))

    def add_timeline(self, replication: int, timeline: "Timeline") -> None:
        with self.db:
            self._timeline(replication, timeline)

    def _timeline(self, replication: int, timeline: "Timeline") -> None:
        self.db.executemany("INSERT INTO station_states VALUES (?,?,?,?,?,?,?,?)",
                            ((replication, *row) for row in timeline.states))
        self.db.executemany("INSERT INTO buffer_levels VALUES (?,?,?,?)",
                            ((replication, *row) for row in timeline.levels))
        for station, (run_id, tr) in timeline.press_traces.items():
            self.db.executemany("INSERT INTO press_traces VALUES (?,?,?,?,?,?,?)", (
                (replication, station, run_id, float(t), float(p), float(temp), int(ph))
                for t, p, temp, ph in zip(tr.t_s, tr.p_mpa, tr.temp_c, tr.phase)))

    def stage(self, replication: int, cell_rows: Iterable[tuple], visits: Iterable[tuple]) -> None:
        """Rows of a replication under way, in the open transaction (not committed)."""
        self._cells(cell_rows)
        self._visits(replication, visits)

    def commit_replication(self, replication: int, seed: int, kpis: dict, timeline: "Timeline | None" = None) -> None:
        """The replication's timeline and KPIs, committed with the rows staged before them."""
        with self.db:
            if timeline is not None:
                self._timeline(replication, timeline)
            self._run(replication, seed, kpis)

    def add_replication(self, replication: int, seed: int, kpis: dict, cell_rows: Iterable[tuple],
                        visits: Iterable[tuple], timeline: "Timeline | None" = None) -> None:
        """A whole replication in one transaction: after a crash it is there entirely or not at all."""
        self.stage(replication, cell_rows, visits)
        self.commit_replication(replication, seed, kpis, timeline)

    def close(self) -> None:
        """Close the finished trace in rollback-journal mode: a reader (even read-only) of a WAL
        database leaves -wal and -shm files beside it, so a report would change the result folder."""
        try:
            self.db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error:
            pass  # another connection still has it open: it stays in WAL mode, nothing is lost
        self.db.close()


def arrow_column(values: Sequence[Any], sql_type: str) -> Any:
    """`pa.array(values, type=...)` for one column of the cells table (None is null), built from
    buffers: `pa.array` imports pandas whenever it is installed (about half a second)."""
    import numpy as np
    import pyarrow as pa

    n = len(values)
    valid = [v is not None for v in values]
    bitmap = None if all(valid) else pa.py_buffer(np.packbits(np.array(valid, dtype=bool), bitorder="little"))
    if sql_type == "TEXT":
        encoded = [v.encode("utf-8") if v is not None else b"" for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return pa.Array.from_buffers(pa.string(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
    dtype, typ = (np.float64, pa.float64()) if sql_type == "REAL" else (np.int64, pa.int64())
    data = np.array([0 if v is None else v for v in values], dtype=dtype)
    return pa.Array.from_buffers(typ, n, [bitmap, pa.py_buffer(data)])


class ParquetCells:
    """`cells.parquet`, written one row group per call."""

    def __init__(self, path: str | Path, quality_keys: Sequence[str]):
        import pyarrow as pa

        self.path = Path(path)
        self.columns = cell_columns(quality_keys)
        types = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
        self.schema = pa.schema([(n, types[t]) for n, t in self.columns])
        self._writer: Any = None

    def add(self, rows: list[tuple]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in self.columns]
        table = pa.Table.from_arrays([arrow_column(col, t) for col, (_, t) in zip(columns, self.columns)],
                                     schema=self.schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:
            self.add([])
        self._writer.close()
