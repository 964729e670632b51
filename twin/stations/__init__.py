"""Station kinds of the line, one module each, and the registry built from them.

Each kind's module declares its scenario model (`...Config`), its station class and its own
cross-reference checks in a `KIND`; the scenario's station union, the line and validation are
built from `KINDS`. A new kind is a new module plus one line in each list below."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from twin.stations import batch, glovebox, inspect, metrology, process
from twin.stations.registry import StationKind

KINDS: dict[str, StationKind] = {m.KIND.kind: m.KIND for m in (process, metrology, glovebox, batch, inspect)}

StationUnion = Annotated[
    Union[process.ProcessConfig, metrology.MetrologyConfig, glovebox.GloveboxConfig, batch.BatchConfig,
          inspect.InspectConfig],
    Field(discriminator="kind"),
]

__all__ = ["KINDS", "StationKind", "StationUnion"]
