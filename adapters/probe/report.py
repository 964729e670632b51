"""What a probe found: one Check per rule of docs/opcua.md (pass, fail, or skip with why)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "skip"]


@dataclass
class Check:
    """One requirement checked on one device (`device` empty for server-wide rules)."""

    rule: str  # the rule's id in docs/opcua.md (S1, F2, R1, ...) or its section (4.1)
    what: str  # the requirement, in a few words
    verdict: Verdict
    detail: str = ""
    device: str = ""


@dataclass
class ProbeReport:
    """Every check of one probe run, in the order they were made."""

    endpoint: str
    profile: str
    contract: str
    devices: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    dry_run: bool = False

    def add(self, rule: str, what: str, ok: bool | None, detail: str = "", device: str = "") -> bool:
        """Record a check (None: skipped, `detail` says why); returns `ok` (False when skipped)."""
        verdict: Verdict = "skip" if ok is None else ("pass" if ok else "fail")
        self.checks.append(Check(rule, what, verdict, detail, device))
        return bool(ok)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]

    @property
    def passed(self) -> bool:
        return not self.failed and any(c.verdict == "pass" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        counts = {v: sum(c.verdict == v for c in self.checks) for v in ("pass", "fail", "skip")}
        return {"endpoint": self.endpoint, "profile": self.profile, "contract": self.contract,
                "devices": self.devices, "dry_run": self.dry_run, "passed": self.passed, "counts": counts,
                "checks": [asdict(c) for c in self.checks]}
