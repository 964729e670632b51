"""Spectral helpers shared by the exact solvers: wavenumbers and RMS slope on a periodic grid."""

from __future__ import annotations

import numpy as np


def wavenumbers(shape: tuple[int, int], dx: float) -> np.ndarray:
    """|q| (rad/um) on the rfft2 half-grid."""
    qx = 2.0 * np.pi * np.fft.fftfreq(shape[0], d=dx)
    qy = 2.0 * np.pi * np.fft.rfftfreq(shape[1], d=dx)
    return np.sqrt(qx[:, None] ** 2 + qy[None, :] ** 2)


def rms_slope(h: np.ndarray, dx: float) -> float:
    """RMS slope, computed spectrally (exact for a band-limited periodic surface)."""
    q = wavenumbers(h.shape, dx)
    hq = np.fft.rfft2(h - h.mean())
    w = np.ones_like(q)
    w[:, 1:] = 2.0  # the half-spectrum counts interior columns twice
    if h.shape[1] % 2 == 0:
        w[:, -1] = 1.0
    power = (w * q**2 * np.abs(hq) ** 2).sum() / h.size**2
    return float(np.sqrt(power))


class HalfSpaceKernel:
    """Periodic half-space convolution f -> IFFT(c / |q| FFT(f)), zero mean mode.

    With c = 2/E* it maps pressure to surface displacement (Boussinesq); with c = rho it maps
    the normal current density into a half-space conductor to its surface potential."""

    def __init__(self, shape: tuple[int, int], dx: float, coefficient: float) -> None:
        q = wavenumbers(shape, dx)
        with np.errstate(divide="ignore"):
            self.kernel = np.where(q > 0, coefficient / q, 0.0)
        self.shape = shape

    def __call__(self, f: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(self.kernel * np.fft.rfft2(f), s=self.shape)
