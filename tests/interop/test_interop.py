"""Interoperability: a node-opcua client (pinned in package.json) against an emulated LADS press: a\nstandard client builds KeyValueType/SampleInfoType from the server's DataTypeDefinitions and encodings."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from plant.serve import PlantThread
from tests.plant.plant_helpers import OPERATOR, PLANT_START_TIMEOUT_S, plant_config

HERE = Path(__file__).parent

pytestmark = pytest.mark.timeout(300)


def _node_modules() -> None:
    """Install the pinned client into tests/interop/node_modules if missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the node-opcua interop test (.ci/run installs them)")
    if (HERE / "node_modules" / "node-opcua-client").exists():
        return
    cmd = ["npm", "ci" if (HERE / "package-lock.json").exists() else "install", "--no-audit", "--no-fund"]
    proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0:
        pytest.fail(f"npm install failed:\n{proc.stderr[-2000:]}")


def test_node_opcua_client_browses_reads_writes_subscribes_and_calls(tmp_path):
    _node_modules()
    pf = plant_config(tmp_path, devices=[{"name": "CIP-1", "kind": "cip", "port": 0}])
    # node-opcua sends its own self-signed certificate: a demo plant may accept any (trust_all_clients)
    pf = pf.model_copy(update={"security": pf.security.model_copy(update={"trust_all_clients": True})})
    with PlantThread(pf, start_timeout_s=PLANT_START_TIMEOUT_S) as plant:
        proc = subprocess.run(["node", str(HERE / "client.js"), plant.endpoints["CIP-1"], "CIP-1",
                               *OPERATOR], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"foundByType"')]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1])
    assert out["foundByType"] and out["state"] == "Stopped" and out["stateHasSourceTimestamp"]
    assert out["pressureUnit"] == "MPa"
    assert out["writeStatus"] == "Good" and out["readBack"] == 123.5
    assert out["callStatus"] == "Good" and out["runId"].startswith("CIP-1-")
    assert out["missingArgsStatus"] == "BadArgumentsMissing"
    assert out["outcome"] == "Completed"
    assert out["samples"] > 10
