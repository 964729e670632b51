"""Exact current through a solved contact: ionic conduction in the electrolyte half-space with a
charge-transfer resistance at the contact spots.

The collector is an equipotential electronic conductor at potential V.  Current enters the
electrolyte (resistivity rho) only through the contact set S, where the local current density
j obeys V - phi(x) = R_ct j(x); off the contact j = 0; far away the current density is the
nominal J0 = mean(j).  The surface potential of a periodic half-space carrying the normal
current density j is phi(q) = rho j(q) / |q| (the conduction analogue of the Boussinesq
displacement u(q) = 2 p(q) / (E* |q|) that the contact solver uses), so on S

    (rho G + R_ct) j = V,      G f = IFFT(FFT(f) / |q|),  mean(j) = J0,

a symmetric positive-definite system on S solved by conjugate gradients.  The interfacial
resistance is r = V / J0 (the q = 0 mode, the bulk resistance of the electrolyte, is the same
with and without the interface and excluded).  Checks: a single circular spot of radius a
gives Holm's r = rho/(4a) per spot (times the flux-tube factor of the periodic cell);
with R_ct = 0 the resistance equals Barber's E* rho / (2 K) with K the contact stiffness
(Barber, Proc. R. Soc. A 459, 53, 2003).  Slow (a second per 256x256 grid): used to calibrate
and test the closed form, never per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.interface.spectral import HalfSpaceKernel

__all__ = ["CurrentResult", "solve_current", "holm_flux_tube_factor"]

UM_PER_CM = 1.0e4


@dataclass(frozen=True)
class CurrentResult:
    """Current-density field and interfacial resistance of one contact set."""

    current_density: np.ndarray  # local j over the nominal J0 (zero off the contact)
    contact_fraction: float
    r_int_ohm_cm2: float  # V / J0: charge transfer plus spreading in the electrolyte
    r_ct_ohm_cm2: float  # R_ct / A: the part a uniform current over the spots would see
    r_spread_ohm_cm2: float  # r_int - R_ct / A: spreading (constriction) over the voids
    hotspot_q99: float  # 99th percentile of j over the spots, over its mean on the spots
    iterations: int
    converged: bool


def holm_flux_tube_factor(epsilon: float) -> float:
    """Constriction factor psi(eps) of a circular spot of radius a in a flux tube of radius b,
    eps = a/b (Mikic-Rohsenow / Yovanovich series): R = rho psi / (4 a)."""
    e = epsilon
    return 1.0 - 1.40925 * e + 0.29591 * e**3 + 0.05254 * e**5 + 0.02105 * e**7


def solve_current(
    contact: np.ndarray,
    dx_um: float,
    resistivity_ohm_cm: float,
    r_ct_ohm_cm2: float,
    tol: float = 1e-9,
    max_iter: int = 5000,
    quantile: float = 0.99,
) -> CurrentResult:
    """Current-density field through the contact set ``contact`` (bool mask, or a pressure
    field whose positive cells are in contact) on a periodic grid of spacing ``dx_um``."""
    mask = np.asarray(contact) > 0
    if mask.ndim != 2:
        raise ValueError("contact must be a 2-D mask or pressure field")
    if dx_um <= 0 or resistivity_ohm_cm < 0 or r_ct_ohm_cm2 < 0:
        raise ValueError("dx_um must be positive, resistivity_ohm_cm and r_ct_ohm_cm2 non-negative")
    n_contact = int(mask.sum())
    if n_contact == 0:
        raise ValueError("no contact: the interface carries no current")
    area = n_contact / mask.size
    l_ct_um = r_ct_ohm_cm2 / resistivity_ohm_cm * UM_PER_CM if resistivity_ohm_cm > 0 else np.inf
    if n_contact == mask.size or not np.isfinite(l_ct_um):
        j = np.where(mask, 1.0 / area, 0.0)
        return CurrentResult(j, area, r_ct_ohm_cm2 / area, r_ct_ohm_cm2 / area, 0.0, 1.0, 0, True)
    x, its, ok = _solve_unit_potential(mask, dx_um, l_ct_um, tol, max_iter)
    mean_x = float(x.sum()) / mask.size  # um^-1: conductance per area over rho
    r_int = resistivity_ohm_cm / mean_x / UM_PER_CM  # ohm cm2
    j = x / mean_x
    on = j[mask]
    q99 = float(np.quantile(on, quantile) / on.mean())
    r_ct = r_ct_ohm_cm2 / area
    return CurrentResult(j, area, r_int, r_ct, r_int - r_ct, q99, its, ok)


def _solve_unit_potential(
    mask: np.ndarray, dx_um: float, l_ct_um: float, tol: float, max_iter: int
) -> tuple[np.ndarray, int, bool]:
    """Conjugate gradients for (G + L_ct) x = 1 on the contact set (x = 0 off it).

    G is the half-space kernel 1/|q| in um; L_ct = R_ct/rho.  The operator restricted to a
    proper subset of the grid is symmetric positive definite (its only null vector on the full
    grid is the constant)."""
    green = HalfSpaceKernel(mask.shape, dx_um, 1.0)

    def apply(v: np.ndarray) -> np.ndarray:
        return np.where(mask, green(v) + l_ct_um * v, 0.0)

    b = mask.astype(float)
    x = b / (l_ct_um + dx_um)  # a uniform guess of the right order
    r = b - apply(x)
    d = r.copy()
    rr = float(np.vdot(r, r))
    b_norm = float(np.sqrt(np.vdot(b, b)))
    for it in range(1, max_iter + 1):
        ad = apply(d)
        alpha = rr / float(np.vdot(d, ad))
        x += alpha * d
        r -= alpha * ad
        rr_new = float(np.vdot(r, r))
        if np.sqrt(rr_new) < tol * b_norm:
            return x, it, True
        d = r + (rr_new / rr) * d
        rr = rr_new
    return x, max_iter, False
