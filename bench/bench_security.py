"""Benchmark (issue 12): can one device's failed logins stall the others?

A 5-device plant is served in its own process; 20 sessions subscribe to the 20 Hz values of
CIP-1, UniPress-1 and Glovebox-1 (publishing interval 50 ms); then 24 wrong-password logins hit
WIP-1 at once. Figure: the gap between consecutive notifications the other devices' sessions
receive during the attack (p95, max), against the same plant with no attack.

    python bench/bench_security.py [--rounds 3] [--logins 24] [--sessions 20]

``before``: password checks as asyncua does them (scrypt inside ActivateSession, on the event
loop all devices share; plant.throttle not installed). ``after``: plant.throttle (scrypt in a
2-thread pool, per-client delays). Prints both side by side; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
USER = ("bench", "bench-password")
WATCHED = ("CIP-1", "UniPress-1", "Glovebox-1")
SERVE = r"""
import asyncio, json, os, sys
if os.environ.get("BENCH_MODE") == "before":
    import plant.throttle
    plant.throttle.OFF_LOOP[0] = False   # asyncua's synchronous check on the shared loop, unthrottled
from plant.serve import serve_plant
asyncio.run(serve_plant(sys.argv[1], ready=lambda eps: print("READY " + json.dumps(eps), flush=True)))
"""


def _plant_file(tmp: Path) -> Path:
    from plant.security import hash_password, save_users

    save_users(tmp / "users.yaml", {USER[0]: hash_password(USER[1], "operator")})
    data = {"name": "bench-security", "time_scale": 60.0, "publish_hz": 20.0, "seed": 5,
            "security": {"demo": True, "allow_insecure": True, "users_file": str(tmp / "users.yaml"),
                         "cert_dir": str(tmp / "pki"), "audit_events": False,
                         # fresh throttle state per round (the rounds are 4 s apart)
                         "throttle": {"base_delay_s": 0.25, "max_delay_s": 2.0, "lockout_after": 10,
                                      "window_s": 2.0, "lockout_s": 2.0}},
            "devices": [{"name": "WIP-1", "kind": "wip", "port": 0}, {"name": "CIP-1", "kind": "cip", "port": 0},
                        {"name": "UniPress-1", "kind": "automatic_uniaxial", "port": 0},
                        {"name": "Glovebox-1", "kind": "glovebox", "port": 0},
                        {"name": "Profilometer-1", "kind": "profilometer", "port": 0}]}
    path = tmp / "plant.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class _Gaps:
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def datachange_notification(self, node, val, data) -> None:
        self.arrivals.append(time.monotonic())

    def status_change_notification(self, status) -> None:  # a session the plant dropped
        pass


async def _subscribe(url: str, device: str) -> tuple[object, _Gaps]:
    from asyncua import Client, ua

    from adapters import vocabulary as v
    from tests.plant.plant_helpers import UNITS

    c = Client(url, timeout=20)
    await asyncio.wait_for(c.connect(), 60)
    ns = await c.get_namespace_array()
    fn = "O2" if device.startswith("Glovebox") else "Pressure"
    leaf = v.SENSOR_VALUE if fn == "O2" else v.CURRENT_VALUE
    path = v.unit_path(device, UNITS[device]) + v.function_path(fn) + (leaf,)
    node = await c.nodes.objects.get_child([ua.QualifiedName(q.name, ns.index(q.namespace_uri)) for q in path])
    gaps = _Gaps()
    sub = await c.create_subscription(50, gaps)
    await sub.subscribe_data_change(node, queuesize=1, sampling_interval=50)
    return c, gaps


async def _wrong_login(url: str) -> float:
    from asyncua import Client

    c = Client(url, timeout=30)
    c.set_user(USER[0])
    c.set_password("wrong-password")
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(c.connect(), 60)
        await c.disconnect()
    except Exception:  # refused, as expected
        pass
    return time.monotonic() - t0


def _window_gaps(subs: list[_Gaps], t0: float, t1: float) -> np.ndarray:
    """Gaps (ms) between notifications within [t0, t1], the window's edges included: a session
    that receives nothing (stalled, or dropped by the plant) counts as one gap of the window."""
    out = []
    for g in subs:
        a = np.array([t0] + [t for t in g.arrivals if t0 < t < t1] + [t1])
        out.append(np.diff(a))
    return np.concatenate(out) * 1e3


async def _measure(endpoints: dict[str, str], rounds: int, logins: int, sessions: int) -> dict:
    devs = [WATCHED[i % len(WATCHED)] for i in range(sessions)]
    subs = await asyncio.gather(*(_subscribe(endpoints[d], d) for d in devs))
    gaps = [g for _, g in subs]
    await asyncio.sleep(3.0)
    quiet0 = time.monotonic()
    await asyncio.sleep(4.0)
    quiet = _window_gaps(gaps, quiet0, time.monotonic())
    attacks = []
    for _ in range(rounds):
        t0 = time.monotonic()
        durations = await asyncio.gather(*(_wrong_login(endpoints["WIP-1"]) for _ in range(logins)))
        t1 = time.monotonic()
        g = _window_gaps(gaps, t0, t1)
        silent = sum(1 for s in gaps if not any(t0 < t < t1 for t in s.arrivals))
        attacks.append({"p95_ms": float(np.percentile(g, 95)), "max_ms": float(np.max(g)), "silent_sessions": silent,
                        "attack_s": t1 - t0, "login_s_max": float(max(durations))})
        await asyncio.sleep(4.0)  # throttle window and lockout expire
    for c, _ in subs:
        try:
            await asyncio.wait_for(c.disconnect(), 10)  # type: ignore[attr-defined]
        except Exception:
            pass
    return {"quiet_p95_ms": float(np.percentile(quiet, 95)), "quiet_max_ms": float(np.max(quiet)),
            "rounds": attacks}


def _run(mode: str, plant_file: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, BENCH_MODE=mode, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(plant_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    import logging
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        endpoints = None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                endpoints = json.loads(line[6:])
                break
            if not line and proc.poll() is not None:
                break
        if endpoints is None:
            raise RuntimeError("plant did not start")
        return asyncio.run(_measure(endpoints, args.rounds, args.logins, args.sessions))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--logins", type=int, default=24)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        plant_file = _plant_file(Path(tmp))
        res = {mode: _run(mode, plant_file, args) for mode in ("before", "after")}
    print(f"{args.sessions} subscribed sessions on {', '.join(WATCHED)} (50 ms publishing), "
          f"{args.logins} concurrent wrong-password logins on WIP-1, {args.rounds} rounds; load avg "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':28s}{'before':>12s}{'after':>12s}{'after/before':>14s}")
    b, a = res["before"], res["after"]
    for label, key in (("no attack: gap p95 ms", "quiet_p95_ms"), ("no attack: gap max ms", "quiet_max_ms")):
        print(f"{label:28s}{b[key]:12.0f}{a[key]:12.0f}{a[key] / b[key]:14.2f}")
    for stat in ("p95_ms", "max_ms"):
        bs = [r[stat] for r in b["rounds"]]
        as_ = [r[stat] for r in a["rounds"]]
        for agg, f in (("min", np.min), ("median", np.median)):
            label = f"attack: gap {stat[:-3]} ms ({agg})"
            print(f"{label:28s}{f(bs):12.0f}{f(as_):12.0f}{f(as_) / f(bs):14.2f}")
    print("rounds:", json.dumps(res))


if __name__ == "__main__":
    main()
