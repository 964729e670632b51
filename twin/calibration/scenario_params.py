"""A scenario's ``quality.params``: the calibrated parameter file, validated with field paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_params(quality: Any, base_dir: Path | None) -> tuple[Any, dict[str, float], list[tuple[str, str]]]:
    """(ParamFile or None, the calibrated values, problems as (field path, message))."""
    from twin.calibration.paramfile import ParamFileError, load

    path = Path(quality.params)
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path  # relative to the scenario first, then to the current directory
    try:
        pf = load(path)
    except ParamFileError as exc:
        return None, {}, [(f"quality.params{'.' + loc if loc else ''}", f"{exc.source}: {msg}")
                          for loc, msg in exc.problems]
    problems = []
    if pf.model != quality.model:
        problems.append(("quality.params.model", f"{path}: calibrated for model {pf.model!r}, the scenario uses "
                                                 f"{quality.model!r}"))
    for key in sorted(set(pf.parameters) & set(quality.interface)):
        problems.append((f"quality.interface.{key}", f"also set by the calibrated file {path}: keep one"))
    return pf, pf.values, problems
