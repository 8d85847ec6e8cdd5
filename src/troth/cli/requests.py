"""`troth requests ...`: open, ingest, verify, list, show, extend, execute, download
requests from the people the data is about."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from troth.cli import console, home_of, opened, show_table
from troth.cli.actors import parse_actor
from troth.cli.ids import full_id_in, resolver
from troth.cli.options import JsonOpt, PersonTenantOpt, TenantArg
from troth.cli.outfile import CODE as OUT_CODE
from troth.cli.outfile import check_out, write_out
from troth.errors import ValidationError

app = typer.Typer(
    help="Requests from the people the data is about: access, correction, deletion...",
    no_args_is_help=True,
)

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the new request's id.")]
ChangeOpt = Annotated[
    list[str] | None, typer.Option("--change", help="FIELD=VALUE to correct (repeatable).")
]
PurposeOpt = Annotated[
    list[str] | None, typer.Option("--purpose", help="Purpose to limit (repeatable).")
]
RequestArg = Annotated[str, typer.Argument(help="The request.", callback=resolver("request"))]
ZipOutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the ZIP.")]
ActorOpt = Annotated[  # eager: a person (--subject) is resolved for the actor
    str | None,
    typer.Option("--actor", help="Who acts: staff:NAME@ROLE, app:NAME, system.", is_eager=True),
]


def _kinds(exporting: bool = False) -> str:
    """The request kinds (or those that make an export), for help texts: the registry's."""
    from troth.requests.kinds import registry

    names = [k.value for k, h in registry().items() if h.exports or not exporting]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="requests")


@contextmanager
def _service(ctx: typer.Context) -> Iterator[Any]:
    """The home's request service for one command (the troth of :func:`opened`)."""
    with opened(ctx) as t:
        yield t.requests


def _show(req: Any, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(req.to_dict(), default=str))
        return
    console.print(
        f"[bold]{req.id}[/bold] {req.kind} [cyan]{req.state}[/cyan] via {req.channel};"
        f" regime {req.regime}; received {req.received_on}; due {req.deadline}"
        + (f" (extended: {escape(req.extension_reason or '')})" if req.extended_due_at else "")
        + (" [yellow]on behalf of someone else[/yellow]" if req.on_behalf else "")
        + (f" [red]waiting: {escape(req.error)}[/red]" if req.error else ""),
        highlight=False,
    )
    if req.agent_warning:
        console.print(f"[bold yellow]check:[/bold yellow] {escape(req.agent_warning)}")


def _pairs(svc: Any, items: list[str] | None) -> dict[str, Any]:
    """--change FIELD=VALUE, each value read as its field's declared type (a card number
    stays text; a number field's ``42`` is a number)."""
    from troth.requests.changes import read_change

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"--change {item!r}: write FIELD=VALUE")
        out[key] = read_change(svc.ctx, key, value)
    return out


