"""`troth keys rotate` (key-encryption keys) and `troth keys api create|revoke|list`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from troth.cli import command_group, emit, opened, rows_of
from troth.cli import plain_console as _out
from troth.cli.ids import resolver
from troth.cli.options import JsonOpt

app, register = command_group("keys", "Encryption keys and application API keys.")
api = typer.Typer(help="API keys for applications: scoped, shown once.", no_args_is_help=True)
app.add_typer(api, name="api")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    reencrypt: Annotated[
        bool, typer.Option("--reencrypt", help="Also give each person a new data key.")
    ] = False,
    retire_old: Annotated[
        bool, typer.Option("--retire-old", help="Remove old key-encryption keys afterwards.")
    ] = False,
) -> None:
    """Make a new key-encryption key and re-wrap every data key under it, in batches,
    while troth keeps serving."""
    with (
        opened(ctx) as t,
        Progress(
            TextColumn("re-wrapping data keys"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
        ) as progress,
    ):
        task = progress.add_task("rotate", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = t.keys.rotate(reencrypt=reencrypt, retire_old=retire_old, progress=step)
    _out.print(
        f"key-encryption key v{report.kek_version}: {report.rewrapped} data keys re-wrapped,"
        f" {report.reencrypted_values} values re-encrypted,"
        f" retired: {', '.join(map(str, report.retired)) or 'none'}"
    )


@api.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for (e.g. shop backend).")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="collect, use:PURPOSE, use:CATEGORY, requests:admin, office:POWER, admin..."
            " (repeat).",
        ),
    ],
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Tenant the key is for.", callback=resolver("tenant")),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the key (KEY=$(...)).")
    ] = False,
) -> None:
    """Create a key and print it ONCE: troth keeps only its hash."""
    with opened(ctx) as t:
        key, rec = t.access.keys.create_api_key(name, scope, tenant_id=tenant)
    if quiet:
        print(key)
        return
    _out.print(f"API key {rec.id} ({', '.join(rec.scopes)}). Copy it now, it is not shown again:")
    print(key)


@api.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[
        str,
        typer.Argument(
            help="The key's id, its prefix (trk_...), or a unique start of either.",
            callback=resolver("key"),
        ),
    ],
) -> None:
    """Revoke a key; it stops working at once."""
    with opened(ctx) as t:
        rec = t.access.keys.revoke_api_key(key_id)
    _out.print(f"revoked API key {rec.id} ({rec.name})")


@api.command("list")
def list_(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Keys: id, prefix, name, scopes, last used (never the key)."""
    with opened(ctx) as t:
        keys = t.access.keys.list_api_keys(include_revoked=all_)
    emit(
        rows_of(keys),
        as_json,
        columns={
            "id": "id",
            "prefix": "prefix",
            "name": "name",
            "scopes": "scopes",
            "tenant_id": "tenant",
            "last_used_at": "last used",
            "revoked_at": "revoked",
        },
        empty="no API keys",
    )
