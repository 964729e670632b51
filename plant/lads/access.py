"""Who is calling: the session's user inside method handlers and value setters, and the role guard.

asyncua hands method handlers and value setters no session. ``install()`` wraps the internal
session's Call and Write so the session's user is in a context variable while they run;
``current_user()`` reads it. The service-level ruleset (plant.security.PlantRuleset) lets every
session send Call and Write; the role check happens here, per method and per node, so an
anonymous StartProgram gets a CallMethodResult with BadUserAccessDenied (docs/opcua.md S2)
rather than a service fault.

``guarded(role)`` decorates a method handler ``async def handler(server, parent, *args)``;
``require(role)`` is the same check for value setters (raises BadUserAccessDenied).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Awaitable, Callable, Iterator

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_session import InternalSession

_current_user: contextvars.ContextVar[User | None] = contextvars.ContextVar("plant_current_user", default=None)
_installed = False
ROLES = {"operator": (UserRole.User, UserRole.Admin), "viewer": (UserRole.User, UserRole.Admin, UserRole.Anonymous)}


def install() -> None:
    """Wrap InternalSession.call/write (once per process) to publish the session's user."""
    global _installed
    if _installed:
        return
    orig_call, orig_write = InternalSession.call, InternalSession.write

    async def call(self: InternalSession, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        token = _current_user.set(self.user)
        try:
            return await orig_call(self, params)
        finally:
            _current_user.reset(token)

    async def write(self: InternalSession, params: ua.WriteParameters) -> list[ua.StatusCode]:
        token = _current_user.set(self.user)
        try:
            return await orig_write(self, params)
        finally:
            _current_user.reset(token)

    InternalSession.call = call  # type: ignore[method-assign]
    InternalSession.write = write  # type: ignore[method-assign]
    _installed = True


@contextlib.contextmanager
def as_device() -> Iterator[None]:
    """Inside: writes are the device's own (no calling user), also within a method call."""
    token = _current_user.set(None)
    try:
        yield
    finally:
        _current_user.reset(token)


def current_user() -> User | None:
    """The user of the session whose Call or Write is being served (None for internal calls)."""
    return _current_user.get()


def user_name() -> str:
    """The calling user's name, "" for anonymous or internal calls."""
    user = current_user()
    return str(getattr(user, "name", "") or "") if user is not None else ""


def allowed(role: str) -> bool:
    """True if the calling session has ``role`` (internal calls, without a session, always do)."""
    user = current_user()
    return user is None or user.role in ROLES[role]


def require(role: str) -> None:
    """Raise BadUserAccessDenied unless the calling session has ``role`` (for value setters)."""
    if not allowed(role):
        raise ua.uaerrors.BadUserAccessDenied


Handler = Callable[..., Awaitable[Any]]


def guarded(role: str) -> Callable[[Handler], Handler]:
    """Method-handler decorator: a CallMethodResult with BadUserAccessDenied unless ``role``."""
    def wrap(func: Handler) -> Handler:
        @functools.wraps(func)
        async def handler(*args: Any) -> Any:
            if not allowed(role):
                return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadUserAccessDenied))
            return await func(*args)
        return handler
    return wrap
