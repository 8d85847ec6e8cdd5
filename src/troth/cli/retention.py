"""`troth retention run [--dry-run] [--json]` and legal holds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from troth.cli import command_group, console, opened, print_created, show_table
from troth.cli.actors import parse_actor
from troth.cli.ids import resolver
from troth.cli.options import JsonOpt, OfficerOpt, QuietOpt, ReportJsonOpt

app, register = command_group("retention", "Retention: delete or anonymise what has expired.")


def _print(report: Any) -> None:
    title = "would go (dry run)" if report.dry_run else "went"
    table = Table(
        "action", "category", "rows", title=f"Retention at {report.at:%Y-%m-%d %H:%M}: {title}"
    )
    for (action, cat), n in sorted(report.done.items()):
        table.add_row(action, cat, f"{n:,}")
    if not report.done:
        table.add_row("-", "nothing expired", "0")
    show_table(table)
    if report.held:
        held = Table("category", "rows kept", title="Kept under legal hold")
        for cat, n in sorted(report.held.items()):
            held.add_row(cat, f"{n:,}")
        show_table(held)
    if report.keys_shredded:
        console.print(f"data keys shredded: {report.keys_shredded}")
    _print_datasets(report)


def _print_datasets(report: Any) -> None:
    """One table for the connected datasets' sweeps; a dataset that failed, in red."""
    if not report.datasets:
        return
    dry = report.dry_run
    table = Table(
        "dataset",
        "table",
        "rule",
        "would delete" if dry else "deleted",
        "would anonymise" if dry else "anonymised",
        "kept",
        "legal hold",
        title="Connected datasets" + (" (dry run)" if dry else ""),
    )
    for ds in report.datasets:
        if ds["error"]:
            table.add_row(ds["dataset"], "-", Text(ds["error"], style="red"), "-", "-", "-", "-")
            continue
        if not ds["tables"]:
            table.add_row(ds["dataset"], "-", "no retention rules", "0", "0", "0", "0")
        for name, t in ds["tables"].items():
            gone = t["would_delete"] if dry else t["deleted"]
            anon = t["would_anonymise"] if dry else t["anonymised"]
            counts = (gone, anon, t["kept"], t.get("held", 0))
            table.add_row(ds["dataset"], name, t["rule"], *(f"{n:,}" for n in counts))
    show_table(table)


@app.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; change nothing.")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Rows per transaction (1 to 1,000,000).")
    ] = 10_000,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="With --dry-run: what a run on this later day (YYYY-MM-DD) would do.",
        ),
    ] = None,
    as_json: ReportJsonOpt = False,
    actor: OfficerOpt = None,
) -> None:
    """Apply the policy's retention rules now (the worker runs this on a schedule)."""
    if as_of is not None and not dry_run:
        raise typer.BadParameter(
            "--as-of only previews (a run deletes what has expired now): add --dry-run",
            param_hint="--as-of",
        )
    who = parse_actor(actor)
    with opened(ctx) as t:
        if as_of is not None:
            report = t.retention.plan_for_day(as_of.date(), actor=who)
        elif dry_run:
            report = t.retention.plan(actor=who)
        else:
            plan = t.retention.plan(actor=who)
            with Progress(
                TextColumn("retention"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
                disable=as_json,
            ) as bar:
                in_datasets = sum(d["total"] for d in plan.datasets)
                task = bar.add_task("sweep", total=max(plan.total + in_datasets, 1))
                report = t.retention.run(
                    batch=batch, progress=lambda n: bar.advance(task, n), actor=who
                )
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        _print(report)


@app.command("hold")
def hold(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why: the case, order or request.")],
    subject: Annotated[
        str | None, typer.Option(help="A person's subject id.", callback=resolver("subject"))
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="A whole tenant.", callback=resolver("tenant"))
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            "--purpose",
            help="A purpose the hold serves (repeatable), e.g. the investigation's: it stays"
            " usable for the person while the hold defers their erasure.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    actor: OfficerOpt = None,
) -> None:
    """Place a legal hold: retention deletes nothing of theirs until it is lifted; prints
    its id."""
    with opened(ctx) as t:
        hid = t.retention.place_hold(
            reason=reason,
            subject_id=subject,
            tenant_id=tenant,
            purposes=purpose,
            actor=parse_actor(actor),
        )
    print_created(quiet, hid, hid, console)


@app.command("holds")
def holds_(
    ctx: typer.Context,
    subject: Annotated[
        str | None,
        typer.Option(help="Only the holds on this person.", callback=resolver("subject")),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The legal holds in force: id, reason, person or tenant, the purposes it serves,
    placed when and by whom."""
    with opened(ctx) as t:
        rows = t.retention.active_holds(subject_id=subject)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    grid = Table("id", "reason", "on", "serves", "placed", "by")
    for r in rows:
        on = f"person {r['subject_id']}" if r["subject_id"] else f"tenant {r['tenant_id']}"
        serves = ", ".join(r["purposes"])
        placed = str(r["placed_at"])[:16]
        grid.add_row(r["id"], escape(r["reason"]), on, serves, placed, escape(r["placed_by"]))
    show_table(grid)


@app.command("lift")
def lift(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument(help="The hold id.", callback=resolver("hold"))],
    actor: OfficerOpt = None,
) -> None:
    """Lift a legal hold; the erasures that waited for it are carried out now (what cannot
    be yet, a connected database down, is named, and the worker retries it)."""
    with opened(ctx) as t:
        done = t.retention.lift_hold(hold_id, actor=parse_actor(actor))
    console.print(f"lifted {hold_id}")
    if done["erasures_done"]:
        console.print(f"{done['erasures_done']} erasure(s) that waited for it done")
    for rid, why in sorted(done["erasures_left"].items()):
        console.print(f"  not done yet: request {rid}: {escape(why)} (the worker retries it)")
