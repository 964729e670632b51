"""Password checks off the event loop, with growing delays and a lockout per client.

asyncua checks a UserName token synchronously inside ActivateSession, on the event loop
every device of the plant shares; a scrypt check there stalls all of them. Here the check
runs before asyncua's: ``patch_processor`` wraps ``UaProcessor._process_message`` so that an
ActivateSession for a ``GuardedSession`` first decrypts the token, waits the client's current
delay (``asyncio.sleep``: other devices keep publishing), runs scrypt in a 2-thread pool
shared by the whole plant, and hands the verdict to ``ThrottledUserManager.get_user`` through
a context variable. Unknown users cost one scrypt too (no timing oracle for user names).

A client is its certificate thumbprint (secure channels) or its IP address; its attempts are
checked one at a time (parallel attempts queue), and the pool threads run at a lower CPU
priority than the event loop. After each
failure its next attempt waits ``base_delay_s * 2**(failures-1)`` (at most ``max_delay_s``);
``lockout_after`` failures within ``window_s`` lock it out for ``lockout_s`` (every login
refused, correct or not, without running scrypt). A success resets the count. Each refusal
is logged at WARNING with the user name and client.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole

from plant.security import UserRecord, hash_password

_log = logging.getLogger(__name__)
def _lower_priority() -> None:
    """Pool threads run at a lower CPU priority than the event loop (Linux: per-thread nice)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not permitted: same priority
        pass


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="plant-scrypt", initializer=_lower_priority)
_VERDICT: ContextVar[tuple[str, User | None] | None] = ContextVar("plant_login_verdict", default=None)
_DUMMY: list[UserRecord] = []
CHANNEL_POLICY: ContextVar[str | None] = ContextVar("plant_channel_policy", default=None)
"""The security policy URI of the channel an ActivateSession arrived on (set by the patch)."""


@dataclass
class ThrottleSettings:
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    lockout_after: int = 10
    window_s: float = 900.0
    lockout_s: float = 300.0


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """Failure bookkeeping per client key (see the module docstring)."""

    def __init__(self, settings: ThrottleSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ThrottleSettings()
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.refusals = 0

    def lock(self, key: str) -> asyncio.Lock:
        """One attempt per client at a time: parallel attempts queue behind each other's delays."""
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    def _recent(self, key: str) -> _Client:
        c = self._clients.setdefault(key, _Client())
        horizon = self.clock() - self.settings.window_s
        c.failures = [t for t in c.failures if t >= horizon]
        return c

    def delay_s(self, key: str) -> float:
        """How long the client's next attempt waits before it is checked."""
        n = len(self._recent(key).failures)
        return 0.0 if n == 0 else min(self.settings.base_delay_s * 2 ** (n - 1), self.settings.max_delay_s)

    def locked_s(self, key: str) -> float:
        """Seconds the client stays locked out (0 if not)."""
        return max(0.0, self._recent(key).locked_until - self.clock())

    def failed(self, key: str) -> None:
        c = self._recent(key)
        now = self.clock()
        c.failures.append(now)
        self.refusals += 1
        if len(c.failures) >= self.settings.lockout_after:
            c.locked_until = now + self.settings.lockout_s

    def succeeded(self, key: str) -> None:
        self._clients.pop(key, None)


def _verify(record: UserRecord, password: str) -> bool:
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(record.salt), n=record.n, r=record.r,
                            p=record.p, dklen=len(bytes.fromhex(record.hash)))
    return hmac.compare_digest(digest.hex(), record.hash)


def _dummy() -> UserRecord:
    if not _DUMMY:
        _DUMMY.append(hash_password("no such user", "viewer"))
    return _DUMMY[0]


