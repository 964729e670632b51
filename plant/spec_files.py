"""Reading equipment and material spec files: one loader for press, glovebox, profilometer and
collector-lot specs, so every referenced file is checked the same way.

A spec is named either by the stem of a shipped file (``wip``, ``glovebox``, ``profilometer``
under ``plant/specs/``) or by a path to a YAML file. A relative path is looked up against the
directory of the file that references it (a scenario or plant file), then against the current
directory. Anything unusable (missing, a directory, empty, not UTF-8, too large, invalid YAML,
fields that do not validate) raises ``SpecError`` with one clear message.

Every YAML file the project reads (scenarios, specs, lot libraries, plant files) goes through
`safe_yaml`: libyaml's safe loader when available, after an event pass that refuses an alias
expansion beyond MAX_YAML_NODES (a "billion laughs" file) and nesting beyond MAX_YAML_DEPTH,
without recursing; `read_text_file` checks the size and the UTF-8 encoding first.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
MAX_SPEC_BYTES = 1_000_000
MAX_YAML_NODES = 500_000  # nodes after alias expansion
MAX_YAML_DEPTH = 40
SHIPPED_DIR = "specs"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(ValueError):
    """A spec file that cannot be used; the message says why."""


class YamlLimitError(ValueError):
    """YAML text that is too large, too deep or expands too far to be read."""


def _check_events(text: str) -> None:
    """Walk the YAML event stream (no recursion, no expansion): count the nodes an alias
    expansion would build and the nesting depth, refusing either beyond its limit."""
    stack: list[list[int]] = []  # per open collection: [expanded nodes, height of the deepest child]
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    open_anchors: list[str | None] = []
    total = 0

    def close(nodes: int, height: int, anchor: str | None) -> None:
        nonlocal total
        if anchor:
            anchored[anchor] = (nodes, height)
        if stack:
            stack[-1][0] += nodes
            stack[-1][1] = max(stack[-1][1], height)
        else:
            total += nodes
        if total + sum(s[0] for s in stack) > MAX_YAML_NODES:
            raise YamlLimitError(f"expands to more than {MAX_YAML_NODES} nodes (aliases)")
        if height > MAX_YAML_DEPTH:
            raise YamlLimitError(f"nested deeper than {MAX_YAML_DEPTH} levels")

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([1, 0])
            open_anchors.append(event.anchor)
            if len(stack) > MAX_YAML_DEPTH:
                raise YamlLimitError(f"nested deeper than {MAX_YAML_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            nodes, height = stack.pop()
            close(nodes, height + 1, open_anchors.pop())
        elif isinstance(event, yaml.ScalarEvent):
            close(1, 0, event.anchor)
        elif isinstance(event, yaml.AliasEvent):
            nodes, height = anchored.get(event.anchor or "", (1, 0))
            close(nodes, height, None)


def safe_yaml(text: str) -> Any:
    """Parse YAML text with limits (see the module docstring); YamlLimitError or yaml.YAMLError."""
    _check_events(text)
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise YamlLimitError(f"nested deeper than {MAX_YAML_DEPTH} levels") from None


def read_text_file(path: Path, max_bytes: int) -> str:
    """A file's UTF-8 text; OSError or ValueError (too large, not UTF-8) with the reason."""
    if path.is_dir():
        raise IsADirectoryError(f"not a file (a directory): {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"file too large ({size} bytes > {max_bytes})")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


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
        return safe_yaml(res.read_text(encoding="utf-8"))
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
        return safe_yaml(text)
    except YamlLimitError as exc:
        raise SpecError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML in {path}: {' '.join(str(exc).splitlines()[:2])}") from None


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
