"""The live options on the command line: refused clearly (exit 2, naming the option) when
they cannot be used; `twin view` refuses a folder it cannot replay."""
from __future__ import annotations

import yaml
from typer.testing import CliRunner

from tests.report_outputs import two_press_data
from twin.cli import app

runner = CliRunner()


def _scenario(tmp) -> str:
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(two_press_data(duration_h=4.0, warmup_h=1.0, replications=1)))
    return str(path)


def test_live_options_without_live_exit_2_naming_them(tmp_path):
    result = runner.invoke(app, ["run", _scenario(tmp_path), "--out", str(tmp_path / "o"), "--port", "8123",
                                 "--pace", "2"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--port" in text and "--pace" in text and "only with --live" in text
    assert not (tmp_path / "o").exists()


def test_a_bind_address_that_is_not_one_exits_2(tmp_path):
    result = runner.invoke(app, ["run", _scenario(tmp_path), "--out", str(tmp_path / "o"), "--live",
                                 "--bind", "not an address"])
    assert result.exit_code == 2
    assert "--bind" in result.output and not (tmp_path / "o").exists()


def test_view_of_a_folder_without_a_run_exits_2(tmp_path):
    result = runner.invoke(app, ["view", str(tmp_path)])
    assert result.exit_code == 2
    assert "nothing to replay" in " ".join(result.output.split())
