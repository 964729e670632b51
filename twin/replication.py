"""One replication in simulated time: the task every executor runs (picklable, module level).

Its result depends only on (scenario, index, seed): common random numbers keyed by
(seed, replication, source) make in-process, pooled and Dask runs identical."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from twin.recorder import Timeline
    from twin.scenario import Scenario
    from twin.streaming import RowSink


@dataclass
class Replication:
    """What one replication returns: its KPIs, its cell and visit records and its timeline."""

    index: int
    kpis: dict[str, Any]
    cell_rows: list[tuple]
    visits: list[tuple]
    timeline: "Timeline | None" = None


def quality_keys(scenario: "Scenario") -> tuple[str, ...]:
    """The interface model's output names: the quality columns of the cell records."""
    from twin.interface.model import output_names

    return output_names(scenario.resolved.interface_model)


def run_replication(scenario: "Scenario", index: int, seed: int | None = None, keep_visits: bool = True,
                    keep_cells: bool = True) -> Replication:
    """Run replication `index` of a scenario (independent streams per replication)."""
    from twin.line import Line
    from twin.store import cell_row

    line = Line(scenario, index, seed=seed, keep_visits=keep_visits)
    kpis = line.run()
    keys = quality_keys(scenario)
    rows = [cell_row(index, c, keys) for c in line.cells] if keep_cells else []
    return Replication(index, kpis, rows, line.visits, line.recorder.timeline)


def stream_replication(scenario: "Scenario", index: int, seed: int, sink: "RowSink", keep_visits: bool = True,
                       batch: int | None = None) -> Replication:
    """Run replication `index`, handing its cell and visit rows to `sink` in batches as it
    goes (memory O(batch), see twin.streaming); the result carries no rows. The rows and their
    order are those `run_replication` returns."""
    from twin.line import Line
    from twin.streaming import DEFAULT_BATCH, RecordStream

    line = Line(scenario, index, seed=seed, keep_visits=keep_visits)
    stream = RecordStream(index, quality_keys(scenario), sink, batch or DEFAULT_BATCH, keep_visits)
    stream.follow(line.recorder)
    kpis = line.run()
    stream.close()
    return Replication(index, kpis, [], [], line.recorder.timeline)


def replication_kpis(scenario: "Scenario", index: int, seed: int) -> dict[str, Any]:
    """One replication's KPIs only (what a study needs; small to ship back)."""
    return run_replication(scenario, index, seed, keep_visits=False, keep_cells=False).kpis
