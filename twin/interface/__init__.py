"""Interface-quality model: `evaluate` (fast, vectorised) and the exact reference solver."""

from twin.interface.fast import evaluate
from twin.interface.params import InterfaceParams, load_params

__all__ = ["evaluate", "InterfaceParams", "load_params"]
