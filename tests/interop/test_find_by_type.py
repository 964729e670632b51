"""An independent client (asyncua, no project code) finds the presses by TYPE, LADSDeviceType
under DI:DeviceSet, and reads the units of their functions by browsing, on both stacks: the
project's asyncua emulator and the node-opcua press written from docs/opcua.md."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from asyncua import ua

from plant.serve import PlantThread
from tests.interop import ua_client as u
from tests.interop.pressjs import client_certificate, js_press
from tests.plant.plant_helpers import plant_config

pytestmark = pytest.mark.timeout(600)
UNECE = {"MPA": 0x4D5041, "CEL": 0x43454C}


@pytest.fixture(params=["asyncua-emulator", "node-opcua-press"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, tuple[Path, Path]]]:
    cert = client_certificate(tmp_path / "client-pki")
    if request.param == "node-opcua-press":
        with js_press(tmp_path, client_cert=cert, devices=[{"name": "JS-Press-1", "capacity_cells": 8}]) as p:
            yield p.endpoint, cert
    else:
        pf = plant_config(tmp_path, devices=[{"name": "WIP-1", "kind": "wip", "port": 0}])
        from plant.pki import TrustList
        TrustList(tmp_path / "pki").ensure().add(cert[0])  # the plant trusts the test client (issue 12)
        with PlantThread(pf) as plant:
            yield plant.endpoints["WIP-1"], cert


async def _units(c: Any, device: Any) -> dict[str, str]:
    """{function/variable: UNECE display of its EngineeringUnits}, found by browsing (not by name)."""
    out: dict[str, str] = {}
    fu_set = await u.resolve(c, device, [(u.LADS, "FunctionalUnitSet")])
    assert fu_set is not None
    for unit in await u.call(fu_set.get_children(refs=ua.ObjectIds.HasComponent)):
        fset = await u.resolve(c, unit, [(u.LADS, "FunctionSet")])
        if fset is None:
            continue
        for fn in await u.call(fset.get_children(refs=ua.ObjectIds.HasComponent)):
            fname = (await u.call(fn.read_browse_name())).Name
            for var in await u.call(fn.get_children(refs=ua.ObjectIds.HasComponent)):
                if await u.call(var.read_node_class()) != ua.NodeClass.Variable:
                    continue
                props = {(await u.call(p.read_browse_name())).Name: p for p in await u.call(var.get_properties())}
                if "EngineeringUnits" in props:
                    eu = await u.call(props["EngineeringUnits"].read_value())
                    out[f"{fname}/{(await u.call(var.read_browse_name())).Name}"] = eu.UnitId
    return out


def test_devices_found_by_type_and_their_units_read(target: tuple[str, tuple[Path, Path]]) -> None:
    endpoint, cert = target

    async def go() -> None:
        async with u.session(endpoint, cert, None) as c:
            devices = await u.devices_by_type(c)
            assert len(devices) == 1, devices
            (device,) = devices.values()
            assert await u.type_of(c, device) == (u.LADS, "LADSDeviceType")
            units = await _units(c, device)
            for var in ("CurrentValue", "TargetValue"):
                assert units[f"Pressure/{var}"] == UNECE["MPA"], units
                assert units[f"Temperature/{var}"] == UNECE["CEL"], units
    u.run(go())
