"""Property tests of the fast model (Hypothesis): over the whole physical input box the short
probability never falls as a roughness measure (Sq, Sdq, PV, waviness amplitude, 1/wavelength)
or the pressure CV rises; the 5%-region contact never exceeds the mean; outputs stay in bounds;
each hot-spot term is bounded and monotone in its own driver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.interface import evaluate, load_params
from twin.interface.contact import wave_contact
from twin.interface.fast import FAST_MODEL
from twin.interface.transport import peak_hotspot_factor, spheroid_field_enhancement

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
N = 64  # cells per example: each example checks a batch
TOL = 1e-9  # float rounding of the closed forms


@st.composite
def cells(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """A batch of cells spread over the physical input box (seeded by Hypothesis)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sq = rng.uniform(0.03, 1.5, N)
    return {
        "pressure_mpa": rng.uniform(5.0, 700.0, N),
        "pressure_cv": rng.uniform(0.0, 0.4, N),
        "hold_s": rng.choice([0.0, 1.0, 10.0, 60.0, 600.0, 3600.0], N) * rng.uniform(0.5, 1.5, N),
        "temperature_c": rng.uniform(0.0, 150.0, N),
        "sq_um": sq,
        "sdq": rng.uniform(0.01, 0.8, N),
        "pv_um": sq * rng.uniform(1.0, 15.0, N),
        "waviness_um": rng.uniform(0.0, 10.0, N),
        "waviness_mm": rng.uniform(0.3, 20.0, N),
        "current_ma_cm2": rng.uniform(0.01, 5.0, N),
        "stack_pressure_mpa": rng.uniform(0.5, 60.0, N),
        "cutoff_um": rng.uniform(0.5, 10.0, N),
        "operating_temperature_c": rng.uniform(-20.0, 80.0, N),
    }


ROUGHER = {
    "sq_um": lambda c, f: {"sq_um": c["sq_um"] * f, "pv_um": np.maximum(c["pv_um"], c["sq_um"] * f)},
    "sdq": lambda c, f: {"sdq": np.minimum(c["sdq"] * f, 3.0)},
    "pv_um": lambda c, f: {"pv_um": c["pv_um"] * f},
    "waviness_um": lambda c, f: {"waviness_um": c["waviness_um"] * f + 0.01},
    "waviness_mm": lambda c, f: {"waviness_mm": np.maximum(c["waviness_mm"] / f, 0.3)},
    "pressure_cv": lambda c, f: {"pressure_cv": np.minimum(c["pressure_cv"] * f + 0.005, 1.0)},
}


@pytest.mark.parametrize("measure", sorted(ROUGHER))
@SETTINGS
@given(c=cells(), factor=st.floats(1.01, 3.0))
def test_short_probability_never_falls_when_the_interface_gets_rougher(measure, c, factor) -> None:
    before = evaluate(**c)["p_short"]
    after = evaluate(**{**c, **ROUGHER[measure](c, factor)})["p_short"]
    assert np.all(after >= before - TOL), (measure, float((after - before).min()))


@SETTINGS
@given(c=cells())
def test_outputs_in_bounds_and_low_region_below_mean(c) -> None:
    q = evaluate(**c)
    for out in FAST_MODEL.outputs:
        assert not np.any(out.outside(q[out.name])), out.name
    assert np.all(q["contact_fraction_p05"] <= q["contact_fraction"] + TOL)
    np.testing.assert_allclose(q["void_fraction"], 1.0 - q["contact_fraction"], atol=1e-12)


@SETTINGS
@given(c=cells(), factor=st.floats(1.01, 3.0))
def test_more_pressure_or_hold_never_opens_voids(c, factor) -> None:
    base = evaluate(**c)
    for change in ({"pressure_mpa": np.minimum(c["pressure_mpa"] * factor, 3000.0)},
                   {"hold_s": c["hold_s"] * factor + 1.0}):
        q = evaluate(**{**c, **change})
        assert np.all(q["void_fraction"] <= base["void_fraction"] + TOL)
        assert np.all(q["r_int_ohm_cm2"] <= base["r_int_ohm_cm2"] * (1 + TOL))


def test_peak_term_bounded_and_monotone_in_pv() -> None:
    p = load_params()
    pv = np.linspace(0.0, 200.0, 401)
    f = peak_hotspot_factor(pv, p.peak_tip_radius_um, p.charge_transfer_length_um)
    assert f[0] == 1.0 and np.all(np.diff(f) >= 0)
    beta = spheroid_field_enhancement(np.sqrt(0.5 * pv / p.peak_tip_radius_um))
    assert np.all(f <= beta + 1e-12)
    assert spheroid_field_enhancement(np.array([1.0]))[0] == pytest.approx(3.0)  # hemisphere
    assert spheroid_field_enhancement(np.array([1e-6]))[0] == pytest.approx(1.0, abs=1e-5)  # flat disc
    m = np.array([0.999, 1.001])
    assert np.ptp(spheroid_field_enhancement(m)) < 0.01  # continuous through the sphere


def test_wave_term_johnson_closure() -> None:
    """Share (2/pi) arcsin sqrt(p/p*) below closure, 1 at and above; crest pressure continuous."""
    p_star = np.full(5, 100.0)
    p = np.array([1.0, 25.0, 50.0, 100.0, 200.0])
    share, crest = wave_contact(p, p_star)
    np.testing.assert_allclose(share[:3], 2 / np.pi * np.arcsin(np.sqrt(p[:3] / 100.0)))
    assert share[3] == share[4] == 1.0 and np.all(np.diff(share[:4]) > 0)
    near = wave_contact(np.array([99.999, 100.001]), np.array([100.0, 100.0]))[1]
    assert np.ptp(near) < 0.01
    assert np.all(np.diff(crest) > 0)
