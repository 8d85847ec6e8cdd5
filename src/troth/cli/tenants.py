"""`troth tenants create|list|invite|accept|members|set-role|revoke|offboard` and
`troth grants request|approve|refuse|revoke|list|accesses`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from troth.access import actor_for
from troth.cli import emit, opened, print_created, rows_of
from troth.cli import plain_console as _out
from troth.cli.ids import resolver
from troth.cli.options import (
    DisplayNameOpt,
    JsonOpt,
    PasswordOpt,
    QuietOpt,
    TenantArg,
    TenantFilterOpt,
    TotpOpt,
)
from troth.cli.users import ask_code, ask_password
from troth.engine import Troth
from troth.gate import SYSTEM, Actor

app = typer.Typer(help="Customers (tenants), their members and invitations.", no_args_is_help=True)
grants = typer.Typer(help="The vendor's support access to a customer's data.", no_args_is_help=True)

GrantArg = Annotated[
    str, typer.Argument(help="Grant id (or a unique prefix).", callback=resolver("grant"))
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tenants")
    root.add_typer(grants, name="grants")


def _login(
    t: Troth, email: str, password: str | None, totp: str | None, tenant_id: str | None = None
) -> Actor:
    """Who acts: the person logs in with their own password (the operator cannot act for
    a customer). Never the operator: an empty ``--as`` fails to log in like a wrong one."""
    user = t.access.accounts.authenticate(email, ask_password(password), tenant_id, totp_code=totp)
    return actor_for(user)


def _admin_or_operator(
    t: Troth, as_: str | None, password: str | None, totp: str | None, tenant_id: str
) -> Actor:
    """Who manages ``tenant_id``'s members: the tenant admin ``--as`` names, logged in, or
    else the operator (``system``)."""
    return _login(t, as_, password, totp, tenant_id) if as_ is not None else SYSTEM


def _member(t: Troth, email: str, password: str | None, totp: str | None, tenant_id: str) -> Actor:
    """A customer's member who logs in to decide on ``tenant_id``'s grant: their membership
    of that customer, else (an admin of another customer) their own, which the grant then
    refuses as another customer's (404, audited ``not_a_member`` under the grant's)."""
    users = t.access.accounts.authenticate_member(email, ask_password(password), totp_code=totp)
    return actor_for(next((u for u in users if u.tenant_id == tenant_id), users[0]))


# -- tenants -----------------------------------------------------------------------------
@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The customer's name.")],
    email: Annotated[str, typer.Option("--email", help="Primary e-mail: gets notices.")],
    quiet: QuietOpt = False,
) -> None:
    """Create a customer (tenant); prints its id."""
    with opened(ctx) as t:
        tid = t.access.tenants.create_tenant(name, email)
    print_created(quiet, tid, f"tenant {name}: id {tid}")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every customer."""
    with opened(ctx) as t:
        rows = t.access.tenants.list_tenants()
    emit(
        rows_of(rows),
        as_json,
        columns={
            "id": "id",
            "name": "name",
            "primary_email": "primary e-mail",
            "status": "status",
            "created_at": "created",
            "tampered": "changed outside troth",
        },
        empty="no tenants",
    )


@app.command("invite")
def invite(
    ctx: typer.Context,
    tenant: TenantArg,
    email: Annotated[str, typer.Argument(help="Who to invite.")],
    role: Annotated[str, typer.Option("--role", help="admin or member.")] = "member",
    member_role: Annotated[
        str | None,
        typer.Option(
            "--member-role",
            help="The policy role (for: tenant_members) they get: what they may read.",
        ),
    ] = None,
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
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only the invitation's id, or the link (--show-link)."
        ),
    ] = False,
) -> None:
    """Invite a colleague by e-mail: a single-use link, sent through the outbox."""
    with opened(ctx) as t:
        by = _admin_or_operator(t, as_, password, totp, tenant)
        token, inv = t.access.tenants.invite(
            tenant, email, role=role, member_role=member_role, by=by
        )
        url = f"{t.ctx.settings.public_url.rstrip('/')}/invitations#{token}"
    if quiet:
        print(url if show_link else inv.id)
        return
    _out.print(
        f"invited {inv.email} as {inv.role.value}"
        + (f" with role {inv.member_role}" if inv.member_role else "")
        + "; the link works once, until"
        f" {inv.expires_at:%Y-%m-%d %H:%M} UTC (queued in the outbox)"
    )
    if show_link:
        print(url)


