"""Benchmark of hardware-in-the-loop runs: the pilot scenario (scenarios/hil_pilot.yaml) on
the emulated pilot plant (plants/pilot.yaml, secure endpoints, served by `twin plant serve`
in its own process, as a user would), at several time scales.

Prints, per time scale: wall time, the real-time clock's lag (p95, max, events later than
its 100 ms threshold), how much later than the device's own duration the twin saw each
press cycle complete (in simulated minutes: the price of polling and of the emulator's
publishing grid), the OPC UA call latency and the quarantined runs. Then the twin's CPU
cost per hardware-bound cell against the same scenario fully simulated, and the largest
time scale that ran without falling behind (no late events, nothing quarantined).

    python bench/bench_hil.py [--scales 900,3600,14400,57600] [--cells 30]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from plant.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def _plant_file(tmp: Path) -> Path:
    """plants/pilot.yaml on free ports, absolute paths, a throw-away certificate directory."""
    data = yaml.safe_load((ROOT / "plants/pilot.yaml").read_text())
    data["security"]["users_file"] = str(ROOT / "plants" / data["security"]["users_file"])
    data["security"]["cert_dir"] = str(tmp / "pki")
    for dev in data["devices"]:
        dev["port"] = free_port("127.0.0.1")
    path = tmp / "plant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_ports(ports: list[int], deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise TimeoutError(f"plant port {port} not listening")
                time.sleep(0.1)


class ServedPlant:
    """`twin plant serve PLANT --time-scale S` in a subprocess."""

    def __init__(self, plant: Path, scale: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "plant", "serve", str(plant),
                                      "--time-scale", str(scale)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_ports([d["port"] for d in yaml.safe_load(plant.read_text())["devices"]])

    def __enter__(self) -> "ServedPlant":
        return self

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _scenario(cells: int):
    from twin.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios/hil_pilot.yaml")
    return sc.model_copy(update={"source": sc.source.model_copy(update={"max_cells": cells})})


def hil_once(plant: Path, scale: float, cells: int, out: Path) -> tuple[dict, float]:
    from plant.plantfile import load_plant_file
    from twin.hil import HardwareRun

    sc = _scenario(cells)
    run = HardwareRun(sc, load_plant_file(plant), time_scale=scale, scenario_dir=ROOT / "scenarios")
    cpu0 = time.process_time()
    summary = run.run(out).summary
    return summary, time.process_time() - cpu0


def sim_cpu(cells: int, repeats: int = 5) -> float:
    """CPU seconds of the same scenario fully simulated (in-process ports)."""
    from twin.line import Line

    sc = _scenario(cells).model_copy(update={"hardware": None})
    best = np.inf
    for _ in range(repeats):
        cpu0 = time.process_time()
        Line(sc).run()
        best = min(best, time.process_time() - cpu0)
    return best


def completion_excess_min(summary: dict) -> float:
    """Mean of (sim time the twin saw the cycle take) - (device-reported duration), minutes."""
    gaps = [(r["sim_end_h"] - r["sim_start_h"]) * 60.0 - r["device_duration_s"] / 60.0
            for r in summary["hardware"]["runs"] if r["ok"] and r["station"] == "wip_press"]
    return float(np.mean(gaps)) if gaps else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="900,3600,14400,57600", help="time scales (sim s per wall s)")
    ap.add_argument("--cells", type=int, default=30, help="cells released in each run")
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    print(f"hil_pilot, {args.cells} cells, pilot plant served by `twin plant serve` (Basic256Sha256, SignAndEncrypt)")
    print(f"{'scale':>7} {'wall s':>7} {'lag p95 ms':>10} {'lag max ms':>10} {'late':>5} {'excess min':>10} "
          f"{'call p50 ms':>11} {'call p95 ms':>11} {'quarantined':>11} {'cpu ms/cell':>11}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        plant = _plant_file(tmp)
        for scale in scales:
            with ServedPlant(plant, scale):
                summary, cpu = hil_once(plant, scale, args.cells, tmp / f"out-{scale:g}")
            hw = summary["hardware"]
            clock = hw["clock"]
            calls = [d for d in hw["devices"].values() if d["call_ms_p50"] is not None]
            p50 = float(np.median([d["call_ms_p50"] for d in calls]))
            p95 = float(max(d["call_ms_p95"] for d in calls))
            n_cells = summary["cells_accepted"] + summary["cells_rejected"]
            rows.append((scale, clock["late_events"], hw["runs_quarantined"], cpu / max(n_cells, 1)))
            print(f"{scale:7g} {hw['wall_s']:7.1f} {clock['lag_p95_ms']:10.1f} {clock['lag_max_ms']:10.1f} "
                  f"{clock['late_events']:5d} {completion_excess_min(summary):10.2f} {p50:11.1f} {p95:11.1f} "
                  f"{hw['runs_quarantined']:11d} {1e3 * cpu / max(n_cells, 1):11.1f}")
    sim = sim_cpu(args.cells)
    hil_cpu = float(np.median([r[3] for r in rows]))
    print(f"\nCPU per cell: simulated {1e3 * sim / args.cells:.2f} ms, hardware-bound {1e3 * hil_cpu:.1f} ms "
          f"(overhead {1e3 * (hil_cpu - sim / args.cells):.1f} ms per cell: 3 devices x start, poll, read, disposition)")
    ok = [scale for scale, late, quarantined, _ in rows if late == 0 and quarantined == 0]
    print(f"largest time scale without falling behind: {max(ok):g} sim s per wall s" if ok
          else "every time scale fell behind")


if __name__ == "__main__":
    main()
