"""The role guard of the LADS handlers: plant.access (issue 12) under the names plant/lads/ uses.

``guarded(role)`` decorates a method handler, ``require(role)`` starts a value setter,
``as_device()`` marks the device's own writes, ``is_device()`` tells them apart, ``user_name()``
is the calling user. The callers are set by ``plant.access.GuardedSession``, which
``plant.hardening.secure_server`` installs on every device server; with no caller known every
check refuses (fail closed).
"""
from __future__ import annotations

from plant.access import allowed, as_device, current_caller, guarded, is_device, require, user_name

__all__ = ["allowed", "as_device", "current_caller", "guarded", "is_device", "require", "user_name"]
