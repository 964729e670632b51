"""Scenario models every station kind shares: servers, finite buffers, downtime and routing.

Each kind's own module extends these with its fields and declares, next to them, what it
routes to (`routes`), what it provides to the line (`provides`, e.g. flatness or pressing) and
what equipment may be bound to it (`device_role`)."""
from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twin.distributions import Distribution

SINK = "sink"
SCRAP = "scrap"
TERMINALS = (SINK, SCRAP)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Route(Model):
    """One branch of a probabilistic routing."""

    to: str
    p: float = Field(gt=0, le=1)


Next = Union[str, list[Route]]


class Breakdowns(Model):
    """Random failures: exponential time to failure (calendar time), repair time distribution."""

    mtbf_h: float = Field(gt=0)
    mttr_h: Distribution


class Shifts(Model):
    """A repeating calendar: the station works only inside `windows_h` of each period."""

    period_h: float = Field(default=24.0, gt=0)
    windows_h: list[tuple[float, float]] = Field(min_length=1)

    @model_validator(mode="after")
    def _windows(self) -> "Shifts":
        last = 0.0
        for start, end in self.windows_h:
            if not (last <= start < end <= self.period_h):
                raise ValueError("windows_h must be increasing, non-overlapping (start, end) pairs within the period")
            last = end
        return self


class StationConfig(Model):
    """What every station has."""

    servers: int = Field(default=1, ge=1, description="parallel servers (or vessels for a batch station)")
    buffer_capacity: int | None = Field(
        default=None, ge=0, description="cells that may wait in front of the servers; null = unlimited; a full buffer blocks upstream"
    )
    breakdowns: Breakdowns | None = None
    shifts: Shifts | None = None

    #: capabilities this station gives the line ("flatness", "pressing", "disposition")
    def provides(self) -> frozenset[str]:
        return frozenset()

    def device_role(self) -> str | None:
        """The kind of equipment that can be bound to this station in `hardware:` (None: none)."""
        return None

    def routes(self) -> list[tuple[str, str]]:
        """(field path below the station, target name) of every place a cell may go next."""
        return []

    def route_problems(self) -> list[tuple[str, str]]:
        """(field path below the station, message) of what is wrong with the routing itself."""
        return []


class RoutedConfig(StationConfig):
    """A station whose cells go on by `next` (a station, sink, scrap or probabilistic branches)."""

    next: Next = Field(description="the next station, sink or scrap, or a list of {to, p} branches")

    @field_validator("next")
    @classmethod
    def _branches(cls, nxt: Next) -> Next:
        if isinstance(nxt, list) and not nxt:
            raise ValueError("give at least one branch")
        return nxt

    def route_problems(self) -> list[tuple[str, str]]:
        if isinstance(self.next, list):
            total = sum(r.p for r in self.next)
            if abs(total - 1.0) > 1e-9:
                return [("next", f"branch probabilities must sum to 1 (got {total:g})")]
        return []

    def routes(self) -> list[tuple[str, str]]:
        if isinstance(self.next, str):
            return [("next", self.next)]
        return [(f"next.{i}.to", r.to) for i, r in enumerate(self.next)]
