"""`twin plant probe ENDPOINT`: check a vendor's device server against docs/opcua.md before
binding it. Prints a pass/fail table (or --json); exit 0 when every check passes, 1 when one
fails, 2 on bad input or a refused login/certificate. Registered on `twin plant` by twin.cli."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from twin.cli import EXIT_INVALID, EXIT_OK, err, out, plant_app

EXIT_FAILED = 1
VERDICT_STYLE = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[yellow]skip[/]"}


def _credentials(path: Optional[Path]) -> tuple[str, str] | None:
    from adapters.settings import Credentials

    try:
        return Credentials(file=path).resolve() if path else Credentials().resolve()
    except ValueError as exc:
        err.print(f"[bold red]invalid input[/] --credentials: {exc}")
        raise typer.Exit(EXIT_INVALID)


def _recipe(settings: List[str]) -> dict[str, float]:
    recipe = {}
    for item in settings:
        key, sep, value = item.partition("=")
        try:
            recipe[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            err.print(f"[bold red]invalid input[/] --set: expected KEY=NUMBER (got {item!r})")
            raise typer.Exit(EXIT_INVALID)
    return recipe


def _table(report) -> Table:
    table = Table(title=f"{report.endpoint}: docs/opcua.md {report.contract}, profile {report.profile}"
                        + (", with a dry run" if report.dry_run else ""))
    for col in ("rule", "device", "requirement", "result", "detail"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        table.add_row(c.rule, c.device, c.what, VERDICT_STYLE[c.verdict], c.detail)
    n = {v: sum(c.verdict == v for c in report.checks) for v in ("pass", "fail", "skip")}
    table.caption = f"{n['pass']} passed, {n['fail']} failed, {n['skip']} skipped"
    return table


@plant_app.command("probe")
def plant_probe(
    endpoint: str = typer.Argument(..., help="opc.tcp://HOST:PORT of the device server"),
    profile: Optional[str] = typer.Option(None, "--profile", help="device profile: lads (default) or a YAML file"),
    device: Optional[str] = typer.Option(None, "--device", help="check only this device (default: all in DeviceSet)"),
    policy: str = typer.Option("Basic256Sha256", "--policy", help="Basic256Sha256, Aes256_Sha256_RsaPss, or None (a test bench)"),
    credentials: Optional[Path] = typer.Option(None, "--credentials", help="YAML file with username: and password: "
                                               "(default: TWIN_OPCUA_USERNAME / TWIN_OPCUA_PASSWORD, else anonymous)"),
    client_cert_dir: Path = typer.Option(Path("~/.cache/anodeless-twin/pki/twin-client"), "--client-cert-dir",
                                         help="the twin's client certificate (generated if missing)"),
    trusted_servers: Optional[Path] = typer.Option(None, "--trusted-servers",
                                                   help="directory of trusted server certificates (DER or PEM); default: "
                                                        "<client-cert-dir>/servers/trusted when not empty"),
    dry_run: bool = typer.Option(False, "--dry-run", help="also run a short press program without samples"),
    settings: List[str] = typer.Option([], "--set", help="KEY=VALUE of the dry-run recipe (repeatable)"),
    timeout_s: float = typer.Option(10.0, "--timeout", min=0.1, help="wall seconds per OPC UA call"),
    as_json: bool = typer.Option(False, "--json", help="print the checks as JSON"),
):
    """Check a device server against the published OPC UA contract (docs/opcua.md)."""
    from adapters.probe import ProbeInputError, ProbeOptions, ProbeRefused, probe

    opts = ProbeOptions(endpoint=endpoint, profile=profile, device=device, policy=policy,
                        credentials=_credentials(credentials), client_cert_dir=client_cert_dir,
                        trusted_servers=trusted_servers, dry_run=dry_run, recipe=_recipe(settings),
                        timeout_s=timeout_s)
    try:
        report = probe(opts)
    except ProbeInputError as exc:
        err.print(f"[bold red]invalid input[/] {exc}")
        raise typer.Exit(EXIT_INVALID)
    except ProbeRefused as exc:
        err.print(f"[bold red]refused[/] {exc}")
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        out.print(_table(report))
        for c in report.failed:
            err.print(f"[bold red]FAIL[/] {c.rule} {c.device} {c.what}: {c.detail}")
    raise typer.Exit(EXIT_OK if report.passed else EXIT_FAILED)
