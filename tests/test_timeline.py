"""Station-state shares and the replication-0 timeline (what the report's Gantt and WIP views read)."""
from __future__ import annotations

import sqlite3

import pytest

from tests.helpers import exp, scenario_dict, station
from twin.scenario import parse_scenario
from twin.simulation import Simulation


def _tandem(buffer: int | None, timeline_h: float = 50.0) -> dict:
    return scenario_dict({"a": station(exp(0.5), next="b"),
                          "b": station(exp(0.9), buffer_capacity=buffer)},
                         duration_h=400.0, warmup_h=50.0, replications=2, seed=4, run={"timeline_h": timeline_h})


def test_state_shares_sum_to_one_and_busy_is_the_utilisation(tmp_path):
    s = Simulation(parse_scenario(_tandem(0))).run(tmp_path / "o").summary
    for name, shares in s["station_states"].items():
        assert set(shares) == {"busy", "blocked", "starved", "down", "off_shift"}
        assert sum(shares.values()) == pytest.approx(1.0)
        assert shares["busy"] == pytest.approx(s["utilisation"][name])
    # a zero buffer in front of the slow station blocks the fast one after service
    assert s["station_states"]["a"]["blocked"] > 0.2
    assert s["station_states"]["b"]["blocked"] == 0.0
    assert s["ci95"]["station_states"]["a"]["blocked"] > 0


def test_without_a_finite_buffer_nothing_is_blocked():
    s = Simulation(parse_scenario(_tandem(None))).run().summary
    assert s["station_states"]["a"]["blocked"] == 0.0


def test_down_and_off_shift_are_told_apart():
    data = scenario_dict({"a": station(exp(0.5), breakdowns={"mtbf_h": 20.0, "mttr_h": {"dist": "fixed", "value": 2.0}},
                                       shifts={"period_h": 24.0, "windows_h": [[0, 16]]})},
                         duration_h=2000.0, interarrival_h=exp(2.0))
    shares = Simulation(parse_scenario(data)).run().summary["station_states"]["a"]
    assert shares["off_shift"] == pytest.approx(8 / 24, abs=0.02)
    assert shares["down"] > 0.02  # breakdowns inside the shift
    assert sum(shares.values()) == pytest.approx(1.0)


def test_timeline_tables_cover_the_window_of_replication_0(tmp_path):
    Simulation(parse_scenario(_tandem(0, timeline_h=20.0))).run(tmp_path / "o")
    db = sqlite3.connect(tmp_path / "o" / "trace.sqlite")
    states = db.execute("SELECT replication, station, t_h, busy, blocked, starved, down, off_shift "
                        "FROM station_states").fetchall()
    levels = db.execute("SELECT replication, station, t_h, waiting FROM buffer_levels").fetchall()
    assert states and levels
    assert {r[0] for r in states + levels} == {0}
    assert all(50.0 <= r[2] <= 70.0 for r in states + levels)
    assert all(r[3] + r[4] + r[5] + r[6] + r[7] == 1 for r in states)  # one server per station
    assert {r[1] for r in states} == {"a", "b"}
    assert min(r[2] for r in levels) == 50.0  # a snapshot opens the window
    assert max(r[3] for r in levels if r[1] == "a") >= 1


def test_press_trace_is_the_first_cycle_inside_the_window(tmp_path):
    from tests.helpers import REPO

    data = __import__("yaml").safe_load((REPO / "scenarios" / "baseline.yaml").read_text())
    Simulation(parse_scenario(data | {"run": {"duration_h": 80.0, "warmup_h": 48.0, "seed": 3, "timeline_h": 24.0}}),
               replications=1).run(tmp_path / "o")
    db = sqlite3.connect(tmp_path / "o" / "trace.sqlite")
    runs = db.execute("SELECT station, run_id, MIN(t_s), MAX(t_s), MAX(p_mpa), MAX(phase) FROM press_traces "
                      "GROUP BY station, run_id").fetchall()
    assert {r[0] for r in runs} == {"prepress", "wip_press"}
    for station_name, run_id, t0, t1, p_max, last_phase in runs:
        assert t0 == 0.0 and t1 > 0 and last_phase == 5
    target = data["stations"]["wip_press"]["press"]["recipe"]["target_pressure_mpa"]
    assert dict((r[0], r[4]) for r in runs)["wip_press"] > 0.95 * target
