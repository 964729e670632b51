"""The public Python API as the README shows it, and what the light commands must not import."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs(tmp_path):
    code = _readme_block("Python API")  # run from the repository root, as the README's commands are
    proc = subprocess.run([sys.executable, "-c", code.replace("out/api-example", str(tmp_path / "api"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    version, passed, wip = proc.stdout.split()
    import twin

    assert version == twin.__version__
    assert passed in ("True", "False") and float(wip) > 0
    assert (tmp_path / "api" / "summary.json").exists()


def test_public_names():
    import twin

    assert {"load_scenario", "Simulation", "RunResult", "__version__"} <= set(twin.__all__)
    sc = twin.load_scenario(ROOT / "scenarios" / "mm1.yaml")
    assert isinstance(twin.Simulation(sc).run(), twin.RunResult)


def test_validate_and_schema_do_not_import_scipy_signal_or_asyncua():
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from twin.cli import app\n"
        "for args in (['validate', 'scenarios/baseline.yaml'], ['schema']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "heavy = [m for m in ('scipy.signal', 'scipy.stats', 'asyncua', 'matplotlib', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "none"
