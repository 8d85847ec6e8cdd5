"""`troth outbox ...` commands: deliver due mail, list the outbox."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from troth.cli import make_console
from troth.cli.consent import open_ctx
from troth.notices.outbox import MailStatus, deliver_due, list_outbox

app = typer.Typer(help="The mail outbox: deliver and inspect.", no_args_is_help=True)

_out = make_console(highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="outbox")


@app.command("deliver")
def deliver(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Send at most this many messages.")] = 100,
) -> None:
    """Send due messages (SMTP when configured, else .eml files in HOME/mail)."""
    with open_ctx(ctx) as context:
        r = deliver_due(context, limit)
    _out.print(
        f"sent {r.sent}, suppressed {r.suppressed}, retrying {r.retrying}, failed {r.failed}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[MailStatus | None, typer.Option(help="Only messages in this state.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
) -> None:
    """Show the newest messages of the outbox with their state."""
    with open_ctx(ctx) as context:
        rows = list_outbox(context, status, limit)
    table = Table("id", "status", "to", "list", "subject", "attempts", "last error")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["status"],
            r["to_addr"],
            r["list_id"] or "",
            r["subject"],
            str(r["attempts"]),
            (r["last_error"] or "")[:60],
        )
    _out.print(table if rows else "the outbox is empty")
