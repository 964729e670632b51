"""The glovebox queries the line uses on every cell are exact shortcuts: `advance` leaves the
model where `step` leaves it (only the sensor reading is skipped), `any_excursion_between`
equals `bool(excursions_between(...))`, and `max_between` equals the stacked-array maximum."""
from __future__ import annotations

import numpy as np

from plant.glovebox import GloveboxAtmosphere, load_glovebox_spec


def _max_stacked(box: GloveboxAtmosphere, t0: float, t1: float) -> tuple[float, float]:
    import bisect

    t1 = min(t1, box.t_s)
    t0 = min(t0, t1)
    cands = [box.value_at(t0), box.value_at(t1)]
    for k in range(bisect.bisect_right(box._seg_t, t0), bisect.bisect_right(box._seg_t, t1)):
        cands.append(box._seg_c0[k])
        dt = box._seg_t[k] - box._seg_t[k - 1]
        cands.append(box._seg_ceq[k - 1] + (box._seg_c0[k - 1] - box._seg_ceq[k - 1]) * np.exp(-dt / box._tau))
    m = np.max(np.vstack(cands), axis=0)
    return float(m[0]), float(m[1])


def test_fast_queries_equal_the_plain_ones():
    spec = load_glovebox_spec()
    stepped = GloveboxAtmosphere(spec, np.random.default_rng(1))
    advanced = GloveboxAtmosphere(spec, np.random.default_rng(2))
    events = np.random.default_rng(7)
    windows = 0
    for _ in range(3000):
        dt = float(events.exponential(600.0))
        stepped.step(dt)
        advanced.advance(dt)
        u = events.random()
        if u < 0.05:
            duration = float(events.uniform(100, 5000))
            for box in (stepped, advanced):
                box.inject_leak(duration_s=duration)
        elif u < 0.25:
            for box in (stepped, advanced):
                box.antechamber_cycle()
        t1 = advanced.t_s
        t0 = t1 - float(events.exponential(900.0))
        assert stepped.true_ppm() == advanced.true_ppm()
        assert bool(advanced.excursions_between(t0, t1)) == advanced.any_excursion_between(t0, t1)
        got = advanced.max_between(t0, t1)
        assert (got["o2_ppm"], got["h2o_ppm"]) == _max_stacked(advanced, t0, t1)
        windows += advanced.any_excursion_between(t0, t1)
    assert [e.as_dict() for e in stepped.excursions] == [e.as_dict() for e in advanced.excursions]
    assert 0 < windows < 3000  # both answers occur
