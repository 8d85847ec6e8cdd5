"""`troth breaches record|list|show|affected|exclude|notify|notify-controllers|regulator|
public-notice|export`.

Every command acts as ``--actor`` (default: the operator, ``system``); a staff actor needs
the policy's ``manage_breaches`` power, as over the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from troth.cli import command_group, console, opened, print_created, show_table
from troth.cli.actors import parse_actor
from troth.cli.disclosures import _when
from troth.cli.ids import resolver
from troth.cli.options import JsonOpt, QuietOpt

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from troth.breaches.model import Breach
    from troth.engine import Troth
    from troth.gate import Actor

app, register = command_group("breaches", "The breach register.")
BreachArg = Annotated[str, typer.Argument(callback=resolver("breach"))]


ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        is_eager=True,  # read before the people named, who are resolved for it
        help="Who acts: staff:NAME@ROLE with manage_breaches, or system (default).",
    ),
]
CorrectOpt = Annotated[
    str | None,
    typer.Option(
        "--correct",
        help="Correct the earlier record: the reason (audited; the earlier record is kept).",
    ),
]


_FROM = "Start of the window (ISO 8601; without an offset, in the organisation's time zone)."


@app.command("record")
def record(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="A short title.")],
    description: Annotated[str, typer.Option(help="What happened.")],
    occurred_from: Annotated[str, typer.Option("--from", help=_FROM)],
    occurred_until: Annotated[
        str, typer.Option("--until", help="End of the window (ISO 8601, as --from).")
    ],
    category: Annotated[list[str], typer.Option(help="Categories of data involved.")],
    discovered: Annotated[
        str | None, typer.Option(help="When discovered (ISO 8601, as --from; default now).")
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option(
            help="Systems involved: troth, a connected dataset or a recipient (default troth)."
        ),
    ] = None,
    tenant: Annotated[
        list[str] | None,
        typer.Option(help="Only people of this tenant (repeatable).", callback=resolver("tenant")),
    ] = None,
    subject: Annotated[
        list[str] | None,
        typer.Option(help="Only this person (id; repeatable).", callback=resolver("subject")),
    ] = None,
    subjects_file: Annotated[
        Path | None, typer.Option(help="Only the people listed in this file (one id a line).")
    ] = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Only the people whose data of the categories this actor read in the window,"
            " per the audit log (a rogue account; staff:NAME or staff:NAME@ROLE; repeatable)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the breach as JSON.")] = False,
    regime: Annotated[
        list[str] | None,
        typer.Option(
            help="A regime whose clocks run besides those of the people affected (repeatable)."
        ),
    ] = None,
    high_risk: Annotated[bool, typer.Option("--high-risk", help="High risk to people.")] = False,
    quiet: QuietOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Record a breach; prints its id and how many people it affects (with -q only its
    id; identities troth does not know then go to stderr). Review the list with `troth
    breaches affected` before `troth breaches notify`."""
    who = parse_actor(actor)
    people = list(subject or [])
    if subjects_file is not None:
        people += [ln.strip() for ln in subjects_file.read_text().splitlines() if ln.strip()]
    with opened(ctx) as t:
        zone = t.ctx.policy.policy.organisation.zone()
        b = t.breaches.record_breach(
            title=title,
            description=description,
            discovered_at=_when(discovered, zone) or t.ctx.clock.now(),
            occurred_from=_when(occurred_from, zone),
            occurred_until=_when(occurred_until, zone),
            categories=category,
            systems=system or ["troth"],
            regimes=regime,
            high_risk=high_risk,
            tenants=tenant or (),
            subject_ids=people,
            actors=by,
            actor=who,
        )
    if as_json:
        console.print_json(json.dumps(b.to_dict()))
        return
    print_created(quiet, b.id, f"{b.id} affects {b.affected_count} people", out=console)
    _say_by(b, quiet)
    _say_found(b, quiet)


