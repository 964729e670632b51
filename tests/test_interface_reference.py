"""The exact rough-contact solver against independent truths: Hertz and the BEM literature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from twin.interface import reference as ref

E_STAR = 1000.0


def test_hertz_sphere_on_flat() -> None:
    """Contact radius a = (3FR/4E*)^(1/3) and peak pressure 2E*a/(pi R) within 3 %."""
    n, dx, radius = 256, 1.0, 2000.0
    a_hertz = 0.12 * n * dx  # ~31 grid points across the radius; images 8 radii away
    force = 4.0 * E_STAR * a_hertz**3 / (3.0 * radius)
    r = ref.solve_contact(ref.sphere_surface(n, dx, radius), force / (n * dx) ** 2, E_STAR, stiffness=False)
    assert r.converged
    a = np.sqrt(r.contact_fraction * (n * dx) ** 2 / np.pi)
    p_peak = 2.0 * E_STAR * a_hertz / (np.pi * radius)
    assert a == pytest.approx(a_hertz, rel=0.03)
    assert r.pressure_mpa.max() == pytest.approx(p_peak, rel=0.03)
    assert r.mean_pressure_mpa == pytest.approx(force / (n * dx) ** 2, rel=1e-9)


@pytest.fixture(scope="module")
def surfaces() -> list[ref.Surface]:
    return [
        ref.self_affine_surface(256, 1.0, 0.8, 64.0, 16.0, sdq=0.1, seed=s) for s in range(2)
    ]


def test_surface_normalisation() -> None:
    s = ref.self_affine_surface(128, 0.5, 0.7, sdq=0.2, seed=3)
    assert s.sdq == pytest.approx(0.2, rel=1e-9)
    # finite differences agree with the spectral slope on a band-limited surface
    gx = np.diff(s.heights_um, axis=0, append=s.heights_um[:1]) / s.dx_um
    gy = np.diff(s.heights_um, axis=1, append=s.heights_um[:, :1]) / s.dx_um
    assert np.sqrt(np.mean(gx**2 + gy**2)) == pytest.approx(0.2, rel=0.15)
    assert ref.self_affine_surface(64, sq_um=0.3, seed=1).sq_um == pytest.approx(0.3)
    with pytest.raises(ValueError):
        ref.self_affine_surface(64, sq_um=0.3, sdq=0.1)


def test_small_load_slope_is_about_two_not_persson(surfaces: list[ref.Surface]) -> None:
    """A/A0 ~ kappa pn with kappa ~ 2 for exact BEM (Hyun 2004, Yastrebov 2015), not 1.6."""
    pns = np.array([0.01, 0.02, 0.04])
    kappas = []
    for s in surfaces:
        area = np.array([ref.solve_contact(s, pn * E_STAR * s.sdq, E_STAR, stiffness=False).contact_fraction for pn in pns])
        kappas.append(float(np.dot(area, pns) / np.dot(pns, pns)))
        assert np.all(area > erf(np.sqrt(2.0) * pns) + 0.003)
    kappa = float(np.mean(kappas))
    assert 1.85 < kappa < 2.6
    assert kappa > 1.6 * 1.15


def test_hardness_cap_and_plastic_area(surfaces: list[ref.Surface]) -> None:
    """Capped pressures stay <= H, A >= p/H, and flow adds contact at the same load."""
    s = surfaces[0]
    p0, hard = 0.2 * E_STAR * s.sdq, 0.4 * E_STAR * s.sdq
    elastic = ref.solve_contact(s, p0, E_STAR, stiffness=False)
    plastic = ref.solve_contact(s, p0, E_STAR, hardness_mpa=hard, stiffness=False)
    assert plastic.converged
    assert plastic.pressure_mpa.max() <= hard * (1 + 1e-9)
    assert plastic.mean_pressure_mpa == pytest.approx(p0, rel=1e-6)
    assert plastic.contact_fraction >= p0 / hard
    assert plastic.contact_fraction > elastic.contact_fraction + 0.02
    assert plastic.plastic_fraction > 0
    # complementarity: no interpenetration outside the contact
    assert plastic.gap_um[plastic.pressure_mpa <= 0].min() > -1e-3 * s.sq_um
    with pytest.raises(ValueError):
        ref.solve_contact(s, hard, E_STAR, hardness_mpa=hard)


def test_stiffness_follows_persson_gap_law(surfaces: list[ref.Surface]) -> None:
    """At small loads u = gamma Sq ln(b/pn) so K Sq / p = 1/gamma, gamma ~ 0.3-0.6."""
    s = surfaces[1]
    ratios = []
    for pn in (0.02, 0.05):
        r = ref.solve_contact(s, pn * E_STAR * s.sdq, E_STAR)
        ratios.append(r.stiffness_mpa_per_um * s.sq_um / r.mean_pressure_mpa)
        assert r.mean_gap_um > 0
    assert all(1.5 < k < 3.5 for k in ratios)
    assert ratios[1] == pytest.approx(ratios[0], rel=0.25)
