"""Streaming records (twin.streaming): the rows streamed out of a running replication are
exactly the rows the end-of-replication path returns, in the same order, whatever the batch
size; a streamed run writes the same files as an unstreamed one; and memory grows with the
batch and the cells in the line, not with the cells of the run (tracemalloc, no timing)."""

from __future__ import annotations

import sqlite3
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import SCENARIOS, exp, scenario_dict, station
from twin.replication import quality_keys, run_replication, stream_replication
from twin.scenario import load_scenario_data, parse_scenario
from twin.simulation import Simulation


class ListSink:
    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.visits: list[tuple] = []
        self.calls = 0

    def add_rows(self, index: int, cell_rows: list[tuple], visits: list[tuple]) -> None:
        self.rows.extend(cell_rows)
        self.visits.extend((index, *v) for v in visits)
        self.calls += 1


class NullSink:
    def add_rows(self, index: int, cell_rows: list[tuple], visits: list[tuple]) -> None:
        pass


@pytest.fixture(scope="module")
def physics():
    """The baseline (physics mode) over 150 h with frequent glovebox leaks, so quarantined
    cells (whose quality a later assessment of their batch fills in) are in the stream."""
    data = load_scenario_data(SCENARIOS / "baseline.yaml")
    data["run"].update(duration_h=150.0, warmup_h=10.0, replications=2)
    data["resources"]["glovebox"]["leak_mtbf_h"] = 15.0
    return parse_scenario(data, "baseline-short", base_dir=SCENARIOS)


@pytest.mark.parametrize("batch", [1, 7, 100_000])
def test_streamed_rows_equal_the_end_of_run_rows(physics, batch):
    ref = run_replication(physics, 1, seed=5)
    sink = ListSink()
    rep = stream_replication(physics, 1, 5, sink, batch=batch)
    assert rep.kpis == ref.kpis
    assert sink.rows == ref.cell_rows
    assert sink.visits == [(1, *v) for v in ref.visits]
    assert any(r[8] for r in sink.rows), "no quarantined cell: the test lost its hard case"
    assert any(r[5] == "in_process" for r in sink.rows)
    if batch == 7:
        assert sink.calls > len(ref.cell_rows) // 7 // 2  # written as the run went, not at the end


def test_streamed_run_writes_the_files_of_an_unstreamed_run(physics, tmp_path: Path):
    import pyarrow.parquet as pq

    streamed = Simulation(physics, seed=9).run(tmp_path / "streamed")
    with ThreadPoolExecutor(1) as pool:  # an executor takes the unstreamed path (rows returned at the end)
        whole = Simulation(physics, seed=9, executor=pool).run(tmp_path / "whole")
    assert streamed.summary == whole.summary
    assert pq.read_table(tmp_path / "streamed" / "cells.parquet").equals(
        pq.read_table(tmp_path / "whole" / "cells.parquet"))

    def dump(folder: str) -> dict:
        db = sqlite3.connect(tmp_path / folder / "trace.sqlite")
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
        db.close()
        return out

    assert dump("streamed") == dump("whole")


def _peak_bytes(hours: float, batch: int) -> int:
    sc = parse_scenario(scenario_dict({"a": station(exp(0.5), next="b"), "b": station(exp(0.6))},
                                      interarrival_h=exp(1.0), duration_h=hours,
                                      run={"timeline_h": 0}))
    tracemalloc.start()
    try:
        stream_replication(sc, 0, 1, NullSink(), batch=batch)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_grows_with_the_batch_not_with_the_cells():
    small, large = _peak_bytes(2_000, 200), _peak_bytes(8_000, 200)  # ~2,000 vs ~8,000 cells
    # unstreamed, 6,000 more cells would keep >= 6,000 cell objects and rows (several MB)
    assert large - small < 400_000, (small, large)


def test_quality_keys_are_the_streamed_columns(physics):
    sink = ListSink()
    stream_replication(physics, 0, 1, sink, batch=50)
    from twin.store import cell_columns

    assert {len(r) for r in sink.rows} == {len(cell_columns(quality_keys(physics)))}
