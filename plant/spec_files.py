"""Reading equipment and material spec files: one loader for press, glovebox, profilometer and
collector-lot specs, so every referenced file is checked the same way.

A spec is named either by the stem of a shipped file (``wip``, ``glovebox``, ``profilometer``
under ``plant/specs/``) or by a path to a YAML file. A relative path is looked up against the
directory of the file that references it (a scenario or plant file), then against the current
directory. Anything unusable (missing, a directory, empty, not UTF-8, too large, invalid YAML,
fields that do not validate) raises ``SpecError`` with one clear message.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
MAX_SPEC_BYTES = 1_000_000
SHIPPED_DIR = "specs"


class SpecError(ValueError):
    """A spec file that cannot be used; the message says why."""


def shipped_names() -> list[str]:
    """Stems of the spec files shipped with the package."""
    folder = resources.files("plant").joinpath(SHIPPED_DIR)
    return sorted(p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.name.endswith(".yaml"))


def locate(name_or_path: str | Path, base_dir: Path | None = None) -> Path | None:
    """The file a spec reference points to, or None for the name of a shipped spec."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text
    if not looks_like_path:
        return None
    if path.is_absolute():
        return path
    candidates = ([base_dir / path] if base_dir is not None else []) + [Path.cwd() / path]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[0]


def read_yaml(name_or_path: str | Path, base_dir: Path | None = None) -> Any:
    """The parsed YAML of a spec reference (see the module docstring)."""
    path = locate(name_or_path, base_dir)
    if path is None:
        res = resources.files("plant").joinpath(SHIPPED_DIR).joinpath(f"{name_or_path}.yaml")
        if not res.is_file():
            raise SpecError(f"no shipped spec named {str(name_or_path)!r} (shipped: {', '.join(shipped_names())}; "
                            "or give a path to a .yaml file)")
        return yaml.safe_load(res.read_text(encoding="utf-8"))
    if not path.exists():
        raise SpecError(f"file not found: {path}")
    if not path.is_file():
        raise SpecError(f"not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise SpecError(f"empty file: {path}")
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"file too large for a spec ({size} bytes > {MAX_SPEC_BYTES}): {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text ({exc.reason} at byte {exc.start}): {path}") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise SpecError(f"invalid YAML in {path}: {str(exc).splitlines()[0]}") from None


def load_spec(model: type[M], name_or_path: str | Path, base_dir: Path | None = None) -> M:
    """A validated spec of type `model`; SpecError naming the file and the first bad field."""
    data = read_yaml(name_or_path, base_dir)
    if not isinstance(data, dict):
        raise SpecError(f"{name_or_path}: a {model.__name__} spec must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(f"{name_or_path}: {where}: {first['msg']}{more}") from None
