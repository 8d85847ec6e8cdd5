"""`troth mail send --list L --template F`: mail to a list, through the outbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from troth.cli import command_group, console, opened
from troth.cli.options import ReportJsonOpt

app, register = command_group(
    "mail", "Mail to a list, through the outbox, with consent and unsubscribe."
)


@app.command("send")
def send(
    ctx: typer.Context,
    list_id: Annotated[str, typer.Option("--list", help="A list from the policy's lists:.")],
    template: Annotated[
        Path,
        typer.Option(help="A text file: 'Subject: ...', an empty line, then the body."),
    ],
    actor: Annotated[
        str, typer.Option(help="Who sends, e.g. staff:ann@marketing (the gate decides).")
    ],
    campaign: Annotated[
        str | None,
        typer.Option(
            help="Names this mailing (default: from the text); the same again sends nothing twice."
        ),
    ] = None,
    as_json: ReportJsonOpt = False,
) -> None:
    """Queue a message to every member of a list: only people who consented (and have not
    opted out), each with a one-click unsubscribe link; `troth outbox deliver` sends it."""
    from troth.cli.actors import parse_actor
    from troth.errors import ValidationError
    from troth.notices.lists import send_to_list

    try:
        text = template.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the template {template}: {exc}") from None
    with opened(ctx) as t:
        report = send_to_list(t, list_id, text, actor=parse_actor(actor), campaign=campaign)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    console.print(
        f"list {report.list_id}, campaign {report.campaign}: {report.members} member(s),"
        f" {report.queued} queued",
        highlight=False,
    )
    for why, n in sorted(report.not_sent.items()):
        console.print(f"  not sent to {n}: {why}", highlight=False)
