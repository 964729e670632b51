"""Pydantic model of a plant file: which emulated devices to serve, where, and how securely.

Relative paths (specs, users file, certificate and trust directories) are resolved against
the plant file's directory by ``load_plant_file``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from plant.press import PRESS_KINDS

DeviceKind = Literal["manual_uniaxial", "automatic_uniaxial", "heated_uniaxial",
                     "glovebox_uniaxial", "cip", "wip", "glovebox", "profilometer"]
SecurityPolicyName = Literal["Basic256Sha256", "Aes256_Sha256_RsaPss"]


class ScheduledFault(BaseModel):
    """A fault that strikes by itself: on the n-th program run, or at a simulated time."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: str
    on_run: int | None = Field(default=None, ge=1, description="1-based program run number")
    at_s: float | None = Field(default=None, ge=0, description="simulated s after start")

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduledFault":
        if (self.on_run is None) == (self.at_s is None):
            raise ValueError("give exactly one of on_run or at_s")
        return self


class DeviceConfig(BaseModel):
    """One emulated device (one OPC UA server)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    kind: DeviceKind
    port: int = Field(ge=0, le=65535, description="0 picks a free port")
    spec: str | None = Field(default=None, description="shipped spec name or YAML path")
    serial_number: str | None = None
    seed: int | None = None
    collector_lot: str = "electrolytic_cu_shiny"
    faults: list[ScheduledFault] = Field(default_factory=list)

    @property
    def is_press(self) -> bool:
        """True for every press kind."""
        return self.kind in PRESS_KINDS


class ThrottleConfig(BaseModel):
    """Failed-login throttling per client (plant.throttle)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base_delay_s: float = Field(default=0.25, ge=0, description="wait before the 2nd attempt; doubles per failure")
    max_delay_s: float = Field(default=8.0, ge=0, description="longest wait before an attempt")
    lockout_after: int = Field(default=10, ge=1, description="failures within window_s that lock the client out")
    window_s: float = Field(default=900.0, gt=0, description="failures older than this are forgotten")
    lockout_s: float = Field(default=300.0, ge=0, description="how long a locked-out client is refused")


class SecurityConfig(BaseModel):
    """Endpoints, certificates, users; ``demo: true`` is required for any open access."""

    model_config = ConfigDict(extra="forbid")

    demo: bool = Field(default=False, description="a demo plant: may relax security (warned loudly at start)")
    policies: list[SecurityPolicyName] = Field(
        default_factory=lambda: ["Basic256Sha256", "Aes256_Sha256_RsaPss"], min_length=1)
    allow_insecure: bool = Field(default=False, description="also offer a NoSecurity endpoint (demo only)")
    trust_all_clients: bool = Field(default=False, description="accept any client certificate (demo only)")
    allow_anonymous: bool = Field(default=True, description="anonymous may browse and read")
    users_file: Path | None = None
    cert_dir: Path | None = Field(default=None, description="PKI folder (own/, trusted/, rejected/); "
                                                            "default .pki/<plant name> next to the plant file")
    trusted_clients_dir: Path | None = Field(
        default=None, description="trusted client certificates; default <cert_dir>/trusted")
    audit_log: Path | None = Field(default=None, description="JSONL audit file; default <cert_dir>/audit.jsonl")
    audit_events: bool = Field(default=True, description="also emit OPC UA audit events")
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)

    @model_validator(mode="after")
    def _demo_only(self) -> "SecurityConfig":
        for name in ("allow_insecure", "trust_all_clients"):
            if getattr(self, name) and not self.demo:
                raise ValueError(f"security.{name} is only allowed in a demo plant file (security.demo: true)")
        return self


class RetentionConfig(BaseModel):
    """How many finished results (and job records) a device keeps (plant.retention)."""

    model_config = ConfigDict(extra="forbid")

    max_results: int = Field(default=200, ge=100, description="collected results kept per device "
                                                              "(docs/opcua.md R5: at least 100)")
    max_age_s: float | None = Field(default=None, gt=0, description="collected results older than this "
                                                                     "(wall s) are dropped")
    max_uncollected: int = Field(default=1000, ge=1, description="uncollected results after which "
                                                                 "StartProgram is refused (BadResourceUnavailable)")
    max_job_records: int = Field(default=100_000, ge=1, description="SupervisoryJobIds remembered for idempotency")


class PlantFile(BaseModel):
    """A plant: devices, network, security, timing."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    host: str = "127.0.0.1"
    time_scale: float = Field(default=1.0, gt=0, description="simulated s per wall s")
    publish_hz: float = Field(default=20.0, gt=0, le=200.0)
    test_endpoints: bool = Field(default=False, description="expose Faults/InjectFault")
    comm_loss_offline_s: float = Field(default=2.0, ge=0, description="wall s Offline after comm_loss")
    seed: int = 0
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    devices: list[DeviceConfig]

    @model_validator(mode="after")
    def _unique(self) -> "PlantFile":
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError("device names must be unique")
        ports = [d.port for d in self.devices if d.port != 0]
        if len(set(ports)) != len(ports):
            raise ValueError("device ports must be unique (or 0 for a free port)")
        return self


def load_plant_file(path: str | Path) -> PlantFile:
    """Read and validate a plant file; resolve its relative paths against its directory."""
    path = Path(path)
    plant = PlantFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    return resolve_paths(plant, path.resolve().parent)


def resolve_paths(plant: PlantFile, base: Path) -> PlantFile:
    """A copy of ``plant`` with relative paths made absolute against ``base``."""
    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else base / p

    sec = plant.security
    sec = sec.model_copy(update={
        "users_file": fix(sec.users_file) if sec.users_file else None,
        "cert_dir": fix(sec.cert_dir) if sec.cert_dir else base / ".pki" / plant.name,
        "audit_log": fix(sec.audit_log) if sec.audit_log else None,
        "trusted_clients_dir": fix(sec.trusted_clients_dir) if sec.trusted_clients_dir else None,
    })
    devices = []
    for d in plant.devices:
        spec = d.spec
        if spec and spec.endswith((".yaml", ".yml")) and not Path(spec).is_absolute():
            spec = str(base / spec)
        devices.append(d.model_copy(update={"spec": spec}))
    return plant.model_copy(update={"security": sec, "devices": devices})
