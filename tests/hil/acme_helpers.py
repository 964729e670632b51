"""Runs of the HIL test scenario on the Acme press (tests/hil/acme_press.py) through its profile,
press and twin on one event loop, under one generous time-out."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable

from tests.hil.acme_press import AcmePress
from tests.hil.hil_helpers import RUN_TIMEOUT_S, HardwareRun, hil_plant, scaled, scenario_data
from tests.hil.proxy import free_port
from twin.scenario import parse_scenario

PROFILE = Path(__file__).with_name("profiles") / "acme.yaml"
NOMINAL_S = 200.0  # the binding's nominal cycle (device s): Acme gives no EstimatedRuntime


def acme_scenario(endpoint: str, n_cells: int = 4, batch: int = 2, p: tuple[float, float, float] = (1.0, 0.0, 0.0),
                  **connection: Any) -> Any:
    data = scenario_data(n_cells=n_cells, endpoint=endpoint, device="Acme-7", batch=batch, p=p, **connection)
    data["hardware"]["bindings"]["press"].update(profile=str(PROFILE), nominal_duration_s=NOMINAL_S)
    return parse_scenario(data, "<acme test>")


async def acme_run(tmp: Path, out: Path, press: AcmePress, scenario: Any,
                   watcher: Callable[[HardwareRun], Awaitable[None]] | None = None) -> HardwareRun:
    """Run `scenario` (bound to `press`) to its end, with `watcher(run)` beside it."""
    hw = HardwareRun(scenario, hil_plant(tmp))

    async def go() -> None:
        task = asyncio.ensure_future(hw.run_async(out))
        try:
            if watcher is not None:
                await watcher(hw)
        except BaseException:
            task.cancel()
            raise
        await task
    await asyncio.wait_for(go(), scaled(RUN_TIMEOUT_S))
    return hw


async def with_acme(fn: Callable[[AcmePress], Awaitable[Any]], **kw: Any) -> Any:
    press = await AcmePress(free_port(), **kw).start()
    try:
        return await fn(press)
    finally:
        await press.stop()
