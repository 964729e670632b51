"""Benchmark of the emulated plant on loopback: start-up of a 5-device LADS plant (the first of a
process imports the four nodesets, later ones fork that address space), StartProgram round trip,
subscription rate, and how many devices one process serves at 10 Hz without dropped samples.

    python bench/bench_plant.py [--calls 30] [--max-devices 64] [--seconds 5] [--startup-rounds 3]

Prints figures; asserts nothing. Uses the NoSecurity endpoint (the cost of encryption is the
transport's, not the emulator's) and an operator from a temporary users file.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
from asyncua import Client, ua

from adapters import vocabulary as v
from plant.plantfile import PlantFile
from plant.security import hash_password, save_users
from plant.serve import PlantThread

USER = ("bench", "bench-pw")
RECIPE = {"target_pressure_mpa": 300.0, "ramp_rate_mpa_s": 5.0, "hold_s": 10.0,
          "temperature_c": 22.0, "decompression_rate_mpa_s": 10.0}


def _plant(tmp: Path, n: int, publish_hz: float, time_scale: float) -> PlantFile:
    tmp.mkdir(parents=True, exist_ok=True)
    users = tmp / "users.yaml"
    save_users(users, {USER[0]: hash_password(USER[1], "operator")})
    return PlantFile.model_validate({
        "name": "bench", "time_scale": time_scale, "publish_hz": publish_hz,
        "security": {"demo": True, "allow_insecure": True, "users_file": str(users), "cert_dir": str(tmp / "pki")},
        "devices": [{"name": f"CIP-{i + 1}", "kind": "cip", "port": 0} for i in range(n)]})


async def _client(url: str) -> Client:
    c = Client(url, timeout=10)
    c.set_user(USER[0])
    c.set_password(USER[1])
    await asyncio.wait_for(c.connect(), 15)
    return c


async def _node(c: Client, path: v.Path) -> object:
    ns = await c.get_namespace_array()
    return await c.nodes.objects.get_child([ua.QualifiedName(q.name, ns.index(q.namespace_uri)) for q in path])


async def _latency(url: str, calls: int) -> list[float]:
    c = await _client(url)
    try:
        unit = v.unit_path("CIP-1", v.Unit.PRESS_CHAMBER)
        sm = await _node(c, unit + v.UNIT_STATE)
        meth = await _node(c, unit + v.UNIT_START_PROGRAM)
        props = ua.Variant([ua.KeyValueType(Key=k, Value=x) for k, x in v.properties_from(RECIPE)],
                           ua.VariantType.ExtensionObject, is_array=True)
        samples = ua.Variant([ua.SampleInfoType(SampleId="b")], ua.VariantType.ExtensionObject, is_array=True)
        out = []
        for i in range(calls):
            # call 0 starts a cycle; later calls repeat the job id (idempotent path)
            job = "bench-job"
            t0 = time.perf_counter()
            await asyncio.wait_for(sm.call_method(meth, "PressCycle", props, job, "", samples), 10)  # type: ignore[attr-defined]
            out.append((time.perf_counter() - t0) * 1e3)
        return out
    finally:
        await c.disconnect()


async def _completion_lag(url: str, cycles: int) -> list[float]:
    """Wall ms from a run's end (the SourceTimestamp of the unit's transition out of Running, set on the
    device's tick that ended it) to the client receiving that transition; the Result is already final."""
    c = await _client(url)
    try:
        unit = v.unit_path("CIP-1", v.Unit.PRESS_CHAMBER)
        sm = await _node(c, unit + v.UNIT_STATE)
        meth = await _node(c, unit + v.UNIT_START_PROGRAM)
        cs = await _node(c, unit + v.UNIT_CURRENT_STATE)
        props = ua.Variant([ua.KeyValueType(Key=k, Value=x) for k, x in v.properties_from(
            dict(RECIPE, hold_s=1.0))], ua.VariantType.ExtensionObject, is_array=True)
        lags: list[float] = []
        done = asyncio.Event()

        class H:
            def datachange_notification(self, node, val, data) -> None:
                if val.Text == "Stopped":
                    src = data.monitored_item.Value.SourceTimestamp.timestamp()
                    lags.append((time.time() - src) * 1e3)
                    done.set()

        sub = await c.create_subscription(10, H())
        await sub.subscribe_data_change(cs, sampling_interval=0)
        await asyncio.sleep(0.3)
        lags.clear()
        for i in range(cycles):
            while (await cs.read_value()).Text != "Stopped":  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
            done.clear()
            await sm.call_method(meth, "PressCycle", props, f"lag-{i}", "",  # type: ignore[attr-defined]
                                 ua.Variant([ua.SampleInfoType(SampleId="b")], ua.VariantType.ExtensionObject,
                                            is_array=True))
            await asyncio.wait_for(done.wait(), 60)
        await sub.delete()
        return lags
    finally:
        await c.disconnect()


