"""Benchmark of the real-time clock (twin.clock): how late scheduled events are processed
at a few time scales, the cost of one external completion, and the largest time scale at
which a pilot-line-like event stream keeps its lag under a bound.

The synthetic stream stands in for the line: a cell every 0.065 sim hours, 40 events per
cell (exponential gaps, mean 0.005 h), each event burning `--work-us` of Python time in
place of station logic. Time scale = simulated seconds per wall second.

    python bench/bench_clock.py [--wall-s 1.5] [--work-us 20] [--bound-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

import numpy as np

from twin.clock import AsyncRealtimeEnvironment

H = 3600.0
CELL_EVERY_H = 0.065
EVENTS_PER_CELL = 40
STEP_MEAN_H = 0.005


def busy(us: float) -> None:
    """Spin for `us` microseconds (stand-in for a station's Python work per event)."""
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def pilot_stream(env: AsyncRealtimeEnvironment, work_us: float, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)

    def cell(gaps: np.ndarray):
        for gap in gaps:
            yield env.timeout(float(gap))
            busy(work_us)

    def source():
        while True:
            env.process(cell(rng.exponential(STEP_MEAN_H, EVENTS_PER_CELL)))
            yield env.timeout(CELL_EVERY_H)

    env.process(source())


def lag_at(scale: float, wall_s: float, work_us: float) -> tuple[float, float, float, float]:
    """Run the stream for `wall_s` wall seconds at `scale`; (events per wall s, mean, p95, max lateness in ms)."""
    env = AsyncRealtimeEnvironment(time_scale=scale, lag_threshold_s=1e9, on_lag="warn")
    pilot_stream(env, work_us)
    until = wall_s * scale / H
    asyncio.run(asyncio.wait_for(env.run(until=until), wall_s * 20 + 10))
    s = env.stats()
    rate = until * EVENTS_PER_CELL / CELL_EVERY_H / wall_s
    return rate, s.mean_s * 1e3, s.p95_s * 1e3, s.max_s * 1e3


def completion_overhead_us(n: int) -> tuple[float, float]:
    """Wall µs per run_coroutine completion of an instant coroutine, and per bare 0-delay timeout."""

    async def instant() -> int:
        return 1

    async def measure(use_coroutine: bool) -> float:
        env = AsyncRealtimeEnvironment(time_scale=1e12)

        def proc():
            for _ in range(n):
                yield env.run_coroutine(instant()) if use_coroutine else env.timeout(0)

        p = env.process(proc())
        t0 = time.perf_counter()
        await env.run(until=p)
        return (time.perf_counter() - t0) / n * 1e6

    return asyncio.run(measure(True)), asyncio.run(measure(False))


def max_scale(bound_ms: float, wall_s: float, work_us: float) -> float:
    """Largest scale (geometric bisection) whose max lateness stays under `bound_ms` in
    two runs in a row (near capacity a single run passes or fails by luck)."""

    def ok(scale: float) -> bool:
        return all(lag_at(scale, wall_s, work_us)[3] < bound_ms for _ in range(2))

    lo, hi = H, H
    while ok(hi):
        lo, hi = hi, hi * 4
        if hi > 1e9:
            return hi
    if lo == hi:
        lo = hi / 4
    for _ in range(6):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wall-s", type=float, default=1.5, help="wall seconds per lag measurement")
    ap.add_argument("--work-us", type=float, default=20.0, help="Python work per event, µs")
    ap.add_argument("--bound-ms", type=float, default=100.0, help="lag bound for the largest sustainable scale")
    ap.add_argument("--completions", type=int, default=20000)
    args = ap.parse_args()
    gc.collect()

    print(f"pilot-like stream: a cell every {CELL_EVERY_H} h, {EVENTS_PER_CELL} events/cell, "
          f"{args.work_us:g} µs work/event, {args.wall_s:g} s wall per row")
    print(f"{'time scale':>12} {'sim h/wall s':>12} {'events/s':>9} {'mean ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for scale in (60.0, 3600.0, 36000.0, 360000.0):
        rate, mean, p95, mx = lag_at(scale, args.wall_s, args.work_us)
        print(f"{scale:12.0f} {scale / H:12.3g} {rate:9.0f} {mean:8.3f} {p95:8.3f} {mx:8.3f}")

    via_coro, bare = completion_overhead_us(args.completions)
    print(f"external completion via run_coroutine: {via_coro:.1f} µs each "
          f"(a bare 0-delay SimPy timeout: {bare:.1f} µs)")

    best = max_scale(args.bound_ms, min(args.wall_s, 1.0), args.work_us)
    rate, mean, p95, mx = lag_at(best, args.wall_s, args.work_us)
    print(f"largest time scale with max lag < {args.bound_ms:g} ms: {best:.3g} sim s/wall s "
          f"({best / H:.3g} sim h per wall s, {rate:.0f} events/s; check run: p95 {p95:.2f} ms, max {mx:.1f} ms)")


if __name__ == "__main__":
    main()
