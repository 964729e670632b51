"""Exact references: self-affine surfaces, an FFT boundary-element contact solver, and (from
``twin.interface.current``) the exact current through the solved contact.

A rigid rough surface (the collector, heights ``h``) is pressed against an elastic
half-space of effective modulus E* on a periodic grid.  The pressure is found by the
constrained conjugate-gradient method of Polonsky & Keer (Wear 231, 206, 1999) with the
half-space Green's function in Fourier space, u(q) = 2 p(q) / (E* |q|).  An optional
hardness cap (p <= H) models plastic flow of the electrolyte.  This is slow (about a
second per 256x256 solve) and exists to calibrate and test the closed form in
``fast.py``, never to be called per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.interface.current import CurrentResult, holm_flux_tube_factor, solve_current
from twin.interface.spectral import HalfSpaceKernel
from twin.interface.spectral import rms_slope as _rms_slope

__all__ = ["Surface", "ContactResult", "CurrentResult", "self_affine_surface", "sphere_surface", "solve_contact",
           "solve_current", "holm_flux_tube_factor"]


@dataclass(frozen=True)
class Surface:
    """Height map on a periodic square grid (heights and spacing in um)."""

    heights_um: np.ndarray
    dx_um: float

    @property
    def sq_um(self) -> float:
        """RMS height about the mean plane."""
        return float(np.std(self.heights_um))

    @property
    def sdq(self) -> float:
        """RMS slope, computed spectrally (exact for a band-limited periodic surface)."""
        return _rms_slope(self.heights_um, self.dx_um)


@dataclass(frozen=True)
class ContactResult:
    """Solution of one contact problem at a prescribed mean pressure."""

    pressure_mpa: np.ndarray
    gap_um: np.ndarray
    mean_pressure_mpa: float
    contact_fraction: float
    plastic_fraction: float
    mean_gap_um: float
    stiffness_mpa_per_um: float
    iterations: int
    converged: bool


def self_affine_surface(
    n: int,
    dx_um: float = 1.0,
    hurst: float = 0.8,
    rolloff_wavelength_um: float | None = None,
    cutoff_wavelength_um: float | None = None,
    sq_um: float | None = None,
    sdq: float | None = None,
    seed: int | None = None,
) -> Surface:
    """Gaussian self-affine surface by Fourier synthesis.

    PSD C(q) ~ q^(-2(1+hurst)) between the roll-off and the short-wavelength cut-off,
    flat below the roll-off, zero above the cut-off.  Give exactly one of ``sq_um`` or
    ``sdq`` to normalise; the other follows from the spectrum (and from the cut-off,
    which is why the cut-off belongs with every Sq/Sdq).
    """
    if (sq_um is None) == (sdq is None):
        raise ValueError("give exactly one of sq_um or sdq")
    length = n * dx_um
    lam_r = rolloff_wavelength_um if rolloff_wavelength_um is not None else length / 4.0
    lam_s = cutoff_wavelength_um if cutoff_wavelength_um is not None else 8.0 * dx_um
    q_r, q_s = 2.0 * np.pi / lam_r, 2.0 * np.pi / lam_s
    qx = 2.0 * np.pi * np.fft.fftfreq(n, d=dx_um)
    q = np.sqrt(qx[:, None] ** 2 + qx[None, :] ** 2)
    psd = np.where(q > 0, np.maximum(q, q_r) ** (-2.0 * (1.0 + hurst)), 0.0)
    psd[q > q_s] = 0.0
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    h = np.real(np.fft.ifft2(np.sqrt(psd) * noise))
    h -= h.mean()
    if sq_um is not None:
        h *= sq_um / np.std(h)
    else:
        assert sdq is not None
        h *= sdq / _rms_slope(h, dx_um)
    return Surface(heights_um=h, dx_um=dx_um)


def sphere_surface(n: int, dx_um: float, radius_um: float) -> Surface:
    """Paraboloid r^2/(2R) cap centred on the grid (the Hertz geometry), peak up."""
    x = (np.arange(n) - n // 2) * dx_um
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    return Surface(heights_um=-r2 / (2.0 * radius_um), dx_um=dx_um)


class _Green(HalfSpaceKernel):
    """Periodic half-space convolution u = G * p (u(q) = 2 p(q) / (E* |q|))."""

    def __init__(self, shape: tuple[int, int], dx: float, e_star_mpa: float) -> None:
        super().__init__(shape, dx, 2.0 / e_star_mpa)


def _enforce_load(p: np.ndarray, gap: np.ndarray, p0: float, hard: float) -> np.ndarray:
    """Scale p so mean(p) = p0 while keeping 0 <= p <= hard; add contact if the cap forbids."""
    if not np.isfinite(hard):
        return p * (p0 / p.mean())
    target = p0 * p.size
    if hard * np.count_nonzero(p) < target:
        p = np.where(p > 0, hard, 0.0)
        missing = target - p.sum()
        order = np.argsort(np.where(p > 0, np.inf, gap), axis=None)
        k = int(np.ceil(missing / hard))
        flat = p.reshape(-1)
        flat[order[:k]] = hard
        flat[order[k - 1]] -= k * hard - missing
        return flat.reshape(p.shape)
    lo, hi = 0.0, max(hard / max(p[p > 0].min(), 1e-300), 1.0) * 2.0
    for _ in range(100):
        s = 0.5 * (lo + hi)
        if np.minimum(s * p, hard).sum() < target:
            lo = s
        else:
            hi = s
        if hi - lo < 1e-13 * hi:
            break
    return np.minimum(0.5 * (lo + hi) * p, hard)


def _solve_pressure(
    h: np.ndarray,
    green: _Green,
    p0: float,
    hard: float,
    p_init: np.ndarray | None,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Polonsky-Keer CG under load control; returns pressure, gap, iterations, converged."""
    p = np.full(h.shape, p0) if p_init is None else _enforce_load(p_init.copy(), -h, p0, hard)
    t = np.zeros_like(h)
    delta, g_old = 0.0, 1.0
    gap = np.zeros_like(h)
    for it in range(1, max_iter + 1):
        contact = p > 0
        free = contact & (p < hard)
        if not free.any():
            free = contact
        gap = green(p) - h
        gap -= gap[free].mean()
        g_norm = float(np.dot(gap[free], gap[free]))
        t = np.where(free, gap + delta * (g_norm / g_old) * t, 0.0)
        g_old = max(g_norm, 1e-300)
        r = green(t)
        r -= r[free].mean()
        denom = float(np.dot(r[free], t[free]))
        tau = float(np.dot(gap[free], t[free])) / denom if denom > 0 else 0.0
        p_old = p
        p = np.where(free, p - tau * t, p)
        fix = ~contact & (gap < 0)
        if fix.any():
            delta = 0.0
            p = np.where(fix, p - tau * gap, p)
        else:
            delta = 1.0
        p = np.clip(p, 0.0, hard)
        p = _enforce_load(p, gap, p0, hard)
        change = float(np.abs(p - p_old).sum()) / (p0 * p.size)
        if change < tol and it > 2:
            return p, gap, it, True
    return p, gap, max_iter, False