@app.command("accept")
def accept(
    ctx: typer.Context,
    name: DisplayNameOpt = None,
    password: PasswordOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Accept an invitation and choose a password (the code is asked for, or TROTH_CODE);
    prints the new account's id with -q."""
    with opened(ctx) as t:
        code = ask_code("Invitation")
        user = t.access.tenants.accept_invitation(
            code, ask_password(password, confirm=True), display_name=name
        )
    print_created(quiet, user.id, f"welcome {user.email}: member of tenant {user.tenant_id}")


@app.command("members")
def members(ctx: typer.Context, tenant: TenantArg, as_json: JsonOpt = False) -> None:
    """A customer's members and pending invitations."""
    with opened(ctx) as t:
        people = t.access.tenants.list_members(tenant)
        invites = t.access.tenants.list_invitations(tenant)
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "role": u.tenant_role.value if u.tenant_role else None,
            "member_role": u.role,
            "state": "active" if u.active else "revoked",
        }
        for u in people
    ] + [
        {
            "id": i.id,
            "email": i.email,
            "role": i.role.value,
            "member_role": i.member_role,
            "state": "invited",
        }
        for i in invites
        if i.state.value == "pending"
    ]
    emit(rows, as_json, empty="no members")


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    tenant: TenantArg,
    email: Annotated[str, typer.Argument(help="The member.")],
    member_role: Annotated[
        str | None,
        typer.Argument(help="A policy role for: tenant_members; leave out with --none."),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Take the member's role away.")] = False,
    as_: Annotated[
        str | None, typer.Option("--as", help="Act as this tenant admin (default: the operator).")
    ] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Give a member a role of the policy's (for: tenant_members): what they may read, for
    which purposes. Their very next request uses it."""
    if (member_role is None) == (not none):
        from troth.errors import ValidationError

        raise ValidationError("give the role, or --none to take the member's role away")
    with opened(ctx) as t:
        by = _admin_or_operator(t, as_, password, totp, tenant)
        user = t.access.accounts.find_user(email, tenant_id=tenant)
        user = t.access.tenants.set_member_role(tenant, user.id, member_role, by=by)
    _out.print(f"{user.email}: role {user.role or 'none'}")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    tenant: TenantArg,
    email: Annotated[str, typer.Argument(help="The member to revoke.")],
    as_: Annotated[str | None, typer.Option("--as", help="Revoke as this tenant admin.")] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
) -> None:
    """Revoke a member: sessions and API keys end at once; access ends at once."""
    with opened(ctx) as t:
        by = _admin_or_operator(t, as_, password, totp, tenant)
        user = t.access.accounts.find_user(email, tenant_id=tenant)
        t.access.tenants.revoke_member(tenant, user.id, by=by)
    _out.print(f"revoked {user.email}")


@app.command("offboard")
def offboard(
    ctx: typer.Context,
    tenant: TenantArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the tenant's export (ZIP).")
    ],
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            is_eager=True,  # read before the tenant, which is resolved for it
            help="Who acts: staff:NAME@ROLE with manage_tenants, or system.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="People per batch.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the certificate as JSON.")] = False,
) -> None:
    """A customer leaves: export it (written to --out before anything is erased), erase
    everything of it except what the law keeps, print the certificate. Run again to
    resume an interrupted one; once done, the same certificate."""
    import json

    from troth.cli.actors import parse_actor
    from troth.cli.outfile import check_out, write_out

    who = parse_actor(actor)
    check_out(out)  # before anything is exported or erased
    with opened(ctx) as t:

        def save(link: Any) -> None:
            t.requests.download(link.token, actor=who, sink=lambda data: write_out(out, data))
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
    tenant: TenantArg,
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
        list[str] | None,
        typer.Option(
            "--subject", help="Only this person's id (repeat).", callback=resolver("subject")
        ),
    ] = None,
    password: PasswordOpt = None,
    totp: TotpOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Ask a customer for support access; they approve or refuse it."""
    with opened(ctx) as t:
        by = _login(t, as_, password, totp)
        g = t.access.grants.request_grant(
            tenant,
            by=by,
            reason=reason,
            ticket=ticket,
            categories=category or (),
            subject_ids=subject or (),
            duration=timedelta(days=days),
        )
    print_created(
        quiet,
        g.id,
        f"grant {g.id} requested; the customer's admin approves it with"
        f" `troth grants approve {g.id} --as ADMIN_EMAIL`",
    )


def _decide(
    ctx: typer.Context, grant_id: str, as_: str, password: str | None, totp: str | None, verb: str
) -> None:
    with opened(ctx) as t:
        g = t.access.grants.get_grant(grant_id)
        by = _member(t, as_, password, totp, g.tenant_id)
        fn = {"approve": t.access.grants.approve_grant, "refuse": t.access.grants.refuse_grant}[
            verb
        ]
        g = fn(grant_id, by=by)
    when = f" until {g.expires_at:%Y-%m-%d %H:%M} UTC" if g.expires_at else ""
    _out.print(f"grant {g.id}: {g.status.value}{when}")


AdminOpt = Annotated[str, typer.Option("--as", help="The customer's admin (e-mail).")]


def _decision_command(verb: str, doc: str) -> None:
    """``troth grants approve|refuse GRANT --as ADMIN``: the same command but the verb."""

    def decide(
        ctx: typer.Context,
        grant_id: GrantArg,
        as_: AdminOpt,
        password: PasswordOpt = None,
        totp: TotpOpt = None,
    ) -> None:
        _decide(ctx, grant_id, as_, password, totp, verb)

    decide.__doc__ = doc
    grants.command(verb)(decide)


_decision_command(
    "approve", "Approve a grant (an admin of that customer): it starts now, ends on its own."
)
_decision_command("refuse", "Refuse a grant (an admin of that customer).")


@grants.command("revoke")
def revoke_grant(
    ctx: typer.Context,
    grant_id: GrantArg,
    as_: Annotated[str, typer.Option("--as", help="The customer's admin or the vendor admin.")],
    password: PasswordOpt = None,
    totp: TotpOpt = None,
    vendor: Annotated[bool, typer.Option("--vendor", help="--as is the vendor admin.")] = False,
) -> None:
    """End a grant now."""
    with opened(ctx) as t:
        g = t.access.grants.get_grant(grant_id)
        # A customer's admin logs in as approve and refuse do (:func:`_member`): an admin
        # of another customer is then refused as the grant's, never "wrong password".
        if vendor:
            by = _login(t, as_, password, totp)
        else:
            by = _member(t, as_, password, totp, g.tenant_id)
        g = t.access.grants.revoke_grant(grant_id, by=by)
    _out.print(f"grant {g.id}: {g.status.value}")


@grants.command("list")
def list_grants(
    ctx: typer.Context,
    tenant_arg: Annotated[
        str | None,
        typer.Argument(
            metavar="[TENANT]",
            help="Only this tenant's (or --tenant).",
            callback=resolver("tenant"),
        ),
    ] = None,
    tenant: TenantFilterOpt = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="requested, approved, refused, revoked or expired."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Support grants: scope, reason, state, when they end."""
    with opened(ctx) as t:
        grants_ = t.access.grants.list_grants(tenant or tenant_arg, status=status)
    rows = rows_of(grants_)
    for r, g in zip(rows, grants_, strict=True):
        r["duration"] = g.duration.total_seconds()
        r["_state"] = g.status.value + (" (emergency)" if g.emergency else "")
        r["_people"] = str(len(g.subject_ids) or "all")
        r["_categories"] = ", ".join(g.categories) or "all"
    emit(
        rows,
        as_json,
        columns={
            "id": "id",
            "tenant_id": "tenant",
            "_state": "status",
            "_categories": "categories",
            "_people": "people",
            "reason": "reason",
            "ticket": "ticket",
            "expires_at": "ends",
        },
        empty="no support grants",
    )


@grants.command("accesses")
def accesses(ctx: typer.Context, tenant: TenantArg, as_json: JsonOpt = False) -> None:
    """Who from the vendor looked at what of this customer's data, when, and why."""
    with opened(ctx) as t:
        found = t.access.grants.vendor_accesses(tenant)
    rows = rows_of(found)
    for r in rows:
        r["_why"] = (r["why"] or "-") + (f" [{r['ticket']}]" if r["ticket"] else "")
    emit(
        rows,
        as_json,
        columns={
            "at": "when",
            "actor": "who",
            "action": "what",
            "outcome": "outcome",
            "subject_id": "person",
            "purpose": "purpose",
            "categories": "categories",
            "grant_id": "grant",
            "_why": "why",
        },
        empty="no vendor accesses",
    )