def _say_found(b: Any, quiet: bool) -> None:
    """Whose law the clocks follow, and identities a connected dataset holds that troth
    does not know."""
    basis = b.scope.get("regimes_from", {})
    typer.echo(f"regimes: {', '.join(b.regimes)} ({basis.get('note', '')})", err=quiet)
    for name, n in b.scope.get("unmatched", {}).items():
        typer.echo(
            f"{name}: {n} identit{'y' if n == 1 else 'ies'} troth does not know; tell them"
            " through that system",
            err=quiet,
        )


def _say_by(b: Any, quiet: bool) -> None:
    """For a breach by named actors: that only what they read counts, and, when they read
    nothing of it in the window, that no one is affected."""
    by = b.to_dict()["by"]
    if not by:
        return
    who, cats = " and ".join(by), ", ".join(b.categories)
    typer.echo(
        f"by: only what {who} read of {cats} in the window counts, per the audit log",
        err=quiet,
    )
    if not b.affected_count:
        typer.echo(
            f"{who} read no data of {cats} between {b.occurred_from.isoformat()} and"
            f" {b.occurred_until.isoformat()} (per the audit log): no one is affected",
            err=quiet,
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Every breach in the register."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        items = t.breaches.list_breaches(actor=who)
    if as_json:
        console.print_json(json.dumps([b.to_dict() for b in items]))
        return
    table = Table("id", "discovered", "title", "affected", "status")
    for b in items:
        table.add_row(
            b.id,
            f"{b.discovered_at:%Y-%m-%d %H:%M}",
            b.title,
            str(b.affected_count),
            b.status.value,
        )
    show_table(table)


@app.command("show")
def show(
    ctx: typer.Context,
    breach_id: BreachArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (always JSON).")] = False,
    actor: ActorOpt = None,
) -> None:
    """A breach with its legal clocks and how many people are not told yet (JSON)."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        data = t.breaches.get(breach_id, actor=who).to_dict()
        data["clocks"] = t.breaches.clocks(breach_id, actor=who)
        data["controllers"] = t.breaches.controllers(breach_id, actor=who)
        data["people"] = _people(t, breach_id, who)
    console.print_json(json.dumps(data))


@app.command("affected")
def affected(
    ctx: typer.Context,
    breach_id: BreachArg,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """The affected people, for review before notifying: id, tenant, why, reachable,
    told (or why not yet). As a customer's admin (--actor tenant_admin:EMAIL@TENANT), once
    the customer was told: its own people only, with the contact details it may read."""
    who = parse_actor(actor)
    if who.tenant_id is not None or who.kind.value in ("tenant_admin", "tenant_member"):
        _customer_list(ctx, breach_id, who, as_json)
        return
    with opened(ctx) as t:
        people = t.breaches.affected_people(breach_id, actor=who)
        preview = _people(t, breach_id, who)
        unmatched = t.breaches.get(breach_id, actor=who).scope.get("unmatched", {})
    if as_json:
        out = {"people": people, "preview": preview, "unmatched_in_datasets": unmatched}
        console.print_json(json.dumps(out))
        return
    table = Table("person", "tenant", "why", "reachable", "told")
    for p in people:
        table.add_row(
            p["subject_id"],
            p["tenant_id"] or "",
            p["source"],
            "yes" if p["reachable"] else "no address",
            p["notified_at"] or p["pending"] or "",
        )
    show_table(table)
    console.print(
        f"{preview['to_notify']} to tell ({preview['unreachable']} without an address),"
        f" {preview['already_notified']} told"
    )
    _say_not_told(breach_id, preview)
    for name, n in unmatched.items():
        console.print(f"{name}: {n} identities troth does not know")


def _customer_list(ctx: typer.Context, breach_id: str, who: Actor, as_json: bool) -> None:
    """A customer's own people on the breach, page by page (each page audited)."""
    people: list[dict[str, Any]] = []
    with opened(ctx) as t:
        while True:
            page = t.breaches.for_tenant_people(breach_id, actor=who, limit=500, offset=len(people))
            people += page["people"]
            if not page["people"] or len(people) >= page["your_people_affected"]:
                break
    if as_json:
        out = {"breach": breach_id, "your_people_affected": len(people), "people": people}
        console.print_json(json.dumps(out))
        return
    table = Table("person", "contact", "read for / withheld", "told by us")
    for p in people:
        table.add_row(
            p["subject_id"],
            ", ".join(str(c["value"]) for c in p["contact"]),
            p["read_for"] or p["withheld"] or "",
            p["told_by_us_at"] or ("yours to tell" if p["yours_to_tell"] else "not yet"),
        )
    show_table(table)
    console.print(f"{len(people)} of your people affected", highlight=False)


@app.command("exclude")
def exclude(
    ctx: typer.Context,
    breach_id: BreachArg,
    subject_ids: Annotated[
        list[str], typer.Argument(help="People to take off the list.", callback=resolver("subject"))
    ],
    reason: Annotated[str, typer.Option(help="Why they are not affected (audited).")],
    actor: ActorOpt = None,
) -> None:
    """Take people off a breach's affected list after review."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        b = t.breaches.exclude_people(breach_id, subject_ids, reason=reason, actor=who)
    console.print(f"{b.id} now affects {b.affected_count} people")


def _people(t: Any, breach_id: str, who: Actor) -> dict[str, Any]:
    """The notify preview, with when a public notice was given (or None)."""
    public = t.breaches.get(breach_id, actor=who).last_step("public_notice")
    preview = t.breaches.notify_preview(breach_id, actor=who)
    return {**preview, "public_notice_at": public["at"] if public else None}


def _say_left(breach_id: str, preview: dict[str, Any]) -> None:
    """How many affected people are a customer's, left to it to tell (the policy's
    ``breach_notices``), and how the customers are told."""
    n = preview.get("left_to_controller", 0)
    if n:
        console.print(
            f"{n} affected {'person is' if n == 1 else 'people are'} a customer's, left to"
            f" the customer to tell: troth breaches notify-controllers {breach_id}"
            " --measures '...'",
            highlight=False,
        )


def _say_not_told(breach_id: str, preview: dict[str, Any]) -> None:
    """How many affected people troth could not tell, and what the officer does next."""
    from troth.breaches.steps import INDIRECT_BASIS

    n = preview["unreachable"]
    if not n:
        return
    people = "person was" if n == 1 else "people were"
    if preview["public_notice_at"]:
        console.print(
            f"{n} affected {people} not told directly (no address); the public notice of"
            f" {preview['public_notice_at']} covers them"
        )
        return
    console.print(
        f"[yellow]{n} affected {people} not told: no address.[/] Give a public notice"
        f" ({INDIRECT_BASIS}) and record it: troth breaches public-notice {breach_id}"
        " --how 'WHERE AND HOW'",
        highlight=False,
    )


@app.command("notify")
def notify(
    ctx: typer.Context,
    breach_id: BreachArg,
    template: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Jinja2 template of the notice (variables: organisation, contact, dpo, breach);"
            " a first line 'Subject: ...' sets the subject.",
        ),
    ],
    subject: Annotated[
        str | None,
        typer.Option(help="E-mail subject line (or the template's 'Subject:' line, not both)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Render the notice and say how many would be told; send nothing."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="People per batch (one transaction each).")
    ] = 1_000,
    actor: ActorOpt = None,
) -> None:
    """Queue the notice to every affected person not yet told, batch by batch with
    progress; run again to finish one that was interrupted. People troth has no address
    for stay on the list, not told: give a public notice and record it."""
    who = parse_actor(actor)
    text = template.read_text()
    with opened(ctx) as t:
        if dry_run:
            # Rendered as the real run renders it: a template that fails, fails here.
            title, body = t.breaches.render_notice(breach_id, text, subject=subject, actor=who)
            p = _people(t, breach_id, who)
            console.print(f"Subject: {title}\n\n{body}\n", markup=False, highlight=False)
            console.print(
                f"would queue {p['reachable']} notice(s); {p['unreachable']} affected"
                f" without an address; {p['already_notified']} already told"
            )
            _say_left(breach_id, p)
            _say_not_told(breach_id, p)
            return
        n = t.breaches.notify_individuals(
            breach_id,
            text,
            subject=subject,
            batch_size=batch_size,
            progress=lambda done, total: console.print(f"{done}/{total} people"),
            actor=who,
        )
        p = _people(t, breach_id, who)
    console.print(f"queued {n} notice(s)")
    _say_left(breach_id, p)
    _say_not_told(breach_id, p)


@app.command("notify-controllers")
def notify_controllers(
    ctx: typer.Context,
    breach_id: BreachArg,
    measures: Annotated[
        str, typer.Option(help="What is being done about the breach (each customer is told).")
    ],
    actor: ActorOpt = None,
) -> None:
    """Tell each customer (tenant) whose people the breach affects, at its primary e-mail
    address: the breach, the categories, how many of its own people, what is being done,
    who to contact. Once per customer; run again to tell those added since."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        out = t.breaches.notify_controllers(breach_id, measures=measures, actor=who)
    console.print(
        f"told {len(out['told'])} customer(s); {len(out['already_told'])} told before",
        highlight=False,
    )
    for tid in out["no_address"]:
        console.print(
            f"[yellow]customer {tid} not told: it has no primary e-mail address[/]"
            f" (troth tenants show {tid})",
            highlight=False,
        )


