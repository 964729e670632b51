"""Glovebox atmosphere: purifier equilibrium, exact large steps, spikes, leaks, excursions."""
import numpy as np
import pytest

from plant.glovebox import GloveboxAtmosphere, load_glovebox_spec


def _box(seed=0):
    return GloveboxAtmosphere(load_glovebox_spec(), np.random.default_rng(seed))


def test_relaxes_to_equilibrium():
    spec = load_glovebox_spec()
    g = _box()
    g.step(50 * spec.h2o_purifier_tau_s)
    o2, h2o = g.true_ppm()
    assert o2 == pytest.approx(spec.o2_floor_ppm + spec.o2_ingress_ppm_s * spec.o2_purifier_tau_s)
    assert h2o == pytest.approx(spec.h2o_floor_ppm + spec.h2o_ingress_ppm_s * spec.h2o_purifier_tau_s)
    assert g.excursions == []


def test_one_big_step_equals_many_small():
    a, b = _box(), _box()
    a.inject_leak(); b.inject_leak()
    a.step(3000.0)
    for _ in range(300):
        b.step(10.0)
    assert a.true_ppm() == pytest.approx(b.true_ppm(), rel=1e-9)
    assert len(a.excursions) == len(b.excursions) == 2
    key = lambda e: e.species  # noqa: E731
    for ea, eb in zip(sorted(a.excursions, key=key), sorted(b.excursions, key=key)):
        assert ea.start_s == pytest.approx(eb.start_s)
        assert ea.peak_ppm == pytest.approx(eb.peak_ppm)


def test_leak_excursion_recorded_with_start_end_peak():
    spec = load_glovebox_spec()
    g = _box()
    g.step(100.0)
    g.inject_leak()
    g.step(spec.leak_duration_s + 20 * spec.h2o_purifier_tau_s)
    h2o = [e for e in g.excursions if e.species == "h2o_ppm"]
    assert len(h2o) == 1
    e = h2o[0]
    assert 100.0 < e.start_s < e.end_s
    assert e.end_s > 100.0 + spec.leak_duration_s
    assert e.peak_ppm == pytest.approx(g.max_between(0.0, g.t_s)["h2o_ppm"])
    assert g.active_excursions() == [] and not g.leak_active()


def test_antechamber_spike_and_max_between():
    spec = load_glovebox_spec()
    g = _box()
    g.step(1000.0)
    before = g.true_ppm()
    g.antechamber_cycle()
    after = g.true_ppm()
    assert after[0] == pytest.approx(before[0] + spec.antechamber_o2_spike_ppm)
    g.step(5000.0)
    m = g.max_between(999.0, 1001.0)
    assert m["o2_ppm"] == pytest.approx(after[0])
    assert g.max_between(3000.0, 6000.0)["o2_ppm"] < after[0]


def test_measured_has_noise_but_nonnegative():
    g = _box()
    vals = np.array([g.step(1.0) for _ in range(200)])
    assert np.all(vals >= 0) and vals[:, 0].std() > 0