class ThrottledUserManager:
    """asyncua user manager: users file records, throttled asynchronous password checks."""

    def __init__(self, users: dict[str, UserRecord], allow_anonymous: bool, device: str = "",
                 throttle: LoginThrottle | None = None) -> None:
        self.users = users
        self.allow_anonymous = allow_anonymous
        self.device = device
        self.throttle = throttle or LoginThrottle()

    def _user(self, username: str, rec: UserRecord) -> User:
        return User(role=UserRole.User if rec.role == "operator" else UserRole.Anonymous, name=username)

    async def check(self, username: str, password: str, client: str) -> User | None:
        """The user if the password is right and the client not locked out; None otherwise.
        A client's attempts are checked one after the other (parallel logins gain nothing)."""
        th = self.throttle
        try:
            async with th.lock(client):
                return await self._check(username, password, client)
        finally:
            lock = th._locks.get(client)
            if lock is not None and not lock.locked() and client not in th._clients:
                del th._locks[client]  # nothing to remember about this client

    async def _check(self, username: str, password: str, client: str) -> User | None:
        th = self.throttle
        locked = th.locked_s(client)
        if locked > 0:
            th.refusals += 1
            _log.warning("%s: login of %r from %s refused: locked out for %.0f s more", self.device,
                         username, client, locked)
            return None
        delay = th.delay_s(client)
        if delay > 0:
            await asyncio.sleep(delay)
        rec = self.users.get(username)
        ok = await asyncio.get_running_loop().run_in_executor(_POOL, _verify, rec or _dummy(), password)
        if rec is None or not ok:
            th.failed(client)
            _log.warning("%s: login of %r from %s refused: %s (failure %d; next attempt waits %.2f s%s)",
                         self.device, username, client, "unknown user" if rec is None else "wrong password",
                         len(th._recent(client).failures), th.delay_s(client),
                         "; locked out" if th.locked_s(client) > 0 else "")
            return None
        th.succeeded(client)
        return self._user(username, rec)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        """asyncua's hook: anonymous per the plant file; a named user from the verdict the
        asynchronous check left (or, without one, a synchronous check)."""
        if username is None:
            return User(role=UserRole.Anonymous) if self.allow_anonymous else None
        verdict = _VERDICT.get()
        if verdict is not None and verdict[0] == username:
            return verdict[1]
        _log.warning("%s: synchronous password check for %r (throttle not installed)", self.device, username)
        rec = self.users.get(username)
        ok = _verify(rec or _dummy(), password or "")
        return self._user(username, rec) if rec is not None and ok else None


def _client_key(processor: Any) -> str:
    cert = getattr(processor._connection.security_policy, "peer_certificate", None)
    if cert:
        from plant.pki import thumbprint
        return f"cert:{thumbprint(cert)[:16]}"
    name = processor.name
    return f"ip:{name[0] if isinstance(name, (tuple, list)) and name else name}"


_PATCHED: list[bool] = []
OFF_LOOP = [True]  # False: asyncua's synchronous check on the loop, unthrottled (bench_security's "before")


def patch_processor() -> None:
    """Wrap ``UaProcessor._process_message`` once per process (only sessions of a
    ``GuardedSession`` whose server has a ``ThrottledUserManager`` are affected)."""
    if _PATCHED:
        return
    from asyncua.server.uaprocessor import UaProcessor
    from asyncua.ua.ua_binary import struct_from_binary

    from plant.access import GuardedSession

    original = UaProcessor._process_message
    activate = ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)

    async def _process_message(self: Any, typeid: Any, requesthdr: Any, seqhdr: Any, body: Any) -> Any:
        sess = self.session
        if typeid != activate or not isinstance(sess, GuardedSession):
            return await original(self, typeid, requesthdr, seqhdr, body)
        channel = CHANNEL_POLICY.set(self._connection.security_policy.URI)
        try:
            return await _activate(self, sess, typeid, requesthdr, seqhdr, body)
        finally:
            CHANNEL_POLICY.reset(channel)

    async def _activate(self: Any, sess: Any, typeid: Any, requesthdr: Any, seqhdr: Any, body: Any) -> Any:
        um = getattr(self.iserver, "user_manager", None)
        if not OFF_LOOP[0] or not isinstance(um, ThrottledUserManager) or not sess.channel_allowed():
            return await original(self, typeid, requesthdr, seqhdr, body)
        try:
            params = struct_from_binary(ua.ActivateSessionParameters, body.copy())
            token = params.UserIdentityToken
            if not isinstance(token, ua.UserNameIdentityToken):
                return await original(self, typeid, requesthdr, seqhdr, body)
            username, password = self.iserver.decrypt_user_token(sess, token)
        except Exception:  # malformed: asyncua's own path answers it
            return await original(self, typeid, requesthdr, seqhdr, body)
        user = await um.check(username or "", password or "", _client_key(self))
        ctx = _VERDICT.set((username, user))
        try:
            return await original(self, typeid, requesthdr, seqhdr, body)
        finally:
            _VERDICT.reset(ctx)

    UaProcessor._process_message = _process_message  # type: ignore[method-assign]
    _PATCHED.append(True)
