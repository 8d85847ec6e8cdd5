"""`troth import FILE --point P`: many records from JSON Lines or CSV, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from troth.cli import console, err_console, opened
from troth.cli.ids import resolver
from troth.cli.options import CollectorOpt, JurisdictionOpt


def register(root: typer.Typer) -> None:
    root.command("import")(import_)


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="A .jsonl (one JSON object a line) or .csv file (a header row).")
    ],
    point: Annotated[str, typer.Option(help="The collection point every row arrives through.")],
    actor: CollectorOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option(help="Tenant every person belongs to.", callback=resolver("tenant")),
    ] = None,
    consent: Annotated[
        list[str] | None, typer.Option(help="Purposes every person consented to (repeatable).")
    ] = None,
    jurisdiction: JurisdictionOpt = None,
    supplier: Annotated[
        str | None,
        typer.Option(help="The third party the file came from (a purchased list; P03)."),
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option(help="The purpose the third-party data was supplied for (repeatable)."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file name).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows stored per transaction.")] = 200,
    state: Annotated[
        Path | None,
        typer.Option(help="The state file (default: HOME/imports/SHA256.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Store many records from a JSON Lines or CSV file through a collection point: rows
    that fail are reported with their reason, the others stored whole; run it again after
    a kill to resume where it stopped."""
    from troth.cli.actors import parse_actor
    from troth.collection.importing import count_rows, file_sha256, import_file
    from troth.errors import ValidationError

    if not file.is_file():
        raise ValidationError(f"no file {file}")
    with opened(ctx) as t:
        state_file = state or t.ctx.settings.home / "imports" / f"{file_sha256(file)}.json"
        kwargs: dict[str, Any] = {
            "actor": parse_actor(actor),
            "state_file": state_file,
            "fmt": fmt,
            "tenant_id": tenant,
            "consents": tuple(consent or ()),
            "jurisdiction": jurisdiction,
            "batch": batch,
            "supplier": supplier,
            "purposes": tuple(purpose) if purpose else None,
        }
        if console.is_terminal and not as_json:
            from rich.progress import Progress

            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"importing {file.name}", total=count_rows(file))
                result = import_file(
                    t, file, point, progress=lambda n: bar.advance(task, n), **kwargs
                )
        else:
            result = import_file(t, file, point, **kwargs)
    if as_json:
        console.print_json(json.dumps(result.to_dict() | {"state_file": str(state_file)}))
    else:
        console.print(
            f"stored {result.stored} row(s), refused {len(result.refused)} (state: {state_file})",
            highlight=False,
        )
        for r in result.refused:
            err_console.print(f"row {r['row']}: {r['reason']}", highlight=False, markup=False)
    if result.refused:
        raise typer.Exit(1)
