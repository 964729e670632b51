"""A plant served from a background thread for the network tests (loopback, free ports)."""
from __future__ import annotations

from typing import Any

import pytest

from plant.serve import PlantThread
from tests.plant.plant_helpers import PLANT_START_TIMEOUT_S, plant_config


@pytest.fixture(scope="session")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shared test plant (started once per session)."""
    tmp = tmp_path_factory.mktemp("plant")
    with PlantThread(plant_config(tmp), start_timeout_s=PLANT_START_TIMEOUT_S) as p:
        yield p


