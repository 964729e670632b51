"""Material and model parameters of the interface-quality model, as validated data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


def _load_defaults() -> dict:
    text = resources.files("twin.interface").joinpath("materials.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


_DEFAULTS = _load_defaults()


def _d(name: str, **constraints):
    return Field(default=_DEFAULTS[name], **constraints)


class InterfaceParams(BaseModel):
    """Constants of the collector | electrolyte interface; defaults from materials.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collector_modulus_gpa: float = _d("collector_modulus_gpa", gt=0)
    collector_poisson: float = _d("collector_poisson", ge=0, lt=0.5)
    electrolyte_modulus_gpa: float = _d("electrolyte_modulus_gpa", gt=0)
    electrolyte_poisson: float = _d("electrolyte_poisson", ge=0, lt=0.5)
    contact_slope_kappa: float = _d("contact_slope_kappa", gt=0)
    hardness_ref_mpa: float = _d("hardness_ref_mpa", gt=0)
    hardness_ref_hold_s: float = _d("hardness_ref_hold_s", gt=0)
    hardness_ref_temperature_c: float = _d("hardness_ref_temperature_c")
    creep_stress_exponent: float = _d("creep_stress_exponent", gt=0)
    creep_activation_kj_mol: float = _d("creep_activation_kj_mol", ge=0)
    gap_log_a: float = _d("gap_log_a", gt=0)
    gap_log_b: float = _d("gap_log_b", gt=0)
    resistivity_ohm_cm: float = _d("resistivity_ohm_cm", gt=0)
    rct_ohm_cm2: float = _d("rct_ohm_cm2", gt=0)
    worst_region_z: float = _d("worst_region_z", ge=0)
    peak_gain_per_um: float = _d("peak_gain_per_um", ge=0)
    waviness_gain: float = _d("waviness_gain", ge=0)
    ccd_dense_ma_cm2: float = _d("ccd_dense_ma_cm2", gt=0)
    ccd_contact_exponent: float = _d("ccd_contact_exponent", ge=0)
    short_weibull_shape: float = _d("short_weibull_shape", gt=0)

    @property
    def effective_modulus_mpa(self) -> float:
        """E* = [(1-nu1^2)/E1 + (1-nu2^2)/E2]^-1 in MPa."""
        c = (1 - self.collector_poisson**2) / self.collector_modulus_gpa
        e = (1 - self.electrolyte_poisson**2) / self.electrolyte_modulus_gpa
        return 1000.0 / (c + e)


def load_params(path: str | Path | None = None) -> InterfaceParams:
    """The shipped parameters, or those of a YAML file (missing keys take the defaults)."""
    if path is None:
        return InterfaceParams()
    return InterfaceParams(**(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}))
