"""Names the twin's adapters and the plant's servers share, so that the two sides cannot drift:
the namespace of the project's extensions, the disposition decisions, and (as the OPC UA
contract grows) browse paths, property keys and status names.

The decision is an IntEnum because the interface model and the line work with its integer
codes (0 accept, 1 rework, 2 reject, a contract of `twin.interface.evaluate`), while the
wire carries its lower-case name (`SetDisposition(..., Decision="accept", ...)`).
"""
from __future__ import annotations

from enum import IntEnum

PLANT_NAMESPACE = "urn:twin:plant"


class Decision(IntEnum):
    """What inspection decides for a cell."""

    ACCEPT = 0
    REWORK = 1
    REJECT = 2

    @property
    def wire_name(self) -> str:
        """The decision as the equipment receives it ("accept", "rework", "reject")."""
        return self.name.lower()

    @classmethod
    def from_wire(cls, name: str) -> "Decision":
        """The decision named on the wire; ValueError for anything else."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown decision {name!r} (one of {', '.join(DECISION_NAMES)})") from None


DECISION_NAMES: tuple[str, ...] = tuple(d.wire_name for d in Decision)
