"""`twin plant probe` against the node-opcua press: a conforming device passes every check
(dry run included), deliberately broken devices fail on the rule they break, and bad input or
a refused login exits 2."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from typer.testing import CliRunner

from tests.interop.pressjs import JsPress, free_port, js_press
from twin.cli import app

pytestmark = pytest.mark.timeout(900)

DEVICES = [{"name": "JS-Good", "capacity_cells": 8},
           {"name": "JS-NoUnits", "capacity_cells": 8, "broken": ["no_units"]},
           {"name": "JS-EarlyResult", "capacity_cells": 8, "broken": ["early_result"]},
           {"name": "JS-NoStart", "capacity_cells": 8, "broken": ["no_start_program"]},
           {"name": "JS-BaseObject", "capacity_cells": 8, "broken": ["base_object_device"]}]


@pytest.fixture(scope="module")
def press(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsPress]:
    with js_press(tmp_path_factory.mktemp("pressjs-probe"), devices=DEVICES, time_scale=200.0) as p:
        yield p


@pytest.fixture(scope="module")
def creds(press: JsPress, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("creds") / "operator.yaml"
    path.write_text(yaml.safe_dump({"username": press.operator[0], "password": press.operator[1]}), encoding="utf-8")
    return path


def probe(press: JsPress, *args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(app, ["plant", "probe", press.endpoint, "--client-cert-dir",
                                   str(press.client_cert[0].parent), "--json", *args])
    try:
        return res.exit_code, json.loads(res.stdout)
    except json.JSONDecodeError:
        return res.exit_code, {"output": res.output, "exception": repr(res.exception)}


def failing(report: dict, device: str) -> set[str]:
    return {c["rule"] for c in report["checks"] if c["verdict"] == "fail" and c["device"] in (device, "")}


def test_a_conforming_press_passes_every_check_with_a_dry_run(press: JsPress, creds: Path) -> None:
    code, report = probe(press, "--device", "JS-Good", "--credentials", str(creds), "--dry-run")
    assert code == 0, [c for c in report.get("checks", []) if c["verdict"] == "fail"] or report
    rules = {c["rule"] for c in report["checks"] if c["verdict"] == "pass"}
    assert {"S1", "S2", "N1", "4.1", "4.2", "F1", "F2", "F4", "4.4", "5.1", "P1", "P2", "P5", "R1", "R3", "7"} <= rules
    assert not [c for c in report["checks"] if c["verdict"] == "skip"]  # S4 pinned by the twin's trust folder


def test_the_server_certificate_is_pinned_with_trusted_servers(press: JsPress, creds: Path, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted-servers"
    trusted.mkdir()
    (trusted / "someone-else.pem").write_bytes(press.client_cert[0].read_bytes())  # not the press's
    code, report = probe(press, "--device", "JS-Good", "--trusted-servers", str(trusted))
    assert code == 2  # S4: an untrusted server certificate is a configuration error
    (trusted / "press.pem").write_bytes(press.server_certificate.read_bytes())
    code, report = probe(press, "--device", "JS-Good", "--trusted-servers", str(trusted))
    assert code == 0 and not [c for c in report["checks"] if c["verdict"] == "skip"]


@pytest.mark.parametrize("device, rule", [("JS-NoUnits", "F2"), ("JS-EarlyResult", "R1"), ("JS-NoStart", "4.2"),
                                          ("JS-BaseObject", "4.1")])
def test_a_broken_press_fails_on_the_rule_it_breaks(press: JsPress, creds: Path, device: str, rule: str) -> None:
    code, report = probe(press, "--device", device, "--credentials", str(creds), "--dry-run")
    assert code == 1
    assert rule in failing(report, device), report["checks"]
    named = [c for c in report["checks"] if c["verdict"] == "fail" and c["rule"] == rule]
    assert all(c["what"] for c in named)


def test_without_a_device_every_lads_device_is_found_by_type(press: JsPress) -> None:
    code, report = probe(press)
    assert code == 1  # the broken ones fail
    assert sorted(report["devices"]) == sorted(d["name"] for d in DEVICES if d["name"] != "JS-BaseObject")


def test_bad_input_and_refused_login_exit_2(press: JsPress, creds: Path, tmp_path: Path) -> None:
    assert probe(press, "--set", "colour=1", "--credentials", str(creds), "--dry-run")[0] == 2
    assert probe(press, "--dry-run")[0] == 2  # a dry run needs operator credentials
    assert probe(press, "--profile", str(tmp_path / "missing.yaml"))[0] == 2
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({"username": press.operator[0], "password": "not-it"}), encoding="utf-8")
    assert probe(press, "--credentials", str(wrong))[0] == 2
    res = CliRunner().invoke(app, ["plant", "probe", "http://127.0.0.1:1", "--json"])
    assert res.exit_code == 2


def test_an_unreachable_endpoint_is_a_failed_check(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["plant", "probe", f"opc.tcp://127.0.0.1:{free_port()}", "--json",
                                   "--timeout", "3", "--client-cert-dir", str(tmp_path / "pki")])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert [c["rule"] for c in report["checks"] if c["verdict"] == "fail"] == ["S1"]
