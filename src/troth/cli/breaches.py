"""`troth breaches record|list|show|notify|export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from troth.cli import command_group, console, opened, show_table
from troth.cli.disclosures import _when
from troth.cli.ids import resolver
from troth.cli.options import JsonOpt, QuietOpt

app, register = command_group("breaches", "The breach register.")
BreachArg = Annotated[str, typer.Argument(callback=resolver("breach"))]


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
        typer.Option(help="Count only what this actor read, per the audit log (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the breach as JSON.")] = False,
    regime: Annotated[
        list[str] | None, typer.Option(help="Regimes (default the policy's).")
    ] = None,
    high_risk: Annotated[bool, typer.Option("--high-risk", help="High risk to people.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Record a breach; prints its id and how many people it affects (with -q only its
    id; identities troth does not know then go to stderr). Review the list with `troth
    breaches affected` before `troth breaches notify`."""
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
        )
    if as_json:
        console.print_json(json.dumps(b.to_dict()))
        return
    if quiet:
        print(b.id)
    else:
        console.print(f"{b.id} affects {b.affected_count} people")
    for name, n in b.scope.get("unmatched", {}).items():
        typer.echo(
            f"{name}: {n} identit{'y' if n == 1 else 'ies'} troth does not know; tell them"
            " through that system",
            err=quiet,
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Every breach in the register."""
    with opened(ctx) as t:
        items = t.breaches.list_breaches()
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
) -> None:
    """A breach with its legal clocks (JSON)."""
    with opened(ctx) as t:
        data = t.breaches.get(breach_id).to_dict()
        data["clocks"] = t.breaches.clocks(breach_id)
    console.print_json(json.dumps(data))


@app.command("affected")
def affected(
    ctx: typer.Context,
    breach_id: BreachArg,
    as_json: JsonOpt = False,
) -> None:
    """The affected people, for review before notifying: id, tenant, why, reachable."""
    with opened(ctx) as t:
        people = t.breaches.affected_people(breach_id)
        preview = t.breaches.notify_preview(breach_id)
        unmatched = t.breaches.get(breach_id).scope.get("unmatched", {})
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
            p["notified_at"] or "",
        )
    show_table(table)
    console.print(
        f"{preview['to_notify']} to tell ({preview['unreachable']} without an address),"
        f" {preview['already_notified']} told"
    )
    for name, n in unmatched.items():
        console.print(f"{name}: {n} identities troth does not know")


@app.command("exclude")
def exclude(
    ctx: typer.Context,
    breach_id: BreachArg,
    subject_ids: Annotated[
        list[str], typer.Argument(help="People to take off the list.", callback=resolver("subject"))
    ],
    reason: Annotated[str, typer.Option(help="Why they are not affected (audited).")],
) -> None:
    """Take people off a breach's affected list after review."""
    with opened(ctx) as t:
        b = t.breaches.exclude_people(breach_id, subject_ids, reason=reason)
    console.print(f"{b.id} now affects {b.affected_count} people")


@app.command("notify")
def notify(
    ctx: typer.Context,
    breach_id: BreachArg,
    template: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Jinja2 template of the notice.")
    ],
    subject: Annotated[str | None, typer.Option(help="E-mail subject line.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say how many would be told; send nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="People per batch (one transaction each).")
    ] = 1_000,
) -> None:
    """Queue the notice to every affected person not yet told, batch by batch with
    progress; run again to finish one that was interrupted."""
    with opened(ctx) as t:
        if dry_run:
            p = t.breaches.notify_preview(breach_id)
            console.print(
                f"would queue {p['reachable']} notice(s); {p['unreachable']} affected"
                f" without an address; {p['already_notified']} already told"
            )
            return
        n = t.breaches.notify_individuals(
            breach_id,
            template.read_text(),
            subject=subject,
            batch_size=batch_size,
            progress=lambda done, total: console.print(f"{done}/{total} people"),
        )
    console.print(f"queued {n} notice(s)")


@app.command("regulator")
def regulator(
    ctx: typer.Context,
    breach_id: BreachArg,
    at: Annotated[
        str | None,
        typer.Option(help="When the regulator was told (ISO 8601, as record --from; default now)."),
    ] = None,
    late_reason: Annotated[str | None, typer.Option(help="Why later than the deadline.")] = None,
) -> None:
    """Record that the regulator was told."""
    with opened(ctx) as t:
        b = t.breaches.mark_regulator_notified(
            breach_id,
            _when(at, t.ctx.policy.policy.organisation.zone()) or t.ctx.clock.now(),
            late_reason=late_reason,
        )
    console.print(f"{b.id}: {b.status.value}")


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
) -> None:
    """The register as JSON or CSV."""
    with opened(ctx) as t:
        out = t.breaches.export(fmt)
    console.out(out, highlight=False)
