"""Collector surfaces from a lot spec -> Sq, Sdq (RMS slope), PV, waviness, optional height map.

A collector lot is a distribution of true surface parameters (lognormal: median and
geometric standard deviation, Sq and Sdq correlated in log space). The profilometer
measures with multiplicative noise per parameter and a finite short-wavelength cut-off:
Sdq depends on bandwidth, so the lot's Sdq (given at ``reference_cutoff_um``) is rescaled to
the instrument's cut-off with the self-affine law Sdq ~ lambda_s^(H-1).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

MEASURE_KEYS: tuple[str, ...] = ("sq_um", "sdq", "pv_um", "waviness_um", "waviness_mm")


class LogNormal(BaseModel):
    """Lognormal distribution by its median and geometric standard deviation (>= 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    median: float = Field(gt=0)
    gsd: float = Field(ge=1)


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


class CollectorLotSpec(BaseModel):
    """True surface parameters of a collector-foil lot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    material: str
    hurst: float = Field(gt=0, lt=1)
    reference_cutoff_um: float = Field(gt=0, description="cut-off at which sdq is given")
    sq_um: LogNormal
    sdq: LogNormal
    pv_over_sq: LogNormal
    waviness_um: LogNormal
    waviness_mm: LogNormal
    log_corr_sq_sdq: float = Field(ge=-1, le=1, description="correlation of log Sq and log Sdq")


def _spec_text(name_or_path: str | Path, default_stem: str) -> str:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path.read_text(encoding="utf-8")
    stem = str(name_or_path) or default_stem
    return resources.files("plant").joinpath("specs", f"{stem}.yaml").read_text(encoding="utf-8")


def load_profilometer_spec(name_or_path: str | Path = "profilometer") -> ProfilometerSpec:
    """The shipped profilometer spec or a YAML path."""
    return ProfilometerSpec.model_validate(yaml.safe_load(_spec_text(name_or_path, "profilometer")))


def load_collector_lot(name: str, path: str | Path | None = None) -> CollectorLotSpec:
    """A named lot from the shipped ``collector_lots.yaml`` (or from ``path``)."""
    data = yaml.safe_load(_spec_text(path if path is not None else "collector_lots", ""))
    lots = data["lots"]
    if name not in lots:
        raise KeyError(f"no collector lot {name!r}; known {sorted(lots)}")
    return CollectorLotSpec.model_validate(lots[name])


def sample_lot(lot: CollectorLotSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` true collector surfaces (sdq at the lot's reference cut-off)."""
    z = rng.standard_normal((5, n))
    rho = lot.log_corr_sq_sdq
    z_sdq = rho * z[0] + np.sqrt(1.0 - rho * rho) * z[1]
    sq = lot.sq_um.median * lot.sq_um.gsd ** z[0]
    return {
        "sq_um": sq,
        "sdq": lot.sdq.median * lot.sdq.gsd ** z_sdq,
        "pv_um": sq * lot.pv_over_sq.median * lot.pv_over_sq.gsd ** z[2],
        "waviness_um": lot.waviness_um.median * lot.waviness_um.gsd ** z[3],
        "waviness_mm": lot.waviness_mm.median * lot.waviness_mm.gsd ** z[4],
    }


def measure(true: dict, rng: np.random.Generator, spec: ProfilometerSpec,
            lot: CollectorLotSpec | None = None) -> dict[str, np.ndarray]:
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
        if key == "sdq" and lot is not None:
            v = v * (lot.reference_cutoff_um / spec.cutoff_short_um) ** (1.0 - lot.hurst)
        out[key] = np.maximum(v * (1.0 + noise[i] * z[i]), 0.0)
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
    """Heights with RMS ``sq`` on a unit grid and their RMS slope per pixel."""
    try:
        from twin.interface import reference as ref  # lazy: optional, heavier module
        surf = ref.self_affine_surface(n_px, dx_um=1.0, hurst=hurst, sq_um=sq, seed=seed)
        return np.asarray(surf.heights_um), float(surf.sdq)
    except (ImportError, AttributeError, TypeError):
        return _fourier_surface(n_px, hurst, sq, seed)


def _fourier_surface(n_px: int, hurst: float, sq: float, seed: int) -> tuple[np.ndarray, float]:
    """Fallback Fourier synthesis: PSD ~ q^-2(1+H), roll-off at L/4, cut-off at 8 px."""
    rng = np.random.default_rng(seed)
    q1 = 2.0 * np.pi * np.fft.fftfreq(n_px)
    qx, qy = q1[:, None], q1[None, :]
    q = np.hypot(qx, qy)
    q_r, q_s = 2.0 * np.pi / (n_px / 4.0), 2.0 * np.pi / 8.0
    psd = np.where(q > 0, np.maximum(q, q_r) ** (-2.0 * (1.0 + hurst)), 0.0)
    psd[q > q_s] = 0.0
    spec = np.sqrt(psd) * (rng.standard_normal((n_px, n_px)) + 1j * rng.standard_normal((n_px, n_px)))
    h = np.real(np.fft.ifft2(spec))
    h -= h.mean()
    h *= sq / h.std()
    hq = np.fft.fft2(h)
    slope = float(np.sqrt((q ** 2 * np.abs(hq) ** 2).sum()) / h.size)
    return h, slope
