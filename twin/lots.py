"""Collector lots: the one model of a lot's true surface parameters, sampled by the line and by
the emulated profilometer alike.

A lot gives the distribution of each true flatness parameter (Sq, Sdq, PV, waviness amplitude
and wavelength), optionally their correlation (a Gaussian copula on normal scores: with
lognormal marginals this is the multivariate lognormal that measured foils show), and the
bandwidth its Sq and Sdq refer to (the short-wavelength cut-off, with the Hurst exponent that
rescales Sdq to an instrument's cut-off). A scenario either writes a lot out or refers to
one of the shipped library (`ref: rolled_cu`, from plant/specs/collector_lots.yaml).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.distributions import BLOCK, Distribution, sampler

SURFACE_KEYS: tuple[str, ...] = ("sq_um", "sdq", "pv_um", "waviness_um", "waviness_mm")
LOT_LIBRARY = "collector_lots"


class CollectorLot(BaseModel):
    """True surface parameters of a collector-foil lot."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    material: str = Field(default="", description="what the foil is (label)")
    source: str = Field(default="", description="where the numbers come from")
    sq_um: Distribution
    sdq: Distribution
    pv_um: Distribution
    waviness_um: Distribution
    waviness_mm: Distribution
    correlation: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="correlation of the parameters' normal scores (Gaussian copula), e.g. {sq_um: {sdq: 0.6}}")
    hurst: float | None = Field(default=None, gt=0, lt=1, description="Hurst exponent of the surface")
    cutoff_um: float | None = Field(
        default=None, gt=0, description="short-wavelength cut-off at which sq_um and sdq are given")

    @model_validator(mode="after")
    def _correlation(self) -> "CollectorLot":
        for a, row in self.correlation.items():
            for b, rho in row.items():
                if a not in SURFACE_KEYS or b not in SURFACE_KEYS or a == b:
                    raise ValueError(f"correlation: {a}~{b} must pair two different of {', '.join(SURFACE_KEYS)}")
                if not -1.0 < rho < 1.0:
                    raise ValueError(f"correlation.{a}.{b}: must lie in (-1, 1)")
        if self.correlation:
            try:
                np.linalg.cholesky(self.correlation_matrix())
            except np.linalg.LinAlgError:
                raise ValueError("correlation: the matrix is not positive definite") from None
        if (self.hurst is None) != (self.cutoff_um is None):
            raise ValueError("give hurst and cutoff_um together (Sdq is rescaled between bandwidths with both)")
        return self

    def correlation_matrix(self) -> np.ndarray:
        """The 5x5 correlation matrix of the normal scores, in SURFACE_KEYS order."""
        m = np.eye(len(SURFACE_KEYS))
        for a, row in self.correlation.items():
            for b, rho in row.items():
                i, j = SURFACE_KEYS.index(a), SURFACE_KEYS.index(b)
                m[i, j] = m[j, i] = rho
        return m

    def marginals(self) -> list[Any]:
        return [getattr(self, k) for k in SURFACE_KEYS]


def sample_lot(lot: CollectorLot, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`n` true surfaces of the lot from one generator (vectorised)."""
    if not lot.correlation:
        return {k: np.asarray(d.draw(rng, n), dtype=float) for k, d in zip(SURFACE_KEYS, lot.marginals())}
    z = rng.standard_normal((n, len(SURFACE_KEYS))) @ np.linalg.cholesky(lot.correlation_matrix()).T
    return {k: np.asarray(d.from_normal(z[:, i]), dtype=float) for i, (k, d) in enumerate(zip(SURFACE_KEYS,
                                                                                               lot.marginals()))}


class LotSampler:
    """One cell's true surface per call, for the line.

    Independent parameters draw from their own stream each (`lot:<name>:<key>`, so a change
    to one parameter leaves the others' numbers alone); a correlated lot draws blocks of
    correlated normal scores from one stream (`lot:<name>:copula`)."""

    def __init__(self, name: str, lot: CollectorLot, generator: Callable[[str], np.random.Generator]) -> None:
        self.lot = lot
        if not lot.correlation:
            draws = [sampler(d, generator(f"lot:{name}:{k}")) for k, d in zip(SURFACE_KEYS, lot.marginals())]
            self.draw: Callable[[], dict[str, float]] = lambda: dict(zip(SURFACE_KEYS, (d() for d in draws)))
            return
        self._rng = generator(f"lot:{name}:copula")
        self._rows: list[tuple[float, ...]] = []
        self.draw = self._correlated

    def _correlated(self) -> dict[str, float]:
        if not self._rows:
            block = sample_lot(self.lot, BLOCK, self._rng)
            self._rows = list(zip(*(block[k].tolist() for k in SURFACE_KEYS)))[::-1]
        return dict(zip(SURFACE_KEYS, self._rows.pop()))


def load_lot_library(name_or_path: str = LOT_LIBRARY, base_dir: Any = None) -> dict[str, CollectorLot]:
    """Every lot of a lot library file (the shipped one by default), validated."""
    from plant.spec_files import SpecError, read_yaml

    data = read_yaml(name_or_path, base_dir)
    lots = data.get("lots") if isinstance(data, dict) else None
    if not isinstance(lots, dict):
        raise SpecError(f"{name_or_path}: a lot library needs a `lots:` mapping")
    from pydantic import ValidationError

    out = {}
    for key, value in lots.items():
        try:
            out[key] = CollectorLot.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SpecError(f"{name_or_path}: lots.{key}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return out


def library_lot(ref: str, base_dir: Any = None) -> CollectorLot:
    """A lot by reference: `name` in the shipped library, or `path/to/lots.yaml#name`."""
    from plant.spec_files import SpecError

    library, sep, name = ref.rpartition("#")
    library, name = (library, name) if sep else (LOT_LIBRARY, ref)
    lots = load_lot_library(library, base_dir)
    if name not in lots:
        raise SpecError(f"no collector lot {name!r} in {library} (known: {', '.join(sorted(lots))})")
    return lots[name]
