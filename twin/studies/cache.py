"""Completed study points kept on disk, so an interrupted study resumes and a finished one re-runs
at once: one replication's KPIs per (scenario content hash, seed, replication) in `points.sqlite`
of the study's output folder (written as each result arrives, committed per row).

The content hash covers everything that decides a replication's numbers: the validated scenario
(without its replication count and seed, which are part of the key), every spec, lot and
interface parameter validation resolved, and the twin version. Change any of them and the point
is computed afresh."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario

CACHE_FILE = "points.sqlite"


def _dump(x: Any) -> Any:
    if hasattr(x, "model_dump"):
        return x.model_dump(mode="json")
    if isinstance(x, dict):
        return {str(k): _dump(v) for k, v in x.items()}
    return repr(x)


def _plain(x: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists."""
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"cannot store {type(x).__name__}")


def content_hash(s: "Scenario") -> str:
    """sha256 of what decides the scenario's replications (see the module docstring)."""
    from twin import __version__

    r = s.resolved
    data = {
        "twin": __version__,
        "scenario": s.model_dump(mode="json", exclude={"run": {"replications", "seed"}}),
        "presses": _dump(r.presses), "instruments": _dump(r.instruments), "gloveboxes": _dump(r.gloveboxes),
        "lots": _dump(r.lots), "interface_model": getattr(r.interface_model, "name", repr(r.interface_model)),
        "interface_params": _dump(r.interface_params),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()


class PointCache:
    """KPIs of finished replications, keyed by (content hash, seed, replication)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS points (hash TEXT, seed INTEGER, replication INTEGER, "
                            "kpis TEXT, PRIMARY KEY (hash, seed, replication))")
        self.hits = 0

    def get(self, key: str, seed: int, replication: int) -> dict | None:
        row = self.db.execute("SELECT kpis FROM points WHERE hash=? AND seed=? AND replication=?",
                              (key, seed, replication)).fetchone()
        if row is None:
            return None
        self.hits += 1
        return json.loads(row[0])  # NaN and infinities round-trip (Python's JSON tokens)

    def put(self, key: str, seed: int, replication: int, kpis: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO points VALUES (?,?,?,?)",
                            (key, seed, replication, json.dumps(kpis, default=_plain)))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def open_study_output(out_dir: str | Path | None, overwrite: bool, resume: bool) -> tuple[Any, Any]:
    """A study's writer (twin.writer.RunWriter) and its point cache; with `resume`, the cache an
    interrupted (partial folder) or finished (output folder) study left is carried on."""
    if out_dir is None:
        return None, None
    import shutil

    from twin.writer import RunWriter

    writer = RunWriter(out_dir, overwrite=overwrite or resume, resume=resume)
    finished = Path(out_dir) / CACHE_FILE
    if resume and finished.exists() and not writer.file(CACHE_FILE).exists():
        shutil.copy2(finished, writer.file(CACHE_FILE))
    return writer, PointCache(writer.file(CACHE_FILE))
