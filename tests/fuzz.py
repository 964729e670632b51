"""Generated bad scenario files and how `twin run` answers them.

A case is one mutation of a shipped scenario (shrunk first to a short single replication so
the valid cases finish quickly): a leaf set to a bad value (inf, nan, negative, huge, the wrong
type), a key deleted or added, a reference broken, a referenced spec file replaced by a missing,
empty, binary, directory, alias-bomb or badly-fielded file, a run that cannot finish, or the
file's text itself corrupted (not UTF-8, an alias bomb, deep nesting, truncated).

`run_case` runs `twin run` on the case in a forked child (twin imported once in the parent)
under a CPU-time limit (RLIMIT_CPU, so the bound does not depend on the machine's load) and
a memory limit, and classifies the answer:

- ``valid``: exit 0 or 1 (the run finished; 1 is an `expect:` verdict),
- ``invalid_path``: exit 2 naming a YAML path (or the file itself, for a corrupted file),
- ``invalid_nopath``: exit 2 with no location,
- ``traceback``: any other exit, an exception escaping the command,
- ``timeout``: the CPU limit (or the wall backstop) ran out.

Used by tests/test_fuzz_scenarios.py and tools/fuzz_scenarios.py.
"""

from __future__ import annotations

import copy
import math
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SHIPPED = sorted(p for p in SCENARIOS.glob("*.yaml"))

CPU_LIMIT_S = 20.0  # per case; a shrunk valid case needs 1-3 s of CPU
MEMORY_LIMIT_BYTES = 3 * 1024**3  # address space a case may add to what the forking process already maps


def _mapped_bytes() -> int:
    """Virtual memory this process maps now (a forked child starts with all of it: a test
    process late in a suite maps gigabytes of thread stacks and arenas it never touches)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
OUTCOMES = ("valid", "invalid_path", "invalid_nopath", "traceback", "timeout")

BAD_NUMBERS: list[Any] = [math.inf, -math.inf, math.nan, -1, 0, 1e9, 1e300, 1e-300, 2**64, -(2**63), 0.5, 1e18]
BAD_OTHER: list[Any] = ["", "x" * 5000, None, [], {}, True, "abc", [1, 2], {"a": 1}, "1e999"]
SIZE_KEYS = {"duration_h": [math.inf, 1e9, 1e12], "replications": [10**9, 10**6], "servers": [10**9, 10**7],
             "capacity_cells": [10**9], "buffer_capacity": [10**9], "capacity": [10**9], "mean": [1e-300, 1e-12],
             "max_cells": [10**12], "seed": [2**63, 2**64, 10**30], "timeline_h": [1e12], "press_sample_hz": [1e9]}
FILE_KEYS = ("spec", "instrument", "atmosphere", "ref", "glovebox")
BAD_FILES = ("missing.yaml", "folder.yaml", "empty.yaml", "binary.yaml", "bomb.yaml", "deep.yaml", "list.yaml",
             "badfield.yaml", "infield.yaml")
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@dataclass
class Case:
    scenario: str  # stem of the shipped scenario
    kind: str  # the mutation family
    path: str  # the YAML path mutated ('' for the file's text)
    text: bytes  # the case file's content


@dataclass
class Outcome:
    case: Case
    outcome: str
    exit_code: int | None
    cpu_s: float
    stderr: str


def shrink(data: dict) -> dict:
    """A short single replication of a scenario (valid cases then take seconds)."""
    data = copy.deepcopy(data)
    run = data.setdefault("run", {})
    run["duration_h"] = min(float(run.get("duration_h", 24)), 12.0)
    run["warmup_h"] = min(float(run.get("warmup_h", 0)), 2.0)
    run["replications"] = 1
    run["timeline_h"] = min(float(run.get("timeline_h", 24)), 4.0)
    return data


def _paths(x: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) to a node of plain data."""
    out = [prefix]
    if isinstance(x, dict):
        for k, v in x.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _get(x: Any, path: tuple) -> Any:
    for p in path:
        x = x[p]
    return x


def _set(x: Any, path: tuple, value: Any) -> None:
    _get(x, path[:-1])[path[-1]] = value


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _leaf(rng: random.Random, data: dict) -> Case | tuple[str, tuple, Any]:
    paths = [p for p in _paths(data) if p and not isinstance(_get(data, p), (dict, list))]
    path = rng.choice(paths)
    old = _get(data, path)
    pool = BAD_NUMBERS if isinstance(old, (int, float)) and not isinstance(old, bool) else BAD_NUMBERS + BAD_OTHER
    return "leaf", path, rng.choice(pool)


