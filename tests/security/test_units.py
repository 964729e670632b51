"""The security building blocks without a network: PKI files, throttle arithmetic, retention,
plant-file rules, the `twin plant user` / `twin plant trust` commands."""
from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from typer.testing import CliRunner

from plant.pki import ClientCertificateCheck, TrustList, ensure_own_certificate, make_certificate, thumbprint
from plant.plantfile import PlantFile, RetentionConfig
from plant.retention import Retention
from plant.security import hash_password, load_users, save_users
from plant.throttle import LoginThrottle, ThrottleSettings
from twin.cli import app

runner = CliRunner()


def test_own_certificate_key_is_private_and_san_has_ip_host_and_uri(tmp_path):
    own = tmp_path / "pki" / "own"
    cert, key = ensure_own_certificate(own, "WIP-1", "urn:twin:plant:WIP-1", "127.0.0.1")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(own.stat().st_mode) == 0o700
    san = x509.load_der_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "127.0.0.1" not in san.get_values_for_type(x509.DNSName)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "urn:twin:plant:WIP-1" in san.get_values_for_type(x509.UniformResourceIdentifier)
    key.chmod(0o644)
    again, _ = ensure_own_certificate(own, "WIP-1", "urn:twin:plant:WIP-1", "127.0.0.1")
    assert again.read_bytes() == cert.read_bytes() and stat.S_IMODE(key.stat().st_mode) == 0o600


def test_client_check_rejects_untrusted_keeps_it_and_accepts_after_trust(tmp_path):
    import asyncio

    from asyncua.common.utils import ServiceError

    tl = TrustList(tmp_path / "pki").ensure()
    der, _ = make_certificate("c", "urn:c", "127.0.0.1", client=True)
    cert = x509.load_der_x509_certificate(der)
    check = ClientCertificateCheck(tl, "WIP-1")
    with pytest.raises(ServiceError):
        asyncio.run(check(cert, None))
    assert thumbprint(der) in tl.rejected()
    tl.accept(thumbprint(der)[:8])
    asyncio.run(check(cert, None))
    assert thumbprint(der) in tl.trusted() and not tl.rejected()


def test_throttle_doubles_delays_locks_out_and_forgets():
    now = [0.0]
    th = LoginThrottle(ThrottleSettings(base_delay_s=0.25, max_delay_s=1.0, lockout_after=4, window_s=60,
                                        lockout_s=30), clock=lambda: now[0])
    delays = []
    for _ in range(3):
        th.failed("a")
        delays.append(th.delay_s("a"))
    assert delays == [0.25, 0.5, 1.0] and th.locked_s("a") == 0 and th.delay_s("b") == 0
    th.failed("a")
    assert th.locked_s("a") == 30
    now[0] = 31.0
    assert th.locked_s("a") == 0
    now[0] = 200.0
    assert th.delay_s("a") == 0  # failures outside the window are forgotten
    th.failed("a")
    th.succeeded("a")
    assert th.delay_s("a") == 0


class _Res:
    def __init__(self, rid: str, ended: float) -> None:
        self.run_id, self.ended_s, self.samples, self.dispositions = rid, ended, ["s"], {}


class _Dev:
    def __init__(self, n: int) -> None:
        self.results = {f"r{i}": _Res(f"r{i}", float(i)) for i in range(n)}
        self.runs_by_job = {f"j{i}": f"r{i}" for i in range(n)}


