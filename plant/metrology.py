"""The profilometer: measures collector surfaces (Sq, Sdq, PV, waviness) with its noise and
bandwidth, and synthesises height maps matching a measurement.

Collector lots (the true surfaces) are the twin's one lot model, `twin.lots.CollectorLot`
(the shipped library is plant/specs/collector_lots.yaml). The instrument measures with
multiplicative noise per parameter and a finite short-wavelength cut-off: Sdq depends on
bandwidth, so a lot's Sdq (given at its ``cutoff_um``) is rescaled to the instrument's
cut-off with the self-affine law Sdq ~ lambda_s^(H-1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from twin.lots import SURFACE_KEYS, CollectorLot, library_lot, sample_lot

__all__ = ["MEASURE_KEYS", "ProfilometerSpec", "CollectorLot", "load_profilometer_spec", "load_collector_lot",
           "sample_lot", "measure", "measure_one", "measure_duration_s", "height_map"]

MEASURE_KEYS: tuple[str, ...] = SURFACE_KEYS


class ProfilometerSpec(BaseModel):
    """Optical profilometer: noise per parameter (fraction, 1 sigma) and bandwidth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    manufacturer: str
    model: str
    serial_prefix: str = "PRF"
    cutoff_short_um: float = Field(gt=0, description="short-wavelength cut-off lambda_s")
    cutoff_long_mm: float = Field(gt=0, description="roughness/waviness separation lambda_c")
    sq_noise_frac: float = Field(ge=0)
    sdq_noise_frac: float = Field(ge=0)
    pv_noise_frac: float = Field(ge=0)
    waviness_noise_frac: float = Field(ge=0)
    waviness_mm_noise_frac: float = Field(ge=0)
    measure_s: float = Field(gt=0, description="time per sample")
    load_unload_s: float = Field(ge=0, description="handling time per program")
    capacity_samples: int = Field(ge=1, description="samples per program (stage positions)")


def load_profilometer_spec(name_or_path: str | Path = "profilometer", base_dir: Path | None = None) -> ProfilometerSpec:
    """The shipped profilometer spec or a YAML path (see plant.spec_files)."""
    from plant.spec_files import load_spec

    return load_spec(ProfilometerSpec, name_or_path, base_dir)


def load_collector_lot(name: str) -> CollectorLot:
    """A lot of the shipped library by name, or `path/to/lots.yaml#name` (SpecError if unknown)."""
    return library_lot(name)


def sdq_at_cutoff(sdq: np.ndarray, lot: CollectorLot | None, cutoff_um: float) -> np.ndarray:
    """A lot's Sdq seen through an instrument with short-wavelength cut-off `cutoff_um`."""
    if lot is None or lot.cutoff_um is None or lot.hurst is None:
        return sdq
    return sdq * (lot.cutoff_um / cutoff_um) ** (1.0 - lot.hurst)


def measure(true: dict, rng: np.random.Generator, spec: ProfilometerSpec,
            lot: CollectorLot | None = None) -> dict[str, np.ndarray]:
    """Measured parameters (keys ``MEASURE_KEYS``) of true surfaces, with instrument noise.

    With ``lot`` given, Sdq is rescaled from the lot's reference cut-off to the instrument's.
    Scalars in give 0-d arrays out; arrays broadcast.
    """
    vals = [np.asarray(true[k], dtype=float) for k in MEASURE_KEYS]
    shape = np.broadcast_shapes(*(v.shape for v in vals))
    noise = np.array([spec.sq_noise_frac, spec.sdq_noise_frac, spec.pv_noise_frac,
                      spec.waviness_noise_frac, spec.waviness_mm_noise_frac])
    z = rng.standard_normal((len(MEASURE_KEYS),) + shape)
    out: dict[str, np.ndarray] = {}
    for i, (key, v) in enumerate(zip(MEASURE_KEYS, vals)):
        if key == "sdq":
            v = sdq_at_cutoff(v, lot, spec.cutoff_short_um)
        out[key] = np.maximum(v * (1.0 + noise[i] * z[i]), 0.0)
    return out


def measure_one(true: dict, rng: np.random.Generator, spec: ProfilometerSpec,
                lot: CollectorLot | None = None) -> dict[str, float]:
    """``measure`` for one sample as plain floats: the same draw and the same float operations
    (no 0-d arrays), so the same numbers (tests/plant/test_metrology.py)."""
    noise = (spec.sq_noise_frac, spec.sdq_noise_frac, spec.pv_noise_frac, spec.waviness_noise_frac,
             spec.waviness_mm_noise_frac)
    z = rng.standard_normal(len(MEASURE_KEYS)).tolist()
    out: dict[str, float] = {}
    for i, key in enumerate(MEASURE_KEYS):
        v = float(true[key])
        if key == "sdq" and lot is not None and lot.cutoff_um is not None and lot.hurst is not None:
            v = v * (lot.cutoff_um / spec.cutoff_short_um) ** (1.0 - lot.hurst)
        x = v * (1.0 + noise[i] * z[i])
        out[key] = x if x >= 0.0 or x != x else 0.0  # np.maximum(x, 0.0)
    return out


def measure_duration_s(spec: ProfilometerSpec, n_samples: int) -> float:
    """Handling plus per-sample measurement time of one program."""
    return spec.load_unload_s + spec.measure_s * n_samples


def height_map(meas: dict, n_px: int, rng: np.random.Generator, hurst: float = 0.8,
               ) -> tuple[np.ndarray, float]:
    """A periodic self-affine height map (um) matching one sample's Sq and Sdq.

    Returns (heights_um of shape (n_px, n_px), pixel size dx_um). The spectrum is synthesised
    on a unit grid normalised to Sq; the pixel size is then chosen so the RMS slope equals Sdq
    (slope scales as 1/dx when the whole spectrum is stretched). Waviness (mm scale) is
    far larger than such a map and is not included.
    """
    sq = float(np.asarray(meas["sq_um"]).ravel()[0])
    sdq = float(np.asarray(meas["sdq"]).ravel()[0])
    seed = int(rng.integers(2**31))
    h, slope_px = _synthesise(n_px, hurst, sq, seed)
    return h, slope_px / sdq


def _synthesise(n_px: int, hurst: float, sq: float, seed: int) -> tuple[np.ndarray, float]:
    """Heights with RMS ``sq`` on a unit grid and their RMS slope per pixel (the exact solver's
    own self-affine synthesis, so a map here is what the interface model was calibrated on)."""
    from twin.interface import reference as ref

    surf = ref.self_affine_surface(n_px, dx_um=1.0, hurst=hurst, sq_um=sq, seed=seed)
    return np.asarray(surf.heights_um), float(surf.sdq)
