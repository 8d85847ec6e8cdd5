"""`troth outbox ...` commands: deliver due mail, list the outbox."""

from __future__ import annotations

from typing import Annotated

import typer

from troth.cli import command_group, emit, opened_context
from troth.cli import plain_console as _out
from troth.cli.options import JsonOpt
from troth.notices.delivery import deliver_due
from troth.notices.outbox import MailStatus, list_outbox

app, register = command_group("outbox", "The mail outbox: deliver and inspect.")


@app.command("deliver")
def deliver(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Send at most this many messages.")] = 100,
) -> None:
    """Send due messages (SMTP when configured, else .eml files in HOME/mail)."""
    with opened_context(ctx) as context:
        r = deliver_due(context, limit)
    _out.print(
        f"sent {r.sent}, suppressed {r.suppressed}, retrying {r.retrying}, failed {r.failed}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[MailStatus | None, typer.Option(help="Only messages in this state.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show the newest messages of the outbox with their state (never a body nor the
    headers: a one-time code or an unsubscribe link in them is the recipient's alone)."""
    with opened_context(ctx) as context:
        rows = [{k: r.get(k) for k in LISTED} for r in list_outbox(context, status, limit)]
    emit(rows, as_json, columns=COLUMNS, empty="the outbox is empty")


# What `outbox list` shows (the table) and prints (--json): the envelope and the state.
COLUMNS = {
    "id": "id",
    "status": "status",
    "to_addr": "to",
    "list_id": "list",
    "subject": "subject",
    "attempts": "attempts",
    "last_error": "last error",
}
LISTED = (*COLUMNS, "kind", "subject_id", "created_at", "sent_at", "next_attempt_at")
