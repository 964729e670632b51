"""Benchmark of the live view (twin.live): the twin's CPU time with and without a page open,
side by side, and the event-to-page latency (a cell finishing in the twin -> shown on the page).

Each round runs the twin in its own process (this script with --child): the live server starts,
then (with a page) the run waits until a headless chromium (Playwright, async API) has the page
open, and the child reports the process CPU time of the run alone. Paced (like a demo or a HIL
run) and flat out (as fast as the simulation goes). Ratios of min and median over the rounds.

    python bench/bench_live.py [--rounds 3] [--pace 2] [--paced-h 24] [--flat-h 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- the twin, in a child process ------------------------------------------------------
def child(scenario: str, pace: float, wait_page: bool, out: str) -> None:
    from twin.line import Line
    from twin.live.runner import LiveSimulation
    from twin.live.server import LiveServer
    from twin.scenario import load_scenario, load_scenario_data, parse_scenario

    # warm up (imports, the interface model's first evaluation) outside the measured run
    data = load_scenario_data(scenario)
    data["run"].update(duration_h=3.0, warmup_h=0.5)
    Line(parse_scenario(data, scenario, Path(scenario).parent), 0).run()

    async def main() -> dict:
        sim = LiveSimulation(load_scenario(scenario), 1, None, pace)
        async with LiveServer(sim.feed) as server:
            print(json.dumps({"url": server.url}), flush=True)
            while wait_page and not server.clients:
                await asyncio.sleep(0.02)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await sim.run_async(out)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            return {"cpu_s": cpu, "wall_s": wall, "messages": server.sent, "view_cpu_s": server.cpu_s}

    print(json.dumps(asyncio.run(main())), flush=True)


# --- the page ----------------------------------------------------------------------------
async def watch(url: str, proc: subprocess.Popen) -> list[float]:
    from playwright.async_api import async_playwright

    from tests.live.browser import ARGS, chromium

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(url, wait_until="load")
            while proc.poll() is None:
                await asyncio.sleep(0.2)
                try:
                    ended = await page.evaluate("window.__live.ended")
                except Exception:  # noqa: BLE001 - the page went away with the server
                    break
                if ended:
                    break
            return list(await page.evaluate("window.__live.latencies_ms"))
        finally:
            await browser.close()


def one_round(scenario: Path, pace: float, with_page: bool, tmp: Path) -> tuple[dict, list[float]]:
    out = tmp / f"out-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(scenario), "--pace", str(pace),
                             "--out", str(out)] + (["--wait-page"] if with_page else []),
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    url = json.loads(proc.stdout.readline())["url"]
    latencies = asyncio.run(watch(url, proc)) if with_page else []
    result = json.loads(proc.stdout.readline())
    proc.wait(timeout=120)
    return result, latencies


# --- HIL: a fault injected in the emulated plant -> on the page ------------------------------
def hil_fault_latency(tmp: Path, faults: int) -> list[tuple[float, float]]:
    """(s from the device's SourceTimestamp, s from the InjectFault call) to the fault on the page,
    for `faults` faults injected (and cleared) one after the other during one HIL run."""
    os.environ.setdefault("TWIN_OPCUA_USERNAME", "op")
    os.environ.setdefault("TWIN_OPCUA_PASSWORD", "op-secret")
    from plant.serve import PlantThread
    from tests.hil.hil_helpers import HardwareRun, hil_plant, scenario_data
    from tests.live.browser import page_at, until
    from tests.plant.plant_helpers import OPERATOR, call, connect, node
    from twin.live.feed import LineFeed
    from twin.live.hil import HilWatch
    from twin.live.server import LiveServer
    from twin.scenario import parse_scenario

    data = scenario_data(n_cells=200, p=(1.0, 0.0, 0.0), call_timeout_s=5.0, connect_timeout_s=5.0, give_up_s=30.0)
    data["run"]["duration_h"] = 3.0 + faults * 0.6  # 5 wall s per simulated hour
    out: list[tuple[float, float]] = []
    with PlantThread(hil_plant(tmp)) as plant:
        endpoint = plant.endpoints["WIP-1"]
        hw = HardwareRun(parse_scenario(data, "<bench>"), plant.running.plant)
        feed = LineFeed(hw.simulation.scenario, "hil")

        async def main() -> None:
            async with LiveServer(feed) as server, HilWatch(feed):
                async with page_at(server.url.rstrip("/")) as (page, _):
                    await page.goto(server.url, wait_until="load")
                    run = asyncio.ensure_future(hw.run_async(tmp / "hil-out"))
                    await until(page, "document.querySelector('#device-press') !== null", timeout_s=60)
                    async with connect(endpoint, OPERATOR) as c:
                        box, inject = await node(c, "WIP-1", "Faults"), await node(c, "WIP-1", "Faults/InjectFault")
                        clear = await node(c, "WIP-1", "Faults/ClearFaults")
                        for i in range(faults):
                            await asyncio.sleep(1.0)
                            t0 = time.time()
                            await call(box.call_method(inject, "leak"))
                            at_ms = await until(page, "n => (window.__live.shown.filter(e => e.text.includes("
                                                      "'reports fault leak'))[n] || {}).at_ms", i, timeout_s=30,
                                                poll_s=0.05)
                            ev = [e for e in feed.events if e["kind"] == "fault" and "leak" in e["text"]][-1]
                            out.append((at_ms / 1e3 - ev["source_ts"], at_ms / 1e3 - t0))
                            await call(box.call_method(clear))
                    run.cancel()
                    await asyncio.gather(run, return_exceptions=True)
        asyncio.run(main())
    return out


def scenario_file(tmp: Path, duration_h: float) -> Path:
    import yaml

    from tests.report_outputs import two_press_data

    path = tmp / f"scenario-{duration_h:g}h.yaml"
    path.write_text(yaml.safe_dump(two_press_data(duration_h=duration_h, warmup_h=2.0, replications=1)))
    return path


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pace", type=float, default=2.0, help="simulated h per wall s of the paced runs")
    ap.add_argument("--paced-h", type=float, default=24.0, help="simulated hours of a paced run")
    ap.add_argument("--flat-h", type=float, default=60.0, help="simulated hours of a flat-out run")
    ap.add_argument("--hil-faults", type=int, default=8, help="faults injected in the HIL latency run (0: skip)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--wait-page", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.pace, args.wait_page, args.out)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"twin.live: {args.rounds} rounds per cell; CPU s of the twin's process during the run; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'mode':<26} {'no page min/med':>16} {'page min/med':>14} {'overhead min/med':>17} "
              f"{'latency p50/p95 ms':>19} {'msgs':>5}")
        for mode, pace, hours in (("paced", args.pace, args.paced_h), ("flat out", 0.0, args.flat_h))[
                :2 if args.rounds > 0 else 0]:
            scen = scenario_file(tmp, hours)
            cpu = {False: [], True: []}
            lat: list[float] = []
            msgs = []
            own: list[float] = []
            for _ in range(args.rounds):
                for with_page in (False, True):  # interleaved, so a load change hits both
                    res, got = one_round(scen, pace, with_page, tmp)
                    cpu[with_page].append(res["cpu_s"])
                    if with_page:
                        lat += got
                        msgs.append(res["messages"])
                        own.append(res["view_cpu_s"] / res["cpu_s"])
            a, b = cpu[False], cpu[True]
            over_min = min(b) / min(a) - 1.0
            over_med = statistics.median(b) / statistics.median(a) - 1.0
            label = f"{mode} ({hours:g} h" + (f" at {pace:g} h/s)" if pace else ")")
            print(f"{label:<26} {min(a):7.2f}/{statistics.median(a):<7.2f} {min(b):6.2f}/{statistics.median(b):<7.2f}"
                  f" {100 * over_min:+7.1f}%/{100 * over_med:+.1f}% {pct(lat, 0.5):9.0f}/{pct(lat, 0.95):<9.0f}"
                  f" {int(statistics.median(msgs)):>5}   view's own share {100 * statistics.median(own):.1f}%",
                  flush=True)
        if args.hil_faults:
            got = hil_fault_latency(tmp, args.hil_faults)
            dev = [a * 1e3 for a, _ in got]
            inj = [b * 1e3 for _, b in got]
            print(f"HIL fault on the page ({len(got)} faults on an emulated WIP): after the device stamped it "
                  f"min/median/max {min(dev):.0f}/{statistics.median(dev):.0f}/{max(dev):.0f} ms; after InjectFault "
                  f"was called {min(inj):.0f}/{statistics.median(inj):.0f}/{max(inj):.0f} ms")


if __name__ == "__main__":
    main()
