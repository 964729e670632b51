"""The station-kind registry's types: what a kind declares (its scenario model, how to build
its station, its own cross-reference checks) and the context those checks see."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from twin.stations.config import SCRAP, SINK, TERMINALS, StationConfig

if TYPE_CHECKING:  # pragma: no cover
    from plant.metrology import ProfilometerSpec
    from plant.press import PressSpec
    from twin.stations.base import Station, StationContext

Problem = tuple[str, str]  # (field path, message)


@dataclass
class CheckContext:
    """What a kind's cross-reference check may look at, and where loaded specs are kept (so
    each spec file is read once, at validation)."""

    stations: Mapping[str, StationConfig]
    resources: Mapping[str, Any]
    quality_mode: str
    base_dir: Path | None
    presses: dict[str, "PressSpec"] = field(default_factory=dict)
    instruments: dict[str, "ProfilometerSpec"] = field(default_factory=dict)

    def target(self, path: str, target: str) -> Iterator[Problem]:
        """A problem if `target` is neither a station nor a terminal."""
        if target not in self.stations and target not in TERMINALS:
            yield path, f"'{target}' is not a station, '{SINK}' or '{SCRAP}'"

    def load(self, path: str, loader: Callable[..., Any], ref: str) -> tuple[Any, list[Problem]]:
        """A spec loaded through `loader(ref, base_dir)`, or the problem naming `path`."""
        from plant.spec_files import SpecError

        try:
            return loader(ref, self.base_dir), []
        except SpecError as exc:
            return None, [(path, str(exc))]


@dataclass(frozen=True)
class StationKind:
    """One kind of station: its scenario model, its runtime class and its own checks."""

    kind: str
    config: type[StationConfig]
    build: Callable[[str, Any, "StationContext", Any], "Station"]
    check: Callable[[str, Any, CheckContext], Iterator[Problem]] | None = None
