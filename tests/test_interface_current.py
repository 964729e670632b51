"""The exact current solver against independent truths: Holm's single spot, Barber's stiffness
analogy, and the charge-transfer-dominated limit R -> R_ct / A."""

from __future__ import annotations

import numpy as np
import pytest

from twin.interface import reference as ref

E_STAR = 1000.0


def disc(n: int, radius: float) -> np.ndarray:
    x = np.arange(n) - n / 2 + 0.5
    return x[:, None] ** 2 + x[None, :] ** 2 <= radius * radius


@pytest.mark.parametrize("n,radius", [(256, 8), (256, 16), (256, 24)])
def test_holm_single_spot(n: int, radius: int) -> None:
    """R = rho psi(a/b) / (4a) per spot (psi: flux-tube factor of the periodic cell), and the
    equipotential disc's current density at its centre is half its mean (j ~ 1/sqrt(a^2 - r^2))."""
    mask = disc(n, radius)
    a = np.sqrt(mask.sum() / np.pi)
    res = ref.solve_current(mask, dx_um=1.0, resistivity_ohm_cm=1.0, r_ct_ohm_cm2=0.0)
    assert res.converged
    holm_um = n * n * ref.holm_flux_tube_factor(a / (n / np.sqrt(np.pi))) / (4.0 * a)
    assert res.r_int_ohm_cm2 * 1e4 == pytest.approx(holm_um, rel=0.03)
    j = res.current_density
    assert j[n // 2, n // 2] / j[mask].mean() == pytest.approx(0.5, abs=0.03)
    assert j[~mask].max() == 0.0 and j.mean() == pytest.approx(1.0, rel=1e-9)
    assert res.hotspot_q99 > 2.0  # the rim singularity of the primary distribution


def test_spot_resistance_scales_with_resistivity_and_grid() -> None:
    """Units: doubling rho doubles R; the same spot on a grid twice as fine (dx/2) gives the same R
    for a spot of the same physical size."""
    coarse = ref.solve_current(disc(128, 8), 2.0, 500.0, 0.0)
    fine = ref.solve_current(disc(256, 16), 1.0, 500.0, 0.0)
    assert fine.r_int_ohm_cm2 == pytest.approx(coarse.r_int_ohm_cm2, rel=0.03)
    double = ref.solve_current(disc(128, 8), 2.0, 1000.0, 0.0)
    assert double.r_int_ohm_cm2 == pytest.approx(2.0 * coarse.r_int_ohm_cm2, rel=1e-6)


@pytest.fixture(scope="module")
def rough() -> ref.Surface:
    return ref.self_affine_surface(256, 1.0, 0.8, 64.0, 16.0, sdq=0.1, seed=31)


@pytest.mark.parametrize("pn", [0.05, 0.2, 0.5])
def test_barber_stiffness_analogy(rough: ref.Surface, pn: float) -> None:
    """With equipotential spots the constriction equals E* rho / (2K), K = -dp/d(mean gap)."""
    c = ref.solve_contact(rough, pn * E_STAR * rough.sdq, E_STAR)
    r = ref.solve_current(c.pressure_mpa, 1.0, 1.0, 0.0)
    barber_um = E_STAR / (2.0 * c.stiffness_mpa_per_um)
    assert r.r_int_ohm_cm2 * 1e4 == pytest.approx(barber_um, rel=0.03)


def test_charge_transfer_dominated_limit_is_r_ct_over_area(rough: ref.Surface) -> None:
    """L_ct = R_ct/rho far above the spot size: the current is uniform on the spots, R -> R_ct / A,
    the micro hot-spot factor -> 1; and R always lies between R_ct/A + r_c(equipotential) and
    R_ct/A + r_c(uniform flux) (Thomson's principle)."""
    c = ref.solve_contact(rough, 0.2 * E_STAR * rough.sdq, E_STAR, stiffness=False)
    area = c.contact_fraction
    r0 = ref.solve_current(c.pressure_mpa, 1.0, 500.0, 0.0)
    ell = rough.sq_um / rough.sdq
    previous = previous_q99 = None
    for beta in (0.3, 3.0, 30.0, 3000.0):
        r_ct = 500.0 * beta * ell * 1e-4
        res = ref.solve_current(c.pressure_mpa, 1.0, 500.0, r_ct)
        assert res.r_ct_ohm_cm2 == pytest.approx(r_ct / area)
        assert res.r_spread_ohm_cm2 >= r0.r_int_ohm_cm2 * (1 - 1e-6)  # charge transfer never helps constriction
        gain = res.r_spread_ohm_cm2 / r0.r_int_ohm_cm2
        assert gain < 2.0
        if previous is not None and previous_q99 is not None:
            assert gain >= previous - 1e-6 and res.hotspot_q99 <= previous_q99 + 1e-6
        previous, previous_q99 = gain, res.hotspot_q99
    assert res.r_int_ohm_cm2 * area / r_ct == pytest.approx(1.0, abs=0.01)
    assert res.hotspot_q99 == pytest.approx(1.0, abs=0.01)


def test_full_contact_and_bad_input() -> None:
    full = ref.solve_current(np.ones((32, 32), bool), 1.0, 500.0, 3.0)
    assert full.r_int_ohm_cm2 == pytest.approx(3.0) and full.r_spread_ohm_cm2 == 0.0
    with pytest.raises(ValueError, match="no contact"):
        ref.solve_current(np.zeros((32, 32), bool), 1.0, 500.0, 3.0)
    with pytest.raises(ValueError):
        ref.solve_current(np.ones((32, 32), bool), -1.0, 500.0, 3.0)