def _mutate_data(rng: random.Random, data: dict, kind: str) -> tuple[str, tuple]:
    """Apply one mutation of `kind` to `data` in place; (kind, path)."""
    if kind == "leaf":
        _, path, value = _leaf(rng, data)  # type: ignore[misc]
        _set(data, path, value)
        return kind, path
    if kind == "delete":
        paths = [p for p in _paths(data) if p and isinstance(_get(data, p[:-1]), dict)]
        path = rng.choice(paths)
        del _get(data, path[:-1])[path[-1]]
        return kind, path
    if kind == "add":
        paths = [p for p in _paths(data) if isinstance(_get(data, p), dict)]
        path = rng.choice(paths)
        _get(data, path)[rng.choice(["typo_field", "mean_h", "servrs", "next", "dist"])] = rng.choice([1, "x", None])
        return kind, path
    if kind == "container":
        paths = [p for p in _paths(data) if p and isinstance(_get(data, p), (dict, list))]
        path = rng.choice(paths)
        _set(data, path, rng.choice([None, [], {}, "x", 3, [None], {"x": None}]))
        return kind, path
    if kind == "reference":
        paths = [p for p in _paths(data) if p and isinstance(_get(data, p), str) and p[-1] in (
            "next", "first", "to", "on_accept", "on_rework", "on_reject", "glovebox", "kpi", "dist", "kind")]
        if not paths:
            return _mutate_data(rng, data, "leaf")
        path = rng.choice(paths)
        _set(data, path, rng.choice(["no_such_station", "sink ", "", "utilisation.nowhere", "yield_by_lot.nolot"]))
        return kind, path
    if kind == "size":
        paths = [p for p in _paths(data) if p and p[-1] in SIZE_KEYS]
        if not paths:
            return _mutate_data(rng, data, "leaf")
        path = rng.choice(paths)
        _set(data, path, rng.choice(SIZE_KEYS[str(path[-1])]))
        return kind, path
    if kind == "empirical":
        paths = [p for p in _paths(data) if p and isinstance(_get(data, p), dict) and "dist" in _get(data, p)]
        path = rng.choice(paths)
        n = rng.choice([200_000, 150_000])
        _set(data, path, {"dist": "empirical", "values": [round(rng.random(), 3) for _ in range(n)]})
        return kind, path
    if kind == "name":
        data["name"] = "n" * rng.choice([100_000, 1_000_000 // 2])
        return kind, ("name",)
    if kind == "file":
        paths = [p for p in _paths(data) if p and isinstance(_get(data, p), str) and p[-1] in FILE_KEYS]
        if not paths:  # give the first lot a library reference, or a station a spec
            path = ("lots", next(iter(data["lots"])), "ref")
            _get(data, path[:-1]).clear()
        else:
            path = rng.choice(paths)
        name = rng.choice(BAD_FILES)
        _set(data, path, f"bad/{name}" + ("#cu_shiny" if path[-1] == "ref" else ""))
        return kind, path
    raise ValueError(kind)


DATA_KINDS = ("leaf", "leaf", "leaf", "delete", "add", "container", "reference", "size", "size", "file", "file",
              "empirical", "name")
TEXT_KINDS = ("binary", "bomb", "deep", "truncate", "tabs", "not_mapping", "empty", "huge")


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000).encode("utf-8")


def _mutate_text(rng: random.Random, text: bytes, kind: str) -> bytes:
    if kind == "binary":
        i = rng.randrange(len(text))
        return text[:i] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\x80"]) + text[i:]
    if kind == "bomb":
        return text + b"\n" + ALIAS_BOMB.encode() + b"description: *i\n"
    if kind == "deep":
        n = rng.choice([100, 5_000, 50_000])
        return text + b"\ndescription: " + b"[" * n + b"]" * n + b"\n"
    if kind == "truncate":
        return text[: rng.randrange(1, len(text))]
    if kind == "tabs":
        return text.replace(b"  ", b"\t", 3)
    if kind == "not_mapping":
        return rng.choice([b"- a\n- b\n", b"42\n", b"just text\n", b"~\n"])
    if kind == "empty":
        return b""
    if kind == "huge":
        return text + b"\n# " + b"x" * 6_000_000 + b"\n"
    raise ValueError(kind)


def generate(scenario: Path, seed: int) -> Case:
    """One mutation of `scenario`, fully determined by `seed`."""
    rng = random.Random(f"{scenario.stem}:{seed}")
    data = shrink(yaml.safe_load(scenario.read_text(encoding="utf-8")))
    if rng.random() < 0.15:
        kind = rng.choice(TEXT_KINDS)
        return Case(scenario.stem, kind, "", _mutate_text(rng, _dump(data), kind))
    kind, path = _mutate_data(rng, data, rng.choice(DATA_KINDS))
    if rng.random() < 0.1:  # sometimes two at once
        _mutate_data(rng, data, rng.choice(DATA_KINDS))
    return Case(scenario.stem, kind, _dotted(path), _dump(data))


def write_bad_files(folder: Path) -> None:
    """The referenced files a `file` mutation points to (folder/bad/...)."""
    bad = folder / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "folder.yaml").mkdir(exist_ok=True)
    (bad / "empty.yaml").write_bytes(b"")
    (bad / "binary.yaml").write_bytes(b"name: \xff\xfe\x00 press\n")
    (bad / "bomb.yaml").write_text(ALIAS_BOMB)
    (bad / "deep.yaml").write_text("x: " + "[" * 500 + "]" * 500 + "\n")
    (bad / "list.yaml").write_text("- 1\n- 2\n")
    (bad / "badfield.yaml").write_text("name: x\nmax_pressure_mpa: -5\ncu_shiny: {sq_um: 3}\nno_such: 1\n")
    (bad / "infield.yaml").write_text("name: x\nmax_pressure_mpa: .inf\ncu_shiny: {sq_um: {dist: fixed, value: .inf}}\n")


