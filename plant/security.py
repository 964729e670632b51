"""Security for the emulated devices: users file (salted scrypt hashes), roles, certificates.

Roles: ``operator`` may write setpoints and call methods (start programs); ``viewer`` and
anonymous sessions may browse, read and subscribe. The mapping onto asyncua: operators
get ``UserRole.User``, viewers and anonymous ``UserRole.Anonymous``; ``PlantRuleset``
lets every session send the ordinary service requests (Write and Call included) and
``plant.access`` decides per node and per method, on every channel. Nobody gets Admin.

A users file marked ``demo: true`` (published passwords, e.g. plants/users.yaml) is only
accepted by a plant file with ``security.demo: true``.

Add a user:  ``twin plant user add PLANT NAME --role operator`` (asks for the password).
"""
from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from asyncua import ua
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from pydantic import BaseModel, ConfigDict, Field

Role = Literal["operator", "viewer"]
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SALT_BYTES, _KEY_BYTES = 2 ** 14, 8, 1, 16, 32


class UserRecord(BaseModel):
    """One user: role and salted scrypt hash of the password."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Role
    salt: str = Field(description="hex")
    hash: str = Field(description="hex scrypt digest")
    n: int = _SCRYPT_N
    r: int = _SCRYPT_R
    p: int = _SCRYPT_P


def hash_password(password: str, role: Role = "operator", salt: bytes | None = None) -> UserRecord:
    """A user record for ``password`` with a fresh random salt."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            dklen=_KEY_BYTES)
    return UserRecord(role=role, salt=salt.hex(), hash=digest.hex())


def verify_password(record: UserRecord, password: str) -> bool:
    """Constant-time check of ``password`` against a record."""
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(record.salt), n=record.n,
                            r=record.r, p=record.p, dklen=len(bytes.fromhex(record.hash)))
    return hmac.compare_digest(digest.hex(), record.hash)


def users_file_is_demo(path: Path) -> bool:
    """True if the users file says ``demo: true`` (its passwords are published)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return bool(data.get("demo", False))


def load_users(path: Path, allow_demo: bool = True) -> dict[str, UserRecord]:
    """Users file: ``users: {name: {role, salt, hash, n, r, p}}`` (optional ``demo: true``).
    ValueError naming ``security.users_file`` when a demo file is given to a non-demo plant."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if data.get("demo") and not allow_demo:
        raise ValueError(f"security.users_file: {path} holds demo credentials (demo: true); only a plant file "
                         "with security.demo: true may use it; create users with `twin plant user add`")
    return {name: UserRecord.model_validate(rec) for name, rec in (data.get("users") or {}).items()}


def save_users(path: Path, users: dict[str, UserRecord], demo: bool = False) -> None:
    """Write a users file (mode 0600; ``demo`` marks published passwords)."""
    from plant.pki import write_private

    data: dict[str, Any] = {"users": {k: v.model_dump() for k, v in users.items()}}
    if demo:
        data["demo"] = True
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_private(Path(path), yaml.safe_dump(data, sort_keys=True).encode("utf-8"))


class PlantUserManager:
    """asyncua user manager backed by a users file."""

    def __init__(self, users: dict[str, UserRecord], allow_anonymous: bool) -> None:
        self.users = users
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        """The session's user, or None (-> BadUserAccessDenied) on a failed login."""
        if username is None:
            return User(role=UserRole.Anonymous) if self.allow_anonymous else None
        rec = self.users.get(username)
        if rec is None or password is None or not verify_password(rec, password):
            return None
        role = UserRole.User if rec.role == "operator" else UserRole.Anonymous
        return User(role=role, name=username)


class PlantRuleset(PermissionRuleset):
    """Every session: the ordinary service requests (no node management). Write and Call are
    let through so that ``plant.access`` answers them per node / per method (BadUserAccessDenied
    in the result, the same on every channel) instead of a ServiceFault for the whole request."""

    def __init__(self) -> None:
        user_ids = {ua.NodeId(i) for i in USER_TYPES}
        self._allowed = {UserRole.User: user_ids, UserRole.Anonymous: user_ids, UserRole.Admin: set()}

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        """True if ``user`` may send a request of this type."""
        return action_type_id in self._allowed.get(user.role, set())


async def ensure_certificate(cert_dir: Path, name: str, app_uri: str, host: str,
                             client: bool = False) -> tuple[Path, Path]:
    """(certificate DER, private key PEM, mode 0600) in ``cert_dir``, generated if missing,
    invalid or expiring; SAN: application URI, host name, IP address (plant.pki)."""
    from plant.pki import ensure_own_certificate

    return ensure_own_certificate(Path(cert_dir), name, app_uri, host, client)


def _main(argv: list[str] | None = None) -> None:
    """Add or replace a user in a users file."""
    ap = argparse.ArgumentParser(description="add a user to a plant users file")
    ap.add_argument("users_file", type=Path)
    ap.add_argument("name")
    ap.add_argument("--role", choices=["operator", "viewer"], default="operator")
    args = ap.parse_args(argv)
    users = load_users(args.users_file) if args.users_file.exists() else {}
    users[args.name] = hash_password(getpass.getpass(f"password for {args.name}: "), args.role)
    save_users(args.users_file, users)


if __name__ == "__main__":
    _main()
