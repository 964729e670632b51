"""`twin plant probe --profile` on a press of another shape (tests/hil/acme_press.py, bound by
tests/hil/profiles/acme.yaml): every path the profile maps resolves, and the probe still says
what the contract's security wants and this bench press lacks (no secure endpoints)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.hil.acme_helpers import PROFILE
from tests.hil.acme_press import AcmePress
from tests.hil.proxy import free_port
from twin.cli import app

pytestmark = pytest.mark.timeout(300)


def test_a_profile_maps_a_differently_shaped_press(tmp_path: Path) -> None:
    creds = tmp_path / "op.yaml"
    creds.write_text(yaml.safe_dump({"username": "op", "password": "op-secret"}), encoding="utf-8")

    async def go() -> tuple[int, dict]:
        press = await AcmePress(free_port()).start()
        try:
            res = await asyncio.wait_for(asyncio.to_thread(CliRunner().invoke, app, [
                "plant", "probe", press.endpoint, "--profile", str(PROFILE), "--device", "Acme-7", "--policy", "None",
                "--credentials", str(creds), "--json"]), 240)
        finally:
            await press.stop()
        return res.exit_code, json.loads(res.stdout)

    code, report = asyncio.run(go())
    by_rule: dict[str, set[str]] = {}
    for c in report["checks"]:
        by_rule.setdefault(c["rule"], set()).add(c["verdict"])
    assert by_rule["profile"] == {"pass"}, [c for c in report["checks"] if c["rule"] == "profile"]
    assert len([c for c in report["checks"] if c["rule"] == "profile"]) >= 8
    assert by_rule["N1"] == {"pass"}  # the profile's own namespace
    assert code == 1 and {c["rule"] for c in report["checks"] if c["verdict"] == "fail"} == {"S1", "S2"}


def test_a_profile_other_than_lads_needs_the_device_name() -> None:
    res = CliRunner().invoke(app, ["plant", "probe", "opc.tcp://127.0.0.1:4840", "--profile", str(PROFILE)])
    assert res.exit_code == 2
