"""The one output writer of runs, hardware runs and studies: a folder written atomically.

`RunWriter` writes into `<out>.partial/` beside the target and swaps it in only when the run is
complete, so an interrupted run leaves the previous result untouched and the partial folder
holds what was committed, with a PARTIAL.txt saying so.

A replication is committed as a whole: its cells go to their own Parquet file
(`replications/cells-NNNN.parquet`, renamed into place when complete), its trace rows to
trace.sqlite in one transaction, and PARTIAL.txt is rewritten to list it. So even after a
SIGKILL the partial folder says truthfully what it holds. `commit` joins the replications'
files into cells.parquet (one row group per replication) and swaps the folder in."""

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
PARTIAL_NOTE = "PARTIAL.txt"
PARTS_DIR = "replications"


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

    def __init__(self, out_dir: str | Path, quality_keys: Sequence[str] = (), *, overwrite: bool = True,
                 resume: bool = False):
        """`resume`: keep what an interrupted run left in the partial folder (a study's point cache)."""
        self.target = Path(out_dir)
        if self.target.exists() and not overwrite:
            raise FileExistsError(f"{self.target} exists (use --force to replace it)")
        if self.target.exists() and not self.target.is_dir():
            raise FileExistsError(f"{self.target} exists and is not a directory")
        self.partial = self.target.with_name(self.target.name + PARTIAL_SUFFIX)
        if self.partial.exists() and not resume:
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True, exist_ok=True)
        self.quality_keys = tuple(quality_keys)
        self._trace: "TraceStore | None" = None
        self._cells: "ParquetCells | None" = None
        self._cells_index = 0
        self.replications_committed: list[int] = []
        self._note("in progress")

    @property
    def trace(self) -> "TraceStore":
        if self._trace is None:
            from twin.store import TraceStore

            self._trace = TraceStore(self.partial / "trace.sqlite", self.quality_keys)
        return self._trace

    def _part(self, index: int) -> Path:
        return self.partial / PARTS_DIR / f"cells-{index:04d}.parquet"

    @property
    def cells(self) -> "ParquetCells":
        """The cells file of the replication being written (replication 0 unless told)."""
        if self._cells is None:
            from twin.store import ParquetCells

            part = self._part(self._cells_index)
            part.parent.mkdir(exist_ok=True)
            self._cells = ParquetCells(part.with_name(part.name + ".part"), self.quality_keys)
        return self._cells

    def finish_cells(self) -> None:
        """The cells written through `cells` are complete: keep them (also if the run then fails)."""
        self._finish_cells()
        self._note("in progress")

    def _finish_cells(self) -> None:
        """Close the open replication's cells file and rename it into place."""
        if self._cells is not None:
            self._cells.close()
            os.replace(self._cells.path, self._part(self._cells_index))
            self._cells = None

    def add_replication(self, index: int, seed: int, kpis: dict, cell_rows: list[tuple], visits: list[tuple],
                        timeline: "Timeline | None" = None) -> None:
        """One finished replication: its cells, visits, timeline and KPIs (committed together)."""
        self.add_rows(index, cell_rows, visits)
        self.finish_replication(index, seed, kpis, timeline)

    def _open_replication(self, index: int) -> None:
        if index != self._cells_index:
            self._finish_cells()
            self._cells_index = index

    def add_rows(self, index: int, cell_rows: list[tuple], visits: list[tuple]) -> None:
        """A batch of replication `index`'s cell and visit rows, as the run goes (twin.streaming).

        The rows go into the replication's open part file and the trace's open transaction: nothing of
        the replication counts until `finish_replication` commits it whole."""
        self._open_replication(index)
        self.trace.stage(index, cell_rows, visits)
        if cell_rows:
            self.cells.add(cell_rows)

    def finish_replication(self, index: int, seed: int, kpis: dict, timeline: "Timeline | None" = None) -> None:
        """Replication `index` is complete: its part file renamed into place, its trace committed."""
        self._open_replication(index)
        _ = self.cells  # a replication without cells still gets its (empty) part file
        self._finish_cells()
        self.trace.commit_replication(index, seed, kpis, timeline)
        self.replications_committed.append(index)
        self._note("in progress")

    def _note(self, state: str) -> None:
        kept = ", ".join(map(str, self.replications_committed)) or "none"
        text = (f"This folder is the partial output of a run that is {state}; it is not a result.\n"
                f"Replications committed: {kept} (cells in {PARTS_DIR}/, their trace in trace.sqlite).\n"
                f"The previous result in {self.target.name}/ (if any) is untouched.\n")
        tmp = self.partial / (PARTIAL_NOTE + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.partial / PARTIAL_NOTE)

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
        if self._trace is not None:
            self._trace.close()
        self._trace = None

    def _join_cells(self) -> None:
        """cells.parquet from the replications' files, in replication order (one row group each)."""
        parts = sorted((self.partial / PARTS_DIR).glob("cells-*.parquet"))
        if not parts:
            return
        import pyarrow.parquet as pq

        writer = None
        for part in parts:
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(self.partial / "cells.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        shutil.rmtree(self.partial / PARTS_DIR)

    def commit(self, summary: dict | None = None, name: str = "summary.json") -> Path:
        """Write the summary and swap the complete folder in place of the target."""
        self._finish_cells()
        if summary is not None:
            self.write_json(name, summary)
        self._close()
        self._join_cells()
        (self.partial / PARTIAL_NOTE).unlink(missing_ok=True)
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
        if self._cells is not None:  # a replication that did not finish: not kept
            self._cells.close()
            self._cells.path.unlink(missing_ok=True)
            self._cells = None
        self._close()
        self._note(f"interrupted ({why})")
        return self.partial
