"""The asyncio real-time clock: pacing, immediate wake on device completions, coroutine
results and errors, lag reporting and policies, clean cancellation.

Timing checks are one-sided or carry generous slack so a loaded machine does not fail them:
sleeping can overshoot but never undershoot, so lower bounds are tight and upper bounds loose."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
import simpy

from twin.clock import AsyncRealtimeEnvironment, ClockLagError

H = 3600.0  # sim seconds per sim hour: time_scale = sim seconds per wall second


def run_async(coro, timeout: float = 5.0):
    """Run `coro` on a fresh loop, bounded so a hang fails the test instead of stalling it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def scale_for(sim_h: float, wall_s: float) -> float:
    """The time scale at which `sim_h` simulated hours take `wall_s` wall seconds."""
    return sim_h * H / wall_s


def test_time_scale_maps_sim_hours_to_wall_seconds():
    env = AsyncRealtimeEnvironment(time_scale=7200.0)
    assert env.sim_units_per_wall_s == pytest.approx(2.0)
    assert env.sim_time_of(env.wall_time_of(3.5)) == pytest.approx(3.5)
    with pytest.raises(ValueError):
        AsyncRealtimeEnvironment(time_scale=0)
    with pytest.raises(ValueError):
        AsyncRealtimeEnvironment(on_lag="ignore")  # type: ignore[arg-type]


def test_timeout_takes_scaled_wall_time_and_stops_at_until():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(10.0, 0.3))
    seen: list[tuple[float, float]] = []

    def proc():
        yield env.timeout(10.0)
        seen.append((env.now, time.monotonic()))

    async def main():
        env.process(proc())
        t0 = time.monotonic()
        await env.run(until=12.0)
        return t0, time.monotonic()

    t0, t_end = run_async(main())
    (t_sim, t_wall), = seen
    assert t_sim == 10.0
    assert 0.3 * 0.98 <= t_wall - t0 < 0.3 + 0.5
    assert env.now == 12.0
    assert 0.36 * 0.98 <= t_end - t0 < 0.36 + 0.5  # waits out the pacing up to `until`
    stats = env.stats()
    assert stats.events >= 2 and stats.late_events == 0
    assert 0.0 < stats.max_s < 0.1  # woken a hair after each due time, never before


def test_external_completion_wakes_sim_at_mapped_time_before_far_event():
    scale = scale_for(10.0, 1.0)  # 10 sim h per wall second
    env = AsyncRealtimeEnvironment(time_scale=scale)
    ev = env.external_event()
    far = env.timeout(1000.0)  # due 100 wall seconds away
    out: dict[str, float] = {}

    def proc():
        value = yield ev
        out.update(value=value, sim=env.now, wall=time.monotonic())

    async def device():
        await asyncio.sleep(0.2)
        env.complete(ev, 7)

    async def main():
        p = env.process(proc())
        asyncio.get_running_loop().create_task(device())
        out["t0"] = time.monotonic()
        await env.run(until=p)

    run_async(main())
    assert out["value"] == 7
    assert not far.processed
    assert out["wall"] - out["t0"] < 0.2 + 0.5  # woken by the completion, not the far event
    expected = 0.2 * scale / H  # 2 sim hours
    assert expected * 0.98 <= out["sim"] <= expected * 1.3 + 0.5
    assert env.stats().external == 1


def test_complete_threadsafe_from_another_thread():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(10.0, 1.0))
    ev = env.external_event()

    def proc():
        return (yield ev)

    async def main():
        p = env.process(proc())
        loop_started = threading.Event()

        def worker():
            loop_started.wait(2.0)
            time.sleep(0.1)
            env.complete_threadsafe(ev, "done")

        threading.Thread(target=worker, daemon=True).start()
        loop_started.set()
        return await env.run(until=p)

    assert run_async(main()) == "done"
    assert 1.0 * 0.98 <= env.now < 1.0 * 1.3 + 0.5  # 0.1 wall s at 10 sim h per wall s


def test_run_coroutine_result_and_exception_reach_the_process():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.1))
    got: list = []

    async def ok():
        await asyncio.sleep(0.05)
        return {"sq_um": 0.4}

    async def broken():
        await asyncio.sleep(0.01)
        raise ConnectionError("device went away")

    def proc():
        got.append((yield env.run_coroutine(ok())))
        try:
            yield env.run_coroutine(broken())
        except ConnectionError as exc:
            got.append(str(exc))
        got.append(env.now)

    env.process(proc())
    run_async(env.run())  # no `until`: returns once nothing is scheduled or awaited
    assert got[0] == {"sq_um": 0.4}
    assert got[1] == "device went away"
    assert got[2] > 0.0


