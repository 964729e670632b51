"""`twin hil` refuses to start clearly: equipment unreachable -> exit 3; no hardware section
or a station bound to the wrong kind of device -> exit 2 naming the field."""
from __future__ import annotations

import copy

import pytest
import yaml
from typer.testing import CliRunner

from tests.hil.hil_helpers import scenario_data
from tests.hil.proxy import free_port
from twin.cli import app

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()


def _plant_file(tmp, port: int) -> str:
    """A plant file whose WIP-1 nobody serves (and a glovebox, never contacted)."""
    data = {"name": "nobody-home", "time_scale": 720.0, "security": {"demo": True, "allow_insecure": True},
            "devices": [{"name": "WIP-1", "kind": "wip", "port": port},
                        {"name": "Glovebox-1", "kind": "glovebox", "port": free_port()},
                        {"name": "UniPress-1", "kind": "automatic_uniaxial", "port": free_port()}]}
    path = tmp / "plant.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _scenario_file(tmp, data: dict) -> str:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _hil(tmp, scenario: dict, port: int):
    result = runner.invoke(app, ["hil", _scenario_file(tmp, scenario), "--plant", _plant_file(tmp, port),
                                 "--out", str(tmp / "out")])
    return result, " ".join(result.output.split())


def test_unreachable_equipment_exits_3(tmp_path, operator_env):
    port = free_port()  # nobody listens here
    result, text = _hil(tmp_path, scenario_data(give_up_s=1.0), port)
    assert result.exit_code == 3, result.output
    assert "not reachable" in text and "WIP-1" in text and f"127.0.0.1:{port}" in text
    assert not (tmp_path / "out" / "summary.json").exists()


def test_scenario_without_hardware_section_exits_2(tmp_path, operator_env):
    data = scenario_data()
    del data["hardware"]
    result, text = _hil(tmp_path, data, free_port())
    assert result.exit_code == 2, result.output
    assert "hardware" in text and "invalid hardware setup" in text


def test_station_bound_to_wrong_kind_of_device_exits_2(tmp_path, operator_env):
    data = copy.deepcopy(scenario_data())
    data["hardware"]["bindings"]["press"]["device"] = "Glovebox-1"
    result, text = _hil(tmp_path, data, free_port())
    assert result.exit_code == 2, result.output
    assert "hardware.bindings.press.device" in text and "Glovebox-1" in text and "needs a press" in text


def test_batch_larger_than_the_bound_press_exits_2_naming_station_and_mismatch(tmp_path, operator_env):
    """A 20-cell WIP station bound to the 1-cell, 750 MPa uniaxial press: refused at setup, before any
    cycle (the spec the station is checked against is the device's own, from the plant file)."""
    data = copy.deepcopy(scenario_data())
    data["stations"]["press"]["batch"] = {"capacity_cells": 20, "min_cells": 1, "timeout_h": 1.0}
    data["stations"]["press"]["press"]["spec"] = "wip"
    data["hardware"]["bindings"]["press"]["device"] = "UniPress-1"
    result, text = _hil(tmp_path, data, free_port())
    assert result.exit_code == 2, result.output
    assert "hardware.bindings.press.device" in text and "UniPress-1" in text
    assert "20 cells" in text and "takes 1" in text
    assert not (tmp_path / "out").exists()


def test_recipe_beyond_the_bound_device_exits_2(tmp_path, operator_env):
    data = copy.deepcopy(scenario_data())
    data["hardware"]["bindings"]["press"]["device"] = "UniPress-1"  # unheated: 15-40 C
    data["stations"]["press"]["batch"] = {"capacity_cells": 1}
    data["stations"]["press"]["press"]["recipe"]["temperature_c"] = 200.0
    data["stations"]["press"]["press"]["spec"] = "heated_uniaxial"  # the scenario's own press allows it
    result, text = _hil(tmp_path, data, free_port())
    assert result.exit_code == 2, result.output
    assert "hardware.bindings.press.device" in text and "temperature_c" in text


def test_binding_of_a_station_without_equipment_exits_2(tmp_path, operator_env):
    data = copy.deepcopy(scenario_data())
    data["hardware"]["bindings"]["inspection"] = {"device": "WIP-1"}
    result, text = _hil(tmp_path, data, free_port())
    assert result.exit_code == 2, result.output
    assert "hardware.bindings.inspection" in text
