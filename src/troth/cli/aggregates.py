"""`troth aggregate`: statistics for an aggregate-only purpose (P09), small groups left out."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from troth.cli import console, opened, show_table
from troth.cli.options import JsonOpt


def register(root: typer.Typer) -> None:
    root.command("aggregate")(aggregate)


def aggregate(
    ctx: typer.Context,
    purpose: Annotated[str, typer.Argument(help="An aggregate-only purpose.")],
    category: Annotated[str, typer.Option(help="The category of the measured field.")],
    field: Annotated[str, typer.Option(help="The measured field (for sum and avg).")],
    actor: Annotated[str, typer.Option(help="Who asks, e.g. staff:ann@analytics.")],
    group_by: Annotated[
        str | None, typer.Option(help="One dimension the policy declares for the purpose.")
    ] = None,
    measure: Annotated[str, typer.Option(help="count, sum or avg.")] = "count",
    as_json: JsonOpt = False,
) -> None:
    """Count people, or sum or average a field, for an aggregate-only purpose: in total or
    per value of one declared dimension; groups below k are left out, labels and all."""
    from troth.cli.actors import parse_actor

    with opened(ctx) as t:
        r = t.aggregate(
            purpose,
            category,
            field,
            group_by=[group_by] if group_by else [],
            measure=measure,
            actor=parse_actor(actor),
        )
    if as_json:
        console.print_json(json.dumps(r.to_dict(), default=str))
        return
    table = Table(group_by or "all", f"{measure} (k={r.k})")
    for key, value in r.cells.items():
        table.add_row(", ".join(str(x) for x in key), str(value))
    if r.other is not None:
        table.add_row("[dim]other (groups below k)[/dim]", str(r.other))
    table.add_row("[b]total[/b]", "suppressed" if r.total is None else str(r.total))
    show_table(table)
