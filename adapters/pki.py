"""The twin's side of the certificate check: which servers it talks to.

Before any session, adapters.opcua.DeviceSession asks the endpoint for its endpoints
(GetEndpoints needs no session) and awaits `ServerTrust.check_async` (its `server_check` hook)
with the certificate of the endpoint it chose; that accepts it only when its SHA-1 thumbprint is
trusted: a certificate in
the twin's trust folder (`hardware.connection.server_trust_dir`, default
`<client_cert_dir>/servers/trusted`) or one of the certificates the plant file's own PKI folder
holds (`<cert_dir>/own`, when that folder is on this machine). The session then pins that
certificate (the secure channel is encrypted to it), so an impostor that copied the public
certificate cannot complete the handshake either. A refused certificate is kept in
`.../servers/rejected/` for an operator to inspect and move to `trusted/`.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Iterable

from adapters.opcua.linklog import ConfigurationRefused

log = logging.getLogger(__name__)

def _thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest()


def _first_cert(chain: bytes) -> bytes:
    """The leaf certificate of a DER chain (the endpoint's ServerCertificate may be a chain)."""
    if len(chain) < 4 or chain[0] != 0x30:
        return chain
    if chain[1] & 0x80:
        n = chain[1] & 0x7F
        length = int.from_bytes(chain[2:2 + n], "big") + 2 + n
    else:
        length = chain[1] + 2
    return chain[:length]


def _certs_in(folder: Path) -> dict[str, Path]:
    from plant.pki import load_der

    out: dict[str, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in (".der", ".pem", ".crt", ".cer"):
                try:
                    out[_thumbprint(load_der(p))] = p
                except (OSError, ValueError):
                    log.warning("ignoring unreadable certificate %s", p)
    return out


class ServerUntrusted(ConfigurationRefused):
    """The server's certificate is not one the twin trusts: a setup problem (`twin hil` exits 2)."""


class ServerTrust:
    """Trusted server certificates: a trust folder plus extra folders (the plant's own/)."""

    def __init__(self, root: Path, extra: Iterable[Path] = ()) -> None:
        self.root = Path(root).expanduser()
        self.trusted_dir = self.root / "trusted"
        self.rejected_dir = self.root / "rejected"
        self.extra = [Path(p) for p in extra]

    def trusted(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for folder in [self.trusted_dir, *self.extra]:
            out.update(_certs_in(folder))
        return out

    def check(self, der: bytes, endpoint: str) -> bytes:
        """``der`` if trusted; else keep it in rejected/ and raise ServerUntrusted."""
        tp = _thumbprint(der)
        if tp in self.trusted():
            return der
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        path = self.rejected_dir / f"{tp}.der"
        path.write_bytes(der)
        places = ", ".join(str(p) for p in [self.trusted_dir, *self.extra])
        raise ServerUntrusted(f"{endpoint} presents a server certificate the twin does not trust "
                              f"(SHA-1 {tp}; kept in {path}). If this really is the device, copy its "
                              f"certificate into one of: {places}")

    async def check_async(self, endpoint: str, der: bytes) -> None:
        """The `server_check` hook of adapters.opcua.DeviceSession: awaited with the certificate of
        the endpoint description before any session (the session then pins it)."""
        self.check(_first_cert(der), endpoint)


def plant_own_dir(plant: Any) -> Path | None:
    """The plant file's PKI own/ folder (its devices' certificates; read when it exists here)."""
    cert_dir = getattr(getattr(plant, "security", None), "cert_dir", None)
    return None if cert_dir is None else Path(cert_dir) / "own"
