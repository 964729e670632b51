"""`twin hil` against an impostor: another server, with its own self-signed certificate, listens on
the device's endpoint. The twin knows the real device's certificate (the plant file's PKI own/),
refuses the impostor before any session, exits 2 and keeps the certificate it refused."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from plant.pki import ensure_own_certificate
from plant.serve import PlantThread
from tests.hil.hil_helpers import hil_plant, scenario_data
from tests.hil.proxy import free_port
from tests.plant.plant_helpers import OPERATOR
from twin.cli import app

pytestmark = pytest.mark.timeout(300)


def test_twin_hil_refuses_an_impostor_press_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_OPCUA_USERNAME", OPERATOR[0])
    monkeypatch.setenv("TWIN_OPCUA_PASSWORD", OPERATOR[1])
    port = free_port()
    real_pki = tmp_path / "real-pki"  # the real press's certificate, as its plant file's PKI holds it
    ensure_own_certificate(real_pki / "own", "WIP-1", "urn:twin:plant:WIP-1", "127.0.0.1")
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(yaml.safe_dump({
        "name": "real", "time_scale": 720.0, "security": {"cert_dir": str(real_pki)},
        "devices": [{"name": "WIP-1", "kind": "wip", "port": port}]}), encoding="utf-8")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(scenario_data(
        security_policy="Basic256Sha256", client_cert_dir=str(tmp_path / "twin-pki"))), encoding="utf-8")

    (tmp_path / "impostor").mkdir()
    fake = hil_plant(tmp_path / "impostor", ports={"WIP-1": port})  # same endpoint, its own certificate
    fake = fake.model_copy(update={"security": fake.security.model_copy(update={"trust_all_clients": True})})
    with PlantThread(fake):
        result = CliRunner().invoke(app, ["hil", str(scenario), "--plant", str(plant_file),
                                          "--out", str(tmp_path / "out")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "does not trust" in text and f"127.0.0.1:{port}" in text
    rejected = list((tmp_path / "twin-pki" / "servers" / "rejected").glob("*.der"))
    assert len(rejected) == 1
    assert not (tmp_path / "out" / "summary.json").exists()
