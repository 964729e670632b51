"""Hardware-in-the-loop robustness tests: the twin against emulated devices over 127.0.0.1.

`plant_helpers` (tests/plant) gives the test plant configuration (insecure endpoint, test
endpoints, users op/op-secret); this directory adds the proxy and small HIL scenarios.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.plant.plant_helpers import OPERATOR


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Users file and server certificates, made once for every plant of the session."""
    return tmp_path_factory.mktemp("hil-plant")


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The twin's credentials from the environment (never from the scenario)."""
    monkeypatch.setenv("TWIN_OPCUA_USERNAME", OPERATOR[0])
    monkeypatch.setenv("TWIN_OPCUA_PASSWORD", OPERATOR[1])
    return OPERATOR


@pytest.fixture(scope="session")
def wip_plant(shared_dir: Path) -> Any:
    """One emulated WIP-1 shared by the tests that do not restart it (each run has its own
    SupervisoryJobId prefix, so results are told apart by the run's tag)."""
    from tests.hil.hil_helpers import hil_plant
    from plant.serve import PlantThread

    with PlantThread(hil_plant(shared_dir)) as p:
        yield p
