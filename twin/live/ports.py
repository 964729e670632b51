"""Observer hooks on a line's ports: the live view sees each press cycle as it starts (in
simulation the press physics has already computed the cycle's trace; the view reveals it as
simulated time passes). The wrapper only delegates, so a run with the view open draws the same
random numbers and gives the same results as one without."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import simpy

    from adapters.ports import PressPort
    from twin.line import Line


@dataclass
class CycleStart:
    """A press cycle as the view sees it start."""

    station: str
    started_h: float
    cells: list[int]
    measurement: Any = None  # the PressMeasurement when it is known at the start (simulation)


class ObservedPressPort:
    """Delegates every call to `inner`; tells `on_start` about each cycle."""

    def __init__(self, inner: "PressPort", env: Any, on_start: Callable[[CycleStart], None]):
        self.inner = inner
        self.env = env
        self.on_start = on_start

    def cycle(self, station: str, recipe: Any, cells: Sequence[Any]) -> "simpy.Event":
        ev = self.inner.cycle(station, recipe, cells)
        value = getattr(ev, "_value", None)  # a simulated cycle's Timeout carries its result already
        meas = value if hasattr(value, "trace") else None
        self.on_start(CycleStart(station, float(self.env.now), [c.id for c in cells], meas))
        return ev

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def observe_presses(line: "Line", on_start: Callable[[CycleStart], None]) -> None:
    """Wrap the line's press port (the stations read `ctx.ports.press` at each call)."""
    ports = line.ports
    if not isinstance(ports.press, ObservedPressPort):
        ports.press = ObservedPressPort(ports.press, line.env, on_start)
