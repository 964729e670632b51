"""Start the node-opcua press (tests/interop/press) on a free 127.0.0.1 port for a test.

The press is a second OPC UA stack written from docs/opcua.md alone. It trusts the twin's client
certificate (generated here as `twin hil` does), knows one operator and one viewer, and serves
secure endpoints only. `broken` flags make a deliberately non-conforming press for the probe.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
READY = "PRESSJS-READY "
START_TIMEOUT_S = 240.0  # loading the four nodesets takes ~5 s idle, far more on a loaded 2-core machine
OPERATOR = ("js-operator", "js-operator-secret")
VIEWER = ("js-viewer", "js-viewer-secret")
CLIENT_CERT_NAME = "twin-client"
CLIENT_APP_URI = "urn:twin:hil-client"


@dataclass
class JsPress:
    """A running JS press: where it listens and what a client needs to reach it."""

    endpoint: str
    devices: list[str]
    server_certificate: Path
    client_cert: tuple[Path, Path]
    operator: tuple[str, str]
    viewer: tuple[str, str]
    proc: subprocess.Popen
    log: Path
    broken: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """Kill the press at once (SIGKILL to its process group), as a power cut would."""
        _stop(self.proc, hard=True)


def nodesets_dir() -> Path:
    """The vendored official nodesets: plant/nodesets in the project, else ../shared/nodesets."""
    for cand in (ROOT / "plant" / "nodesets", ROOT.parent / "shared" / "nodesets"):
        if (cand / "Opc.Ua.LADS.NodeSet2.xml").exists():
            return cand
    pytest.fail("the official nodesets (Opc.Ua.LADS.NodeSet2.xml, ...) are missing from plant/nodesets")


def require_node_modules() -> None:
    """node and the pinned node-opcua packages are needed; missing is a failure, not a skip."""
    if shutil.which("node") is None:
        pytest.fail("node is required for the node-opcua press (.ci/run installs it)")
    if not (HERE / "node_modules" / "node-opcua" / "package.json").exists():
        pytest.fail(f"node-opcua is not installed: run `cd {HERE} && npm ci`")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _hash(password: str) -> dict[str, str]:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16384, r=8, p=1, dklen=32)
    return {"salt": salt.hex(), "hash": digest.hex()}


def client_certificate(cert_dir: Path) -> tuple[Path, Path]:
    """The twin's client certificate (DER) and key, made the way `twin hil` makes them."""
    from plant.security import ensure_certificate

    return asyncio.run(asyncio.wait_for(ensure_certificate(cert_dir, CLIENT_CERT_NAME, CLIENT_APP_URI,
                                                           "127.0.0.1", client=True), 60))


def _stop(proc: subprocess.Popen, hard: bool = False) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen, log: Path, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith(READY):
                return json.loads(line[len(READY):])
        if proc.poll() is not None:
            pytest.fail(f"the JS press exited with {proc.returncode} before it was ready:\n{text[-3000:]}")
        time.sleep(0.1)
    _stop(proc, hard=True)
    pytest.fail(f"the JS press was not ready within {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def js_press(tmp: Path, *, devices: Sequence[dict[str, Any]] | None = None, broken: Sequence[str] = (),
             policies: Sequence[str] = ("Basic256Sha256", "Aes256_Sha256_RsaPss"), time_scale: float = 100.0,
             client_cert: tuple[Path, Path] | None = None, port: int | None = None,
             seed: int = 11, test_endpoints: bool = False) -> Iterator[JsPress]:
    """A JS press serving `devices` (default: one press JS-Press-1) until the block ends."""
    require_node_modules()
    tmp.mkdir(parents=True, exist_ok=True)
    cert = client_cert or client_certificate(tmp / "twin-client-pki")
    devs = list(devices or [{"name": "JS-Press-1", "capacity_cells": 8}])
    cfg = {"host": "127.0.0.1", "port": port or free_port(), "pki_dir": str(tmp / "pressjs-pki"),
           "trusted_certs": [str(cert[0])], "nodesets_dir": str(nodesets_dir()), "policies": list(policies),
           "time_scale": time_scale, "seed": seed, "devices": devs, "broken": list(broken),
           "test_endpoints": test_endpoints, "comm_loss_offline_s": 1.0,
           "users": {OPERATOR[0]: {**_hash(OPERATOR[1]), "role": "operator"},
                     VIEWER[0]: {**_hash(VIEWER[1]), "role": "viewer"}}}
    cfg_file = tmp / "pressjs.json"
    cfg_file.write_text(json.dumps(cfg), encoding="utf-8")
    log = tmp / "pressjs.log"
    env = {k: v for k, v in os.environ.items() if k != "PRESSJS_BROKEN"}
    with log.open("wb") as out:
        proc = subprocess.Popen(["node", str(HERE / "press" / "server.js"), str(cfg_file)], cwd=HERE,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    try:
        info = _wait_ready(proc, log, START_TIMEOUT_S)
        # the integrator trusts the vendor's server certificate: the twin's trusted-servers folder
        # (hardware.connection.server_trust_dir, default <client_cert_dir>/servers/trusted)
        trusted = cert[0].parent / "servers" / "trusted"
        trusted.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(info["server_certificate"], trusted / f"pressjs-{Path(tmp).name}.pem")
        yield JsPress(endpoint=info["endpoint"], devices=info["devices"],
                      server_certificate=Path(info["server_certificate"]), client_cert=cert,
                      operator=OPERATOR, viewer=VIEWER, proc=proc, log=log, broken=info["broken"])
    finally:
        _stop(proc)
