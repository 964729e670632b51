"""The model against the literature table (twin/interface/literature.yaml): one test per row,
plus the table's own consistency (every row sourced, the fitted coefficients are the fit)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from twin.interface import literature as lit

ROWS = lit.rows()
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_literature_row(row: dict) -> None:
    result = lit.evaluate_row(row)
    assert result.passed, (f"{row['id']}: model {result.model:.4g}"
                           + ("" if result.other is None else f" vs {result.other:.4g}")
                           + f", expected {result.criterion} ({row['reported']})")


def test_every_row_is_sourced_and_checked() -> None:
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) >= 15
    for r in ROWS:
        assert r["source"] and r["reported"] and r["check"]["kind"], r["id"]
        doi = r.get("doi")
        assert doi is None or re.match(r"^10\.\d{4,9}/\S+$", str(doi)), r["id"]
        assert doi is not None or "seed article" in r["source"], f"{r['id']}: a DOI or the seed article"


def test_issue_anchors_are_in_the_table() -> None:
    """The rows the issue names: Hayashi hold time, arXiv:2501.00600 both exponents, Kasemchainan,
    the dense-Li6PS5Cl CCD, Holm and Barber, Johnson's waviness closure."""
    dois = {str(r.get("doi")) for r in ROWS}
    for doi in ("10.1021/acsomega.5c10291", "10.48550/arXiv.2501.00600", "10.1038/s41563-019-0438-9",
                "10.1038/s41560-025-01847-0", "10.1098/rspa.2002.1038", "10.1149/1.2424003",
                "10.1017/CBO9781139171731", "10.1002/aenm.201903253", "10.1038/s41560-020-0575-z"):
        assert doi in dois


def test_shipped_coefficients_are_the_literature_fit() -> None:
    """materials.yaml holds what tools/fit_literature.py fits (to 1%), so every "fit" value is traceable."""
    res = subprocess.run([sys.executable, "tools/fit_literature.py", "--check"], cwd=REPO, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "FAIL" not in res.stdout