def _project(z: np.ndarray, p0: float, hard: float, lam: float) -> tuple[np.ndarray, float]:
    """Exact projection onto {0 <= p <= hard, mean p = p0}: p = clip(z - lam); Newton on lam."""
    lo, hi = float(z.min()) - hard, float(z.max())
    target = p0 * z.size
    for _ in range(60):
        p = np.clip(z - lam, 0.0, hard)
        excess = p.sum() - target
        if abs(excess) <= 1e-12 * target:
            break
        if excess > 0:
            lo = lam
        else:
            hi = lam
        n_free = np.count_nonzero((z - lam > 0) & (z - lam < hard))
        step = lam + excess / n_free if n_free else 0.5 * (lo + hi)
        lam = step if lo < step < hi else 0.5 * (lo + hi)
    return np.clip(z - lam, 0.0, hard), lam


def _solve_capped(
    h: np.ndarray,
    green: _Green,
    dx: float,
    e_star: float,
    p0: float,
    hard: float,
    p_init: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int, bool]:
    """Hardness-capped contact as a box-constrained QP, by FISTA with adaptive restart.

    Minimises 0.5 p.Gp - p.h over 0 <= p <= H, mean p = p0; the gradient Gp - h is the gap.
    """
    step = e_star * (2.0 * np.pi / (h.shape[0] * dx)) / 2.0  # 1/L, L = largest eigenvalue of G
    sq = float(np.std(h)) or 1.0
    lam = 0.0
    p, lam = _project(p_init, p0, hard, lam)
    y, theta = p.copy(), 1.0
    for it in range(1, max_iter + 1):
        grad = green(y) - h
        p_new, lam = _project(y - step * grad, p0, hard, lam)
        if np.sum((p_new - p) * (y - p_new)) > 0:  # momentum points uphill: restart
            theta, y = 1.0, p.copy()
            continue
        theta_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * theta**2))
        y = p_new + ((theta - 1.0) / theta_new) * (p_new - p)
        p, theta = p_new, theta_new
        if it % 10 == 0:
            gap = _gap_field(h, green, p, hard)
            free = (p > 0) & (p < hard)
            viol = max(
                float(np.abs(gap[free]).max(initial=0.0)),
                float(-gap[p <= 0].min(initial=0.0)),
                float(gap[p >= hard].max(initial=0.0)),
            )
            if viol < tol * sq:
                return p, it, True
    return p, max_iter, False


