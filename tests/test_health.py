"""Line health against queueing theory: an overloaded line (arrivals above the bottleneck's
capacity) is flagged, a stable one is not; a rework loop with finite buffers on both sides
jams, is diagnosed with its cycle and exits 4; MSER-5 finds a known transient; `warmup_h: auto`
resolves to it; too few or too short replications are warned about."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import build, exp, run_reps, scenario_dict, write_yaml
from tests.test_line_invariants import _rework_line, _tandem, tandem_throughput

runner = CliRunner()


def _overloaded_tandem(**kw) -> dict:
    """The tandem of the issue: exponential stations at 1.1/h and 1.2/h with 2 places between
    them do 0.9165 cells/h (the blocking chain), less than either alone; arrivals at 1/h into an
    unlimited first buffer overload it although every station alone could keep up."""
    data = _tandem(2, 1 / 1.1, 1 / 1.2, **kw)
    data["source"]["interarrival_h"] = exp(1.0)
    data["stations"]["s1"].pop("buffer_capacity")
    return data


def test_the_tandem_capacity_is_the_blocking_chain_value():
    assert tandem_throughput(2, 1.1, 1.2) == pytest.approx(0.9165, abs=1e-4)


def test_an_overloaded_line_is_flagged_by_its_wip_trend():
    """No station is overloaded alone (loads 0.91 and 0.83), so only the WIP trend can tell."""
    s, _ = run_reps(build(_overloaded_tandem(duration_h=3000, warmup_h=100, replications=3, seed=3)))
    health = s["health"]
    assert health["overload"] is None
    assert health["wip_trend_replications"] >= 2
    (warning,) = [w for w in health["warnings"] if w.startswith("WIP grows")]
    # the WIP grows at lambda - capacity = 0.0835 cells/h
    slopes = [r["health"]["wip_trend"]["slope_per_h"] for r in s["per_replication"]]
    assert np.mean(slopes) == pytest.approx(1.0 - 0.9165, rel=0.35)


def test_arrivals_above_a_stations_capacity_are_flagged_from_the_scenario():
    """M/M/1 with lambda = 1.33/h, mu = 1.25/h: load 1.07, from the traffic equations."""
    s, _ = run_reps(build(scenario_dict(duration_h=2000, warmup_h=100, replications=3, seed=3,
                                        interarrival_h=exp(0.75))))
    over = s["health"]["overload"]
    assert over["station"] == "server" and over["load"] == pytest.approx((1 / 0.75) / 1.25)
    assert s["health"]["wip_trend_replications"] == 3
    assert any(w.startswith("overloaded") for w in s["health"]["warnings"])


def test_the_traffic_equations_count_rework_visits():
    """A station visited again by 25% of its cells (geometric) sees 1 / (1 - 0.25) visits per cell."""
    from twin.health import _visit_ratios

    data = scenario_dict({
        "press": {"kind": "process", "process_time_h": exp(0.5), "next": "check"},
        "check": {"kind": "inspect", "process_time_h": exp(0.2),
                  "fixed": {"p_accept": 0.7, "p_rework": 0.25, "p_reject": 0.05}, "on_rework": "press"}})
    v = _visit_ratios(build(data))
    assert v["press"] == pytest.approx(1 / 0.75) and v["check"] == pytest.approx(1 / 0.75)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stable_line_is_not_flagged(seed):
    s, _ = run_reps(build(scenario_dict(duration_h=5000, warmup_h=200, replications=5, seed=seed)))
    assert s["health"]["overload"] is None and s["health"]["wip_trend_replications"] == 0
    assert s["health"]["warnings"] == []
    assert s["health"]["jams"] == []


def _jamming_line() -> dict:
    data = _rework_line()
    data["stations"]["inspect"]["buffer_capacity"] = 2  # the cycle the comment in _rework_line warns about
    data["run"]["replications"] = 1
    return data


def test_a_rework_loop_with_finite_buffers_jams_and_is_named():
    s, _ = run_reps(build(_jamming_line()))
    (jam,) = s["health"]["jams"]
    assert set(jam["stations"]) == {"press", "inspect"}
    assert jam["cells_held"] > 0 and jam["since_h"] < s["duration_h"]
    assert "press" in jam["message"] and "inspect" in jam["message"]


def test_the_same_loop_with_an_unlimited_buffer_does_not_jam():
    s, _ = run_reps(build(_rework_line()))
    assert s["health"]["jams"] == []


def test_a_jam_exits_4_with_the_cycle_on_the_terminal(tmp_path):
    from twin.cli import app

    path = write_yaml(tmp_path / "jam.yaml", _jamming_line())
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 4, result.output
    assert "jam" in result.output and "inspect" in result.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["health"]["jams"]


def test_mser5_finds_a_known_transient():
    from twin.health import mser

    rng = np.random.default_rng(7)
    n = 1000
    t = np.arange(n)
    y = 10.0 * np.exp(-t / 40.0) + rng.normal(0.0, 1.0, n)  # decays within ~150 observations
    d = mser(y)
    assert 50 <= d <= 300
    assert mser(rng.normal(0.0, 1.0, n)) <= 100  # a stationary series needs (almost) none


def test_warmup_auto_resolves_by_mser_on_pilot_replications():
    from twin.simulation import Simulation

    data = scenario_dict(duration_h=1000, replications=3, seed=4)
    data["run"]["warmup_h"] = "auto"
    sc = build(data)
    assert sc.run.warmup_auto and sc.run.warmup_h == 0.0
    result = Simulation(sc).run()
    detected = result.summary["health"]["warmup_detected"]["warmup_h"]
    assert result.summary["warmup_h"] == detected <= 500
    assert result.summary["sim_time_h"] == 1000 - detected


@pytest.mark.parametrize("seed", [1, 2, 4, 5])
def test_short_runs_from_empty_are_warned_about(seed):
    """M/M/1 at rho 0.8, 500 h x 5 replications, warm-up 0: the issue measured 87% coverage of
    the true mean WIP (4) by the 95% intervals; the start-up transient is flagged."""
    s, _ = run_reps(build(scenario_dict(duration_h=500, replications=5, seed=seed)))
    assert any("start-up transient" in w for w in s["health"]["warnings"]), s["health"]["warnings"]


def test_two_replications_are_warned_about():
    s, _ = run_reps(build(scenario_dict(duration_h=2000, warmup_h=200, replications=2, seed=1)))
    assert any("2 replication(s)" in w for w in s["health"]["warnings"])
