"""Collector lots and the profilometer: distributions, noise, bandwidth, height maps."""
import numpy as np
import pytest

from plant.metrology import (MEASURE_KEYS, height_map, load_collector_lot, load_profilometer_spec,
                             measure, sample_lot)


def test_lot_medians_and_keys():
    lot = load_collector_lot("electrolytic_cu_matte")
    true = sample_lot(lot, 20000, np.random.default_rng(0))
    assert set(true) == set(MEASURE_KEYS)
    assert np.median(true["sq_um"]) == pytest.approx(lot.sq_um.median, rel=0.03)
    assert np.median(true["waviness_mm"]) == pytest.approx(lot.waviness_mm.median, rel=0.03)
    assert np.corrcoef(np.log(true["sq_um"]), np.log(true["sdq"]))[0, 1] == pytest.approx(
        lot.correlation["sq_um"]["sdq"], abs=0.03)
    # PV is Sq times an independent PV/Sq ratio of median 7 (the lot's source)
    assert np.median(true["pv_um"] / true["sq_um"]) == pytest.approx(7.0, rel=0.03)
    assert np.corrcoef(np.log(true["sdq"]), np.log(true["pv_um"]))[0, 1] == pytest.approx(
        lot.correlation["sdq"]["pv_um"], abs=0.03)


def test_measure_noise_scale():
    spec = load_profilometer_spec()
    rng = np.random.default_rng(1)
    true = {k: np.ones(20000) for k in MEASURE_KEYS}
    m = measure(true, rng, spec)
    assert set(m) == set(MEASURE_KEYS)
    assert m["sq_um"].std() == pytest.approx(spec.sq_noise_frac, rel=0.05)
    assert m["pv_um"].mean() == pytest.approx(1.0, abs=0.01)


def test_scalar_measure_and_bandwidth():
    spec = load_profilometer_spec()
    lot = load_collector_lot("rolled_cu")
    true = {"sq_um": 0.1, "sdq": 0.05, "pv_um": 0.6, "waviness_um": 0.5, "waviness_mm": 3.0}
    m = measure(true, np.random.default_rng(2), spec, lot)
    assert np.ndim(m["sq_um"]) == 0
    ratio = (lot.cutoff_um / spec.cutoff_short_um) ** (1 - lot.hurst)
    assert float(m["sdq"]) == pytest.approx(0.05 * ratio, rel=6 * spec.sdq_noise_frac)


def test_height_map_matches_sq_and_sdq():
    meas = {"sq_um": 0.4, "sdq": 0.2}
    h, dx = height_map(meas, 64, np.random.default_rng(3))
    assert h.shape == (64, 64)
    assert h.std() == pytest.approx(0.4, rel=1e-6)
    gy, gx = np.gradient(h, dx)
    assert np.sqrt(np.mean(gx ** 2 + gy ** 2)) == pytest.approx(0.2, rel=0.2)


def test_unknown_lot():
    from plant.spec_files import SpecError

    with pytest.raises(SpecError, match="gold_leaf"):
        load_collector_lot("gold_leaf")
