"""Plants and certificates for the attack tests (loopback, free ports)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from plant.pki import TrustList, make_certificate
from plant.plantfile import PlantFile
from plant.serve import PlantThread
from tests.plant.plant_helpers import write_users

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "interop" / "node_modules" / "node-opcua-client"
THROTTLE = {"base_delay_s": 0.3, "max_delay_s": 1.2, "lockout_after": 6, "window_s": 120.0, "lockout_s": 60.0}


def node_available() -> None:
    """Fail (never skip) when node or the pinned node-opcua client is missing."""
    if shutil.which("node") is None:
        pytest.fail("node is required for the attack tests (.ci/run installs it)")
    if not NODE_MODULES.exists():
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE.parent / "interop",
                              capture_output=True, text=True, timeout=240)
        if proc.returncode != 0:
            pytest.fail(f"npm ci failed in tests/interop:\n{proc.stderr[-2000:]}")


class Cert:
    """A client certificate as DER (for the trust list) and PEM files (for node-opcua)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.uri = f"urn:twin:test:{name}"
        der, key_pem = make_certificate(name, self.uri, "127.0.0.1", client=True)
        folder.mkdir(parents=True, exist_ok=True)
        self.der = folder / f"{name}.der"
        self.der.write_bytes(der)
        self.pem = folder / f"{name}.pem"
        self.pem.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
        self.key = folder / f"{name}.key.pem"
        self.key.write_bytes(key_pem)

    def node_args(self) -> dict[str, str]:
        return {"cert": str(self.pem), "key": str(self.key), "uri": self.uri}


def secure_plant(tmp: Path, name: str = "attack", **security: Any) -> PlantFile:
    """A production-like plant (no demo): one automatic uniaxial press, secure endpoints only."""
    sec = {"users_file": str(write_users(tmp / "users.yaml")), "cert_dir": str(tmp / "pki"),
           "throttle": THROTTLE, **security}
    return PlantFile.model_validate({
        "name": name, "time_scale": 500.0, "publish_hz": 20.0, "seed": 3, "security": sec,
        "devices": [{"name": "UniPress-1", "kind": "automatic_uniaxial", "port": 0}]})


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cert]:
    folder = tmp_path_factory.mktemp("attacker-certs")
    return {n: Cert(folder, n) for n in ("trusted", "passwords", "untrusted", "python")}


@pytest.fixture(scope="module")
def attack_plant(tmp_path_factory: pytest.TempPathFactory, certs: dict[str, Cert]) -> Any:
    tmp = tmp_path_factory.mktemp("attack-plant")
    tl = TrustList(tmp / "pki").ensure()
    for n in ("trusted", "passwords", "python"):
        tl.add(certs[n].der)
    with PlantThread(secure_plant(tmp)) as p:
        p.tmp = tmp
        yield p


async def lads_ids(endpoint: str, device: str, cert: Cert | None = None) -> dict[str, str]:
    """NodeIds (strings) of what the attacker touches, resolved by LADS browse path (anonymous;
    SignAndEncrypt with ``cert``, else the None endpoint of a demo plant)."""
    from asyncua import Client, ua
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    from adapters import vocabulary as v
    from tests.plant.plant_helpers import call, node

    c = Client(endpoint, timeout=10)
    if cert is not None:
        c.application_uri = cert.uri
        await c.set_security(SecurityPolicyBasic256Sha256, str(cert.der), str(cert.key),
                             mode=ua.MessageSecurityMode.SignAndEncrypt)
    await call(c.connect(), 30)
    try:
        paths = {"target": v.function_path("Pressure") + (v.TARGET_VALUE,),
                 "tempTarget": v.function_path("Temperature") + (v.TARGET_VALUE,),
                 "unitState": v.UNIT_STATE, "start": v.UNIT_START_PROGRAM, "clear": v.UNIT_CLEAR}
        return {k: (await node(c, device, p)).nodeid.to_string() for k, p in paths.items()}
    finally:
        await call(c.disconnect())
