"""`twin plant user ...` and `twin plant trust ...`: the plant's users file and the trust list of
client certificates (the PKI folder of a plant file). Registered on the `plant` group by twin.cli.

Passwords never come from the command line: a hidden prompt (asked twice) or `--password-stdin`.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from twin.cli import EXIT_INVALID, err, out, plant_app

user_app = typer.Typer(no_args_is_help=True, help="Users of a plant file (salted scrypt hashes, file mode 0600).")
trust_app = typer.Typer(no_args_is_help=True, help="Client certificates a plant trusts (<cert_dir>/trusted, "
                                                   "refused ones in <cert_dir>/rejected).")
plant_app.add_typer(user_app, name="user")
plant_app.add_typer(trust_app, name="trust")

PLANT_ARG = typer.Argument(..., help="plant YAML file")
MIN_PASSWORD = 12


def _plant(path: Path) -> Any:
    from plant.plantfile import load_plant_file

    try:
        return load_plant_file(path)
    except (OSError, ValueError) as exc:
        err.print(f"[bold red]invalid plant file[/] {path}: {exc}")
        raise typer.Exit(EXIT_INVALID)


def _users_file(pf: Any, path: Path) -> Path:
    if pf.security.users_file is None:
        err.print(f"[bold red]invalid plant file[/] {path}: security.users_file is not set")
        raise typer.Exit(EXIT_INVALID)
    return Path(pf.security.users_file)


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != pw:
            err.print("[bold red]invalid input[/]: the passwords differ")
            raise typer.Exit(EXIT_INVALID)
    if len(pw) < MIN_PASSWORD:
        err.print(f"[bold red]invalid input[/] password: at least {MIN_PASSWORD} characters")
        raise typer.Exit(EXIT_INVALID)
    return pw


@user_app.command("add")
def user_add(plant_file: Path = PLANT_ARG,
             name: str = typer.Argument(..., help="user name"),
             role: str = typer.Option("operator", "--role", help="operator (writes, programs) or viewer"),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin")):
    """Add a user or set a user's password and role."""
    from plant.security import hash_password, load_users, save_users, users_file_is_demo

    if role not in ("operator", "viewer"):
        err.print(f"[bold red]invalid input[/] --role: {role!r} (operator or viewer)")
        raise typer.Exit(EXIT_INVALID)
    pf = _plant(plant_file)
    path = _users_file(pf, plant_file)
    demo = path.exists() and users_file_is_demo(path)
    users = load_users(path) if path.exists() else {}
    users[name] = hash_password(_read_password(name, password_stdin), role)  # type: ignore[arg-type]
    save_users(path, users, demo=demo)
    out.print(f"{name} ({role}) saved in {path}")


@user_app.command("remove")
def user_remove(plant_file: Path = PLANT_ARG, name: str = typer.Argument(..., help="user name")):
    """Remove a user."""
    from plant.security import load_users, save_users, users_file_is_demo

    pf = _plant(plant_file)
    path = _users_file(pf, plant_file)
    users = load_users(path) if path.exists() else {}
    if name not in users:
        err.print(f"[bold red]invalid input[/] name: no user {name!r} in {path}")
        raise typer.Exit(EXIT_INVALID)
    del users[name]
    save_users(path, users, demo=users_file_is_demo(path))
    out.print(f"{name} removed from {path}")


@user_app.command("list")
def user_list(plant_file: Path = PLANT_ARG, as_json: bool = typer.Option(False, "--json")):
    """Users and roles (never hashes)."""
    from plant.security import load_users

    pf = _plant(plant_file)
    path = _users_file(pf, plant_file)
    users = load_users(path) if path.exists() else {}
    rows = [{"name": n, "role": r.role} for n, r in sorted(users.items())]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"users of {pf.name} ({path})")
    table.add_column("name")
    table.add_column("role")
    for r in rows:
        table.add_row(r["name"], r["role"])
    out.print(table)


def _trust(plant_file: Path) -> Any:
    from plant.hardening import trust_list

    return trust_list(_plant(plant_file))


@trust_app.command("list")
def trust_list_cmd(plant_file: Path = PLANT_ARG, as_json: bool = typer.Option(False, "--json")):
    """Trusted and rejected client certificates."""
    from plant.pki import describe

    tl = _trust(plant_file)
    rows = [{"state": state, **{k: str(v) for k, v in describe(p).__dict__.items()}}
            for state, where in (("trusted", tl.trusted()), ("rejected", tl.rejected())) for p in where.values()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"client certificates ({tl.root})")
    for col in ("state", "thumbprint", "subject", "application_uri", "not_after"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["state"], r["thumbprint"], r["subject"], r["application_uri"], r["not_after"])
    out.print(table)


def _pick(action: Any, prefix: str) -> Path:
    try:
        return Path(action(prefix))
    except KeyError as exc:
        err.print(f"[bold red]invalid input[/] thumbprint: {exc.args[0]}")
        raise typer.Exit(EXIT_INVALID)


@trust_app.command("accept")
def trust_accept(plant_file: Path = PLANT_ARG,
                 thumbprint: str = typer.Argument(..., help="thumbprint (or a unique prefix) of a rejected certificate")):
    """Trust a certificate the plant refused (moved from rejected/ to trusted/)."""
    out.print(f"trusted {_pick(_trust(plant_file).accept, thumbprint)}")


@trust_app.command("reject")
def trust_reject(plant_file: Path = PLANT_ARG,
                 thumbprint: str = typer.Argument(..., help="thumbprint (or a unique prefix) of a trusted certificate")):
    """Stop trusting a certificate (moved to rejected/; new sessions with it are refused)."""
    out.print(f"no longer trusted, kept in {_pick(_trust(plant_file).remove, thumbprint)}")


@trust_app.command("add")
def trust_add(plant_file: Path = PLANT_ARG,
              certificate: Path = typer.Argument(..., help="client certificate file (DER or PEM)")):
    """Trust a client certificate given as a file (e.g. the twin's <client_cert_dir>/twin-client.der)."""
    try:
        path = _trust(plant_file).add(certificate)
    except (OSError, ValueError) as exc:
        err.print(f"[bold red]invalid input[/] certificate: {certificate}: {exc}")
        raise typer.Exit(EXIT_INVALID)
    out.print(f"trusted {path}")
