"""The plant's PKI folder: its own certificates, the client certificates it trusts, the ones it refused.

Layout (one folder per plant file, default ``.pki/<plant name>`` next to the plant file)::

    <pki>/own/<Device>.der        server certificate of each device (generated if missing)
    <pki>/own/<Device>.pem        its private key, mode 0600 (folder 0700)
    <pki>/trusted/*.der           client certificates the devices accept
    <pki>/rejected/<sha1>.der     client certificates that were refused, kept for an operator

An operator moves a refused certificate into ``trusted/`` with ``twin plant trust accept``
(or by hand); the devices re-read ``trusted/`` on every new session, so no restart is needed.
Server certificates carry the application URI, the host name and, when the host is an IP
address, an IP address entry in their subjectAltName, so clients can check the host.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_log = logging.getLogger(__name__)
KEY_BITS = 2048
VALID_DAYS = 3650
KEY_MODE, DIR_MODE = 0o600, 0o700


def thumbprint(der: bytes) -> str:
    """SHA-1 thumbprint (hex, lower case), as OPC UA tools show it."""
    return hashlib.sha1(der).hexdigest()


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (never world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, KEY_MODE)
    os.replace(tmp, path)


def _san(app_uri: str, host: str) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(app_uri)]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
        dns = {"localhost"} if ipaddress.ip_address(host).is_loopback else set()
        dns.add(socket.gethostname())
    except ValueError:
        dns = {host}
    names += [x509.DNSName(d) for d in sorted(dns) if d]
    return x509.SubjectAlternativeName(names)


def make_certificate(name: str, app_uri: str, host: str, client: bool = False) -> tuple[bytes, bytes]:
    """(certificate DER, private key PEM): self-signed RSA, valid ``VALID_DAYS``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "anodeless-twin")])
    now = dt.datetime.now(dt.timezone.utc)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                               ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(_san(app_uri, host), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                         data_encipherment=True, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.DER), pem


def _usable(cert_path: Path, key_path: Path, app_uri: str) -> bool:
    try:
        cert = x509.load_der_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc < dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return app_uri in san.get_values_for_type(x509.UniformResourceIdentifier)


def ensure_own_certificate(own_dir: Path, name: str, app_uri: str, host: str,
                           client: bool = False) -> tuple[Path, Path]:
    """(certificate DER, key PEM) of ``name`` in ``own_dir``, generated if missing, invalid or
    expiring; the key file is 0600 and the folder 0700 (also fixed when found looser)."""
    _private_dir(own_dir)
    cert, key = own_dir / f"{name}.der", own_dir / f"{name}.pem"
    if not _usable(cert, key, app_uri):
        der, pem = make_certificate(name, app_uri, host, client)
        write_private(key, pem)
        cert.write_bytes(der)
        _log.info("generated certificate %s (%s)", cert, thumbprint(der))
    elif key.stat().st_mode & 0o077:
        os.chmod(key, KEY_MODE)
    return cert, key


def load_der(path: Path) -> bytes:
    """A certificate file (DER or PEM) as DER bytes."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    x509.load_der_x509_certificate(data)
    return data


@dataclass(frozen=True)
class CertInfo:
    """What ``twin plant trust list`` shows of a certificate."""

    thumbprint: str
    subject: str
    application_uri: str
    not_after: str
    path: Path


def describe(path: Path) -> CertInfo:
    """Thumbprint, subject, application URI and expiry of the certificate at ``path``."""
    der = load_der(path)
    cert = x509.load_der_x509_certificate(der)
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
            .get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return CertInfo(thumbprint(der), cert.subject.rfc4514_string(), uris[0] if uris else "",
                    cert.not_valid_after_utc.date().isoformat(), path)


class TrustList:
    """``trusted/`` and ``rejected/`` of a PKI folder (server side: client certificates;
    twin side: server certificates)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.trusted_dir = self.root / "trusted"
        self.rejected_dir = self.root / "rejected"

    def ensure(self) -> "TrustList":
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        return self

    def _scan(self, folder: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        if not folder.is_dir():
            return out
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in (".der", ".pem", ".crt", ".cer") and p.is_file():
                try:
                    out[thumbprint(load_der(p))] = p
                except (OSError, ValueError):
                    _log.warning("ignoring unreadable certificate %s", p)
        return out

    def trusted(self) -> dict[str, Path]:
        """Thumbprint -> file of every trusted certificate (re-read on each call)."""
        return self._scan(self.trusted_dir)

    def rejected(self) -> dict[str, Path]:
        return self._scan(self.rejected_dir)

    def is_trusted(self, der: bytes) -> bool:
        return thumbprint(der) in self.trusted()

    def reject(self, der: bytes) -> Path:
        """Keep a refused certificate in ``rejected/`` (named by thumbprint) for an operator."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        path = self.rejected_dir / f"{thumbprint(der)}.der"
        if not path.exists():
            path.write_bytes(der)
        return path

    def add(self, source: Path, name: str | None = None) -> Path:
        """Trust the certificate in ``source`` (copied into ``trusted/``)."""
        der = load_der(Path(source))
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        path = self.trusted_dir / f"{name or thumbprint(der)}.der"
        path.write_bytes(der)
        return path

    def find(self, prefix: str, where: dict[str, Path]) -> tuple[str, Path]:
        """The one certificate whose thumbprint starts with ``prefix`` (KeyError otherwise)."""
        hits = [(t, p) for t, p in where.items() if t.startswith(prefix.lower().replace(":", ""))]
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} certificates match {prefix!r}")
        return hits[0]

    def accept(self, prefix: str) -> Path:
        """Move a rejected certificate into ``trusted/``."""
        tp, path = self.find(prefix, self.rejected())
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        target = self.trusted_dir / f"{tp}.der"
        target.write_bytes(load_der(path))
        path.unlink()
        return target

    def remove(self, prefix: str) -> Path:
        """Stop trusting a certificate (moved to ``rejected/``)."""
        tp, path = self.find(prefix, self.trusted())
        target = self.reject(load_der(path))
        path.unlink()
        return target


class ClientCertificateCheck:
    """asyncua certificate validator: the client certificate must be in ``trusted/`` and within
    its validity period; a refused one is kept in ``rejected/`` and logged. ``trust_all`` (demo
    plants only) accepts every certificate and logs a warning for each new one."""

    def __init__(self, trust: TrustList, device: str, trust_all: bool = False) -> None:
        self.trust = trust
        self.device = device
        self.trust_all = trust_all
        self._warned: set[str] = set()

    async def __call__(self, cert: x509.Certificate, app_description: Any) -> None:
        from asyncua import ua
        from asyncua.common.utils import ServiceError

        der = cert.public_bytes(serialization.Encoding.DER)
        tp = thumbprint(der)
        if self.trust_all:
            if tp not in self._warned:
                self._warned.add(tp)
                _log.warning("DEMO PLANT: %s accepts the untrusted client certificate %s", self.device, tp)
            return
        now = dt.datetime.now(dt.timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            _log.warning("%s refused client certificate %s: outside its validity period", self.device, tp)
            raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid)
        if not self.trust.is_trusted(der):
            path = self.trust.reject(der)
            _log.warning("%s refused untrusted client certificate %s (kept in %s; trust it with "
                         "`twin plant trust accept PLANT %s`)", self.device, tp, path, tp[:12])
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