@app.command("open")
def open_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"{_kinds()}.")],
    email: Annotated[str | None, typer.Option(help="The person's e-mail address.")] = None,
    phone: Annotated[str | None, typer.Option(help="The person's phone number.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="The person's customer id.")] = None,
    tenant: PersonTenantOpt = None,
    channel: Annotated[
        str, typer.Option(help="self_service, api, email, ticket or staff.")
    ] = "staff",
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="The person's subject id (e.g. one without e-mail).",
            callback=resolver("subject"),
        ),
    ] = None,
    on_behalf_of: Annotated[
        str | None,
        typer.Option(help="The agent's name and capacity, e.g. 'Mary Byrne, mother'."),
    ] = None,
    agent_email: Annotated[
        str | None,
        typer.Option(help="The agent's own address: every letter goes there (staff verify)."),
    ] = None,
    change: ChangeOpt = None,
    purpose: PurposeOpt = None,
    received: Annotated[
        str | None,
        typer.Option(
            help="When it really arrived (ISO 8601, e.g. 2026-12-18T16:30; a date, or a time"
            " without an offset, is in the organisation's time zone for the person's regime:"
            " organisation.time_zones names one per regime, else time_zone). Default: now."
        ),
    ] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Open a request: matched to the person, deadline set, acknowledged, verification
    started (a code by e-mail, or staff for a request on someone's behalf: then name the
    agent with --on-behalf-of and --agent-email; their letters go to the agent)."""
    details: dict[str, Any] = {}
    if purpose:
        details["purposes"] = purpose
    with _service(ctx) as svc:
        if change:
            details["changes"] = _pairs(svc, change)
        req = svc.open(
            kind,
            email=email,
            phone=phone,
            customer_id=customer_id,
            subject_id=subject,
            tenant_id=tenant,
            channel=channel,
            on_behalf_of=on_behalf_of,
            agent_email=agent_email,
            details=details,
            received_at=received,
            actor=parse_actor(actor),
        )
        if quiet:
            print(req.id)
            return
        _show(req, as_json)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An .eml file or a folder (or Maildir) of them.")],
    as_json: JsonOpt = False,
) -> None:
    """Open a request for each recognised e-mail; report the others (never guessed).
    Exit 2 when some message was not recognised."""
    with _service(ctx) as svc:
        report = svc.ingest(path)
    if as_json:
        out = {
            "opened": [r.to_dict() for r in report.opened],
            "duplicates": report.duplicates,
            "unrecognised": [
                {"path": u.path, "sender": u.sender, "subject": u.subject, "problem": u.problem}
                for u in report.unrecognised
            ],
        }
        console.print_json(json.dumps(out, default=str))
    else:
        for r in report.opened:
            _show(r, False)
        for d in report.duplicates:
            console.print(f"[dim]already ingested: {escape(d)}[/dim]", highlight=False)
        for u in report.unrecognised:
            console.print(
                f"[yellow]not recognised[/yellow] {escape(u.path)}: {escape(u.problem or '')}",
                highlight=False,
            )
    if report.unrecognised:
        raise typer.Exit(2)


@app.command("verify")
def verify(
    ctx: typer.Context,
    request_id: RequestArg,
    code: Annotated[str | None, typer.Option(help="The code the person received.")] = None,
    staff: Annotated[str | None, typer.Option(help="Staff member who verified.")] = None,
    reason: Annotated[str | None, typer.Option(help="How staff verified (recorded).")] = None,
    resend: Annotated[bool, typer.Option(help="Send the person a new code.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify the person's identity: with the code they received, or by staff with a reason."""
    with _service(ctx) as svc:
        if resend:
            svc.send_code(request_id)
            console.print("a new code was sent")
            return
        if code is not None:
            req = svc.verify(request_id, code)
        elif staff is not None:
            req = svc.verify_by_staff(request_id, staff=staff, reason=reason or "")
        else:
            raise ValidationError("give --code CODE, or --staff NAME --reason TEXT, or --resend")
        _show(req, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    due: Annotated[
        int | None, typer.Option("--due", help="Only those due within this many days.")
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only those past their deadline.")] = False,
    state: Annotated[str | None, typer.Option(help="Only requests in this state.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed requests too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Open requests by deadline, oldest first; overdue ones in red."""
    with _service(ctx) as svc:
        rows = svc.list(due_within=due, overdue=overdue, state=state, include_closed=all_)
        today = {r.id: svc.today(r.regime) for r in rows}  # where the organisation is
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in rows], default=str))
        return
    grid = Table("id", "kind", "state", "channel", "received", "due", "")
    for r in rows:
        late = r.overdue(today[r.id])
        note = "overdue" if late else ("extended" if r.extended_due_at else "")
        if r.tampered:  # listed, flagged: every step on it is refused
            bad = f": {', '.join(r.unreadable)} unreadable" if r.unreadable else ""
            note = f"[red]changed outside troth{bad}[/red]"
        grid.add_row(
            r.id,
            *(str(v or "") for v in (r.kind, r.state, r.channel, r.received_on)),
            f"[red]{r.deadline}[/red]" if late else str(r.deadline or ""),
            note,
        )
    show_table(grid)


@app.command("show")
def show(
    ctx: typer.Context,
    request_id: RequestArg,
    as_json: JsonOpt = False,
) -> None:
    """A request, its history and its report."""
    with _service(ctx) as svc:
        req = svc.get(request_id)
        events = svc.history(request_id)
    if as_json:
        out = req.to_dict() | {"history": events}
        console.print_json(json.dumps(out, default=str))
        return
    _show(req, False)
    for e in events:
        move = f" {e['from_state']} -> {e['to_state']}" if e["to_state"] else ""
        console.print(
            f"  {e['at']:%Y-%m-%d %H:%M} {e['actor']} {e['event']}{move}", highlight=False
        )
    if req.result:
        console.print_json(json.dumps(req.result, default=str))


@app.command("extend")
def extend(
    ctx: typer.Context,
    request_id: RequestArg,
    reason: Annotated[str, typer.Option(help="Why more time is needed (told to the person).")],
    by: Annotated[
        int | None,
        typer.Option(
            help="How much longer, in the regime's unit: months under gdpr, uk_gdpr (at most"
            " 2); days under ccpa (45), pipeda (30); working days under nz. Default: all."
        ),
    ] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Extend the deadline within the regime's window; the person is told why."""
    with _service(ctx) as svc:
        _show(svc.extend(request_id, reason, extend_by=by, actor=parse_actor(actor)), as_json)


@app.command("refuse")
def refuse(
    ctx: typer.Context,
    request_id: RequestArg,
    reason: Annotated[
        str, typer.Option(help="Why it is refused (told to the person, with their rights).")
    ],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refuse a request (manifestly unfounded or excessive, identity not proven...): it is
    closed and the person is told why."""
    if not reason.strip():
        raise ValidationError("--reason: say why the request is refused")
    with _service(ctx) as svc:
        _show(svc.refuse(request_id, reason=reason, actor=parse_actor(actor)), as_json)


@app.command("execute")
def execute(
    ctx: typer.Context,
    request_id: Annotated[
        str | None,
        typer.Argument(help="The request (or --all for every one waiting)."),
    ] = None,
    change: ChangeOpt = None,
    purpose: PurposeOpt = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every verified request waiting: erasures batch by batch (set-based),"
            " the others one by one; run again to resume after a crash.",
        ),
    ] = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="With --all: only this kind (repeatable).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="With --all: requests per batch (1-5000).")
    ] = 500,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=f"An {_kinds(exporting=True)} request: write its ZIP here now (the download"
            " code is then spent).",
        ),
    ] = None,
) -> None:
    """Carry out a verified request over troth and every connected dataset; run again to
    resume one a connected database interrupted."""
    if all_ == (request_id is not None):
        raise ValidationError("name one request, or give --all (not both)", code="usage")
    if not all_ and (kind or batch_size != 500):
        raise ValidationError("--kind and --batch-size go with --all", code="usage")
    if all_ and (change or purpose or out is not None):
        raise ValidationError("--change, --purpose and --out are for one request", code="usage")
    if request_id is not None:  # resolved after the usage checks, which say more
        request_id = full_id_in(home_of(ctx), "request", request_id)
    if out is not None:  # before anything is carried out or spent (trial 19, F5)
        check_out(out)
    with _service(ctx) as svc:
        if request_id is None:
            _execute_all(svc, kind, batch_size, actor, as_json)
            return
        if out is not None:
            _refuse_out_without_export(svc, request_id)
        if change or purpose:
            svc.set_details(
                request_id,
                changes=_pairs(svc, change) if change else None,
                purposes=purpose or None,
            )
        req = svc.execute(request_id, actor=parse_actor(actor))
        data = None
        if out is not None and req.download_token:
            data = _download_executed(svc, req, out)
    _report_executed(req, data, out, as_json)


def _refuse_out_without_export(svc: Any, request_id: str) -> None:
    """--out for a request that makes no export: said before it is carried out."""
    from troth.requests.kinds import registry

    req = svc.get(request_id)
    if not registry()[req.kind].exports:
        raise ValidationError(
            f"--out: a {req.kind} request makes no export to write; run it without --out",
            code="usage",
        )


def _download_executed(svc: Any, req: Any, out: Path) -> bytes:
    """Write ``req``'s ZIP to ``out`` (its code spent only then), or say how to retry."""
    from troth.gate import SYSTEM

    try:
        data: bytes = svc.download(
            req.download_token, actor=SYSTEM, sink=lambda zipped: write_out(out, zipped)
        )
    except ValidationError as exc:
        if exc.code != OUT_CODE:
            raise
        raise ValidationError(
            f"{exc.message}. The request {req.id} is {req.state} and its export is still"
            f" there: write it with TROTH_CODE={req.download_token} troth requests download"
            " -o FILE",
            code=OUT_CODE,
        ) from None
    return data


def _report_executed(req: Any, data: bytes | None, out: Path | None, as_json: bool) -> None:
    """What ``execute`` did to one request: its report, and where its ZIP was written
    or its download code."""
    if out is not None and data is None:
        raise ValidationError("--out: this request has no export to write")
    if as_json:
        body = req.to_dict()
        if req.download_token and data is None:
            body["download_code"] = req.download_token
        console.print_json(json.dumps(body, default=str))
        return
    _show(req, False)
    if req.result:
        console.print_json(json.dumps(req.result, default=str))
    if data is not None:
        console.print(f"wrote {out} ({len(data)} bytes)")
    elif req.download_token:
        console.print(f"download code (also mailed to the person): {req.download_token}")
        console.print("write the ZIP with: TROTH_CODE=CODE troth requests download -o FILE")


def _execute_all(
    svc: Any, kinds: list[str] | None, batch_size: int, actor: str | None, as_json: bool
) -> None:
    from troth.requests.states import parse_kind

    wanted = [parse_kind(k) for k in kinds] if kinds else None
    ids = svc.waiting(wanted)

    def progress(done: int, total: int) -> None:
        if not as_json:
            console.print(f"{done}/{total} requests")

    report = svc.execute_many(
        ids, actor=parse_actor(actor), batch_size=batch_size, progress=progress
    )
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    waiting = f", {len(report.deferred)} waiting for a legal hold to end" if report.deferred else ""
    console.print(f"{len(report.completed)} completed, {len(report.failed)} left open{waiting}")
    for rid, why in sorted(report.failed.items()):
        console.print(f"  {rid}: {escape(why)}")
    if report.failed:
        raise typer.Exit(1)


@app.command("download")
def download(
    ctx: typer.Context,
    out: ZipOutOpt,
) -> None:
    """Write the ZIP behind a download code, once (the code is asked for, or TROTH_CODE)."""
    from troth.cli.users import ask_code
    from troth.gate import SYSTEM

    check_out(out)  # before the code is spent
    with _service(ctx) as svc:
        data = svc.download(
            ask_code("Download"), actor=SYSTEM, sink=lambda zipped: write_out(out, zipped)
        )
    _wrote(out, data)


@app.command("export-tenant")
def export_tenant(
    ctx: typer.Context,
    tenant: TenantArg,
    out: ZipOutOpt,
    actor: ActorOpt = None,
) -> None:
    """A tenant's data as the same ZIP: what the exporting admin may read (what it leaves
    out is listed in it)."""
    check_out(out)  # before the export is made
    with _service(ctx) as svc:
        link = svc.export_tenant(tenant, actor=parse_actor(actor))
        data = svc.download(
            link.token, actor=parse_actor(actor), sink=lambda zipped: write_out(out, zipped)
        )
    _wrote(out, data)


def _wrote(out: Path, data: bytes) -> None:
    """Say that the ZIP was written to ``out`` (readable by its owner only)."""
    console.print(f"wrote {out} ({len(data)} bytes)")
