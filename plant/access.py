"""Role checks that no channel can bypass.

asyncua 2.1 consults the permission ruleset only when the channel's security policy carries
one, and the None policy carries none; a client may also open a None channel the server
never advertised. So this module enforces access in the session itself:

* ``GuardedSession`` (installed by ``install(server, guard)``) refuses activation on a channel
  whose policy the server does not advertise (``BadSecurityPolicyRejected``), answers every
  Write node by node (an out-of-range value is ``BadOutOfRange`` for that node, not a
  ServiceFault for the request), lets only operators write, reports ``UserAccessLevel`` /
  ``UserExecutable`` / ``UserWriteMask`` as the session's role allows, checks the role of every
  method before it runs and writes every Write and Call to the audit log.
* ``@guarded(role)`` on method handlers and ``require(role)`` in value setters check again
  inside the handler (the caller is known from a context variable the session sets), so a
  handler reached by any other path refuses too. With no caller known they refuse.

Roles: ``anonymous`` < ``viewer`` < ``operator``. Hooks for the server host (plant/server.py,
plant/lads/): ``guarded``, ``require``, ``as_device``/``is_device`` (the device's own writes),
``user_name``, ``current_caller``; ``plant.hardening.secure_server`` calls ``install``.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_session import InternalSession

from plant.pki import thumbprint

_log = logging.getLogger(__name__)
RANK = {"anonymous": 0, "viewer": 1, "operator": 2}
ROLE_ATTR = "__plant_role__"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Caller:
    """Who sends the request being served: plant role, user name, client certificate, peer."""

    role: str
    user: str
    thumbprint: str
    peer: str
    guard: "Guard | None" = None

    def may(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]


_CALLER: ContextVar[Caller | None] = ContextVar("plant_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the request being served (None outside a client request)."""
    return _CALLER.get()


@contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    """Serve code as ``caller`` (tests; server-internal calls that must pass the checks)."""
    token = _CALLER.set(caller)
    try:
        yield caller
    finally:
        _CALLER.reset(token)


SYSTEM = Caller("operator", "<server>", "", "internal")
"""The server's own writes (publishing setpoints it derived itself)."""


@contextmanager
def as_device() -> Iterator[None]:
    """Inside: writes are the device's own (they pass the setters' checks), also within a call."""
    with acting_as(SYSTEM):
        yield


def is_device() -> bool:
    """True while the device writes its own values (``as_device``)."""
    return _CALLER.get() is SYSTEM


def user_name() -> str:
    """The calling user's name ("" for anonymous, the device itself or no session)."""
    caller = _CALLER.get()
    return caller.user if caller is not None and caller is not SYSTEM else ""


def allowed(role: str) -> bool:
    """True if the current caller has ``role`` (no caller: False, fail closed)."""
    caller = _CALLER.get()
    return caller is not None and caller.may(role)


def require(role: str) -> Caller:
    """The current caller if it has ``role``; else raise BadUserAccessDenied (for setters)."""
    caller = _CALLER.get()
    if caller is None or not caller.may(role):
        _log.warning("refused: %s needs role %s", caller.user if caller else "<no session>", role)
        raise ua.uaerrors.BadUserAccessDenied
    return caller


