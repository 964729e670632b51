"""Every bad input is exit 2 naming where it is: YAML read with limits (alias bombs, nesting),
every referenced file checked at validation with the field that references it, runs too big to
finish refused unless opted in, and an implausible measurement rejects the cell instead of
crashing the run."""

from __future__ import annotations

import copy
import time

import pytest
import yaml
from typer.testing import CliRunner

from tests.fuzz import ALIAS_BOMB, write_bad_files
from tests.helpers import SCENARIOS, build, exp, fixed, scenario_dict, station, write_yaml
from tests.test_line_invariants import _tandem

runner = CliRunner()


def cli(*args):
    from twin.cli import app

    return runner.invoke(app, [str(a) for a in args])


def problems(result) -> list[tuple[str, str]]:
    """(field, message) pairs of `twin validate --json`."""
    import json

    data = json.loads(result.output)
    return [(p["field"], p["message"]) for p in data.get("problems", [])]


def test_alias_bomb_is_refused_without_expanding(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(scenario_dict()) + ALIAS_BOMB + "description: *i\n")
    start = time.process_time()
    result = cli("validate", path, "--json")
    assert result.exit_code == 2
    assert "aliases" in problems(result)[0][1]
    assert time.process_time() - start < 5.0  # 9^9 nodes were never built


@pytest.mark.parametrize("text", ["description: " + "[" * 50_000 + "]" * 50_000, "a:\n" + "".join(
    "  " * i + f"k{i}:\n" for i in range(1, 60)) + "  " * 60 + "x: 1\n"])
def test_deep_nesting_is_refused(tmp_path, text):
    path = write_yaml(tmp_path / "deep.yaml", text)
    result = cli("validate", path, "--json")
    assert result.exit_code == 2
    assert "nest" in problems(result)[0][1]  # ours (40 levels) or libyaml's own limit (1000)


def test_safe_yaml_counts_aliases_and_keeps_plain_files_identical():
    from plant.spec_files import YamlLimitError, safe_yaml

    for scenario in SCENARIOS.glob("*.yaml"):
        text = scenario.read_text()
        assert safe_yaml(text) == yaml.safe_load(text)
    with pytest.raises(YamlLimitError):
        safe_yaml(ALIAS_BOMB)
    assert safe_yaml("a: &a [1, 2]\nb: *a\n") == {"a": [1, 2], "b": [1, 2]}


PRESSED = {
    "prep": station(exp(0.5), next="press"),
    "press": {"kind": "batch", "batch": {"capacity_cells": 4}, "next": "sink",
              "press": {"spec": "SPEC", "recipe": {"target_pressure_mpa": 300, "ramp_rate_mpa_s": 5, "hold_s": 60,
                                                   "temperature_c": 25, "decompression_rate_mpa_s": 5}}},
}


@pytest.mark.parametrize("name,words", [
    ("missing.yaml", "not found"), ("folder.yaml", "not a file"), ("empty.yaml", "empty"),
    ("binary.yaml", "UTF-8"), ("bomb.yaml", "aliases"), ("deep.yaml", "nested"), ("list.yaml", "mapping"),
    ("badfield.yaml", ""), ("infield.yaml", "")])
def test_a_bad_referenced_file_is_named_by_the_field_that_references_it(tmp_path, name, words):
    write_bad_files(tmp_path)
    data = scenario_dict(copy.deepcopy(PRESSED))
    data["stations"]["press"]["press"]["spec"] = f"bad/{name}"
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2, result.output
    (field, message), *_ = problems(result)
    assert field == "stations.press.press.spec"
    assert words in message and name in message


def test_a_bad_lot_library_is_named_by_the_ref(tmp_path):
    write_bad_files(tmp_path)
    data = scenario_dict()
    data["lots"] = {"any": {"ref": "bad/infield.yaml#cu_shiny"}}
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2
    assert problems(result)[0][0].startswith("lots.any")


