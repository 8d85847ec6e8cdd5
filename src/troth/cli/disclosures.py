"""`troth disclosures ...`: disclose, list a person's disclosures, legal demands,
sub-processors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, overload

import typer
from rich.table import Table

from troth.cli import command_group, console, opened, print_created, show_table
from troth.cli.ids import SubjectArg, resolver
from troth.cli.options import CategoriesOpt, JsonOpt, OfficerOpt, QuietOpt
from troth.errors import ValidationError
from troth.localtime import day_start, local_time

app, register = command_group("disclosures", "Disclosures to recipients and legal demands.")


@overload
def _when(text: str, zone: tzinfo, *, end_of_day: bool = False) -> datetime: ...
@overload
def _when(text: str | None, zone: tzinfo, *, end_of_day: bool = False) -> datetime | None: ...
def _when(text: str | None, zone: tzinfo, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date and time as typed (None stays None): one without an offset, or a
    date alone (its first instant; with ``end_of_day``, the first of the next day, so the
    day is included), is in ``zone`` (the organisation's), as `requests open --received`
    reads it; one the clocks skipped or showed twice there is refused."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(
            f"{text!r} is not an ISO 8601 date and time (e.g. 2026-05-01T16:30, in the"
            " organisation's time zone, or 2026-05-01T16:30+01:00)"
        ) from exc
    if len(text.strip()) == 10:  # YYYY-MM-DD: the day itself, from its first instant
        return day_start(value.date() + timedelta(days=1 if end_of_day else 0), zone)
    return local_time(value, zone)


@app.command("send")
def send(
    ctx: typer.Context,
    subject: SubjectArg,
    recipient: Annotated[str, typer.Option(help="Recipient id from the policy.")],
    purpose: Annotated[str, typer.Option(help="The purpose of the disclosure.")],
    actor: Annotated[
        str, typer.Option(help="Who discloses, e.g. staff:pat@privacy_office.", is_eager=True)
    ],
    category: CategoriesOpt = None,
    demand: Annotated[
        str | None, typer.Option(help="Legal demand id.", callback=resolver("demand"))
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Disclose a person's data to a recipient: prints the package as JSON, or with -q
    only its id."""
    from troth.cli.actors import parse_actor

    with opened(ctx) as t:
        pkg = t.disclosures.disclose(
            subject,
            recipient,
            purpose,
            parse_actor(actor),
            categories=category,
            legal_demand_id=demand,
        )
    if quiet:
        print(pkg.id)
        return
    console.print_json(json.dumps(pkg.to_dict(), default=str))


@app.command("list")
def list_(
    ctx: typer.Context,
    subject: SubjectArg,
    office: Annotated[
        bool,
        typer.Option("--office", help="The office's view: also disclosures under a live gag."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every disclosure of a person's data (as the person sees it, unless --office)."""
    with opened(ctx) as t:
        items = t.disclosures.disclosures_of(subject, include_gagged=office)
    if as_json:
        console.print_json(json.dumps(items, default=str))
        return
    table = Table("at", "recipient", "purpose", "fields", "transfer", "gagged until")
    for d in items:
        masked = set(d.get("masked", ()))  # sent as their mask, not as held
        table.add_row(
            d["at"],
            d["recipient_name"],
            d["purpose"],
            ", ".join(f + " (masked)" if f in masked else f for f in d["fields"]),
            d["transfer_safeguard"] or "",
            d.get("gagged_until") or "",
        )
    show_table(table)


@app.command("demand")
def demand(
    ctx: typer.Context,
    authority: Annotated[str, typer.Option(help="Who demands it.")],
    instrument: Annotated[str, typer.Option(help="court_order, warrant, production_order...")],
    reference: Annotated[str, typer.Option(help="The instrument's reference.")],
    scope: Annotated[str, typer.Option(help="What it asks for, in the instrument's words.")],
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            help="A category of data the demand asks for (repeat for each; at least one):"
            " nothing beyond them is disclosed under it.",
        ),
    ] = None,
    period_from: Annotated[
        str | None,
        typer.Option(help="The demand asks for data collected from then on (ISO 8601)."),
    ] = None,
    period_until: Annotated[
        str | None,
        typer.Option(help="... and before then (ISO 8601; a date alone: to the end of that day)."),
    ] = None,
    recipient: Annotated[
        str | None,
        typer.Option(help="The authority's recipient id in the policy (kind authority)."),
    ] = None,
    gag_until: Annotated[
        str | None,
        typer.Option(
            help="End of a non-disclosure order (ISO 8601; without an offset, in the"
            " organisation's time zone)."
        ),
    ] = None,
    received: Annotated[
        str | None,
        typer.Option(
            help="When the demand really arrived (ISO 8601, e.g. 2026-12-07T09:15; a date,"
            " or a time without an offset, is in the organisation's time zone; not in the"
            " future, before --gag-until). Default: now."
        ),
    ] = None,
    quiet: QuietOpt = False,
    actor: OfficerOpt = None,
) -> None:
    """Record a legal demand; prints its id."""
    from troth.cli.actors import parse_actor

    with opened(ctx) as t:
        zone = t.ctx.policy.policy.organisation.zone()
        d = t.disclosures.record_demand(
            actor=parse_actor(actor),
            authority=authority,
            instrument=instrument,
            reference=reference,
            scope=scope,
            categories=category,
            period_from=_when(period_from, zone),
            period_until=_when(period_until, zone, end_of_day=True),
            recipient=recipient,
            received_at=_when(received, zone),
            gag_until=_when(gag_until, zone),
        )
    print_created(quiet, d.id, d.id, console)


@app.command("lift-gag")
def lift_gag(
    ctx: typer.Context,
    demand: Annotated[str, typer.Argument(help="Legal demand id.", callback=resolver("demand"))],
    actor: Annotated[
        str | None, typer.Option(help="Who lifts it, e.g. staff:pat@privacy_office.")
    ] = None,
) -> None:
    """End a non-disclosure order now (lifted early): the person is told at once."""
    from troth.cli.actors import parse_actor

    with opened(ctx) as t:
        n = t.disclosures.lift_gag(demand, actor=parse_actor(actor))
    console.print(f"gag lifted; queued {n} notice(s)")


@app.command("notify-due")
def notify_due(ctx: typer.Context) -> None:
    """Tell people of disclosures whose non-disclosure order has ended."""
    with opened(ctx) as t:
        n = t.disclosures.notify_due_demands()
    console.print(f"queued {n} notice(s)")


@app.command("subprocessors")
def subprocessors(
    ctx: typer.Context,
    html: Annotated[bool, typer.Option("--html", help="HTML instead of JSON.")] = False,
) -> None:
    """The list of sub-processors from the policy (JSON or HTML)."""
    with opened(ctx) as t:
        out = (
            t.disclosures.subprocessors_html()
            if html
            else json.dumps(t.disclosures.subprocessors_json(), indent=2)
        )
    console.out(out, highlight=False)
