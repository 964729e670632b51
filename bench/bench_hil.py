"""Benchmark of hardware-in-the-loop runs: the pilot scenario (scenarios/hil_pilot.yaml) on the
emulated pilot plant (plants/pilot.yaml, secure endpoints, served by `twin plant serve` in its
own process, as a user would).

Per round it prints: wall time, the real-time clock's lag, how late the twin saw each press
cycle complete in wall milliseconds (seen duration minus the device's own, over the time
scale: the price of polling or of a subscription's publishing interval), the StartProgram
round trip (when the adapters record it) and the OPC UA call latency, and the twin's CPU per
hardware-bound cell: (CPU of the HIL run - CPU of the same scenario fully simulated) / cells.
`--completion polling` makes every binding poll instead of subscribing (the fallback). Rounds
are repeated (`--rounds`, at least 3) and min and median are reported.

    python bench/bench_hil.py [--scale 3600] [--cells 30] [--rounds 3] [--completion subscription|polling]

Runs against whichever code is on sys.path (the bench prints `adapters` location), so the
same script measures before and after a change.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plant_file(tmp: Path) -> Path:
    """plants/pilot.yaml on free ports, absolute paths, a throw-away certificate directory."""
    data = yaml.safe_load((ROOT / "plants/pilot.yaml").read_text())
    data["security"]["users_file"] = str(ROOT / "plants" / data["security"]["users_file"])
    data["security"]["cert_dir"] = str(tmp / "pki")
    for dev in data["devices"]:
        dev["port"] = _free_port()
    path = tmp / "plant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_ports(ports: list[int], deadline_s: float = 120.0) -> None:
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
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "plant", "serve", str(plant),
                                      "--time-scale", str(scale)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT, env=env)
        _wait_ports([d["port"] for d in yaml.safe_load(plant.read_text())["devices"]])

    def __enter__(self) -> "ServedPlant":
        return self

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _scenario(cells: int, completion: str | None = None):
    from twin.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios/hil_pilot.yaml")
    sc = sc.model_copy(update={"source": sc.source.model_copy(update={"max_cells": cells})})
    if completion is not None and sc.hardware is not None:
        bindings = {n: b.model_copy(update={"completion": completion}) for n, b in sc.hardware.bindings.items()}
        sc = sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"bindings": bindings})})
    return sc


def hil_once(plant: Path, scale: float, cells: int, out: Path, completion: str | None) -> tuple[dict, float]:
    from plant.plantfile import load_plant_file
    from twin.hil import PlantEquipment
    from twin.simulation import Simulation

    sc = _scenario(cells, completion)
    equipment = PlantEquipment(load_plant_file(plant), time_scale=scale, scenario_dir=ROOT / "scenarios")
    cpu0 = time.process_time()
    summary = Simulation(sc, ports=equipment).run(out).summary
    return summary, time.process_time() - cpu0


def sim_cpu(cells: int, repeats: int = 3) -> float:
    """CPU seconds of the same scenario fully simulated (in-process ports), best of `repeats`."""
    from twin.line import Line

    sc = _scenario(cells).model_copy(update={"hardware": None})
    best = np.inf
    for _ in range(repeats):
        cpu0 = time.process_time()
        Line(sc).run()
        best = min(best, time.process_time() - cpu0)
    return float(best)


def completion_delay_ms(summary: dict, scale: float) -> list[float]:
    """Per ok press cycle: (simulated duration the twin saw - the device's) / time scale, wall ms."""
    out = []
    for r in summary["hardware"]["runs"]:
        if r["ok"] and r["station"] in ("wip_press", "prepress") and r.get("device_duration_s"):
            seen_s = (r["sim_end_h"] - r["sim_start_h"]) * 3600.0
            out.append(1e3 * (seen_s - r["device_duration_s"]) / scale)
    return out


def _mm(xs: list[float]) -> str:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return f"{min(xs):8.1f} {float(np.median(xs)):8.1f}" if xs else f"{'-':>8} {'-':>8}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=3600.0, help="time scale (sim s per wall s)")
    ap.add_argument("--cells", type=int, default=30, help="cells released in each run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--completion", choices=["subscription", "polling"], default=None,
                    help="force every binding's completion mode (new adapters only)")
    args = ap.parse_args()
    import adapters

    print(f"hil_pilot, {args.cells} cells, scale {args.scale:g}, pilot plant by `twin plant serve` "
          f"(Basic256Sha256, SignAndEncrypt); code: {Path(adapters.__file__).parent.parent}; "
          f"completion: {args.completion or 'default'}")
    sim = sim_cpu(args.cells)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        plant = _plant_file(tmp)
        with ServedPlant(plant, args.scale):
            for i in range(args.rounds):
                summary, cpu = hil_once(plant, args.scale, args.cells, tmp / f"out-{i}", args.completion)
                hw = summary["hardware"]
                n = summary["cells_accepted"] + summary["cells_rejected"]
                delays = completion_delay_ms(summary, args.scale)
                starts = [r.get("start_ms") for r in hw["runs"] if r.get("start_ms") is not None]

                def med(key: str) -> float:
                    xs = [r[key] for r in hw["runs"] if r.get(key) is not None and np.isfinite(r[key])]
                    return float(np.median(xs)) if xs else float("nan")
                calls = [d["call_ms_p50"] for d in hw["devices"].values() if d.get("call_ms_p50") is not None]
                rows.append({"wall": hw["wall_s"], "cpu_cell_ms": 1e3 * (cpu - sim) / max(n, 1),
                             "delay_ms": float(np.median(delays)) if delays else float("nan"),
                             "delay_p95_ms": float(np.percentile(delays, 95)) if delays else float("nan"),
                             "start_ms": float(np.median(starts)) if starts else float("nan"),
                             "call_ms": float(np.median(calls)) if calls else float("nan"),
                             "stopped_ms": med("completion_ms"), "notified_ms": med("notified_ms"),
                             "read_ms": med("read_ms"),
                             "late": hw["clock"]["late_events"], "quarantined": hw["runs_quarantined"], "n": n})
                r = rows[-1]
                print(f"round {i}: {n} cells, wall {r['wall']:.1f} s, twin CPU/cell {r['cpu_cell_ms']:.1f} ms, "
                      f"completion seen +{r['delay_ms']:.0f} ms (p95 {r['delay_p95_ms']:.0f}), StartProgram "
                      f"{r['start_ms']:.1f} ms, call p50 {r['call_ms']:.1f} ms, late {r['late']}, "
                      f"quarantined {r['quarantined']}", flush=True)
    print(f"\n{'':34} {'min':>8} {'median':>8}")
    for key, label in (("cpu_cell_ms", "twin CPU per bound cell, ms"), ("delay_ms", "completion seen after, ms"),
                       ("delay_p95_ms", "  p95, ms"), ("start_ms", "StartProgram round trip, ms"),
                       ("call_ms", "OPC UA call p50, ms"), ("stopped_ms", "Result Stopped -> twin has it, ms"),
                       ("notified_ms", "  state change -> notification, ms"), ("read_ms", "  notification -> read, ms"),
                       ("wall", "wall per run, s")):
        print(f"{label:34} {_mm([r[key] for r in rows])}")
    print(f"simulated-only CPU: {1e3 * sim / args.cells:.2f} ms per cell")


if __name__ == "__main__":
    main()
