"""`tally keys`: API keys in the data directory's key store (only hashes are stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tally.auth.keys import KeyStore
from tally.auth.principal import ROLES, parse_scope_args
from tally.cli.common import DataDir, console, err, fail, keys_app, settings


def _existing(data_dir: Path | None) -> KeyStore:
    """The key store of the data directory; listing or changing keys never creates one."""
    path = settings(data_dir).keys_path
    if not path.exists():
        raise fail(f"no key store at {path}; `tally keys create` makes one")
    return KeyStore(path)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")] = "viewer",
    scope: Annotated[
        list[str], typer.Option(help="COLUMN=VALUE (repeatable), or * for all tenants")
    ] = [],  # noqa: B006
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    team: Annotated[list[str], typer.Option(help="A team of the key's subject (repeatable)")] = [],  # noqa: B006
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Expire after N days (at least 1; default never)")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="The subject (user) the key acts as")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print its token once (only a hash is stored)."""
    try:
        scopes, everything = parse_scope_args(scope)
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        store = KeyStore(settings(data_dir).keys_path)
        key_id, token = store.create(role, scopes, everything, name, tuple(team), expires, subject)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    err.print(f"created key {key_id} (role {role}); the token is shown once:")
    console.print(token, highlight=False)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (never their tokens)."""
    table = Table("id", "name", "role", "scope", "created", "expires", "revoked", "last used")
    for key in _existing(data_dir).list():
        scope = (
            "*"
            if key.all_tenants
            else ", ".join(f"{k}={'|'.join(v)}" for k, v in key.scopes.items())
        )
        table.add_row(
            key.id, key.name, key.role, scope, key.created_at, key.expires_at or "",
            key.revoked_at or "", key.last_used_at or "",
        )  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key; it stops working on the next request."""
    if not _existing(data_dir).revoke(key_id):
        raise fail(f"no active key {key_id!r}")
    console.print(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace_minutes: Annotated[
        int, typer.Option(min=0, help="Keep the old key working this many minutes")
    ] = 0,
    expires_days: Annotated[
        int | None,
        typer.Option(min=1, help="Expire after N days (at least 1; default: the old key's)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Replace a key by a new one with the same role, scope, teams and subject."""
    grace = timedelta(minutes=grace_minutes) if grace_minutes else None
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    try:
        new_id, token = _existing(data_dir).rotate(key_id, grace, expires)
    except ValueError as exc:
        raise fail(str(exc)) from None
    until = f"in {grace_minutes} minutes" if grace else "now"
    err.print(f"created key {new_id}; {key_id} is revoked {until}; the token is shown once:")
    console.print(token, highlight=False)