def _gap_field(h: np.ndarray, green: _Green, p: np.ndarray, hard: float) -> np.ndarray:
    """Gap u - h shifted so it vanishes on the elastic (non-capped) contact spots."""
    gap = green(p) - h
    contact = p > 0
    free = contact & (p < hard)
    ref = free if free.any() else contact
    return gap - gap[ref].mean()


def _solve(
    h: np.ndarray,
    green: _Green,
    dx: float,
    e_star: float,
    p0: float,
    hard: float,
    p_init: np.ndarray | None,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int, bool]:
    """Elastic: Polonsky-Keer CG.  Capped: FISTA started from the clipped elastic solution."""
    if not np.isfinite(hard):
        p, _, its, ok = _solve_pressure(h, green, p0, np.inf, p_init, tol, max_iter)
        return p, its, ok
    its = 0
    if p_init is None:
        p_init, _, its, _ = _solve_pressure(h, green, p0, np.inf, None, tol, max_iter)
    p, its2, ok = _solve_capped(h, green, dx, e_star, p0, hard, p_init, tol, max_iter)
    return p, its + its2, ok


def solve_contact(
    surface: Surface,
    mean_pressure_mpa: float,
    e_star_mpa: float,
    hardness_mpa: float = np.inf,
    stiffness: bool = True,
    tol: float = 1e-7,
    max_iter: int = 3000,
    p_init: np.ndarray | None = None,
) -> ContactResult:
    """Solve the periodic rough contact at a given mean pressure.

    Contact stiffness K = -dp/d(mean gap) comes from a second solve at a 1 % higher load
    (warm-started), which is what the Barber constriction resistance needs.
    """
    if mean_pressure_mpa <= 0 or e_star_mpa <= 0 or hardness_mpa <= 0:
        raise ValueError("mean_pressure_mpa, e_star_mpa and hardness_mpa must be positive")
    if mean_pressure_mpa >= hardness_mpa:
        raise ValueError("mean_pressure_mpa >= hardness_mpa: the interface is fully plastic")
    h = surface.heights_um - surface.heights_um.max()
    green = _Green(h.shape, surface.dx_um, e_star_mpa)
    p, its, ok = _solve(h, green, surface.dx_um, e_star_mpa, mean_pressure_mpa, hardness_mpa, p_init, tol, max_iter)
    gap = _gap_field(h, green, p, hardness_mpa)
    mean_gap = float(np.maximum(gap, 0.0).mean())
    k = float("nan")
    if stiffness:
        dp = 0.01 * mean_pressure_mpa
        p2, _, ok2 = _solve(
            h, green, surface.dx_um, e_star_mpa, mean_pressure_mpa + dp, hardness_mpa, p, tol * 0.1, max_iter
        )
        gap2 = _gap_field(h, green, p2, hardness_mpa)
        d_gap = float(np.maximum(gap2, 0.0).mean()) - mean_gap
        k = -dp / d_gap if d_gap < 0 else float("inf")
        ok = ok and ok2
    return ContactResult(
        pressure_mpa=p,
        gap_um=gap,
        mean_pressure_mpa=float(p.mean()),
        contact_fraction=float(np.count_nonzero(p) / p.size),
        plastic_fraction=float(np.count_nonzero(p >= hardness_mpa) / p.size),
        mean_gap_um=mean_gap,
        stiffness_mpa_per_um=k,
        iterations=its,
        converged=ok,
    )
