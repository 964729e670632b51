"""Material and model constants of the interface-quality model, validated (units in names).

Every default lives in materials.yaml, each with its source (the `sources:` section): a
measurement range from the literature, or the tool that fitted it (tools/fit_literature.py
against the literature table, tools/calibrate_interface.py against the exact solvers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

MATERIALS_PATH = Path(__file__).with_name("materials.yaml")
GAS_CONSTANT_J_MOL_K = 8.314462618  # physical constant, not a material parameter
SOURCES_KEY = "sources"


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of parameter names to values")
    return data


_SHIPPED: dict[str, Any] = _read(MATERIALS_PATH)
SOURCES: dict[str, str] = dict(_SHIPPED.pop(SOURCES_KEY, {}) or {})
_DEFAULTS: dict[str, Any] = _SHIPPED


def _d(name: str, **constraints: Any) -> Any:
    """A field whose default is the shipped value in materials.yaml (its source in SOURCES)."""
    return Field(default=_DEFAULTS[name], description=SOURCES.get(name), **constraints)


class InterfaceParams(BaseModel):
    """Constants of the collector | sulfide-electrolyte interface; defaults in materials.yaml."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, validate_default=True)

    collector_modulus_gpa: float = _d("collector_modulus_gpa", gt=0)
    collector_poisson: float = _d("collector_poisson", ge=0, lt=0.5)
    electrolyte_modulus_gpa: float = _d("electrolyte_modulus_gpa", gt=0)
    electrolyte_poisson: float = _d("electrolyte_poisson", ge=0, lt=0.5)

    contact_cutoff_um: float = _d("contact_cutoff_um", gt=0)
    surface_hurst: float = _d("surface_hurst", gt=0, lt=1)

    yield_hardness_mpa: float = _d("yield_hardness_mpa", gt=0)
    creep_hardness_ref_mpa: float = _d("creep_hardness_ref_mpa", gt=0)
    creep_ref_pressure_mpa: float = _d("creep_ref_pressure_mpa", gt=0)
    creep_ref_hold_s: float = _d("creep_ref_hold_s", gt=0)
    creep_ref_temperature_c: float = _d("creep_ref_temperature_c", gt=-273.15)
    creep_stress_exponent: float = _d("creep_stress_exponent", gt=0)
    creep_activation_kj_mol: float = _d("creep_activation_kj_mol", ge=0)
    hold_ramp_s: float = _d("hold_ramp_s", ge=0)

    r_ct_ohm_cm2: float = _d("r_ct_ohm_cm2", gt=0)
    electrolyte_resistivity_ohm_cm: float = _d("electrolyte_resistivity_ohm_cm", gt=0)

    pressure_map_strata: tuple[float, float, float, float] = _d("pressure_map_strata")

    peak_tip_radius_um: float = _d("peak_tip_radius_um", gt=0)

    ccd_plating_ref_ma_cm2: float = _d("ccd_plating_ref_ma_cm2", gt=0)
    ccd_plating_ref_void_fraction: float = _d("ccd_plating_ref_void_fraction", ge=0, lt=1)
    ccd_void_floor: float = _d("ccd_void_floor", gt=0, lt=1)
    ccd_density_exponent: float = _d("ccd_density_exponent", ge=0)
    ccd_stripping_ref_ma_cm2: float = _d("ccd_stripping_ref_ma_cm2", gt=0)
    ccd_stripping_ref_stack_mpa: float = _d("ccd_stripping_ref_stack_mpa", gt=0)
    ccd_stack_exponent: float = _d("ccd_stack_exponent", ge=0)
    ccd_activation_kj_mol: float = _d("ccd_activation_kj_mol", ge=0)
    ccd_ref_temperature_c: float = _d("ccd_ref_temperature_c", gt=-273.15)
    li_creep_short_stack_mpa: float = _d("li_creep_short_stack_mpa", gt=0)
    li_creep_short_ref_void_fraction: float = _d("li_creep_short_ref_void_fraction", ge=0, lt=1)
    li_creep_short_modulus: float = _d("li_creep_short_modulus", gt=0)
    short_weibull_modulus: float = _d("short_weibull_modulus", gt=0)

    @model_validator(mode="after")
    def _strata(self) -> "InterfaceParams":
        s = self.pressure_map_strata
        if not (s[0] == 0.05 and s[3] == 0.95 and 0.05 < s[1] < s[2] < 0.95):
            raise ValueError("pressure_map_strata must be [0.05, a, b, 0.95] with 0.05 < a < b < 0.95 "
                             "(the outer strata are the 5% lowest- and highest-pressure regions)")
        return self

    @property
    def e_star_mpa(self) -> float:
        """Effective contact modulus E* = [(1-nu1^2)/E1 + (1-nu2^2)/E2]^-1 in MPa."""
        c = (1.0 - self.collector_poisson**2) / self.collector_modulus_gpa
        e = (1.0 - self.electrolyte_poisson**2) / self.electrolyte_modulus_gpa
        return 1000.0 / (c + e)

    @property
    def charge_transfer_length_um(self) -> float:
        """L_ct = R_ct / rho: the length over which charge-transfer resistance evens out current."""
        return self.r_ct_ohm_cm2 / self.electrolyte_resistivity_ohm_cm * 1.0e4


def load_params(path: str | Path | None = None, **overrides: Any) -> InterfaceParams:
    """The shipped constants, or those of a YAML file (missing keys take the shipped values)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read(Path(path))
        data.pop(SOURCES_KEY, None)
    return InterfaceParams.model_validate({**data, **overrides})
