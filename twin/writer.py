"""The one output writer of runs, hardware runs and studies: a folder written atomically.

`RunWriter` writes into `<out>.partial/` beside the target and swaps it in only when the run is
complete, so an interrupted run leaves the previous result untouched and the partial folder
holds what was committed, with a PARTIAL.txt saying so."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from twin.recorder import Timeline
    from twin.store import ParquetCells, TraceStore

PARTIAL_SUFFIX = ".partial"


def json_safe(x: Any) -> Any:
    """The same data with NaN and infinities as null, so the JSON is standard."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class RunWriter:
    """The output folder of one run or study, written atomically (see the module docstring)."""

    def __init__(self, out_dir: str | Path, quality_keys: Sequence[str] = (), *, overwrite: bool = True):
        self.target = Path(out_dir)
        if self.target.exists() and not overwrite:
            raise FileExistsError(f"{self.target} exists (use --force to replace it)")
        if self.target.exists() and not self.target.is_dir():
            raise FileExistsError(f"{self.target} exists and is not a directory")
        self.partial = self.target.with_name(self.target.name + PARTIAL_SUFFIX)
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.quality_keys = tuple(quality_keys)
        self._trace: "TraceStore | None" = None
        self._cells: "ParquetCells | None" = None
        self.replications_committed: list[int] = []

    @property
    def trace(self) -> "TraceStore":
        if self._trace is None:
            from twin.store import TraceStore

            self._trace = TraceStore(self.partial / "trace.sqlite", self.quality_keys)
        return self._trace

    @property
    def cells(self) -> "ParquetCells":
        if self._cells is None:
            from twin.store import ParquetCells

            self._cells = ParquetCells(self.partial / "cells.parquet", self.quality_keys)
        return self._cells

    def add_replication(self, index: int, seed: int, kpis: dict, cell_rows: list[tuple], visits: list[tuple],
                        timeline: "Timeline | None" = None) -> None:
        """One finished replication: its cells, visits, timeline and KPIs (committed)."""
        self.add_rows(index, cell_rows, visits)
        self.finish_replication(index, seed, kpis, timeline)

    def add_rows(self, index: int, cell_rows: list[tuple], visits: list[tuple]) -> None:
        """A batch of replication `index`'s cell and visit rows, as the run goes (twin.streaming)."""
        self.trace.add_cells(cell_rows)
        self.trace.add_visits(index, visits)
        if cell_rows:
            self.cells.add(cell_rows)

    def finish_replication(self, index: int, seed: int, kpis: dict, timeline: "Timeline | None" = None) -> None:
        """Replication `index` is complete: its timeline and KPIs, and it counts as committed."""
        if timeline is not None:
            self.trace.add_timeline(index, timeline)
        self.trace.add_run(index, seed, kpis)
        self.replications_committed.append(index)

    def write_json(self, name: str, data: Any) -> Path:
        path = self.partial / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(json_safe(data), indent=2))
        os.replace(tmp, path)
        return path

    def file(self, name: str) -> Path:
        """A path inside the folder being written (for outputs other modules format)."""
        return self.partial / name

    def _close(self) -> None:
        for f in (self._trace, self._cells):
            if f is not None:
                f.close()
        self._trace = self._cells = None

    def commit(self, summary: dict | None = None, name: str = "summary.json") -> Path:
        """Write the summary and swap the complete folder in place of the target."""
        if summary is not None:
            self.write_json(name, summary)
        self._close()
        from twin.calibration.data import write_process_record  # the process side of the measured-cell format

        write_process_record(self.partial)
        old = None
        if self.target.exists():
            old = self.target.with_name(f"{self.target.name}.replaced-{os.getpid()}-{int(time.time())}")
            os.replace(self.target, old)
        os.replace(self.partial, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abort(self, why: str) -> Path:
        """Leave the partial folder with what was committed and a note saying what it is."""
        self._close()
        kept = ", ".join(map(str, self.replications_committed)) or "none"
        (self.partial / "PARTIAL.txt").write_text(
            f"This folder is the partial output of an interrupted run ({why}).\n"
            f"Replications committed: {kept}. The previous result in {self.target.name}/ is untouched.\n")
        return self.partial
