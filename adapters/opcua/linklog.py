"""What a device link can say: the errors a caller sees, a read value with its quality, and
the log of what happened on the link for the run's report."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncua import ua

from adapters import observe

# Bad statuses that say the session or channel is gone, not that the request was wrong.
CONNECTION_STATUSES = {
    getattr(ua.StatusCodes, n) for n in (
        "BadSessionIdInvalid", "BadSessionClosed", "BadSessionNotActivated", "BadSecureChannelIdInvalid",
        "BadSecureChannelClosed", "BadConnectionClosed", "BadServerNotConnected", "BadCommunicationError",
        "BadNotConnected", "BadTimeout", "BadRequestTimeout", "BadServerHalted", "BadShutdown",
        "BadDisconnect", "BadTcpInternalError", "BadConnectionRejected",
    ) if hasattr(ua.StatusCodes, n)
}
LINK_STATUS_NAMES = frozenset(ua.StatusCode(ua.UInt32(c)).name for c in CONNECTION_STATUSES)
# Bad statuses at connect that no retry can cure: the login or a certificate is refused.
CONFIG_STATUSES = {
    getattr(ua.StatusCodes, n) for n in (
        "BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid", "BadUserSignatureInvalid",
        "BadCertificateUntrusted", "BadCertificateInvalid", "BadCertificateRevoked", "BadCertificateTimeInvalid",
        "BadCertificateUriInvalid", "BadCertificateUseNotAllowed", "BadCertificateIssuerRevoked",
        "BadCertificateHostNameInvalid", "BadSecurityChecksFailed", "BadSecurityPolicyRejected",
        "BadApplicationSignatureInvalid", "BadNonceInvalid",
    ) if hasattr(ua.StatusCodes, n)
}
NOT_FOUND = frozenset({"BadNoMatch", "BadNodeIdUnknown", "BadBrowseNameInvalid", "BadNotFound"})


class DeviceRefused(Exception):
    """The device answered a request with a Bad status (the request, not the link, is at fault)."""

    def __init__(self, device: str, status: str, message: str = "") -> None:
        super().__init__(f"{device} refused: {status} {message}".strip())
        self.device = device
        self.status = status


class DeviceUnavailable(Exception):
    """No usable connection to the device within the give-up time."""


class ConfigurationRefused(Exception):
    """The device refused the twin's login or certificate (or the twin the device's): a setup
    error, never retried (exit 2)."""


class LinkLost(Exception):
    """A call failed because of the link (its outcome is unknown); reconnecting is up to the caller."""


@dataclass(frozen=True)
class Reading:
    """A read value with its StatusCode (by name) and SourceTimestamp."""

    value: Any
    status: str = "Good"
    source_time: datetime | None = None

    @property
    def good(self) -> bool:
        return self.status == "Good" or self.status.startswith("Good")


def status_name(code: Any) -> str:
    """The name of a StatusCode ("Good", "UncertainSensorNotAccurate", "BadNodeIdUnknown"...)."""
    if code is None:
        return "Good"
    value = code.value if isinstance(code, ua.StatusCode) else int(code)
    if value == 0:
        return "Good"
    try:
        return str(ua.StatusCode(ua.UInt32(value)).name)
    except Exception:
        return f"0x{value:08X}"


def reading(dv: ua.DataValue) -> Reading:
    value = dv.Value.Value if dv.Value is not None else None
    return Reading(value, status_name(dv.StatusCode), dv.SourceTimestamp)


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for `event` at most `timeout_s`; True if it is set. Unlike asyncio.wait_for, a
    cancellation of the caller is never swallowed when it coincides with the time-out."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(0.0, timeout_s))
    finally:
        waiter.cancel()
    return event.is_set()


@dataclass
class SessionLog:
    """What happened on one device's link during the run."""

    calls: int = 0
    timeouts: int = 0
    stalls: int = 0
    disconnects: int = 0
    reconnects: int = 0
    restarts: int = 0  # the device came back as a new server instance
    refused: int = 0
    latency_s: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    device: str = ""

    def note(self, kind: str, **details: Any) -> None:
        self.events.append({"wall": time.time(), "event": kind, **details})
        observe.emit("link", device=self.device, event=kind, **details)

    def report(self, device: str, endpoint: str) -> dict:
        lat = sorted(self.latency_s)

        def p(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else None
        return {"device": device, "endpoint": endpoint, "calls": self.calls, "timeouts": self.timeouts,
                "stalls": self.stalls, "disconnects": self.disconnects, "reconnects": self.reconnects,
                "restarts": self.restarts, "refused": self.refused, "call_ms_p50": p(0.5), "call_ms_p95": p(0.95),
                "events": self.events}
