"""Line-twin speed: cells simulated per wall-clock second on the baseline scenario
(1 replication), against a minimal hand-written SimPy model of the same line.

Prints three figures:
- the framework on the shipped baseline (press, metrology and glovebox physics in the loop);
- the framework on the same line with physics replaced by the nominal cycle times
  (what the minimal model does), i.e. the framework's own overhead;
- the minimal model, and the ratio framework / minimal.

Usage: python bench/bench_line.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import simpy

from twin.scenario import load_scenario_data, parse_scenario
from twin.simulation import run_replication

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"


def physics_free(data: dict) -> dict:
    """The baseline with press cycles at their nominal duration and no atmosphere model."""
    from plant.press import Recipe, load_press_spec, nominal_cycle_s

    d = copy.deepcopy(data)
    for st in d["stations"].values():
        if st["kind"] == "batch" and "press" in st:
            press = st.pop("press")
            cycle_h = nominal_cycle_s(load_press_spec(press["spec"]), Recipe(**press["recipe"])) / 3600.0
            st["process_time_h"] = {"dist": "fixed", "value": cycle_h}
        if st["kind"] == "metrology":
            st["kind"] = "process"
            st.pop("instrument", None)
    for res in d.get("resources", {}).values():
        res.pop("atmosphere", None)
    d["quality"] = {"mode": "fixed"}
    return d


def minimal_model(data: dict, seed: int = 1) -> int:
    """A hand-written SimPy model of the physics-free baseline: same stations, buffers,
    batch rule, glovebox places, breakdowns, shift and rework loop; no records."""
    rnd = random.Random(seed)
    env = simpy.Environment()
    st = data["stations"]
    run = data["run"]
    done = [0]

    def draw(d):
        k = d["dist"]
        if k == "fixed":
            return d["value"]
        if k == "exponential":
            return rnd.expovariate(1.0 / d["mean"])
        if k == "triangular":
            return rnd.triangular(d["low"], d["high"], d["mode"])
        if k == "normal":
            while True:
                x = rnd.gauss(d["mean"], d["sd"])
                if x >= d.get("low", 0.0):
                    return x
        if k == "lognormal":
            import math

            s2 = math.log1p((d["sd"] / d["mean"]) ** 2)
            return rnd.lognormvariate(math.log(d["mean"]) - s2 / 2, math.sqrt(s2))
        raise ValueError(k)

    class Stn:
        def __init__(self, name):
            c = st[name]
            self.c = c
            self.res = simpy.Resource(env, c.get("servers", 1))
            per = c.get("batch", {}).get("capacity_cells", 1)
            cap = c.get("buffer_capacity")
            self.slots = None if cap is None else simpy.Resource(env, cap + c.get("servers", 1) * per)
            self.down = 0
            self.up = env.event()
            self.active = set()

    S = {n: Stn(n) for n in st}
    box = simpy.Resource(env, data["resources"]["glovebox"]["capacity"])

    def go_down(s):
        s.down += 1
        if s.down == 1:
            for p in list(s.active):
                p.interrupt()

    def go_up(s):
        s.down -= 1
        if s.down == 0:
            s.up, ev = env.event(), s.up
            ev.succeed()

    def breakdowns(s):
        b = s.c["breakdowns"]
        while True:
            yield env.timeout(rnd.expovariate(1.0 / b["mtbf_h"]))
            go_down(s)
            yield env.timeout(draw(b["mttr_h"]))
            go_up(s)

    def shifts(s):
        sh = s.c["shifts"]
        base = 0.0
        go_down(s)
        while True:
            for a, b in sh["windows_h"]:
                yield env.timeout(base + a - env.now)
                go_up(s)
                yield env.timeout(base + b - env.now)
                go_down(s)
            base += sh["period_h"]

    def work(s, t):
        p = env.active_process
        while True:
            while s.down:
                yield s.up
            t0 = env.now
            s.active.add(p)
            try:
                yield env.timeout(t)
                return
            except simpy.Interrupt:
                t -= env.now - t0
            finally:
                s.active.discard(p)

    def handoff(s, nxt, slot):
        new = None
        if nxt is not None and nxt.slots is not None:
            new = nxt.slots.request()
            yield new
        if s.slots is not None:
            s.slots.release(slot)
        return new

    waiting = {n: [] for n in st if st[n]["kind"] == "batch"}
    arrived = {n: env.event() for n in waiting}

    def vessel(name):
        s = S[name]
        rule = s.c["batch"]
        cap, mn, to = rule["capacity_cells"], rule.get("min_cells", 1), rule.get("timeout_h")
        w = waiting[name]
        while True:
            while not w:
                yield arrived[name]
            deadline = w[0][1] + to if to is not None else float("inf")
            while len(w) < cap:
                if env.now >= deadline and len(w) >= mn:
                    break
                if env.now >= deadline or deadline == float("inf"):
                    yield arrived[name]
                else:
                    yield arrived[name] | env.timeout(deadline - env.now)
            while s.down:
                yield s.up
            batch = w[:cap]
            del w[:cap]
            if not batch:
                continue
            yield from work(s, draw(s.c["process_time_h"]))
            for ev, _ in batch:
                ev.succeed()

    def cell(slot):
        name = data["source"]["first"]
        reworks = 0
        while name not in ("sink", "scrap"):
            s = S[name]
            c = s.c
            if c["kind"] == "batch":
                ev = env.event()
                waiting[name].append((ev, env.now))
                a, arrived[name] = arrived[name], env.event()
                a.succeed()
                yield ev
                nxt = c["next"]
                slot = yield from handoff(s, S.get(nxt), slot)
                name = nxt
                continue
            req = s.res.request()
            yield req
            place = None
            if c["kind"] == "glovebox":
                place = box.request()
                yield place
            yield from work(s, draw(c["process_time_h"]))
            if place is not None:
                box.release(place)
            if c["kind"] == "inspect":
                u = rnd.random()
                q = c["fixed"]
                if u < q["p_accept"]:
                    nxt = c["on_accept"]
                elif u < q["p_accept"] + q["p_rework"] and reworks < 2:
                    reworks += 1
                    nxt = c["on_rework"]
                else:
                    nxt = c["on_reject"]
            else:
                nxt = c["next"]
            slot = yield from handoff(s, S.get(nxt), slot)
            s.res.release(req)
            name = nxt
        done[0] += 1

    def source():
        first = S[data["source"]["first"]]
        while True:
            yield env.timeout(draw(data["source"]["interarrival_h"]))
            slot = first.slots.request() if first.slots is not None else None
            if slot is not None:
                yield slot
            env.process(cell(slot))

    for n, s in S.items():
        if "breakdowns" in s.c:
            env.process(breakdowns(s))
        if "shifts" in s.c:
            env.process(shifts(s))
        if n in waiting:
            for _ in range(s.c.get("servers", 1)):
                env.process(vessel(n))
    env.process(source())
    env.run(until=run["duration_h"])
    return done[0]


def timed(fn, repeat: int) -> tuple[float, int]:
    best, cells = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        cells = fn()
        best = min(best, time.perf_counter() - t0)
    return best, cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = load_scenario_data(BASELINE)
    shipped = parse_scenario(data, "baseline")
    plain_data = physics_free(data)
    plain = parse_scenario(plain_data, "baseline-physics-free")

    def framework(sc):
        return lambda: len(run_replication(sc, 0).cell_rows)

    t_ship, n_ship = timed(framework(shipped), args.repeat)
    t_plain, n_plain = timed(framework(plain), args.repeat)
    t_min, n_min = timed(lambda: minimal_model(plain_data), args.repeat)
    print(f"baseline, 1 replication of {shipped.run.duration_h:g} h, best of {args.repeat}")
    print(f"  framework, physics in the loop : {n_ship / t_ship:10.0f} cells/s  ({n_ship} cells in {t_ship:.2f} s)")
    print(f"  framework, nominal cycle times : {n_plain / t_plain:10.0f} cells/s  ({n_plain} cells in {t_plain:.2f} s)")
    print(f"  minimal hand-written SimPy     : {n_min / t_min:10.0f} cells/s  ({n_min} cells in {t_min:.2f} s)")
    print(f"  framework overhead (time per cell, framework / minimal): {(t_plain / n_plain) / (t_min / n_min):.2f}x")


if __name__ == "__main__":
    main()
