"""Security for the emulated devices: users file (salted scrypt hashes), roles, certificates.

Roles: ``operator`` may write setpoints and call methods (start programs); ``viewer`` and
anonymous sessions may browse, read and subscribe. The mapping onto asyncua: operators
get ``UserRole.User``, viewers and anonymous ``UserRole.Anonymous``; ``PlantRuleset`` lets
every role send requests and the role is checked per method and per writable node
(plant.lads.access). Nobody gets Admin.

Add a user:  ``python -m plant.security USERS.yaml NAME --role operator`` (asks for the password).
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
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import BaseModel, ConfigDict, Field

Role = Literal["operator", "viewer"]
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SALT_BYTES, _KEY_BYTES = 2 ** 14, 8, 1, 16, 32


class UserRecord(BaseModel):
    """One user: role and salted scrypt hash of the password."""

    model_config = ConfigDict(extra="forbid")

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


def load_users(path: Path) -> dict[str, UserRecord]:
    """Users file: ``users: {name: {role, salt, hash, n, r, p}}``."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {name: UserRecord.model_validate(rec) for name, rec in (data.get("users") or {}).items()}


def save_users(path: Path, users: dict[str, UserRecord]) -> None:
    """Write a users file."""
    Path(path).write_text(yaml.safe_dump({"users": {k: v.model_dump() for k, v in users.items()}},
                                         sort_keys=True), encoding="utf-8")


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
    """Every session-level request for operators, viewers and anonymous sessions; nothing for Admin.

    Write and Call pass this service-level check for every role: the role is checked per node and
    per method (plant.lads.access: value setters and ``@guarded`` handlers), so a refused call is a
    CallMethodResult with BadUserAccessDenied (docs/opcua.md S2) and only TargetValue nodes are
    writable at all."""

    def __init__(self) -> None:
        user_ids = {ua.NodeId(i) for i in USER_TYPES}
        self._allowed = {UserRole.User: user_ids, UserRole.Anonymous: user_ids, UserRole.Admin: set()}

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        """True if ``user`` may send a request of this type."""
        return action_type_id in self._allowed.get(user.role, set())


async def ensure_certificate(cert_dir: Path, name: str, app_uri: str, host: str,
                             client: bool = False) -> tuple[Path, Path]:
    """(certificate DER, private key PEM) in ``cert_dir``, generated if missing or invalid."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    cert, key = cert_dir / f"{name}.der", cert_dir / f"{name}.pem"
    use = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                            ExtendedKeyUsageOID.CLIENT_AUTH]
    await setup_self_signed_certificate(key, cert, app_uri, host, use,
                                        {"organizationName": "anodeless-twin", "organizationalUnitName": name})
    return cert, key


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
