"""`troth breaches record|list|show|notify|export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from troth.cli import console, home_of
from troth.cli.disclosures import _when

app = typer.Typer(help="The breach register.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="breaches")


def _open(ctx: typer.Context) -> Any:
    from troth.engine import Troth

    return Troth.open(home_of(ctx))


@app.command("record")
def record(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="A short title.")],
    description: Annotated[str, typer.Option(help="What happened.")],
    occurred_from: Annotated[str, typer.Option("--from", help="Start of the window (ISO).")],
    occurred_until: Annotated[str, typer.Option("--until", help="End of the window (ISO).")],
    category: Annotated[list[str], typer.Option(help="Categories of data involved.")],
    discovered: Annotated[
        str | None, typer.Option(help="When discovered (ISO; default now).")
    ] = None,
    system: Annotated[
        list[str] | None, typer.Option(help="Systems involved (default troth).")
    ] = None,
    regime: Annotated[
        list[str] | None, typer.Option(help="Regimes (default the policy's).")
    ] = None,
    high_risk: Annotated[bool, typer.Option("--high-risk", help="High risk to people.")] = False,
) -> None:
    """Record a breach; prints its id and how many people it affects."""
    t = _open(ctx)
    try:
        b = t.breaches.record_breach(
            title=title,
            description=description,
            discovered_at=_when(discovered) or t.ctx.clock.now(),
            occurred_from=_when(occurred_from),
            occurred_until=_when(occurred_until),
            categories=category,
            systems=system or ["troth"],
            regimes=regime,
            high_risk=high_risk,
        )
    finally:
        t.close()
    console.print(f"{b.id} affects {b.affected_count} people")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every breach in the register."""
    t = _open(ctx)
    try:
        items = t.breaches.list_breaches()
    finally:
        t.close()
    table = Table("id", "discovered", "title", "affected", "status")
    for b in items:
        table.add_row(
            b.id,
            f"{b.discovered_at:%Y-%m-%d %H:%M}",
            b.title,
            str(b.affected_count),
            b.status.value,
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, breach_id: Annotated[str, typer.Argument()]) -> None:
    """A breach with its legal clocks."""
    t = _open(ctx)
    try:
        data = t.breaches.get(breach_id).to_dict()
        data["clocks"] = t.breaches.clocks(breach_id)
    finally:
        t.close()
    console.print_json(json.dumps(data))


@app.command("notify")
def notify(
    ctx: typer.Context,
    breach_id: Annotated[str, typer.Argument()],
    template: Annotated[Path, typer.Option(help="Jinja2 template of the notice.")],
    subject: Annotated[str | None, typer.Option(help="E-mail subject line.")] = None,
) -> None:
    """Queue the notice to every affected person not yet told."""
    t = _open(ctx)
    try:
        n = t.breaches.notify_individuals(breach_id, template.read_text(), subject=subject)
    finally:
        t.close()
    console.print(f"queued {n} notice(s)")


@app.command("regulator")
def regulator(
    ctx: typer.Context,
    breach_id: Annotated[str, typer.Argument()],
    at: Annotated[
        str | None, typer.Option(help="When the regulator was told (ISO; default now).")
    ] = None,
    late_reason: Annotated[str | None, typer.Option(help="Why later than the deadline.")] = None,
) -> None:
    """Record that the regulator was told."""
    t = _open(ctx)
    try:
        b = t.breaches.mark_regulator_notified(
            breach_id, _when(at) or t.ctx.clock.now(), late_reason=late_reason
        )
    finally:
        t.close()
    console.print(f"{b.id}: {b.status.value}")


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
) -> None:
    """The register as JSON or CSV."""
    t = _open(ctx)
    try:
        out = t.breaches.export(fmt)
    finally:
        t.close()
    console.out(out, highlight=False)
