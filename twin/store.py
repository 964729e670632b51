"""Per-cell traceability: SQLite (`trace.sqlite`: cells, visits, runs) and Parquet
(`cells.parquet`). Rows are committed as they are added in batches, so a crash never
loses what was already written."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Iterable

from twin.cell import SURFACE_KEYS

QUALITY_KEYS = ("contact_fraction", "contact_fraction_min", "void_fraction", "r_int_ohm_cm2", "hotspot_factor", "p_short")

CELL_COLUMNS: tuple[tuple[str, str], ...] = (
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
    ("pressure_mpa", "REAL"),
    ("pressure_cv", "REAL"),
    ("hold_s", "REAL"),
    ("temperature_c", "REAL"),
    ("h2o_max_ppm", "REAL"),
    *((k, "REAL") for k in QUALITY_KEYS),
    ("press_runs", "TEXT"),
)

DEVICE_RUN_COLUMNS = ("run_id", "job_id", "station", "device", "samples", "status", "ok", "problem",
                      "sim_start_h", "sim_end_h", "device_duration_s", "wall_start", "wall_end")
DISPOSITION_COLUMNS = ("run_id", "sample_id", "cell_id", "device", "decision", "reason", "sim_h", "delivered", "error")

VISIT_COLUMNS = (("replication", "INTEGER"), ("cell_id", "INTEGER"), ("station", "TEXT"), ("t_arrive_h", "REAL"),
                 ("t_start_h", "REAL"), ("t_end_h", "REAL"), ("t_leave_h", "REAL"))


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def cell_row(replication: int, cell) -> tuple:
    """One cell as a row of CELL_COLUMNS."""
    true = cell.true_surface or {}
    meas = cell.surface or {}
    q = cell.quality or {}
    return (
        replication, cell.id, cell.lot, cell.t_in, _num(cell.t_out), cell.outcome or "in_process", cell.reason,
        cell.reworks, int(cell.quarantined),
        *(_num(true.get(k)) for k in SURFACE_KEYS),
        *(_num(meas.get(k)) for k in SURFACE_KEYS),
        _num(cell.pressure_mpa) if cell.press_runs else None, _num(cell.pressure_cv),
        _num(cell.hold_s) if cell.press_runs else None, _num(cell.temperature_c), _num(cell.h2o_max_ppm),
        *(_num(q.get(k)) for k in QUALITY_KEYS),
        ",".join(cell.press_runs),
    )


class TraceStore:
    """The run's SQLite trace; rows are committed per `add_*` call."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        cols = ", ".join(f"{n} {t}" for n, t in CELL_COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS cells ({cols}, PRIMARY KEY (replication, cell_id))")
        vcols = ", ".join(f"{n} {t}" for n, t in VISIT_COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS visits ({vcols})")
        self.db.execute("CREATE TABLE IF NOT EXISTS runs (replication INTEGER PRIMARY KEY, seed INTEGER, kpis TEXT)")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS device_runs ({', '.join(DEVICE_RUN_COLUMNS)}, "
                        "PRIMARY KEY (job_id))")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS dispositions ({', '.join(DISPOSITION_COLUMNS)}, "
                        "PRIMARY KEY (run_id, sample_id))")
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
        marks = ",".join("?" * len(CELL_COLUMNS))
        with self.db:
            self.db.executemany(f"INSERT OR REPLACE INTO cells VALUES ({marks})", rows)

    def add_visits(self, replication: int, visits: Iterable[tuple]) -> None:
        with self.db:
            self.db.executemany("INSERT INTO visits VALUES (?,?,?,?,?,?,?)", ((replication, *v) for v in visits))

    def add_run(self, replication: int, seed: int, kpis: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?)", (replication, seed, json.dumps(kpis)))

    def close(self) -> None:
        self.db.close()


class ParquetCells:
    """`cells.parquet`, written one row group per replication."""

    def __init__(self, path: str | Path):
        import pyarrow as pa

        self.path = Path(path)
        types = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
        self.schema = pa.schema([(n, types[t]) for n, t in CELL_COLUMNS])
        self._writer = None

    def add(self, rows: list[tuple]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(zip(*rows)) if rows else [[] for _ in CELL_COLUMNS]
        table = pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, self.schema)],
                                     schema=self.schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:
            self.add([])
        self._writer.close()
