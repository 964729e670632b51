"""Audit trail of every Write and method Call a client sends to a device.

Two sinks, both fed by ``plant.access.Guard.audit`` hooks:

* ``AuditLog``: a JSON-lines file (mode 0600, appended, one line per written node or called
  method): ``time`` (UTC ISO 8601), ``device``, ``kind`` (write | call), ``user``, ``role``,
  ``client_cert`` (SHA-1 thumbprint, empty on a None channel), ``peer``, ``status`` (StatusCode
  name), and ``node``/``value`` (writes) or ``object``/``method``/``arguments``/``outputs`` (calls).
* ``AuditEvents``: OPC UA ``AuditWriteUpdateEventType`` / ``AuditUpdateMethodEventType`` events
  emitted by the Server object, for clients that subscribe to events: ActionTimeStamp, Status,
  ClientUserId, ClientAuditEntryId (the client certificate thumbprint), AttributeId / MethodId;
  the values are in the Message (asyncua cannot encode the BaseDataType fields NewValue and
  InputArguments).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asyncua import ua

from plant.access import AuditHook, Caller

_log = logging.getLogger(__name__)


class AuditLog:
    """Append-only JSONL audit file shared by the devices of a plant (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.path, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def hook(self, device: str) -> AuditHook:
        """The ``Guard.audit`` hook writing ``device``'s records."""
        def record(kind: str, caller: Caller, details: dict[str, Any], status: ua.StatusCode) -> None:
            line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "device": device,
                    "kind": kind, "user": caller.user, "role": caller.role, "client_cert": caller.thumbprint,
                    "peer": caller.peer, "status": status.name, **details}
            text = json.dumps(line, default=str, separators=(",", ":"))
            with self._lock:
                self._file.write(text + "\n")
                self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every record of an audit file."""
    return [json.loads(ln) for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]


class AuditEvents:
    """OPC UA audit events of one server (best effort: a failure is logged, never raised)."""

    def __init__(self) -> None:
        self._gens: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def init(self, server: Any) -> "AuditEvents":
        for kind, etype in (("write", ua.ObjectIds.AuditWriteUpdateEventType),
                            ("call", ua.ObjectIds.AuditUpdateMethodEventType)):
            try:
                self._gens[kind] = await server.get_event_generator(etype, ua.ObjectIds.Server)
            except Exception:  # the event type is not in this server's address space
                _log.warning("audit events of kind %s unavailable", kind, exc_info=True)
        return self

    def hook(self) -> AuditHook:
        def record(kind: str, caller: Caller, details: dict[str, Any], status: ua.StatusCode) -> None:
            gen = self._gens.get(kind)
            if gen is None:
                return
            try:
                asyncio.get_running_loop().create_task(self._emit(gen, kind, caller, details, status))
            except RuntimeError:
                pass
        return record

    async def _emit(self, gen: Any, kind: str, caller: Caller, details: dict[str, Any],
                    status: ua.StatusCode) -> None:
        async with self._lock:
            try:
                ev = gen.event
                ev.data_types["ActionTimeStamp"] = ua.VariantType.DateTime  # UtcTime: asyncua has no VariantType
                ev.ActionTimeStamp = datetime.now(timezone.utc)
                ev.Status = status.is_good()
                ev.ClientUserId = caller.user or "anonymous"
                ev.ClientAuditEntryId = caller.thumbprint
                ev.ServerId = ""
                # the values (BaseDataType fields NewValue / InputArguments, which asyncua's event
                # encoding cannot carry) go into the Message, as in the audit file
                if kind == "write":
                    ev.AttributeId = details.get("attribute", 13)
                    what = f"write {details.get('node')} = {json.dumps(details.get('value'), default=str)}"
                else:
                    ev.MethodId = ua.NodeId.from_string(details["method"])
                    what = f"call {details.get('method')}({json.dumps(details.get('arguments', []), default=str)})"
                await gen.trigger(message=f"{what} by {caller.user or 'anonymous'}: {status.name}"[:4000])
            except Exception:
                _log.warning("audit event not emitted", exc_info=True)
