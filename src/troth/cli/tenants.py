"""`troth tenants create|list|invite|accept|members|revoke|offboard` and
`troth grants request|approve|refuse|revoke|list|accesses`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from troth.access import actor_for
from troth.cli import make_console
from troth.cli.users import PasswordOpt, ask_code, ask_password, open_troth
from troth.engine import Troth
from troth.gate import Actor

app = typer.Typer(help="Customers (tenants), their members and invitations.", no_args_is_help=True)
grants = typer.Typer(help="The vendor's support access to a customer's data.", no_args_is_help=True)
_out = make_console(highlight=False)

TotpOpt = Annotated[
    str | None, typer.Option("--totp", help="Code from the authenticator app, if enabled.")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tenants")
    root.add_typer(grants, name="grants")


def _login(
    t: Troth, email: str, password: str | None, totp: str | None, tenant_id: str | None = None
) -> Actor:
    """Who acts: the person logs in with their own password (the operator cannot act for
    a customer)."""
    user = t.access.authenticate(email, ask_password(password), tenant_id, totp_code=totp)
    return actor_for(user)


# -- tenants -----------------------------------------------------------------------------
@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The customer's name.")],
    email: Annotated[str, typer.Option("--email", help="Primary e-mail: gets notices.")],
) -> None:
    """Create a customer (tenant); prints its id."""
    with open_troth(ctx) as t:
        tid = t.access.create_tenant(name, email)
    _out.print(f"tenant {name}: id {tid}")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every customer."""
    with open_troth(ctx) as t:
        rows = t.access.list_tenants()
    table = Table("id", "name", "primary e-mail", "status", "created")
    for r in rows:
        table.add_row(r.id, r.name, r.primary_email or "-", r.status, f"{r.created_at:%Y-%m-%d}")
    _out.print(table)


@app.command("invite")
def invite(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    email: Annotated[str, typer.Argument(help="Who to invite.")],
    role: Annotated[str, typer.Option("--role", help="admin or member.")] = "member",
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Invite as this tenant admin (default: the"
            " operator, to onboard a customer's first admin).",
        ),
    ] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
    show_link: Annotated[
        bool, typer.Option("--show-link", help="Also print the link (it is mailed anyway).")
    ] = False,
) -> None:
    """Invite a colleague by e-mail: a single-use link, sent through the outbox."""
    from troth.gate import SYSTEM

    with open_troth(ctx) as t:
        by = _login(t, as_, password, totp, tenant) if as_ else SYSTEM
        token, inv = t.access.invite(tenant, email, role=role, by=by)
        url = f"{t.ctx.settings.public_url.rstrip('/')}/invitations#{token}"
    _out.print(
        f"invited {inv.email} as {inv.role.value}; the link works once, until"
        f" {inv.expires_at:%Y-%m-%d %H:%M} UTC (queued in the outbox)"
    )
    if show_link:
        print(url)


@app.command("accept")
def accept(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    password: PasswordOpt = None,
) -> None:
    """Accept an invitation and choose a password (the code is asked for, or TROTH_CODE)."""
    with open_troth(ctx) as t:
        code = ask_code("Invitation")
        user = t.access.accept_invitation(
            code, ask_password(password, confirm=True), display_name=name
        )
    _out.print(f"welcome {user.email}: member of tenant {user.tenant_id}")


@app.command("members")
def members(ctx: typer.Context, tenant: Annotated[str, typer.Argument(help="Tenant id.")]) -> None:
    """A customer's members and pending invitations."""
    with open_troth(ctx) as t:
        people = t.access.list_members(tenant)
        invites = t.access.list_invitations(tenant)
    table = Table("id", "email", "role", "state")
    for u in people:
        table.add_row(
            u.id,
            u.email,
            u.tenant_role.value if u.tenant_role else "-",
            "active" if u.active else "revoked",
        )
    for i in invites:
        if i.state.value == "pending":
            table.add_row(i.id, i.email, i.role.value, "invited")
    _out.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    email: Annotated[str, typer.Argument(help="The member to revoke.")],
    as_: Annotated[str | None, typer.Option("--as", help="Revoke as this tenant admin.")] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Revoke a member: sessions and API keys end at once; access ends at once."""
    from troth.gate import SYSTEM

    with open_troth(ctx) as t:
        by = _login(t, as_, password, totp, tenant) if as_ else SYSTEM
        user = t.access.find_user(email, tenant_id=tenant)
        t.access.revoke_member(tenant, user.id, by=by)
    _out.print(f"revoked {user.email}")


@app.command("offboard")
def offboard(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the tenant's export (ZIP).")
    ],
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who acts: staff:NAME@ROLE with manage_tenants, or system."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="People per batch.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
) -> None:
    """A customer leaves: export it (written to --out before anything is erased), erase
    everything of it except what the law keeps, print the certificate. Run again to
    resume an interrupted one; once done, the same certificate."""
    import json

    from troth.cli.core import parse_actor
    from troth.cli.requests import _write_private

    who = parse_actor(actor)
    with open_troth(ctx) as t:

        def save(link: Any) -> None:
            _write_private(out, t.requests.download(link.token, actor=who))
            if not as_json:
                _out.print(f"wrote the export to {out}")

        def progress(done: int, total: int) -> None:
            if not as_json:
                _out.print(f"{done}/{total} people erased")

        result = t.requests.offboard_tenant(
            tenant, actor=who, on_export=save, batch_size=batch_size, progress=progress
        )
    cert = result.certificate
    if as_json:
        print(json.dumps(cert, indent=2, sort_keys=True))
        return
    if result.again:
        _out.print(f"tenant {tenant} was offboarded on {cert['finished_at']}: its certificate")
    _out.print(f"certificate: tenant {cert['tenant']['name']} ({tenant}), {cert['people']} people")
    for s in cert["systems"]:
        _out.print(
            f"  {s['system']}: {s.get('found', 0)} found, {s.get('deleted', 0)} deleted,"
            f" {s.get('masked', 0)} masked, {s.get('kept', 0)} kept"
        )
    for why in cert["kept_because"]:
        _out.print(f"  kept: {why}")
    _out.print(f"  audit entries {cert['audit']['from_seq']}..{cert['audit']['to_seq']}")


# -- grants ------------------------------------------------------------------------------
@grants.command("request")
def request(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    as_: Annotated[
        str, typer.Option("--as", help="The vendor admin or staff member asking (e-mail).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why access is needed.")],
    days: Annotated[float, typer.Option("--days", help="How long (at most the policy's max).")],
    ticket: Annotated[str | None, typer.Option("--ticket", help="Ticket reference.")] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only this category (repeat).")
    ] = None,
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Only this person's id (repeat).")
    ] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Ask a customer for support access; they approve or refuse it."""
    with open_troth(ctx) as t:
        by = _login(t, as_, password, totp)
        g = t.access.request_grant(
            tenant,
            by=by,
            reason=reason,
            ticket=ticket,
            categories=category or (),
            subject_ids=subject or (),
            duration=timedelta(days=days),
        )
    _out.print(
        f"grant {g.id} requested; the customer's admin approves it with"
        f" `troth grants approve {g.id} --as ADMIN_EMAIL`"
    )


