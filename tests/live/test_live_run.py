"""`twin run --live`: the page (in a real headless chromium) loads without script errors or any
request beyond the twin's own server, and its values change while a short simulated run goes;
a run with the view gives the same results as one without."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.live.browser import COUNTS_JS, counts, page_at, text, until
from tests.report_outputs import two_press_data
from twin.scenario import parse_scenario
from twin.simulation import Simulation

pytestmark = pytest.mark.timeout(240)
START_TIMEOUT_S = 90.0


def _scenario(tmp: Path, duration_h: float = 24.0) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(two_press_data(duration_h=duration_h, warmup_h=2.0, replications=1)))
    return path


def _start(args: list[str], tmp: Path) -> tuple[subprocess.Popen, str]:
    """`twin ARGS` in a subprocess; the live view's URL it prints."""
    log = (tmp / "twin.err").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", *args], stdout=subprocess.DEVNULL, stderr=log,
                            cwd=tmp, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        log.seek(0)
        for line in log.read().splitlines():
            if line.startswith("live view: "):
                return proc, line.split()[2]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    pytest.fail(f"the live view did not start: {log.read()}")


def test_values_change_while_a_simulated_run_goes(tmp_path):
    out = tmp_path / "out"
    proc, url = _start(["run", str(_scenario(tmp_path)), "--out", str(out), "--live", "--pace", "0.5"], tmp_path)
    try:
        async def watch() -> tuple[list, list, object]:
            origin = url.split("?")[0].rstrip("/")
            async with page_at(origin) as (page, seen):
                await page.goto(url, wait_until="load")
                await until(page, "window.__live && window.__live.messages > 0")
                first = (await text(page, "#t-h"), await counts(page))
                await until(page, "t => document.getElementById('t-h').textContent !== t", first[0])
                await until(page, f"c => JSON.stringify({COUNTS_JS}) !== JSON.stringify(c)", first[1])
                await until(page, "document.querySelectorAll('#cells tbody tr').length > 0")
                await until(page, "document.querySelectorAll('.press .js-plotly-plot').length > 0")
                later = (await text(page, "#t-h"), await counts(page))
                states = await page.evaluate("[...document.querySelectorAll('.station')].map(s => s.dataset.state)")
                plots = await page.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length")
                return [first, later, states, plots], seen.errors, seen.outside
        (first, later, states, plots), errors, outside = asyncio.run(asyncio.wait_for(watch(), 180))
    finally:
        rc = proc.wait(timeout=120)
    assert errors == [] and outside == []
    assert float(later[0]) > float(first[0]), (first, later)
    assert later[1] != first[1], "the counts did not move"
    assert len(states) == len(two_press_data()["stations"]) and all(s in ("busy", "blocked", "starved", "down", "off_shift") for s in states)
    assert plots >= 2  # the KPI plot and at least one press cycle
    assert rc in (0, 1), (tmp_path / "twin.err").read_text()
    assert json.loads((out / "summary.json").read_text())["cells_started"] > 0


def test_a_run_with_the_view_gives_the_same_results(tmp_path):
    from twin.live.runner import LiveSimulation
    from twin.live.server import LiveServer

    sc = parse_scenario(two_press_data(duration_h=12.0, warmup_h=2.0, replications=2))
    plain = Simulation(sc).run(tmp_path / "plain").summary

    async def live_run():
        sim = LiveSimulation(sc)
        async with LiveServer(sim.feed):
            return (await sim.run_async(tmp_path / "live")).summary
    live = asyncio.run(live_run())
    strip = lambda s: json.dumps(s, sort_keys=True, default=str)  # noqa: E731
    assert strip(live) == strip(plain)