@pytest.mark.parametrize("over,field", [
    ({"run": {"duration_h": 1e9, "warmup_h": 0, "replications": 1, "seed": 1}}, "run.duration_h"),
    ({"run": {"duration_h": 1000, "warmup_h": 0, "replications": 10**9, "seed": 1}}, "run.replications"),
    ({"source": {"interarrival_h": exp(1e-300), "first": "server"}}, "source.interarrival_h"),
    ({"stations": {"server": station(exp(0.8), servers=10**9)}}, "stations.server.servers"),
    ({"run": {"duration_h": 1000, "warmup_h": 0, "replications": 1, "seed": 2**63}}, "run.seed"),
])
def test_runs_that_cannot_finish_are_refused_by_field(tmp_path, over, field):
    data = {**scenario_dict(), **over}
    start = time.process_time()
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2, result.output
    assert field in [f for f, _ in problems(result)], result.output
    assert time.process_time() - start < 10.0


def test_allow_long_run_opts_in():
    from twin.scenario import ScenarioError

    data = scenario_dict(duration_h=1e9)
    with pytest.raises(ScenarioError):
        build(data)
    data["run"]["allow_long_run"] = True
    assert build(data).run.duration_h == 1e9


def test_every_shipped_and_tested_long_scenario_is_within_the_run_size_bound():
    """The bound refuses only what takes hours: the longest runs of the suite pass it."""
    from twin.run_size import MAX_EVENTS, estimate
    from twin.scenario import load_scenario

    for path in SCENARIOS.glob("*.yaml"):
        assert estimate(load_scenario(path))["events"] < MAX_EVENTS / 10, path
    longest = [
        _tandem(2, 1.0, 0.8, duration_h=8000, warmup_h=100, replications=5, seed=17),
        scenario_dict({"m": station(fixed(0.5), buffer_capacity=1)}, interarrival_h=fixed(0.001),
                      duration_h=5000, warmup_h=50, replications=5),
        scenario_dict(duration_h=20000, warmup_h=500, replications=10),
    ]
    for data in longest:
        assert estimate(build(data))["events"] < MAX_EVENTS / 2


@pytest.mark.parametrize("field", ["duration_h", "warmup_h"])
def test_inf_and_nan_are_refused_in_run_control(tmp_path, field):
    data = scenario_dict(duration_h=100, warmup_h=1)
    data["run"][field] = float("inf")
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2
    assert f"run.{field}" in [f for f, _ in problems(result)]


def test_inf_is_refused_in_the_disposition_policy_and_the_cost_model(tmp_path):
    data = scenario_dict()
    data["quality"] = {"disposition": {"max_r_int_ohm_cm2": float("inf")}}
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2
    assert problems(result)[0][0] == "quality.disposition.max_r_int_ohm_cm2"


def test_an_implausible_measurement_rejects_the_cell_instead_of_crashing(tmp_path):
    """A lot whose PV sits below its Sq: every cell is measured, pressed and rejected as an
    implausible measurement; the run finishes (exit 0 or 1) and says why."""
    import pyarrow.parquet as pq

    path = SCENARIOS / "whatif_collector_lot.yaml"
    data = yaml.safe_load(path.read_text())
    data["run"].update(duration_h=12, warmup_h=0, replications=1)
    for lot in data["lots"].values():
        lot.pop("ref", None)
        lot.update(sq_um=fixed(0.5), sdq=fixed(0.05), pv_um=fixed(0.2), waviness_um=fixed(1.0), waviness_mm=fixed(5.0))
    (tmp_path / "presses").symlink_to(SCENARIOS / "presses")
    out = tmp_path / "out"
    result = cli("run", write_yaml(tmp_path / "s.yaml", data), "--out", out)
    assert result.exit_code in (0, 1), result.output
    cells = pq.read_table(out / "cells.parquet").to_pylist()
    judged = [c for c in cells if c["outcome"] == "rejected" and c["reason"] == "implausible_measurement"]
    assert judged and all(c["outcome"] != "accepted" for c in cells)


@pytest.mark.parametrize("mean", [1e-300, 1e300])
def test_a_lognormal_that_would_overflow_is_refused_by_field(tmp_path, mean):
    """The fuzz found these crashing the run (OverflowError in the draw) after validation passed."""
    data = scenario_dict()
    data["lots"]["any"]["pv_um"] = {"dist": "lognormal", "mean": mean, "sd": 0.4}
    result = cli("validate", write_yaml(tmp_path / "s.yaml", data), "--json")
    assert result.exit_code == 2
    assert problems(result)[0][0].startswith("lots.any.pv_um")