def test_retention_drops_only_collected_results_oldest_first_and_keeps_job_records():
    ret = Retention(RetentionConfig(max_results=100, max_uncollected=3))
    dev = _Dev(105)
    assert ret.due(dev, 0.0) == []  # nothing collected: nothing dropped
    for rid in ("r1", "r3", "r50"):
        ret.collected.add(rid)
    ret.disposed(dev.results["r0"])  # no decision yet
    dev.results["r2"].dispositions["s"] = {"decision": "accept"}
    ret.disposed(dev.results["r2"])
    drop = ret.due(dev, 0.0)
    assert drop == ["r1", "r2", "r3", "r50"]
    ret.forget(dev, drop)
    assert "r0" in dev.results and len(dev.results) == 101 and dev.runs_by_job["j1"] == "r1"
    from plant.devices import ProgramError
    with pytest.raises(ProgramError) as err:
        ret.check_capacity(dev, "new-job")
    assert err.value.status == "BadResourceUnavailable"
    ret.check_capacity(dev, "j7")  # a repeat of a known job is answered (idempotent), not refused
    aged = Retention(RetentionConfig(max_results=100, max_age_s=10.0))
    dev = _Dev(30)
    aged.collected.update({"r0", "r25"})
    assert aged.due(dev, 30.0) == ["r0"]


def _plant(**security) -> dict:
    return {"name": "p", "security": security, "devices": [{"name": "WIP-1", "kind": "wip", "port": 0}]}


@pytest.mark.parametrize("field", ["allow_insecure", "trust_all_clients"])
def test_open_access_needs_a_demo_plant(field):
    with pytest.raises(ValueError, match=f"security.{field} is only allowed in a demo plant"):
        PlantFile.model_validate(_plant(**{field: True}))
    assert getattr(PlantFile.model_validate(_plant(demo=True, **{field: True})).security, field)


def test_demo_users_refused_by_a_production_plant(tmp_path):
    save_users(tmp_path / "u.yaml", {"op": hash_password("x" * 12)}, demo=True)
    assert stat.S_IMODE((tmp_path / "u.yaml").stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="security.users_file"):
        load_users(tmp_path / "u.yaml", allow_demo=False)
    assert set(load_users(tmp_path / "u.yaml", allow_demo=True)) == {"op"}
    assert yaml.safe_load(Path("plants/users.yaml").read_text())["demo"] is True


def test_cli_users_and_trust(tmp_path):
    plant = tmp_path / "plant.yaml"
    plant.write_text(yaml.safe_dump({"name": "p", "security": {"users_file": "users.yaml"},
                                     "devices": [{"name": "WIP-1", "kind": "wip", "port": 0}]}))
    r = runner.invoke(app, ["plant", "user", "add", str(plant), "alice", "--password-stdin"],
                      input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plant", "user", "add", str(plant), "bob", "--password-stdin"], input="short\n")
    assert r.exit_code == 2 and "password" in r.output
    r = runner.invoke(app, ["plant", "user", "add", str(plant), "eve", "--role", "admin", "--password-stdin"],
                      input="correct horse battery\n")
    assert r.exit_code == 2 and "--role" in r.output
    r = runner.invoke(app, ["plant", "user", "list", str(plant), "--json"])
    assert r.exit_code == 0 and '"alice"' in r.output and "hash" not in r.output
    assert runner.invoke(app, ["plant", "user", "remove", str(plant), "nobody"]).exit_code == 2
    assert runner.invoke(app, ["plant", "user", "remove", str(plant), "alice"]).exit_code == 0
    tl = TrustList(tmp_path / ".pki" / "p").ensure()
    der, _ = make_certificate("twin", "urn:twin", "127.0.0.1", client=True)
    tl.reject(der)
    tp = thumbprint(der)
    r = runner.invoke(app, ["plant", "trust", "list", str(plant), "--json"])
    assert r.exit_code == 0 and tp in r.output and "rejected" in r.output
    assert runner.invoke(app, ["plant", "trust", "accept", str(plant), tp[:10]]).exit_code == 0
    assert tp in tl.trusted()
    assert runner.invoke(app, ["plant", "trust", "reject", str(plant), tp[:10]]).exit_code == 0
    assert tp in tl.rejected() and tp not in tl.trusted()
    assert runner.invoke(app, ["plant", "trust", "accept", str(plant), "ffff"]).exit_code == 2
    cert_file = tmp_path / "c.der"
    cert_file.write_bytes(der)
    assert runner.invoke(app, ["plant", "trust", "add", str(plant), str(cert_file)]).exit_code == 0
    assert runner.invoke(app, ["plant", "trust", "add", str(plant), str(plant)]).exit_code == 2