def _decide(
    ctx: typer.Context, grant_id: str, as_: str, password: str | None, totp: str | None, verb: str
) -> None:
    with open_troth(ctx) as t:
        g = t.access.get_grant(grant_id)
        by = _login(t, as_, password, totp, g.tenant_id)
        fn = {"approve": t.access.approve_grant, "refuse": t.access.refuse_grant}[verb]
        g = fn(grant_id, by=by)
    when = f" until {g.expires_at:%Y-%m-%d %H:%M} UTC" if g.expires_at else ""
    _out.print(f"grant {g.id}: {g.status.value}{when}")


AdminOpt = Annotated[str, typer.Option("--as", help="The customer's admin (e-mail).")]


@grants.command("approve")
def approve(
    ctx: typer.Context,
    grant_id: str,
    as_: AdminOpt,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Approve a grant (an admin of that customer): it starts now, ends on its own."""
    _decide(ctx, grant_id, as_, password, totp, "approve")


@grants.command("refuse")
def refuse(
    ctx: typer.Context,
    grant_id: str,
    as_: AdminOpt,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Refuse a grant (an admin of that customer)."""
    _decide(ctx, grant_id, as_, password, totp, "refuse")


@grants.command("revoke")
def revoke_grant(
    ctx: typer.Context,
    grant_id: str,
    as_: Annotated[str, typer.Option("--as", help="The customer's admin or the vendor admin.")],
    password: PasswordOpt = None,
    totp: TotpOpt = None,
    vendor: Annotated[bool, typer.Option("--vendor", help="--as is the vendor admin.")] = False,
) -> None:
    """End a grant now."""
    with open_troth(ctx) as t:
        g = t.access.get_grant(grant_id)
        by = _login(t, as_, password, totp, None if vendor else g.tenant_id)
        g = t.access.revoke_grant(grant_id, by=by)
    _out.print(f"grant {g.id}: {g.status.value}")


@grants.command("list")
def list_grants(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="requested, approved, refused, revoked or expired."),
    ] = None,
) -> None:
    """Support grants: scope, reason, state, when they end."""
    with open_troth(ctx) as t:
        rows = t.access.list_grants(tenant, status=status)
    table = Table("id", "tenant", "status", "categories", "people", "reason", "ticket", "ends")
    for g in rows:
        table.add_row(
            g.id,
            g.tenant_id,
            g.status.value + (" (emergency)" if g.emergency else ""),
            ", ".join(g.categories) or "all",
            str(len(g.subject_ids) or "all"),
            g.reason,
            g.ticket or "-",
            f"{g.expires_at:%Y-%m-%d %H:%M}" if g.expires_at else "-",
        )
    _out.print(table)


@grants.command("accesses")
def accesses(ctx: typer.Context, tenant: Annotated[str, typer.Argument(help="Tenant id.")]) -> None:
    """Who from the vendor looked at what of this customer's data, when, and why."""
    with open_troth(ctx) as t:
        rows = t.access.vendor_accesses(tenant)
    table = Table(
        "when", "who", "what", "outcome", "person", "purpose", "categories", "grant", "why"
    )
    for r in rows:
        table.add_row(
            f"{r.at:%Y-%m-%d %H:%M}",
            r.actor,
            r.action,
            r.outcome,
            r.subject_id or "-",
            r.purpose or "-",
            ", ".join(r.categories),
            r.grant_id or "-",
            (r.why or "-") + (f" [{r.ticket}]" if r.ticket else ""),
        )
    _out.print(table)
