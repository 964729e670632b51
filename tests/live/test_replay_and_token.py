"""`twin view DIR` replays a finished run under a time slider: at the slider's end the page
shows the run's counts (summary.json); earlier it shows fewer. Bound beyond loopback, the view
needs its token; on loopback, a foreign Host header is refused (no DNS rebinding)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from tests.live.browser import counts, page_at, until
from tests.report_outputs import two_press_data
from twin.live.replay import Replay, ReplayError
from twin.live.server import LiveServer
from twin.scenario import parse_scenario
from twin.simulation import Simulation

pytestmark = pytest.mark.timeout(240)
COUNTED = ("cells_started", "cells_accepted", "cells_rejected", "cells_reworked")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay") / "run"
    Simulation(parse_scenario(two_press_data(duration_h=16.0, warmup_h=2.0, replications=1))).run(out)
    return out


def test_the_replay_ends_on_the_runs_counts(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    server = LiveServer(replay=Replay(run_dir))

    async def view():
        async with server:
            async with page_at(server.url.rstrip("/")) as (page, seen):
                await page.goto(server.url, wait_until="load")
                await until(page, "document.body.dataset.frame !== undefined")
                end = await counts(page)
                rows = await page.evaluate("document.querySelectorAll('#cells tbody tr').length")
                mid = summary["warmup_h"] + 0.5 * summary["sim_time_h"]
                await page.evaluate("t => { const s = document.getElementById('slider'); s.value = String(t);"
                                    " s.dispatchEvent(new Event('input')); }", mid)
                await until(page, "t => Math.abs(+document.body.dataset.frame - t) < 1e-6", mid)
                middle = await counts(page)
                return end, middle, rows, seen.errors, seen.outside
    end, middle, rows, errors, outside = asyncio.run(asyncio.wait_for(view(), 180))
    assert errors == [] and outside == []
    for k in COUNTED:
        assert int(end[k]) == summary[k], (k, end[k], summary[k])
    assert rows > 0
    assert int(middle["cells_accepted"]) < int(end["cells_accepted"])


def test_replay_counts_are_replication_0s_when_there_are_several(tmp_path):
    out = tmp_path / "run"
    Simulation(parse_scenario(two_press_data(duration_h=10.0, warmup_h=2.0, replications=2))).run(out)
    summary = json.loads((out / "summary.json").read_text())
    got = Replay(out).frame(float("inf"))["counts"]
    for k in COUNTED:
        assert got[k] == summary["per_replication"][0][k]


def test_a_folder_without_a_trace_is_refused_by_name(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(ReplayError, match="trace.sqlite"):
        Replay(tmp_path)


def _get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_bound_beyond_loopback_the_token_is_required(run_dir):
    server = LiveServer(replay=Replay(run_dir), bind="0.0.0.0")
    assert server.token and len(server.token) >= 24
    base = f"http://127.0.0.1:{server.port}/"

    async def check():
        async with server:
            plain = await asyncio.to_thread(_get, base)
            wrong = await asyncio.to_thread(_get, base + "state?token=not-it")
            asset = await asyncio.to_thread(_get, base + "assets/live.js")
            bearer = await asyncio.to_thread(_get, base + "state", {"Authorization": f"Bearer {server.token}"})
            async with page_at(base.rstrip("/")) as (page, seen):
                await page.goto(server.url, wait_until="load")  # ?token= once, then the cookie
                await until(page, "document.body.dataset.frame !== undefined")
                shown = await counts(page)
                return plain, wrong, asset, bearer, shown, seen.errors
    plain, wrong, asset, bearer, shown, errors = asyncio.run(asyncio.wait_for(check(), 180))
    assert plain[0] == wrong[0] == asset[0] == 401
    assert server.token not in plain[1]
    assert bearer[0] == 200 and json.loads(bearer[1])["mode"] == "replay"
    assert errors == [] and int(shown["cells_accepted"]) > 0


def test_on_loopback_no_token_but_a_foreign_host_is_refused(run_dir):
    server = LiveServer(replay=Replay(run_dir))
    assert server.token is None and server.url.startswith("http://127.0.0.1:")

    async def check():
        async with server:
            ok = await asyncio.to_thread(_get, server.url + "state")
            rebound = await asyncio.to_thread(_get, server.url + "state", {"Host": "attacker.example"})
            return ok, rebound
    ok, rebound = asyncio.run(asyncio.wait_for(check(), 60))
    assert ok[0] == 200 and rebound[0] == 400
    assert "default-src 'self'" in ok[2]["content-security-policy"]
    assert ok[2]["x-frame-options"] == "DENY"
