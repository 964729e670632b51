"""Invalid scenarios are refused with a clear error naming the field path in the YAML file,
and exit code 2, from both `twin validate` and `twin run`; `twin validate` reports every
problem; `twin schema` prints a valid JSON Schema."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.helpers import LOT, SCENARIOS, deep_merge, exp, scenario_dict, station, write_yaml

runner = CliRunner()


def cli(*args):
    from twin.cli import app

    return runner.invoke(app, [str(a) for a in args])


def _inspect_line(fixed_q):
    return scenario_dict({
        "press": station(exp(0.5), next="check"),
        "check": {"kind": "inspect", "process_time_h": exp(0.2), "fixed": fixed_q, "on_rework": "press"}})


WIP_PRESS = {
    "kind": "batch", "batch": {"capacity_cells": 4}, "next": "sink",
    "press": {"spec": "wip", "recipe": {"target_pressure_mpa": 900, "ramp_rate_mpa_s": 5, "hold_s": 1800,
                                        "temperature_c": 80, "decompression_rate_mpa_s": 5}},
}

# (case, scenario data, [(field path, words the message must contain)])
BAD = [
    ("unknown_field", deep_merge(scenario_dict(), {"stations": {"server": {"colour": "red"}}}),
     [("stations.server.colour", "extra")]),
    ("unknown_top_level_field", scenario_dict(stations_typo={}), [("stations_typo", "extra")]),
    ("negative_time", deep_merge(scenario_dict(), {"stations": {"server": {"process_time_h": exp(-0.8)}}}),
     [("stations.server.process_time_h.mean", "greater than 0")]),
    ("negative_duration", scenario_dict(duration_h=-5), [("run.duration_h", "greater than 0")]),
    ("route_probabilities_not_one",
     deep_merge(scenario_dict(), {"stations": {"server": {"next": [{"to": "sink", "p": 0.5}, {"to": "scrap", "p": 0.3}]}}}),
     [("stations.server.next", "sum to 1")]),
    ("inspect_probabilities_not_one", _inspect_line({"p_accept": 0.7, "p_rework": 0.2}),
     [("stations.check.fixed", "must be 1")]),
    ("route_to_unknown_station", deep_merge(scenario_dict(), {"stations": {"server": {"next": "nowhere"}}}),
     [("stations.server.next", "nowhere")]),
    ("branch_to_unknown_station",
     deep_merge(scenario_dict(), {"stations": {"server": {"next": [{"to": "sink", "p": 0.5}, {"to": "oven", "p": 0.5}]}}}),
     [("stations.server.next.1.to", "oven")]),
    ("source_to_unknown_station", scenario_dict(source={"first": "nowhere"}), [("source.first", "nowhere")]),
    ("press_recipe_above_max_pressure",
     scenario_dict({"server": station(exp(0.5), next="press"), "press": WIP_PRESS}),
     [("stations.press.press.recipe", "900")]),
    ("missing_field", deep_merge(scenario_dict(), {"stations": {"server": {"next": None}}}),
     [("stations.server.next", "required")]),
    ("unknown_station_kind", deep_merge(scenario_dict(), {"stations": {"server": {"kind": "oven"}}}),
     [("stations.server", "oven")]),
    ("unknown_kpi", scenario_dict(expect=[{"kpi": "happiness", "min": 1}]), [("expect.0.kpi", "happiness")]),
]


def _assert_names(output: str, expected):
    for path, words in expected:
        lines = [ln for ln in output.splitlines() if ln.strip().startswith(path + ":")]
        assert lines, f"no error line for {path!r} in:\n{output}"
        assert any(words.lower() in ln.lower() for ln in lines), f"{path}: {words!r} not in {lines}"


@pytest.mark.parametrize("case,data,expected", BAD, ids=[b[0] for b in BAD])
def test_validate_names_the_field_and_exits_2(tmp_path, case, data, expected):
    path = write_yaml(tmp_path / f"{case}.yaml", data)
    res = cli("validate", path)
    assert res.exit_code == 2, res.output
    assert "invalid scenario" in res.output
    _assert_names(res.output, expected)


RUN_BAD = [b for b in BAD if b[0] in ("unknown_field", "negative_time", "route_probabilities_not_one",
                                      "route_to_unknown_station", "press_recipe_above_max_pressure")]


@pytest.mark.parametrize("case,data,expected", RUN_BAD, ids=[b[0] for b in RUN_BAD])
def test_run_refuses_invalid_scenarios_with_exit_2(tmp_path, case, data, expected):
    path = write_yaml(tmp_path / f"{case}.yaml", data)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.exit_code == 2, res.output
    _assert_names(res.output, expected)
    assert not (out / "summary.json").exists()


def test_malformed_yaml(tmp_path):
    path = write_yaml(tmp_path / "broken.yaml", "name: broken\nstations: {server: [unclosed\n  kind: process\n")
    for cmd in ("validate", "run"):
        res = cli(cmd, path, *(["--out", tmp_path / "out"] if cmd == "run" else []))
        assert res.exit_code == 2, res.output
        assert "invalid YAML" in res.output
        assert "line" in res.output  # the YAML error says where


def test_not_a_mapping(tmp_path):
    res = cli("validate", write_yaml(tmp_path / "list.yaml", "- just\n- a list\n"))
    assert res.exit_code == 2 and "mapping" in res.output


@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_missing_file(tmp_path, cmd):
    res = cli(cmd, tmp_path / "nope.yaml", *(["--out", tmp_path / "out"] if cmd == "run" else []))
    assert res.exit_code == 2, res.output
    assert "nope.yaml" in res.output and "cannot read" in res.output


def test_validate_reports_every_error(tmp_path):
    """Several problems in one file are all reported, each with its path: field-level ones
    together, and cross-reference ones together."""
    field_errors = deep_merge(scenario_dict(), {
        "run": {"duration_h": -1},
        "stations": {"server": {"colour": "red", "process_time_h": exp(-2.0)}}})
    res = cli("validate", write_yaml(tmp_path / "fields.yaml", field_errors))
    assert res.exit_code == 2
    _assert_names(res.output, [("run.duration_h", "greater than 0"), ("stations.server.colour", "extra"),
                               ("stations.server.process_time_h.mean", "greater than 0")])

    reference_errors = scenario_dict(
        {"server": station(exp(0.5), next="nowhere"), "press": WIP_PRESS,
         "split": station(exp(0.5), next=[{"to": "sink", "p": 0.5}, {"to": "scrap", "p": 0.2}])},
        expect=[{"kpi": "utilisation.ghost", "max": 1}])
    res = cli("validate", write_yaml(tmp_path / "refs.yaml", reference_errors))
    assert res.exit_code == 2
    _assert_names(res.output, [("stations.server.next", "nowhere"), ("stations.press.press.recipe", "900"),
                               ("stations.split.next", "sum to 1"), ("expect.0.kpi", "ghost")])


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_shipped_scenarios_validate(name):
    res = cli("validate", SCENARIOS / name)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("ok")


def test_validate_ok_on_the_test_builder(tmp_path):
    res = cli("validate", write_yaml(tmp_path / "ok.yaml", scenario_dict()))
    assert res.exit_code == 0, res.output


def test_schema_is_valid_json_schema():
    res = cli("schema")
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert schema["type"] == "object"
    assert {"run", "source", "lots", "stations"} <= set(schema["required"])
    assert schema.get("additionalProperties") is False  # unknown fields are errors
    defs = schema["$defs"]
    for kind in ("ProcessConfig", "MetrologyConfig", "GloveboxConfig", "BatchConfig", "InspectConfig"):
        assert kind in defs
    try:
        import jsonschema
    except ImportError:  # jsonschema is not a dependency: check the structure by hand
        def refs(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "$ref":
                        yield v
                    else:
                        yield from refs(v)
            elif isinstance(node, list):
                for v in node:
                    yield from refs(v)

        for ref in refs(schema):
            assert ref.startswith("#/$defs/") and ref.split("/")[-1] in defs, ref
    else:
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(scenario_dict(), schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(deep_merge(scenario_dict(), {"stations": {"server": {"colour": 1}}}), schema)


def test_lot_weights_and_lots_required(tmp_path):
    res = cli("validate", write_yaml(tmp_path / "nolots.yaml", scenario_dict(lots=None)))
    assert res.exit_code == 2
    _assert_names(res.output, [("lots", "required")])
    bad_lot = scenario_dict(lots={"any": {**LOT, "weight": 0}})
    res = cli("validate", write_yaml(tmp_path / "lot.yaml", bad_lot))
    assert res.exit_code == 2
    _assert_names(res.output, [("lots.any.weight", "greater than 0")])
