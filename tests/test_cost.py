"""Cost per good cell: the formula, the scenario section's validation, and the KPI in runs."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from twin.cost import CostModel, cost_breakdown
from twin.scenario import ScenarioError, parse_scenario
from twin.simulation import Simulation


def line(cost: dict | None = None, expect: list | None = None) -> dict:
    lot = {k: {"dist": "fixed", "value": v} for k, v in
           (("sq_um", 0.2), ("sdq", 0.05), ("pv_um", 1.5), ("waviness_um", 1.0), ("waviness_mm", 5.0))}
    data = {
        "name": "cost-line",
        "run": {"duration_h": 200.0, "warmup_h": 20.0, "replications": 2, "seed": 3, "write_trace": False},
        "source": {"interarrival_h": {"dist": "exponential", "mean": 1.0}, "first": "prep"},
        "lots": {"a": lot},
        "stations": {
            "prep": {"kind": "process", "servers": 2, "process_time_h": {"dist": "exponential", "mean": 0.8},
                     "next": "check"},
            "check": {"kind": "inspect", "process_time_h": {"dist": "fixed", "value": 0.05},
                      "fixed": {"p_accept": 0.9, "p_rework": 0.05, "p_reject": 0.05}, "on_rework": "prep"},
        },
        "expect": expect or [],
    }
    if cost is not None:
        data["cost"] = cost
    return data


COST = {"equipment_per_server_h": {"prep": 10.0, "check": 4.0}, "equipment_per_busy_h": {"prep": 2.0},
        "material_per_cell": 5.0, "scrap_per_cell": 1.5, "rework_per_cell": 0.5, "overhead_per_h": 7.0}


def test_breakdown_by_hand():
    cost = CostModel(**COST)
    kpis = {"cells_started": 100, "cells_accepted": 80, "cells_rejected": 10, "cells_reworked": 6,
            "utilisation": {"prep": 0.5, "check": 0.1}}
    parts = cost_breakdown(cost, {"prep": 2, "check": 1}, 10.0, kpis)
    assert parts == pytest.approx({
        "equipment": 10.0 * 2 * 10 + 4.0 * 1 * 10 + 2.0 * 2 * 0.5 * 10,
        "materials": 500.0, "scrap": 15.0, "rework": 3.0, "overhead": 70.0,
    })


def test_unknown_cost_field_is_rejected():
    with pytest.raises(ValidationError):
        CostModel(material_cost=1.0)
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(line({**COST, "materials_per_cell": 1.0}))
    assert any(loc == "cost.materials_per_cell" for loc, _ in exc.value.problems)


def test_cost_for_an_unknown_station_names_the_path():
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(line({"equipment_per_server_h": {"presss": 10.0}}))
    assert any(loc == "cost.equipment_per_server_h.presss" for loc, _ in exc.value.problems)


def test_negative_material_cost_is_rejected():
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(line({"material_per_cell": -1.0}))
    assert any(loc.startswith("cost.material_per_cell") for loc, _ in exc.value.problems)


def test_kpi_in_every_replication_matches_the_formula():
    sc = parse_scenario(line(COST))
    result = Simulation(sc).run()
    window = sc.run.duration_h - sc.run.warmup_h
    for kpis in result.summary["per_replication"]:
        parts = cost_breakdown(sc.cost, {"prep": 2, "check": 1}, window, kpis)
        assert kpis["cost_per_good_cell"] == pytest.approx(sum(parts.values()) / kpis["cells_accepted"])
    assert result.summary["cost_per_good_cell"] > COST["material_per_cell"]
    assert result.summary["ci95"]["cost_per_good_cell"] > 0


def test_without_a_cost_section_the_kpi_is_not_a_number():
    sc = parse_scenario(line())
    summary = Simulation(sc, replications=1).run().summary
    assert math.isnan(summary["cost_per_good_cell"])
    assert summary["cost_breakdown"] == {} and summary["currency"] is None


def test_no_good_cells_gives_nan_not_a_division_error():
    data = line(COST)
    data["stations"]["check"]["fixed"] = {"p_accept": 0.0, "p_reject": 1.0}
    summary = Simulation(parse_scenario(data), replications=1).run().summary
    assert summary["cells_accepted"] == 0 and summary["cells_rejected"] > 0
    assert math.isnan(summary["cost_per_good_cell"])
    assert all(math.isnan(v) for v in summary["cost_breakdown"].values())


def test_breakdown_per_good_cell_adds_up_to_the_kpi():
    summary = Simulation(parse_scenario(line(COST)), replications=1).run().summary
    rep = summary["per_replication"][0]
    assert sum(rep["cost_breakdown"].values()) == pytest.approx(rep["cost_per_good_cell"])
    assert set(rep["cost_breakdown"]) == {"equipment", "materials", "scrap", "rework", "overhead"}
    assert summary["currency"] == "EUR"


def test_expect_on_cost_per_good_cell():
    ok = parse_scenario(line(COST, expect=[{"kpi": "cost_per_good_cell", "max": 1e6}]))
    assert Simulation(ok, replications=1).run().passed
    too_cheap = parse_scenario(line(COST, expect=[{"kpi": "cost_per_good_cell", "max": 1.0}]))
    assert not Simulation(too_cheap, replications=1).run().passed


def test_more_servers_cost_more_per_good_cell_when_output_is_demand_limited():
    """Same random numbers, same demand: a third idle prep server only adds equipment cost."""
    two = parse_scenario(line(COST))
    data = line(COST)
    data["stations"]["prep"]["servers"] = 3
    three = parse_scenario(data)
    a = Simulation(two).run().summary
    b = Simulation(three).run().summary
    assert b["cost_per_good_cell"] > a["cost_per_good_cell"]
