"""Interface-quality model: `evaluate` (fast, vectorised closed form calibrated against the
exact solver in `twin.interface.reference`, which is imported only on demand)."""

from twin.interface.fast import evaluate
from twin.interface.params import InterfaceParams, load_params

__all__ = ["evaluate", "InterfaceParams", "load_params"]
