"""`troth consent ...` commands: grant, withdraw, receipt, state, check, rebuild.

Exit codes: 0 fine; 1 a troth error, or `check` found the state out of step with the ledger.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from troth.cli import command_group, opened_context, print_created, show_table
from troth.cli import plain_console as _out
from troth.cli import plain_err_console as _err
from troth.cli.ids import resolver
from troth.cli.options import JsonOpt, OfficerOpt, PersonArg
from troth.consent import ConsentLedger, verify_receipt
from troth.context import Context

app, register = command_group("consent", "The consent ledger: receipts, state, check and rebuild.")


@app.command("receipt")
def receipt(
    ctx: typer.Context,
    receipt_id: Annotated[
        str, typer.Argument(help="The consentReceiptID of a grant.", callback=resolver("receipt"))
    ],
) -> None:
    """Print a signed consent receipt (compact JWS), then its verified JSON."""
    with opened_context(ctx) as context:
        jws = ConsentLedger(context).receipt(receipt_id)
        body = verify_receipt(jws, context.keys.public_key_b64())
    _out.print(jws)
    _out.print_json(json.dumps(body))


ByOpt = Annotated[
    str,
    typer.Option(
        help="How the person told staff: phone, paper, in_person, letter, email, chat, video."
    ),
]
MethodOpt = Annotated[
    str, typer.Option(help="How troth received it: staff (the default), api, email_link...")
]
ActorOpt = Annotated[
    str | None, typer.Option(help="Who records it, e.g. staff:ana@desk (default: staff).")
]


def _person(context: Context, typed: str, actor: str | None, given: str | None = None) -> str:
    """The person the consent is recorded for. An ``--actor`` bound to a tenant records it
    as its API key would: through the gate, for its own tenant's people only (another
    tenant's id is answered, and audited, as one that names nobody), and never a consent
    ``given`` to the vendor's own purpose (``vendor_only``)."""
    from troth.access.records import Records
    from troth.cli.ids import person_id
    from troth.gate import Record

    sid = person_id(context.engine, typed, actor)
    if actor and ":" in actor:
        from troth.cli.actors import parse_actor

        who = parse_actor(actor)
        if who.tenant_id is not None:
            Records(context).authorize_record(who, sid, Record.consents, write=True, purpose=given)
    return sid


def _actor_label(actor: str | None) -> str:
    from troth.cli.actors import parse_actor

    if not actor:
        return "staff"
    return parse_actor(actor).label if ":" in actor else actor


def _print_event(
    sid: str, purpose: str, granted: bool, by: str, event_id: int, **more: str | None
) -> None:
    """The consent event just recorded, as ``--json`` prints it for grant and withdraw
    alike: the person, the purpose, given or withdrawn, how they said so and the ledger's
    event id; ``more`` adds what only a grant has (its receipt, the notice)."""
    out = {"subject_id": sid, "purpose": purpose, "granted": granted, "channel": by}
    _out.print_json(json.dumps({**out, "event_id": event_id, **more}))


@app.command("grant")
def grant(
    ctx: typer.Context,
    subject_id: PersonArg,
    purpose: Annotated[str, typer.Argument(help="The purpose consented to.")],
    by: ByOpt = "phone",
    method: MethodOpt = "staff",
    notice: Annotated[
        Path | None,
        typer.Option(help="The exact text shown or read out, if not the policy's notice."),
    ] = None,
    actor: ActorOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (the person has agreed).")
    ] = False,
    two_step: Annotated[
        bool,
        typer.Option(
            "--two-step-confirmed",
            help="The person asked to opt back in, then confirmed it (needed within 12 months"
            " of their opt-out of a sale/sharing purpose).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only the receipt id (the notice goes to stderr)."
        ),
    ] = False,
) -> None:
    """Record consent a person gave to staff (a consent purpose, or a new use waiting for
    fresh consent): shows the notice to read out, records how it was given; prints the
    receipt id."""
    with opened_context(ctx) as context:
        ledger = ConsentLedger(context)
        sid = _person(context, subject_id, actor, purpose)
        text = notice.read_text(encoding="utf-8") if notice else ledger.notice_for(purpose)
        if not as_json:
            shown = _err if quiet else _out
            version = context.policy.declaring(purpose).version
            shown.print(f"[bold]Notice for {purpose}[/bold] (policy {version}):")
            shown.print(text, markup=False)
        if not yes and not as_json and sys.stdin.isatty():
            typer.confirm("Did the person agree to this notice?", abort=True)
        rec = ledger.grant(
            sid,
            purpose,
            method=method,
            notice_text=text,
            actor=_actor_label(actor),
            channel=by,
            two_step=two_step,
        )
    if as_json:
        _print_event(
            sid, purpose, True, by, rec.event_id, receipt_id=rec.receipt_id, notice_text=text
        )
        return
    print_created(
        quiet,
        rec.receipt_id,
        f"consent to {purpose} recorded for {sid} (by {by}); receipt {rec.receipt_id}",
    )


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    subject_id: PersonArg,
    purpose: Annotated[str, typer.Argument(help="The purpose consent is withdrawn from.")],
    by: ByOpt = "phone",
    method: MethodOpt = "staff",
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the person withdrew consent (and how they said so); it holds from the
    next decision."""
    with opened_context(ctx) as context:
        sid = _person(context, subject_id, actor)
        rec = ConsentLedger(context).withdraw(
            sid, purpose, method=method, actor=_actor_label(actor), channel=by
        )
    if as_json:
        _print_event(sid, purpose, False, by, rec.event_id)
        return
    _out.print(f"consent to {purpose} withdrawn for {sid} (by {by})")


@app.command("state")
def state(
    ctx: typer.Context,
    subject_id: Annotated[
        str, typer.Argument(help="The subject's troth id.", callback=resolver("subject"))
    ],
    actor: OfficerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the current consent of one person, per purpose and cookie category. As
    --actor, what the gate lets that actor see (a role: the purposes it acts for; the
    office: every one), the read audited; by default the operator's whole view."""
    with opened_context(ctx) as context:
        if actor:
            from troth.access.records import Records
            from troth.cli.actors import parse_actor

            current = Records(context).consents_for(parse_actor(actor), subject_id)
        else:
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
    if current:
        show_table(table, _out)
    else:
        _out.print("no consent recorded for this person")


@app.command("check")
def check(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Report at most this many mismatches.")] = 100,
) -> None:
    """Compare the materialised consent state with a replay of the ledger."""
    with opened_context(ctx) as context:
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
    with opened_context(ctx) as context:
        rows = ConsentLedger(context).rebuild_state()
    _out.print(f"consent state rebuilt: {rows} rows")
