"""The seam between the interface physics and everything that reads it.

An interface model declares its inputs and outputs as `Quantity` rows (name with its unit,
physical bounds, default) and evaluates broadcastable arrays of cells. The disposition
policy, the line's quality assessor, the trace store, the CLI and the report read the names
from here instead of keeping copies, so another model can be plugged in from a scenario
(`quality.model: package.module:attribute`).
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel


@dataclass(frozen=True)
class Quantity:
    """One input or output of an interface model: name (unit in it), meaning and physical bounds."""

    name: str
    description: str
    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = True
    high_inclusive: bool = True
    default: float | None = None

    def bound_text(self) -> str:
        """The admissible range, e.g. '>= 0' or 'in (0, 1]'."""
        lo = "[" if self.low_inclusive else "("
        hi = "]" if self.high_inclusive else ")"
        if math.isinf(self.high):
            return f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        if math.isinf(self.low):
            return f"{'<=' if self.high_inclusive else '<'} {self.high:g}"
        return f"in {lo}{self.low:g}, {self.high:g}{hi}"

    def outside(self, a: np.ndarray) -> np.ndarray:
        """Mask of values outside the bounds."""
        below = a < self.low if self.low_inclusive else a <= self.low
        above = a > self.high if self.high_inclusive else a >= self.high
        return below | above


@runtime_checkable
class InterfaceModel(Protocol):
    """What the line needs of an interface-quality model."""

    name: str
    inputs: tuple[Quantity, ...]
    outputs: tuple[Quantity, ...]
    params_type: type[BaseModel]

    def evaluate(self, params: Any, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for validated arrays of one shape (see `validate_inputs`)."""
        ...


def input_names(model: InterfaceModel) -> tuple[str, ...]:
    return tuple(q.name for q in model.inputs)


def output_names(model: InterfaceModel) -> tuple[str, ...]:
    return tuple(q.name for q in model.outputs)


def validate_inputs(model: InterfaceModel, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Names, finiteness and physical bounds checked; float arrays broadcast to one shape.

    An input the caller leaves out takes the model's default (ValueError when it has none).
    A model may add cross-input checks as ``check_inputs(arrays)``.
    Raises ValueError naming the first bad input and value."""
    names = input_names(model)
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise ValueError(f"interface inputs: unknown {extra} (known: {', '.join(names)})")
    out = []
    for q in model.inputs:
        raw = arrays.get(q.name, q.default)
        if raw is None:
            raise ValueError(f"interface inputs: missing {q.name} ({q.description})")
        try:
            a = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{q.name}: not numeric ({exc})") from None
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{q.name}: must be finite (got NaN or inf)")
        bad = q.outside(a)
        if np.any(bad):
            raise ValueError(f"{q.name}: must be {q.bound_text()} (got {a[bad].flat[0]:g})")
        out.append(a)
    try:
        checked = dict(zip(names, np.broadcast_arrays(*out)))
    except ValueError as exc:
        raise ValueError(f"interface inputs do not broadcast: {exc}") from None
    cross = getattr(model, "check_inputs", None)
    if cross is not None:
        cross(checked)  # cross-input consistency, e.g. PV >= Sq (ValueError with the reason)
    return checked


def load_model(spec: str) -> InterfaceModel:
    """A model by registered name (`fast`) or by import path `package.module:attribute`."""
    if spec in MODELS:
        module, _, attr = MODELS[spec].partition(":")
    else:
        module, sep, attr = spec.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"unknown interface model {spec!r} (one of {', '.join(MODELS)}, or module:attribute)")
    try:
        model = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"interface model {spec!r} cannot be loaded: {exc}") from None
    if not isinstance(model, InterfaceModel):
        raise ValueError(f"interface model {spec!r} lacks name, inputs, outputs, params_type or evaluate")
    return model


MODELS: dict[str, str] = {"fast": "twin.interface.fast:FAST_MODEL"}
