"""Cell and visit records streamed out of a running replication in batches, so a run's
memory stays O(batch + cells in the line) instead of O(cells).

`RecordStream` follows a `Recorder` (its released / finished / visit listeners) and hands
rows to a sink (`RunWriter.add_rows`) every `batch` rows. Cell rows leave in release order,
the order the non-streamed writer uses: a cell that finishes before an older one waits in a
small reorder buffer (about the cells in the line) until every older cell has finished; a row
is made once the cell's record can no longer change (see `_final`). At
the end (`close`) the cells still in the line are written as `in_process`, in order. The
files are therefore identical to writing all rows at the end of the replication."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

from twin.store import cell_row

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.recorder import Recorder, Visit

DEFAULT_BATCH = 5000


class RowSink(Protocol):
    def add_rows(self, index: int, cell_rows: list[tuple], visits: list[tuple]) -> None:
        """Append cell rows and visit rows of replication `index` (committed)."""
        ...


class RecordStream:
    """Streams one replication's cell rows (in release order) and visits to a sink."""

    def __init__(self, replication: int, quality_keys: Sequence[str], sink: RowSink, batch: int = DEFAULT_BATCH,
                 keep_visits: bool = True):
        if batch < 1:
            raise ValueError("batch must be >= 1")
        self.replication = replication
        self.keys = tuple(quality_keys)
        self.sink = sink
        self.batch = batch
        self.keep_visits = keep_visits
        self._live: dict[int, "Cell"] = {}  # released, not finished
        self._done: dict[int, "Cell"] = {}  # finished, waiting for an older cell (or for its batch's assessment)
        self._next = 0  # the oldest cell id not yet emitted
        self._rows: list[tuple] = []
        self._visits: list[tuple] = []
        self.rows_written = 0
        self.visits_written = 0

    def follow(self, recorder: "Recorder") -> None:
        """Listen to a recorder that keeps no records itself."""
        recorder.keep_cells = False
        recorder.keep_visits = False
        recorder.on_cell_released.append(self.released)
        recorder.on_cell_finished.append(self.finished)
        if self.keep_visits:
            recorder.on_visit.append(self.visit)

    @property
    def buffered(self) -> int:
        """Rows held in memory right now (reorder buffer and pending batches)."""
        return len(self._done) + len(self._rows) + len(self._visits)

    def released(self, cell: "Cell") -> None:
        self._live[cell.id] = cell

    def finished(self, cell: "Cell") -> None:
        self._live.pop(cell.id, None)
        self._done[cell.id] = cell
        self._emit()

    @staticmethod
    def _final(cell: "Cell") -> bool:
        """True once a finished cell's record can no longer change. A quarantined cell leaves
        unassessed; while cells of its pressed batch are still in the line, their assessment
        fills in its quality columns too."""
        group = cell.pending
        return cell.quality is not None or group is None or all(c.outcome is not None for c in group)

    def _emit(self) -> None:
        done, rows, nxt = self._done, self._rows, self._next
        while nxt in done and self._final(done[nxt]):
            rows.append(cell_row(self.replication, done.pop(nxt), self.keys))
            nxt += 1
        self._next = nxt
        if len(rows) >= self.batch:
            self._flush()

    def visit(self, row: "Visit") -> None:
        self._visits.append(row)
        if len(self._visits) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self._rows or self._visits:
            rows, visits = self._rows, self._visits
            self._rows, self._visits = [], []
            self.sink.add_rows(self.replication, rows, visits)
            self.rows_written += len(rows)
            self.visits_written += len(visits)

    def close(self) -> None:
        """Write what is left: finished rows and the cells still in the line, in release order."""
        pending = {**self._live, **self._done}
        self._rows.extend(cell_row(self.replication, pending[i], self.keys) for i in sorted(pending))
        self._live.clear()
        self._done.clear()
        self._flush()
