"""Interface-quality model: `evaluate` (fast, vectorised closed form calibrated against the
exact solver in `twin.interface.reference`, which is imported only on demand).

The physics modules here import nothing from the rest of the twin. `evaluate` is the
contract facade: it adds the decision of the disposition policy (`twin.disposition`, which
sits above the physics and is imported only when `evaluate` is called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from twin.interface.model import InterfaceModel, Quantity, load_model, validate_inputs
from twin.interface.params import InterfaceParams, load_params

if TYPE_CHECKING:  # pragma: no cover
    from twin.disposition import DispositionPolicy

__all__ = ["evaluate", "InterfaceModel", "InterfaceParams", "Quantity", "load_model", "load_params",
           "validate_inputs"]


def evaluate(*, params: Any = None, policy: "DispositionPolicy | None" = None, model: InterfaceModel | None = None,
             **arrays: Any) -> dict[str, np.ndarray]:
    """Evaluate the interface-quality model for broadcastable arrays of cells (contract).

    Inputs (named units): pressure_mpa, pressure_cv, hold_s, temperature_c, sq_um, sdq,
    pv_um, waviness_um, waviness_mm, current_ma_cm2, and with defaults stack_pressure_mpa,
    cutoff_um, operating_temperature_c (any input the model gives a default may be
    left out). Returns the model's outputs (contact_fraction, contact_fraction_p05,
    void_fraction, r_int_ohm_cm2, hotspot_factor, ccd_ma_cm2, p_short) and `decision`
    (Decision codes 0 accept, 1 rework, 2 reject under ``policy``, for a cell not yet reworked).
    """
    from twin.disposition import evaluate_with_decision
    from twin.interface.fast import FAST_MODEL

    return evaluate_with_decision(arrays, params, policy, model or FAST_MODEL)