def guarded(role: str) -> Callable[[F], F]:
    """Decorate an async method handler: it runs only for a caller with ``role``; otherwise
    the CallMethodResult is BadUserAccessDenied. The role is also what UserExecutable shows."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}; known {list(RANK)}")

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> Any:
            caller = _CALLER.get()
            if caller is None or not caller.may(role):
                _log.warning("refused call of %s by %s (needs %s)", fn.__name__,
                             caller.user if caller else "<no session>", role)
                return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadUserAccessDenied))
            return await fn(*args)
        setattr(wrapper, ROLE_ATTR, role)
        return wrapper  # type: ignore[return-value]
    return deco


def method_role(callback: Any, method_id: ua.NodeId) -> str:
    """The role a method needs: its ``@guarded`` role; operator for any undecorated method in a
    plant namespace (fail closed); anonymous for the standard (ns=0) server methods."""
    role = getattr(callback, ROLE_ATTR, None)
    if role is None and callback is not None:  # functools.partial(handler, host)
        role = getattr(getattr(callback, "func", None), ROLE_ATTR, None)
    if role is not None:
        return str(role)
    return "anonymous" if method_id.NamespaceIndex == 0 else "operator"


def plant_role(user: User | None) -> str:
    """asyncua user -> plant role (operators are UserRole.User; viewers have a name)."""
    if user is None:
        return "anonymous"
    if user.role in (UserRole.User, UserRole.Admin):
        return "operator"
    return "viewer" if user.name else "anonymous"


AuditHook = Callable[[str, Caller, dict[str, Any], ua.StatusCode], None]
ReadHook = Callable[[Caller, list[ua.ReadValueId], list[ua.DataValue]], None]


@dataclass
class Guard:
    """Per-server access settings: which channels may carry sessions, where audits go."""

    device: str
    allow_none_channel: bool = False
    audit: list[AuditHook] = field(default_factory=list)
    read_hooks: list[ReadHook] = field(default_factory=list)

    def record(self, kind: str, caller: Caller, details: dict[str, Any], status: ua.StatusCode) -> None:
        for hook in self.audit:
            try:
                hook(kind, caller, details, status)
            except Exception:  # an audit sink failing must not change the answer
                _log.exception("audit hook failed")


def _value(v: Any) -> Any:
    if isinstance(v, ua.Variant):
        v = v.Value
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, list):
        return [_value(x) for x in v]
    return str(v)


def _status_of(exc: BaseException) -> ua.StatusCode:
    code = getattr(exc, "code", None)
    return ua.StatusCode(code if isinstance(code, int) else ua.StatusCodes.BadInternalError)


NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
_WRITE_BITS = ua.AccessLevel.CurrentWrite.mask | ua.AccessLevel.HistoryWrite.mask \
    | ua.AccessLevel.SemanticChange.mask | ua.AccessLevel.StatusWrite.mask | ua.AccessLevel.TimestampWrite.mask


class GuardedSession(InternalSession):
    """An asyncua session that enforces the plant's roles itself (see the module docstring)."""

    guard: Guard
    peer_thumbprint: str = ""

    def caller(self) -> Caller:
        user = self.user
        return Caller(plant_role(user), (user.name or "") if user else "", self.peer_thumbprint,
                      str(self.name), self.guard)

    # -- activation ----------------------------------------------------------------------
    def channel_allowed(self) -> bool:
        """True if the channel of the ActivateSession being served carries an advertised policy
        (unknown channel: refused; None: only if the server offers a None endpoint)."""
        from plant.throttle import CHANNEL_POLICY

        uri = CHANNEL_POLICY.get()
        if uri is None:
            return False
        return uri != NONE_URI or self.guard.allow_none_channel

    def activate_session(self, params: ua.ActivateSessionParameters,
                         peer_certificate: bytes | None) -> ua.ActivateSessionResult:
        if not self.channel_allowed() or (peer_certificate is None and not self.guard.allow_none_channel):
            _log.warning("%s refused a session on a SecurityPolicy#None channel from %s (not advertised)",
                         self.guard.device, self.name)
            raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
        self.peer_thumbprint = thumbprint(peer_certificate) if peer_certificate else ""
        return super().activate_session(params, peer_certificate)

    # -- read: user-specific access attributes --------------------------------------------
    async def read(self, params: ua.ReadParameters) -> list[ua.DataValue]:
        results = list(await super().read(params))
        caller = self.caller()
        for hook in self.guard.read_hooks:
            hook(caller, params.NodesToRead, results)
        for i, (rv, dv) in enumerate(zip(params.NodesToRead, results)):
            if dv.Value is None or dv.StatusCode is not None and not dv.StatusCode.is_good():
                continue
            aid = rv.AttributeId
            value: ua.Variant | None = None
            if aid == ua.AttributeIds.UserAccessLevel and not caller.may("operator"):
                value = ua.Variant(int(dv.Value.Value or 0) & ~_WRITE_BITS, ua.VariantType.Byte)
            elif aid == ua.AttributeIds.UserWriteMask and not caller.may("operator"):
                value = ua.Variant(0, ua.VariantType.UInt32)
            elif aid == ua.AttributeIds.UserExecutable:
                node = self.aspace.get(rv.NodeId)
                cb = getattr(node, "call", None) if node is not None else None
                value = ua.Variant(bool(dv.Value.Value) and caller.may(method_role(cb, rv.NodeId)),
                                   ua.VariantType.Boolean)
            if value is not None:  # a new DataValue: the one read is the address space's own object
                results[i] = dataclasses.replace(dv, Value=value)
        return results

    # -- write: operators only, node by node ----------------------------------------------
    async def write(self, params: ua.WriteParameters) -> list[ua.StatusCode]:
        caller = self.caller()
        out: list[ua.StatusCode] = []
        token = _CALLER.set(caller)
        try:
            for wv in params.NodesToWrite:
                if not caller.may("operator"):
                    status = ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
                else:
                    try:
                        status = (await super().write(ua.WriteParameters(NodesToWrite=[wv])))[0]
                    except (ServiceError, ua.uaerrors.UaStatusCodeError) as exc:
                        status = _status_of(exc)
                out.append(status)
                self.guard.record("write", caller, {"node": wv.NodeId.to_string(), "attribute": int(wv.AttributeId),
                                                    "value": _value(wv.Value.Value if wv.Value else None)}, status)
        finally:
            _CALLER.reset(token)
        return out

    # -- call: the method's role, then the handler (which checks again) ----------------------
    async def call(self, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        caller = self.caller()
        out: list[ua.CallMethodResult] = []
        token = _CALLER.set(caller)
        try:
            for req in params:
                node = self.aspace.get(req.MethodId)
                cb = getattr(node, "call", None) if node is not None else None
                if node is not None and not caller.may(method_role(cb, req.MethodId)):
                    res = ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadUserAccessDenied))
                else:
                    res = (await super().call([req]))[0]
                out.append(res)
                self.guard.record("call", caller, {
                    "object": req.ObjectId.to_string(), "method": req.MethodId.to_string(),
                    "arguments": [_value(a) for a in (req.InputArguments or [])],
                    "outputs": [_value(a) for a in (res.OutputArguments or [])]}, res.StatusCode)
        finally:
            _CALLER.reset(token)
        return out


def install(server: Any, guard: Guard) -> None:
    """Make every client session of ``server`` (an asyncua ``Server``) a ``GuardedSession``
    bound to ``guard``; also route password checks through ``plant.throttle`` when the
    server's user manager is a ``ThrottledUserManager``. Call after ``server.init()``."""
    iserver = server.iserver

    def create_session(name: Any, user: User = User(role=UserRole.Anonymous),
                       external: bool = False) -> InternalSession:
        if not external:
            return InternalSession(iserver, iserver.aspace, iserver.subscription_service, name,
                                   user=user, external=external)
        sess = GuardedSession(iserver, iserver.aspace, iserver.subscription_service, name,
                              user=user, external=external)
        sess.guard = guard
        return sess

    iserver.create_session = create_session
    from plant.throttle import patch_processor
    patch_processor()
