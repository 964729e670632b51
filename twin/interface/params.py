"""Material and model constants of the interface-quality model, validated (units in names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

MATERIALS_PATH = Path(__file__).with_name("materials.yaml")
GAS_CONSTANT_J_MOL_K = 8.314462618  # physical constant, not a material parameter
_DEFAULTS: dict[str, Any] = yaml.safe_load(MATERIALS_PATH.read_text(encoding="utf-8"))


def _d(name: str, **constraints: Any) -> Any:
    """A field whose default is the shipped value in materials.yaml."""
    return Field(default=_DEFAULTS[name], **constraints)


class InterfaceParams(BaseModel):
    """Constants of the collector | sulfide-electrolyte interface; defaults in materials.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collector_modulus_gpa: float = _d("collector_modulus_gpa", gt=0)
    collector_poisson: float = _d("collector_poisson", ge=0, lt=0.5)
    electrolyte_modulus_gpa: float = _d("electrolyte_modulus_gpa", gt=0)
    electrolyte_poisson: float = _d("electrolyte_poisson", ge=0, lt=0.5)

    hardness_ref_mpa: float = _d("hardness_ref_mpa", gt=0)
    hardness_ref_hold_s: float = _d("hardness_ref_hold_s", gt=0)
    hardness_ref_temperature_c: float = _d("hardness_ref_temperature_c", gt=-273.15)
    creep_exponent: float = _d("creep_exponent", gt=0)
    creep_activation_kj_mol: float = _d("creep_activation_kj_mol", ge=0)
    hold_ramp_s: float = _d("hold_ramp_s", gt=0)

    r_ct_ohm_cm2: float = _d("r_ct_ohm_cm2", ge=0)
    electrolyte_resistivity_ohm_cm: float = _d("electrolyte_resistivity_ohm_cm", ge=0)

    pressure_map_quantile: float = _d("pressure_map_quantile", gt=0, lt=0.5)
    quadrature_nodes: int = _d("quadrature_nodes", ge=1, le=40)

    hotspot_map_per_cv: float = _d("hotspot_map_per_cv", ge=0)
    hotspot_void_edge: float = _d("hotspot_void_edge", ge=0)
    hotspot_slope_per_sdq: float = _d("hotspot_slope_per_sdq", ge=0)
    hotspot_peak_per_um: float = _d("hotspot_peak_per_um", ge=0)
    peak_free_sq_multiple: float = _d("peak_free_sq_multiple", ge=0)

    ccd_max_ma_cm2: float = _d("ccd_max_ma_cm2", gt=0)
    ccd_pressure_scale_mpa: float = _d("ccd_pressure_scale_mpa", gt=0)
    short_weibull_modulus: float = _d("short_weibull_modulus", gt=0)

    @property
    def effective_modulus_mpa(self) -> float:
        """Alias of e_star_mpa."""
        return self.e_star_mpa

    @property
    def e_star_mpa(self) -> float:
        """Effective contact modulus E* = [(1-nu1^2)/E1 + (1-nu2^2)/E2]^-1 in MPa."""
        c = (1.0 - self.collector_poisson**2) / self.collector_modulus_gpa
        e = (1.0 - self.electrolyte_poisson**2) / self.electrolyte_modulus_gpa
        return 1000.0 / (c + e)


def load_params(path: str | Path | None = None, **overrides: Any) -> InterfaceParams:
    """The shipped constants, or those of a YAML file (missing keys take the shipped values)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return InterfaceParams.model_validate({**data, **overrides})
