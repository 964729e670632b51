"""Optimisation against independent truths: an M/M/c staffing problem whose constrained optimum is
the Erlang-C answer; constraints judged on the 95% bound (recomputed here with scipy) or as a chance
constraint; common random numbers across trials; a Pareto front that is the non-dominated set of
the trials; a study that resumes from its SQLite storage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from tests.helpers import exp, scenario_dict, station
from tests.test_queueing import mmc
from twin.scenario import ScenarioError
from twin.studies.optimize import Constraint, Objective, optimize, parse_constraint
from twin.studies.space import Estimate, parse_param

LAM, MEAN_SERVICE = 1.0, 2.5  # offered load 2.5: at least 3 servers for a stable queue
WIP_LIMIT = 4.5  # between L(3) = 6.0 and L(4) = 3.0 cells (Erlang C)


def staffing(duration_h: float = 3000.0, replications: int = 3) -> dict:
    """One M/M/c station; every server costs per hour, so the cheapest feasible c wins."""
    return scenario_dict({"server": station(exp(MEAN_SERVICE), servers=3)}, interarrival_h=exp(1 / LAM),
                         duration_h=duration_h, warmup_h=200.0, replications=replications, seed=11,
                         run={"write_trace": False},
                         cost={"equipment_per_server_h": {"server": 10.0}, "material_per_cell": 1.0})


def test_erlang_c_optimum_of_a_staffing_problem(tmp_path):
    """min cost per good cell s.t. mean WIP <= 4.5 on the 95% bound: theory says c = 4."""
    assert mmc(LAM, MEAN_SERVICE, 3)["L"] > WIP_LIMIT > mmc(LAM, MEAN_SERVICE, 4)["L"]
    result = optimize(staffing(), [parse_param("stations.server.servers=3,4,5,6")],
                      [Objective("cost_per_good_cell", "minimize")], [parse_constraint(f"mean_wip<={WIP_LIMIT}")],
                      budget=8, out_dir=tmp_path / "opt")
    trials = result.trials
    assert result.best["stations.server.servers"].tolist() == [4]
    by_c = trials.groupby("stations.server.servers").first()
    for c in by_c.index:
        if c >= 3:  # every stable design's mean WIP within a loose band of Erlang C (3 x 2800 h)
            assert by_c.loc[c, "mean_wip.mean"] == pytest.approx(mmc(LAM, MEAN_SERVICE, c)["L"], rel=0.25)
    assert not by_c.loc[3, "feasible"] and by_c.loc[4, "feasible"]
    # a point proposed twice is not run twice: with common random numbers it would repeat exactly
    assert result.runs == 3 * trials["stations.server.servers"].nunique() <= 3 * len(trials)
    for _, again in trials[trials["runs"] == 0].iterrows():
        assert again["cost_per_good_cell.mean"] == by_c.loc[again["stations.server.servers"], "cost_per_good_cell.mean"]
    # common random numbers: every trial saw the same arrivals, whatever its staffing
    assert trials["cells_started.mean"].nunique() == 1


def test_a_constraint_is_judged_on_the_95_percent_bound_not_the_mean():
    values = [0.962, 0.948, 0.941]  # mean 0.9503 passes ">= 0.95"; the evidence does not
    est = Estimate(values)
    c = parse_constraint("final_yield>=0.95")
    low = np.mean(values) - sps.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert est.mean >= 0.95
    assert c.evidence(est) == pytest.approx(low)
    assert c.violation(est) > 0  # infeasible
    upper = parse_constraint("mean_wip<=10")
    assert upper.violation(Estimate([9.0, 9.1, 9.2])) < 0 < upper.violation(Estimate([9.5, 9.9, 9.7]))
    chance = parse_constraint("final_yield>=0.95@0.6")
    assert chance == Constraint("final_yield", ">=", 0.95, 0.6)
    assert chance.evidence(est) == pytest.approx(1 / 3) and chance.violation(est) > 0
    assert parse_constraint("final_yield >= 0.9 @ 0.3").violation(est) < 0
    assert c.violation(Estimate([0.99])) == math.inf  # one replication cannot give a bound


@pytest.mark.parametrize("text", ["final_yield>0.95", "final_yield>=", ">=0.9", "final_yield>=0.9@1.5"])
def test_bad_constraints_are_refused(text):
    with pytest.raises(ScenarioError):
        parse_constraint(text)


@pytest.mark.parametrize("text", ["stations.a.servers=3:1", "x.y=0:10:log", "x.y=1.5:4:int", "x.y=", "x.y=5"])
def test_bad_params_are_refused(text):
    with pytest.raises(ScenarioError):
        parse_param(text)


def test_param_ranges_map_the_unit_interval():
    assert parse_param("a.b=60:1800:int").from_unit(0.5) == 930
    log = parse_param("a.b=0.01:1:log")
    assert log.from_unit(0.5) == pytest.approx(0.1) and log.kind == "log"
    choice = parse_param("a.spec=x.yaml,y.yaml,[1, 2]")
    assert choice.choices == ("x.yaml", "y.yaml", [1, 2])


def test_invalid_points_fail_their_trial_with_the_field_and_the_study_goes_on():
    result = optimize(staffing(duration_h=300.0, replications=2), [parse_param("stations.server.servers=0,3")],
                      [Objective("throughput_per_h", "maximize")], budget=4)
    failed = result.trials[result.trials["state"] == "FAIL"]
    assert len(failed) and all("servers" in e for e in failed["error"])
    assert (result.trials["state"] == "COMPLETE").any()


def test_two_objectives_give_the_non_dominated_front():
    result = optimize(staffing(duration_h=600.0, replications=2), [parse_param("stations.server.servers=3:8:int")],
                      [Objective("cost_per_good_cell", "minimize"), Objective("mean_cycle_time_h", "minimize")],
                      budget=8)
    done = result.trials[result.trials["feasible"]]
    pts = done[["cost_per_good_cell.mean", "mean_cycle_time_h.mean"]].to_numpy()
    dominated = [bool(np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))) for p in pts]
    front = set(done["trial"][[not d for d in dominated]])
    assert set(result.best["trial"]) == front and len(front) >= 2


def test_a_study_resumes_from_its_storage_and_refuses_to_mix(tmp_path):
    tmp_path = tmp_path / "study"
    data, params = staffing(duration_h=300.0, replications=2), [parse_param("stations.server.servers=3:6:int")]
    objective = [Objective("cost_per_good_cell", "minimize")]
    first = optimize(data, params, objective, budget=3, out_dir=tmp_path)
    with pytest.raises(FileExistsError):
        optimize(data, params, objective, budget=5, out_dir=tmp_path)
    again = optimize(data, params, objective, budget=5, out_dir=tmp_path, resume=True)
    assert len(again.trials) == 5
    head = again.trials.head(3).reset_index(drop=True)
    assert head["stations.server.servers"].tolist() == first.trials["stations.server.servers"].tolist()
    assert head["cost_per_good_cell.mean"].tolist() == first.trials["cost_per_good_cell.mean"].tolist()
    with pytest.raises(ScenarioError, match="started with"):
        optimize(data, params, [Objective("mean_wip", "minimize")], budget=6, out_dir=tmp_path, resume=True)
    assert {p.name for p in tmp_path.iterdir()} >= {"study.sqlite", "trials.parquet", "trials.csv", "optimize.json"}
    replaced = optimize(data, params, objective, budget=2, out_dir=tmp_path, overwrite=True)
    assert len(replaced.trials) == 2


def test_a_local_pool_gives_the_same_study_as_one_process(tmp_path):
    """Trials on two worker processes see the same random numbers: the same table, number for number."""
    from tests.helpers import write_yaml
    from twin.studies.api import optimize as api_optimize

    path = write_yaml(tmp_path / "staffing.yaml", staffing(duration_h=300.0, replications=2))
    args = (path, ["stations.server.servers=3:6:int"], ["cost_per_good_cell"], ["mean_wip<=4.5"])
    one = api_optimize(*args, budget=4, workers=1)
    two = api_optimize(*args, budget=4, workers=2)
    cols = ["stations.server.servers", "cost_per_good_cell.mean", "mean_wip.mean", "feasible"]
    assert one.trials[cols].equals(two.trials[cols])


def test_ctrl_c_keeps_the_finished_trials_and_resume_completes_the_study(tmp_path):
    """The first Ctrl-C (twin.interrupt.request, what its handler does) stops after the trial under
    way: the told trials stay in the storage and the tables, and --resume runs only the rest."""
    from twin.interrupt import Interrupted, graceful, request

    args = ([parse_param("stations.server.servers=3,4,5,6")], [Objective("cost_per_good_cell", "minimize")],
            [parse_constraint(f"mean_wip<={WIP_LIMIT}")])
    seen: list[int] = []

    def on_trial(t: dict) -> None:
        seen.append(t["trial"])
        if len(seen) == 2:
            request()

    with pytest.raises(Interrupted) as stopped, graceful():
        optimize(staffing(duration_h=400.0, replications=2), *args, budget=6, out_dir=tmp_path / "opt",
                 on_trial=on_trial)
    assert "2 finished trial(s)" in str(stopped.value) and "--resume" in str(stopped.value)
    assert (tmp_path / "opt" / "study.sqlite").exists() and (tmp_path / "opt" / "trials.parquet").exists()
    resumed = optimize(staffing(duration_h=400.0, replications=2), *args, budget=6, out_dir=tmp_path / "opt",
                       resume=True)
    assert len(resumed.trials) == 6
