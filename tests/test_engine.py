"""twin.engine runs the same events in the same order as plain SimPy: whole replications with
FastEnvironment and LeanResource equal those with simpy.Environment and simpy.Resource
(KPIs, every cell record, every visit), and FastEnvironment.run stops where SimPy stops."""
from __future__ import annotations

import simpy
import pytest

from tests.helpers import SCENARIOS
from twin.engine import FastEnvironment, LeanResource
from twin.scenario import load_scenario_data, parse_scenario


def _replication(sc, plain: bool, monkeypatch):
    import twin.line
    import twin.stations.base
    from twin.line import Line
    from twin.replication import quality_keys
    from twin.store import cell_row

    with monkeypatch.context() as m:
        if plain:
            m.setattr(twin.line, "LeanResource", simpy.Resource)
            m.setattr(twin.stations.base, "LeanResource", simpy.Resource)
        line = Line(sc, 1, seed=3, env=simpy.Environment() if plain else None)
        assert isinstance(line.env, FastEnvironment) != plain
        kpis = line.run()
    keys = quality_keys(sc)
    return kpis, [cell_row(1, c, keys) for c in line.cells], list(line.visits)


@pytest.mark.parametrize("name,hours", [("baseline", 120.0), ("whatif_vessel_count", 120.0),
                                        ("validation_jackson", 3000.0), ("hil_pilot", 60.0)])
def test_lean_engine_equals_plain_simpy(name, hours, monkeypatch):
    data = load_scenario_data(SCENARIOS / f"{name}.yaml")
    data["run"].update(duration_h=hours, warmup_h=min(data["run"].get("warmup_h", 0.0), hours / 4))
    sc = parse_scenario(data, name, base_dir=SCENARIOS)
    fast = _replication(sc, False, monkeypatch)
    plain = _replication(sc, True, monkeypatch)
    assert fast[0] == plain[0] or repr(fast[0]) == repr(plain[0])  # nan-safe
    assert fast[1] == plain[1] or repr(fast[1]) == repr(plain[1])
    assert fast[2] == plain[2]
    assert len(fast[2]) > 100


def test_run_until_stops_where_simpy_stops():
    def trace(env):
        log = []

        def proc(name, delays):
            for d in delays:
                yield env.timeout(d)
                log.append((env.now, name))

        def urgent_at_5():
            yield env.timeout(5.0)
            ev = env.event()
            ev.callbacks.append(lambda e: log.append((env.now, "urgent")))
            ev._ok, ev._value = True, None
            env.schedule(ev, simpy.events.URGENT)  # same time, before the stop: runs
            env.timeout(0.0).callbacks.append(lambda e: log.append((env.now, "normal")))  # after the stop
            log.append((env.now, "at 5"))

        env.process(proc("a", [1.0, 2.0, 2.0, 3.0]))
        env.process(proc("b", [5.0, 0.0]))
        env.process(urgent_at_5())
        res = simpy.Resource(env, 1) if not isinstance(env, FastEnvironment) else LeanResource(env, 1)

        def user(i):
            req = res.request()
            yield req
            log.append((env.now, f"got {i}"))
            yield env.timeout(0.5)
            res.release(req)

        for i in range(3):
            env.process(user(i))
        env.run(until=5.0)
        first = (list(log), env.now)
        env.run(until=9.0)
        return first, list(log), env.now

    assert trace(FastEnvironment()) == trace(simpy.Environment())
    with pytest.raises(ValueError):
        FastEnvironment(initial_time=3.0).run(until=2.0)