class _Count:
    def __init__(self) -> None:
        self.ts: list[float] = []
        self.lag: list[float] = []

    def datachange_notification(self, node, val, data) -> None:
        src = data.monitored_item.Value.SourceTimestamp.timestamp()
        self.ts.append(src)
        self.lag.append(time.time() - src)


async def _rates(endpoints: dict[str, str], seconds: float, hz: float) -> dict[str, dict]:
    async def one(name: str, url: str) -> tuple[str, dict]:
        c = await _client(url)
        try:
            cv = await _node(c, v.unit_path(name, v.Unit.PRESS_CHAMBER) + v.function_path("Pressure")
                             + (v.CURRENT_VALUE,))
            h = _Count()
            sub = await c.create_subscription(1000.0 / hz / 2, h)
            await sub.subscribe_data_change(cv, queuesize=int(hz * seconds * 2) + 100,
                                            sampling_interval=0)
            await asyncio.sleep(seconds)
            await sub.delete()
        finally:
            await c.disconnect()
        ts = np.sort(np.array(h.ts[1:]))
        gaps = np.diff(ts) if ts.size > 1 else np.array([np.inf])
        return name, {"rate_hz": (ts.size - 1) / (ts[-1] - ts[0]) if ts.size > 1 else 0.0,
                      "max_gap_s": float(gaps.max()), "lag_p95_ms": float(np.percentile(h.lag, 95) * 1e3)
                      if h.lag else float("inf")}
    return dict(await asyncio.gather(*(one(n, u) for n, u in endpoints.items())))


def _startup(tmp: Path, rounds: int) -> None:
    """CPU and wall seconds to start and stop a 5-device plant: the first of the process, then later ones."""
    from plant.serve import start_plant

    async def once(i: int) -> tuple[float, float]:
        pf = _plant(tmp / f"s{i}", 5, 20.0, 600.0)
        c0, w0 = time.process_time(), time.perf_counter()
        running = await start_plant(pf)
        c1, w1 = time.process_time(), time.perf_counter()
        await running.stop()
        return c1 - c0, w1 - w0

    async def all_rounds() -> list[tuple[float, float]]:
        return [await once(i) for i in range(rounds + 1)]

    res = asyncio.run(all_rounds())
    later = np.array(res[1:])
    print(f"plant start, 5 devices: first of the process {res[0][0]:.2f} CPU s ({res[0][1]:.2f} s wall); "
          f"later ones min {later[:, 0].min():.2f} / median {np.median(later[:, 0]):.2f} CPU s "
          f"(wall median {np.median(later[:, 1]):.2f} s): {res[0][0] / np.median(later[:, 0]):.1f}x less CPU")


def _no_drops(stats: dict[str, dict], hz: float) -> bool:
    """Every device delivered every grid sample (no SourceTimestamp gap above 1.5 periods)."""
    return all(s["max_gap_s"] <= 1.5 / hz for s in stats.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--max-devices", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--startup-rounds", type=int, default=3)
    args = ap.parse_args()
    hz = 10.0
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        if args.startup_rounds > 0:
            _startup(tmp, args.startup_rounds)
        with PlantThread(_plant(tmp, 1, 20.0, 600.0)) as p:
            lat = asyncio.run(_latency(p.endpoints["CIP-1"], args.calls))
            lag = asyncio.run(_completion_lag(p.endpoints["CIP-1"], 5))
            stats = asyncio.run(_rates(p.endpoints, args.seconds, 20.0))
        print(f"StartProgram round trip (loopback, {args.calls} calls): "
              f"p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms")
        print(f"run end -> client sees the unit leave Running (Result final), 5 cycles: median "
              f"{np.median(lag):.0f} ms, max {max(lag):.0f} ms")
        s = stats["CIP-1"]
        print(f"subscription at publish_hz=20: {s['rate_hz']:.1f} samples/s, max gap "
              f"{s['max_gap_s'] * 1e3:.0f} ms, lag p95 {s['lag_p95_ms']:.0f} ms")
        best, n = 0, 1
        while n <= args.max_devices:
            with PlantThread(_plant(tmp / f"n{n}", n, hz, 600.0), start_timeout_s=600) as p:
                stats = asyncio.run(_rates(p.endpoints, args.seconds, hz))
                late = p.running.late_ticks if p.running else -1
            ok = _no_drops(stats, hz)
            worst = max(stats.values(), key=lambda v: v["max_gap_s"])
            print(f"{n:3d} devices at {hz:.0f} Hz: {'ok' if ok else 'DROPS'} (worst gap "
                  f"{worst['max_gap_s'] * 1e3:.0f} ms, worst lag p95 "
                  f"{max(v['lag_p95_ms'] for v in stats.values()):.0f} ms, late ticks {late})")
            if not ok:
                break
            best = n
            n *= 2
        print(f"devices served by one process at {hz:.0f} Hz without dropped samples: >= {best}"
              + ("" if n <= args.max_devices else f" (stopped at --max-devices {args.max_devices})"))


if __name__ == "__main__":
    main()
