"""`troth consent ...` commands: grant, withdraw, receipt, state, check, rebuild.

Exit codes: 0 fine; 1 a troth error, or `check` found the state out of step with the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from troth.cli import home_of, make_console
from troth.consent import ConsentLedger, verify_receipt
from troth.context import Context

app = typer.Typer(
    help="The consent ledger: receipts, state, check and rebuild.", no_args_is_help=True
)

_out = make_console(highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="consent")


@contextmanager
def open_ctx(ctx: typer.Context) -> Iterator[Context]:
    """The home's Context for one command, disposed afterwards."""
    from troth.home import open_context

    context = open_context(home_of(ctx))
    try:
        yield context
    finally:
        context.engine.dispose()


@app.command("receipt")
def receipt(
    ctx: typer.Context,
    receipt_id: Annotated[str, typer.Argument(help="The consentReceiptID of a grant.")],
) -> None:
    """Print a signed consent receipt (compact JWS), then its verified JSON."""
    with open_ctx(ctx) as context:
        jws = ConsentLedger(context).receipt(receipt_id)
        body = verify_receipt(jws, context.keys.public_key_b64())
    _out.print(jws)
    _out.print_json(json.dumps(body))


_METHOD_HELP = "How the person gave it: staff (by phone, paper, in person), email_link or api."


@app.command("grant")
def grant(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="The subject's troth id.")],
    purpose: Annotated[str, typer.Argument(help="The purpose consented to.")],
    method: Annotated[str, typer.Option(help=_METHOD_HELP)] = "staff",
    actor: Annotated[str | None, typer.Option(help="Who records it (staff name).")] = None,
) -> None:
    """Record consent the person gave (to a consent purpose, or to a new use waiting for
    fresh consent); prints the receipt id."""
    with open_ctx(ctx) as context:
        rec = ConsentLedger(context).grant(subject_id, purpose, method=method, actor=actor)
    _out.print(f"consent to {purpose} recorded for {subject_id}; receipt {rec.receipt_id}")


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="The subject's troth id.")],
    purpose: Annotated[str, typer.Argument(help="The purpose consent is withdrawn from.")],
    method: Annotated[str, typer.Option(help=_METHOD_HELP)] = "staff",
    actor: Annotated[str | None, typer.Option(help="Who records it (staff name).")] = None,
) -> None:
    """Record that the person withdrew consent; it holds from the next decision."""
    with open_ctx(ctx) as context:
        ConsentLedger(context).withdraw(subject_id, purpose, method=method, actor=actor)
    _out.print(f"consent to {purpose} withdrawn for {subject_id}")


@app.command("state")
def state(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="The subject's troth id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the current consent of one person, per purpose and cookie category."""
    with open_ctx(ctx) as context:
        current = ConsentLedger(context).state(subject_id)
    if as_json:
        _out.print_json(
            json.dumps(
                {
                    p: {
                        "granted": s.granted,
                        "kind": s.kind.value,
                        "at": s.at.isoformat(),
                        "policy_version": s.policy_version,
                        "notice_hash": s.notice_hash,
                        "event_id": s.event_id,
                    }
                    for p, s in sorted(current.items())
                }
            )
        )
        return
    table = Table("purpose", "state", "since", "by", "policy", "event")
    for p, s in sorted(current.items()):
        table.add_row(
            p,
            "granted" if s.granted else "[red]not granted[/red]",
            s.at.isoformat(timespec="seconds"),
            s.kind.value,
            s.policy_version,
            str(s.event_id),
        )
    _out.print(table if current else "no consent recorded for this person")


@app.command("check")
def check(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Report at most this many mismatches.")] = 100,
) -> None:
    """Compare the materialised consent state with a replay of the ledger."""
    with open_ctx(ctx) as context:
        bad = ConsentLedger(context).check_state(limit)
    if not bad:
        _out.print("[green]consent state matches the ledger[/green]")
        return
    for m in bad:
        want = (
            "none" if m.expected is None else ("granted" if m.expected.granted else "not granted")
        )
        have = "none" if m.actual is None else ("granted" if m.actual.granted else "not granted")
        _out.print(f"{m.subject_id} {m.purpose}: ledger says {want}, state says {have}")
    _out.print(f"[red]{len(bad)} mismatch(es)[/red]: run `troth consent rebuild`")
    raise typer.Exit(1)


@app.command("rebuild")
def rebuild(ctx: typer.Context) -> None:
    """Recompute the whole consent state from the ledger (one set-based statement)."""
    with open_ctx(ctx) as context:
        rows = ConsentLedger(context).rebuild_state()
    _out.print(f"consent state rebuilt: {rows} rows")