def case_folder(root: Path, i: int) -> Path:
    """A fresh folder for case `i` holding what shipped scenarios refer to by relative path."""
    folder = root / f"case{i:05d}"
    folder.mkdir(parents=True)
    for entry in SCENARIOS.iterdir():
        if entry.is_dir():
            (folder / entry.name).symlink_to(entry)
    write_bad_files(folder)
    return folder


def _has_location(stderr: str, case: Case) -> bool:
    """Did the answer name where the problem is: a YAML path, or the file itself for a text mutation?"""
    locs = re.findall(r"^\s{2}(\S[^:\n]*):", stderr, flags=re.M)
    if any(loc != "<root>" for loc in locs):
        return True
    return bool(locs) and case.path == ""


def run_case(case: Case, root: Path, i: int, cpu_limit_s: float = CPU_LIMIT_S,
             wall_limit_s: float | None = None) -> Outcome:
    """Write the case, run `twin run` on it in a forked child, classify the answer."""
    import twin.cli  # noqa: F401  (imported once here; the child inherits it)

    folder = case_folder(root, i)
    path = folder / "case.yaml"
    path.write_bytes(case.text)
    err_path = folder / "stderr.txt"
    wall = wall_limit_s if wall_limit_s is not None else max(300.0, 8 * cpu_limit_s)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 98
        try:
            limit = int(math.ceil(cpu_limit_s))
            resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 2))
            memory = _mapped_bytes() + MEMORY_LIMIT_BYTES
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # also past pytest's capture objects
            sys.stderr = open(2, "w", closefd=False)
            from twin.cli import app

            try:
                app(["run", str(path), "--out", str(folder / "out"), "--force"], prog_name="twin")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 97)
            except BaseException:
                traceback.print_exc()
                code = 99
            sys.stderr.flush()
        finally:
            os._exit(code)
    deadline = time.monotonic() + wall
    status = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = err_path.read_text(errors="replace") if err_path.exists() else ""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        outcome = "timeout" if -code in (signal.SIGXCPU, signal.SIGKILL) else "traceback"
    elif code in (0, 1):
        outcome = "valid"
    elif code == 2:
        outcome = "invalid_path" if _has_location(stderr, case) else "invalid_nopath"
    else:
        outcome = "traceback"
    return Outcome(case, outcome, code, cpu, stderr)


def fuzz(n: int, seed: int = 1, cpu_limit_s: float = CPU_LIMIT_S,
         on_outcome: Callable[[int, Outcome], None] | None = None,
         only: list[int] | None = None) -> list[Outcome]:
    """`n` cases spread over every shipped scenario (round robin), seeds from `seed` (or just
    the case numbers `only`, to re-run what a larger batch reported)."""
    results = []
    root = Path(tempfile.mkdtemp(prefix="twin-fuzz-"))
    try:
        for i in (only if only is not None else range(n)):
            scenario = SHIPPED[i % len(SHIPPED)]
            case = generate(scenario, seed * 1_000_003 + i)
            res = run_case(case, root, i, cpu_limit_s)
            shutil.rmtree(root / f"case{i:05d}", ignore_errors=True)
            results.append(res)
            if on_outcome is not None:
                on_outcome(i, res)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results
