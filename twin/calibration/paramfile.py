"""The calibrated parameter file (YAML) a scenario references as ``quality.params``.

::

    format: twin-calibration/1
    model: fast
    method: wald                      # wald | profile | bootstrap | emcee
    level: 0.95
    source: {data: cells.parquet, cells: 2000, sha256: ..., created: ..., twin: 0.x}
    parameters:                       # calibrated values, natural units (unit in the name too)
      r_ct_ohm_cm2: {value: 2.5, unit: ohm cm2, interval: [2.49, 2.51], status: identified}
    not_identified: {peak_tip_radius_um: "why; shipped value kept"}
    noise: {r_int_log_sd: 0.08, void_sd: 0.02}
    reference_cycles: 100
    covariance: {names: [...], log_scale: true, matrix: [[...]]}   # of the log-values
    samples: {names: [...], values: [[...], ...]}                  # optional: bootstrap / posterior

``load`` validates it (pydantic): every value must be a valid interface parameter, the covariance
square, symmetric and positive semi-definite over the named parameters, samples rows as long as
their names.  ``draws`` gives parameter sets for propagation: rows of the samples when there are
any, else the lognormal of the covariance.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.calibration.observe import PARAMETERS

FORMAT = "twin-calibration/1"


class ParamValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float = Field(gt=0)
    unit: str = ""
    interval: tuple[float, float] | None = None
    status: str = "identified"
    meaning: str = ""


class Covariance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str]
    log_scale: bool = True
    matrix: list[list[float]]

    @model_validator(mode="after")
    def _shape(self) -> "Covariance":
        m = np.asarray(self.matrix, dtype=float)
        k = len(self.names)
        if m.shape != (k, k):
            raise ValueError(f"matrix must be {k}x{k} (one row and column per name), got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("matrix must be finite")
        if not np.allclose(m, m.T, rtol=1e-6, atol=1e-12):
            raise ValueError("matrix must be symmetric")
        if k and np.linalg.eigvalsh(0.5 * (m + m.T))[0] < -1e-9 * max(1.0, float(np.abs(m).max())):
            raise ValueError("matrix must be positive semi-definite")
        return self


class Samples(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str]
    values: list[list[float]] = Field(min_length=2)

    @model_validator(mode="after")
    def _rows(self) -> "Samples":
        for i, row in enumerate(self.values):
            if len(row) != len(self.names):
                raise ValueError(f"values.{i}: {len(row)} numbers for {len(self.names)} names")
            if not all(math.isfinite(v) and v > 0 for v in row):
                raise ValueError(f"values.{i}: every sample must be finite and positive")
        return self


class ParamFile(BaseModel):
    """A calibrated parameter file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["twin-calibration/1"]
    model: str = "fast"
    method: Literal["wald", "profile", "bootstrap", "emcee"]
    level: float = Field(default=0.95, gt=0, lt=1)
    source: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, ParamValue] = Field(min_length=1)
    not_identified: dict[str, str] = Field(default_factory=dict)
    noise: dict[str, float] = Field(default_factory=dict)
    reference_cycles: float = Field(default=100.0, gt=0)
    covariance: Covariance | None = None
    samples: Samples | None = None
    goodness_of_fit: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "ParamFile":
        from twin.interface.params import InterfaceParams

        unknown = sorted(set(self.parameters) - set(InterfaceParams.model_fields))
        if unknown:
            raise ValueError(f"parameters: {', '.join(unknown)} are not interface parameters")
        try:
            InterfaceParams.model_validate(self.values)
        except ValidationError as exc:
            e = exc.errors()[0]
            raise ValueError(f"parameters.{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
        for part in ("covariance", "samples"):
            block = getattr(self, part)
            if block is not None:
                missing = sorted(set(self.parameters) - set(block.names))
                if missing:
                    raise ValueError(f"{part}.names: missing {', '.join(missing)}")
        if self.covariance is None and self.samples is None:
            raise ValueError("give a covariance or samples: the uncertainty of the calibrated values")
        return self

    @property
    def values(self) -> dict[str, float]:
        return {k: v.value for k, v in self.parameters.items()}

    def draws(self, n: int, seed: int = 0) -> list[dict[str, float]]:
        """n parameter sets: sample rows (with replacement when fewer) or lognormal covariance draws."""
        rng = np.random.default_rng(seed)
        names = list(self.parameters)
        if self.samples is not None:
            cols = [self.samples.names.index(k) for k in names]
            rows = np.asarray(self.samples.values, dtype=float)[:, cols]
            pick = rng.choice(len(rows), n, replace=n > len(rows))
            return [dict(zip(names, map(float, rows[i]))) for i in pick]
        assert self.covariance is not None
        idx = [self.covariance.names.index(k) for k in names]
        cov = np.asarray(self.covariance.matrix, dtype=float)[np.ix_(idx, idx)]
        mean = np.array([self.parameters[k].value for k in names])
        if self.covariance.log_scale:
            z = rng.multivariate_normal(np.log(mean), cov, n, method="eigh")
            return [dict(zip(names, map(float, np.exp(row)))) for row in z]
        z = rng.multivariate_normal(mean, cov, n, method="eigh")
        return [dict(zip(names, map(float, np.maximum(row, 1e-12)))) for row in z]


class ParamFileError(ValueError):
    """A parameter file that cannot be used; ``problems`` lists (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems))


def load(path: str | Path) -> ParamFile:
    """Read and validate a parameter file (ParamFileError naming each bad field)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParamFileError(str(p), [("", f"cannot read: {exc.strerror or exc}")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ParamFileError(str(p), [("", f"not YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ParamFileError(str(p), [("", "expected a mapping (a twin calibrate output)")])
    try:
        return ParamFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if not loc and ": " in msg:
                loc, msg = msg.split(": ", 1)
            problems.append((loc, msg))
        raise ParamFileError(str(p), problems) from None


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def from_fit(result: Any, data_paths: list[str], goodness: dict[str, Any] | None = None) -> ParamFile:
    """The parameter file of a FitResult (twin.calibration.fit)."""
    from twin import __version__

    values = result.values
    params = {k: ParamValue(value=values[k], unit=PARAMETERS[k].unit, interval=result.intervals.get(k),
                            status=str(result.verdicts.get(k, {}).get("status", "identified")),
                            meaning=PARAMETERS[k].meaning) for k in result.parameters}
    cov = result.param_cov()
    covariance = None if cov is None else Covariance(names=list(result.parameters), matrix=cov.tolist())
    samples = None
    if result.samples is not None:
        samples = Samples(names=list(result.parameters), values=result.samples.tolist())
    source = {"data": [str(p) for p in data_paths], "sha256": [_sha256(p) for p in data_paths],
              "cells": result.counts, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "twin": __version__, "log_likelihood": -result.nll, "evaluations": result.evaluations}
    return ParamFile(format=FORMAT, method=result.method, level=result.level, source=source, parameters=params,
                     not_identified=dict(result.fixed), noise=result.noise, reference_cycles=result.reference_cycles,
                     covariance=covariance, samples=samples, goodness_of_fit=goodness or {})


def save(pf: ParamFile, path: str | Path) -> Path:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(yaml.safe_dump(pf.model_dump(mode="json", exclude_none=True), sort_keys=False), encoding="utf-8")
    tmp.replace(p)
    return p
