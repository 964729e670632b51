"""The scenario's `hardware:` section: which stations (and shared gloveboxes) are bound to
which OPC UA device, how to connect securely, and how patient to be with equipment.

Credentials never live here nor on the command line: the section names a credentials file
(YAML `username:` / `password:`) or environment variables to read them from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SecurityPolicy = Literal["None", "Basic256Sha256", "Aes256_Sha256_RsaPss"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Credentials(_Model):
    """Where the username and password come from: a file, or environment variables."""

    file: Path | None = Field(default=None, description="YAML file with `username:` and `password:`"
                                                        " (relative paths: against the scenario file)")
    username_env: str = Field(default="TWIN_OPCUA_USERNAME", description="environment variable of the username")
    password_env: str = Field(default="TWIN_OPCUA_PASSWORD", description="environment variable of the password")

    def resolve(self, base: Path | None = None) -> tuple[str, str] | None:
        """(username, password), or None for an anonymous session. Raises ValueError when
        the file is unreadable or incomplete, or only one of the variables is set."""
        if self.file is not None:
            path = self.file.expanduser()
            if not path.is_absolute() and base is not None:
                path = base / path
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except OSError as exc:
                raise ValueError(f"hardware.credentials.file: cannot read {path}: {exc.strerror}") from exc
            if not isinstance(data, dict) or not data.get("username") or data.get("password") is None:
                raise ValueError(f"hardware.credentials.file: {path} needs `username:` and `password:`")
            return str(data["username"]), str(data["password"])
        user, password = os.environ.get(self.username_env), os.environ.get(self.password_env)
        if user is None and password is None:
            return None
        if not user or password is None:
            raise ValueError(f"hardware.credentials: set both {self.username_env} and {self.password_env}")
        return user, password


class Connection(_Model):
    """How every bound device is reached (a binding may override the endpoint)."""

    security_policy: SecurityPolicy = Field(default="Basic256Sha256",
                                            description="message security (SignAndEncrypt unless None)")
    client_cert_dir: Path = Field(default=Path("~/.cache/anodeless-twin/pki/twin-client"),
                                  description="client certificate and key; generated if missing")
    application_uri: str = "urn:twin:hil-client"
    server_trust_dir: Path | None = Field(
        default=None, description="trusted server certificates in trusted/, refused ones in rejected/; "
                                  "default <client_cert_dir>/servers (the plant file's PKI own/ is trusted too)")
    credentials: Credentials = Field(default_factory=Credentials)
    call_timeout_s: float = Field(default=5.0, gt=0, description="wall-clock limit of every single OPC UA call")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="wall-clock limit of one connection attempt")
    backoff_initial_s: float = Field(default=0.2, gt=0, description="first wait before reconnecting")
    backoff_max_s: float = Field(default=5.0, gt=0, description="longest wait between reconnection attempts")
    give_up_s: float = Field(default=60.0, gt=0,
                             description="wall time without a usable connection after which a cycle is quarantined")
    poll_s: float = Field(default=0.5, gt=0, description="wall interval of the fallback result read when the "
                                                      "subscription to the unit's state says nothing")
    disposition_retry_s: float = Field(default=2.0, gt=0,
                                       description="wall interval between delivery attempts of undelivered decisions")
    disposition_batch_s: float = Field(default=0.1, ge=0,
                                       description="wall time a decision waits for others to the same device, "
                                                   "so they go in one Call request")
    stall_timeouts: int = Field(default=2, ge=1,
                                description="consecutive call time-outs on an open socket that mark a device stalled")

    @model_validator(mode="after")
    def _backoff(self) -> "Connection":
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")
        return self


class Binding(_Model):
    """One station (or shared glovebox resource) bound to a device of the plant file."""

    device: str = Field(description="device name in the plant file (its OPC UA object name)")
    endpoint: str | None = Field(default=None, description="opc.tcp:// URL; default: from the plant file")
    template: str | None = Field(default=None, description="program template; default: the profile's")
    profile: str | None = Field(default=None, description="device profile: a shipped name (lads) or a YAML file "
                                                          "(relative: against the scenario file); default lads")
    nominal_duration_s: float | None = Field(default=None, gt=0,
                                             description="nominal program duration (device seconds) when the "
                                                         "device's template gives no EstimatedRuntime")
    sampling_ms: float = Field(default=20.0, gt=0, description="requested sampling interval of the unit's state")
    completion: Literal["subscription", "polling"] = Field(
        default="subscription", description="how the end of a program is seen: a subscription to the unit's state "
                                            "(polling every poll_s only as a fallback), or polling alone")
    send_true_surface: bool = Field(
        default=True, description="metrology only: tell an emulated profilometer the cell's true surface "
                                  "(turn off for a real instrument)")
    cycle_timeout_factor: float = Field(default=3.0, ge=1.0,
                                        description="a cycle with no result after this many nominal durations "
                                                    "(plus give_up_s) is quarantined")


class Hardware(_Model):
    """Stations bound to equipment for `twin hil`; the rest of the line stays simulated."""

    bindings: dict[str, Binding] = Field(min_length=1, description="station or resource name -> device")
    connection: Connection = Field(default_factory=Connection)
    on_lag: Literal["warn", "raise", "rebase"] = Field(
        default="warn", description="what the real-time clock does when it falls behind the wall clock")
    lag_threshold_s: float = Field(default=0.1, gt=0, description="wall lateness that counts as falling behind")
    drain: bool = Field(default=True, description="after duration_h, release no new cells and finish those in process")
    drain_limit_h: float = Field(default=24.0, gt=0, description="simulated hours the drain may take at most")