def test_unhandled_coroutine_error_propagates_out_of_run():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.1))

    async def broken():
        raise ValueError("bad recipe")

    def proc():
        yield env.run_coroutine(broken())

    env.process(proc())
    with pytest.raises(ValueError, match="bad recipe"):
        run_async(env.run(until=100.0))


def test_completion_of_an_abandoned_event_is_ignored():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.05))
    ev = env.external_event()

    def proc():
        result = yield ev | env.timeout(1.0)
        return ev in result

    async def main():
        p = env.process(proc())
        won = await env.run(until=p)
        env.complete(ev, "late")  # the device answers after the station gave up
        ev.succeed("timed out")  # the station marks it resolved itself
        await env.run(until=env.now + 0.5)
        return won

    assert run_async(main()) is False
    assert ev.value == "timed out"


def slow_line(env: AsyncRealtimeEnvironment, stamps: list[float], sleep_s: float) -> None:
    """Twenty 1-hour steps; the third step blocks the loop for `sleep_s` (a slow model)."""

    def proc():
        for i in range(20):
            yield env.timeout(1.0)
            stamps.append(time.monotonic())
            if i == 2:
                time.sleep(sleep_s)

    env.process(proc())


def test_lag_policy_raise():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.02), lag_threshold_s=0.1, on_lag="raise")
    slow_line(env, [], 0.3)
    with pytest.raises(ClockLagError) as info:
        run_async(env.run(until=30.0))
    assert info.value.lag_s > 0.1
    assert env.max_lag_s > 0.1


def test_lag_policy_warn_catches_up(caplog):
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.02), lag_threshold_s=0.1, on_lag="warn")
    stamps: list[float] = []
    slow_line(env, stamps, 0.3)
    with caplog.at_level(logging.WARNING, logger="twin.clock"):
        run_async(env.run(until=30.0))
    assert len(stamps) == 20 and env.now == 30.0
    assert env.max_lag_s >= 0.2
    assert env.stats().late_events >= 1 and env.stats().rebases == 0
    assert any("behind the wall clock" in r.getMessage() for r in caplog.records)
    gaps = [b - a for a, b in zip(stamps[3:], stamps[4:])]
    assert sum(g < 0.01 for g in gaps) >= 3  # overdue steps run back to back to catch up
    assert env.lag_s < 0.1  # caught up by the end


def test_lag_policy_rebase_keeps_pacing():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.02), lag_threshold_s=0.1, on_lag="rebase")
    stamps: list[float] = []
    slow_line(env, stamps, 0.3)
    run_async(env.run(until=30.0))
    stats = env.stats()
    assert len(stamps) == 20
    assert stats.rebases >= 1 and stats.rebased_s >= 0.2
    assert stats.rebased_sim == pytest.approx(stats.rebased_s * 50.0)
    gaps = [b - a for a, b in zip(stamps[3:], stamps[4:])]
    assert min(gaps) > 0.005  # no catch-up burst after the slow step
    assert stamps[-1] - stamps[3] >= 16 * 0.02 * 0.98  # the later steps keep their full pace
    assert env.max_lag_s >= 0.2 and env.lag_s < 0.1


def test_cancel_stops_cleanly_and_cancels_device_calls():
    env = AsyncRealtimeEnvironment(time_scale=1.0)
    state = {"cancelled": False}

    async def long_call():
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    def proc():
        yield env.run_coroutine(long_call())

    async def main():
        env.process(proc())
        task = asyncio.get_running_loop().create_task(env.run(until=1e6))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_async(main())
    assert state["cancelled"]


def test_idle_wait_does_not_busy_loop():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.4))
    env.timeout(1.0)
    cpu0, wall0 = time.process_time(), time.monotonic()
    run_async(env.run(until=1.0))
    assert time.monotonic() - wall0 >= 0.4 * 0.98
    assert time.process_time() - cpu0 < 0.2  # sleeping, not spinning


def test_until_event_without_any_way_to_fire_raises():
    env = AsyncRealtimeEnvironment(time_scale=H)
    with pytest.raises(RuntimeError, match="until"):
        run_async(env.run(until=env.event()))


def test_works_with_simpy_resources():
    env = AsyncRealtimeEnvironment(time_scale=scale_for(1.0, 0.01))
    res = simpy.Resource(env, capacity=1)
    done: list[float] = []

    def user():
        with res.request() as req:
            yield req
            yield env.timeout(1.0)
            done.append(env.now)

    for _ in range(3):
        env.process(user())
    run_async(env.run())
    assert done == [1.0, 2.0, 3.0]
