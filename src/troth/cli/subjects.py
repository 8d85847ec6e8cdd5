"""`troth subjects end-relationship` / `resume-relationship`: the organisation records
that the relationship with a person ended (retention's ``after: relationship_end`` clocks
start) or runs again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from troth.cli import command_group, emit, opened
from troth.cli import plain_console as _out
from troth.cli.actors import parse_actor
from troth.cli.ids import person_id
from troth.cli.options import JsonOpt, PersonArg
from troth.errors import ValidationError

app, register = command_group("subjects", "A person's life cycle: the relationship's end.")

SubjectArg = Annotated[
    str | None,
    typer.Argument(help="The person's troth id (or a unique prefix).", show_default=False),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        help="Who records it, e.g. staff:ann@privacy_office (default: system).", is_eager=True
    ),
]
ReasonOpt = Annotated[
    str | None,
    typer.Option(help="Why (rejected, left, contract ended): audited, so no personal details."),
]


@app.command("end-relationship")
def end_relationship(
    ctx: typer.Context,
    subject: SubjectArg = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="When it ended: 2026-01-31 (that day, in the organisation's time zone for"
            " the person's regime: time_zones, else time_zone) or 2026-01-31T17:00[+11:00];"
            " default now; never in the future."
        ),
    ] = None,
    reason: ReasonOpt = None,
    correct: Annotated[
        bool, typer.Option("--correct", help="Replace an end already recorded.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="A file of subject ids, one a line: end each (a report per person)."
        ),
    ] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only the end recorded (ISO 8601, UTC)."),
    ] = False,
) -> None:
    """End the relationship with a person (a candidate rejected, an employee who left):
    retention's `after: relationship_end` clocks run from it. Ending again keeps the
    first end unless --correct."""
    if (subject is None) == (file is None):
        raise ValidationError("name one SUBJECT, or --file with one subject id a line")
    who = parse_actor(actor)
    with opened(ctx) as t:
        if file is not None:
            ids = file.read_text(encoding="utf-8").splitlines()
            rows = [
                o.to_dict()
                for o in t.subjects.end_relationships(
                    ids, at=at, reason=reason, actor=who, correct=correct
                )
            ]
            emit(rows, as_json, empty="no subject ids in the file")
            if any(r["outcome"] in ("not_found", "refused", "invalid") for r in rows):
                raise typer.Exit(1)
            return
        assert subject is not None
        sid = person_id(t.ctx.engine, subject, actor)
        r = t.subjects.end_relationship(sid, at=at, reason=reason, actor=who, correct=correct)
    _show(r.to_dict(), as_json, quiet)


@app.command("resume-relationship")
def resume_relationship(
    ctx: typer.Context,
    subject: PersonArg,
    reason: ReasonOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """The person came back (re-hired, a new contract): the relationship runs again and
    the `after: relationship_end` clocks stop until it next ends."""
    with opened(ctx) as t:
        sid = person_id(t.ctx.engine, subject, actor)
        r = t.subjects.resume_relationship(sid, reason=reason, actor=parse_actor(actor))
    _show(r.to_dict(), as_json, quiet)


def _show(change: dict[str, object], as_json: bool, quiet: bool) -> None:
    if as_json:
        _out.print_json(json.dumps(change))
    elif quiet:
        if change["ended_at"]:
            print(change["ended_at"])
    elif change["ended_at"] is None:
        said = "resumed" if change["changed"] else "was not ended: nothing changed"
        _out.print(f"relationship with {change['subject_id']} {said}")
    elif change["changed"]:
        _out.print(f"relationship with {change['subject_id']} ended {change['ended_at']}")
    else:
        _out.print(
            f"relationship with {change['subject_id']} already ended {change['ended_at']}:"
            " kept (--correct to replace it)"
        )
