"""`twin plant probe --dry-run` against the project's own asyncua emulator: every device kind
conforms to docs/opcua.md (a test bench's extra None endpoint is a skip, not a failure)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from plant.serve import PlantThread
from tests.plant.plant_helpers import OPERATOR, plant_config
from twin.cli import app

pytestmark = pytest.mark.timeout(900)


def test_every_emulated_device_passes_the_probe(tmp_path: Path) -> None:
    pf = plant_config(tmp_path, devices=[{"name": "WIP-1", "kind": "wip", "port": 0},
                                         {"name": "Glovebox-1", "kind": "glovebox", "port": 0},
                                         {"name": "Profilometer-1", "kind": "profilometer", "port": 0}])
    # a hardened plant trusts only known client certificates: this demo plant takes the probe's
    pf = pf.model_copy(update={"security": pf.security.model_copy(update={"trust_all_clients": True})})
    creds = tmp_path / "operator.yaml"
    creds.write_text(yaml.safe_dump({"username": OPERATOR[0], "password": OPERATOR[1]}), encoding="utf-8")
    from plant.pki import TrustList
    from tests.interop.pressjs import client_certificate
    # the plant trusts the probe's client certificate (issue 12: a trust list by default)
    TrustList(tmp_path / "pki").ensure().add(client_certificate(tmp_path / "twin-pki")[0])
    with PlantThread(pf) as plant:
        for name, endpoint in plant.endpoints.items():
            res = CliRunner().invoke(app, ["plant", "probe", endpoint, "--credentials", str(creds), "--dry-run",
                                           "--client-cert-dir", str(tmp_path / "twin-pki"), "--json"])
            report = json.loads(res.stdout)
            failed = [c for c in report["checks"] if c["verdict"] == "fail"]
            assert res.exit_code == 0 and not failed, (name, failed)
            assert report["devices"] == [name]
            skipped = {c["rule"] for c in report["checks"] if c["verdict"] == "skip"}
            # None endpoint (test bench), no trust list and no pinning in the test plant, SHOULDs
            assert skipped <= {"S1", "S3", "S4", "4.1", "4.4"}, skipped
            if name == "WIP-1":
                assert {"P1", "P2", "P5", "R1", "R3", "7"} <= {c["rule"] for c in report["checks"]}