_AT = "When (ISO 8601, as record --from; default now)."


def _record_step(
    ctx: typer.Context,
    at: str | None,
    actor: str | None,
    step: Callable[[Troth, datetime, Actor], Breach],
) -> None:
    """Record a one-off step (the regulator told, a public notice) at ``--at`` read in the
    organisation's zone, or now, and print the breach's new status: the step commands
    differ only in the step."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        when = _when(at, t.ctx.policy.policy.organisation.zone()) or t.ctx.clock.now()
        b = step(t, when, who)
    console.print(f"{b.id}: {b.status.value}")


@app.command("regulator")
def regulator(
    ctx: typer.Context,
    breach_id: BreachArg,
    at: Annotated[str | None, typer.Option(help=f"When the regulator was told. {_AT}")] = None,
    late_reason: Annotated[str | None, typer.Option(help="Why later than the deadline.")] = None,
    correct: CorrectOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Record that the regulator was told, once; `--correct REASON` corrects it."""
    _record_step(
        ctx,
        at,
        actor,
        lambda t, when, who: t.breaches.mark_regulator_notified(
            breach_id, when, late_reason=late_reason, correction=correct, actor=who
        ),
    )


@app.command("public-notice")
def public_notice(
    ctx: typer.Context,
    breach_id: BreachArg,
    how: Annotated[
        str | None,
        typer.Option(help="Where and how the notice was given (a web page, a newspaper...)."),
    ] = None,
    at: Annotated[str | None, typer.Option(help=f"When it was given. {_AT}")] = None,
    correct: CorrectOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Record that a public notice was given: the indirect notice for the affected people
    troth could not tell (no address). Recorded once; `--correct REASON` corrects it."""
    _record_step(
        ctx,
        at,
        actor,
        lambda t, when, who: t.breaches.record_public_notice(
            breach_id, when, how=how, correction=correct, actor=who
        ),
    )


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    actor: ActorOpt = None,
) -> None:
    """The register as JSON or CSV."""
    who = parse_actor(actor)
    with opened(ctx) as t:
        out = t.breaches.export(fmt, actor=who)
    console.out(out, highlight=False)
