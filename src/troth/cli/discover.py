"""`troth discover [DATASET...]`: scan the connected databases (and troth's own free text)
for personal data the datasets file and the policy do not declare. Exit 2 on drift."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from troth.cli import console, opened


def register(root: typer.Typer) -> None:
    root.command("discover")(discover)


_COLOUR = {"critical": "red", "high": "red", "medium": "yellow", "low": "dim"}


def discover(
    ctx: typer.Context,
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Datasets to scan (default: every declared one, and troth's own text: @troth)."
        ),
    ] = None,
    rows: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows sampled per table (1 to 100,000).")
    ] = 1000,
    budget: Annotated[
        float,
        typer.Option(
            min=0.1, max=86_400, help="Seconds the scan may take; then it stops, resumable."
        ),
    ] = 300.0,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Go on with this scan where it stopped.")
    ] = None,
    last: Annotated[
        bool, typer.Option("--last", help="Print the newest scan's report; scan nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    nlp: Annotated[
        bool,
        typer.Option("--nlp", help="Names and places in free text too (the nlp extra)."),
    ] = False,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who acts: staff:NAME@ROLE (default troth).")
    ] = None,
) -> None:
    """Find personal data the policy does not declare: sample every table read-only,
    classify each column, report the drift with the YAML to add. Exit 2 on drift."""
    from troth.cli.actors import parse_actor
    from troth.discovery import DiscoveryService

    who = parse_actor(actor)
    with opened(ctx) as t:
        svc = DiscoveryService(t.ctx, nlp=_nlp() if nlp else None)
        if last:
            report = svc.report(actor=who)
        else:
            report = svc.scan(datasets or (), rows=rows, budget_s=budget, resume=resume, actor=who)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        _print(report)
    if report.drift:
        raise typer.Exit(2)


def _nlp() -> Any:
    from troth.discovery.nlp import PresidioText

    return PresidioText()


def _print(report: Any) -> None:
    head = f"scan {report.scan_id}: {report.tables_done} of {report.tables_total} tables"
    if report.complete:
        console.print(f"[bold]{head}[/bold] ({', '.join(report.datasets)})", highlight=False)
    else:
        console.print(
            f"[yellow]{head}: partial, the time budget ran out; go on with"
            f" `troth discover --resume {report.scan_id}`[/yellow]",
            highlight=False,
        )
    for where, err in report.errors.items():
        console.print(f"[red]{escape(where)}: {escape(err)}[/red]", highlight=False)
    if not report.findings:
        console.print("[green]no drift: every personal column found is declared[/green]")
        return
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    console.print(f"{len(report.findings)} finding(s): {counts}")
    for f in report.findings:
        colour = _COLOUR[f.severity.value]
        console.print(
            f"\n[{colour}]{f.severity.value}[/{colour}] {escape(f.where)}: {escape(f.message)}"
            f" [{f.code}]",
            highlight=False,
        )
        ev = f.evidence
        if ev.get("example"):
            console.print(f"  example (masked): {escape(ev['example'])}", highlight=False)
        if f.yaml:
            target = "the policy" if f.target == "policy" else "the datasets file"
            console.print(f"  add to {target}:", highlight=False)
            for line in f.yaml.rstrip().splitlines():
                console.print(f"    {escape(line)}", highlight=False)
