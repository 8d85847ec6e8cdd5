"""`troth users add|list|disable`: the accounts of the vendor's staff and admins."""

from __future__ import annotations

from typing import Annotated

import typer

from troth.cli import command_group, emit, opened, print_created, rows_of
from troth.cli import plain_console as _out
from troth.cli.ids import resolver
from troth.cli.options import DisplayNameOpt, JsonOpt, PasswordOpt, QuietOpt, TenantFilterOpt

app, register = command_group("users", "Staff and vendor-admin accounts.")


def ask_code(what: str) -> str:
    """A one-time code (download, invitation): from TROTH_CODE, else asked for, hidden.
    Never a command-line argument: those show in `ps` and shell history. The whole link
    from the e-mail may be pasted (the code is what follows ``#``)."""
    import os

    text = os.environ.get("TROTH_CODE") or str(
        typer.prompt(f"{what} code (or the whole link)", hide_input=True)
    )
    return text.strip().rsplit("#", 1)[-1]


def ask_password(password: str | None, *, confirm: bool = False) -> str:
    if password:
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@app.command("add")
def add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The person's e-mail (their login).")],
    role: Annotated[
        str | None, typer.Option("--role", help="Staff role from the policy (roles: ...).")
    ] = None,
    vendor_admin: Annotated[
        bool, typer.Option("--vendor-admin", help="A vendor admin (support grants) not staff.")
    ] = False,
    name: DisplayNameOpt = None,
    password: PasswordOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Add a staff member (with a policy role) or a vendor admin, and set a password;
    prints the account's id."""
    with opened(ctx) as t:
        pw = ask_password(password, confirm=True)
        kind = "vendor_admin" if vendor_admin else "staff"
        user = t.access.accounts.add_user(
            email, kind=kind, role=role, display_name=name, password=pw
        )
    print_created(
        quiet, user.id, f"added {user.kind.value} {user.email} ({user.role or '-'}): id {user.id}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: TenantFilterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every account: kind, e-mail, role, tenant, state."""
    with opened(ctx) as t:
        users = t.access.accounts.list_users(tenant_id=tenant)
    rows = rows_of(users)
    for r, u in zip(rows, users, strict=True):
        r["state"] = "disabled" if u.disabled_at else ("locked" if u.locked_until else "active")
        member = u.tenant_id is not None
        r["role"] = u.tenant_role if member else u.role
        r["member_role"] = u.role if member else None  # a role `for: tenant_members`
    emit(
        rows,
        as_json,
        columns={
            "id": "id",
            "kind": "kind",
            "email": "email",
            "role": "role",
            "member_role": "member role",
            "tenant_id": "tenant",
            "state": "state",
            "totp_enabled": "TOTP",
        },
        empty="no accounts",
    )


@app.command("disable")
def disable(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="Account e-mail, id or a unique start of it.")],
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="The member's tenant.", callback=resolver("tenant")),
    ] = None,
) -> None:
    """Disable an account: its sessions and API keys end at once."""
    from troth.cli.ids import full_id

    with opened(ctx) as t:
        if "@" in who:
            uid = t.access.accounts.find_user(who, tenant_id=tenant).id
        else:
            uid = full_id(t.ctx, "user", who)
        user = t.access.accounts.disable_user(uid)
    _out.print(f"disabled {user.email}; its sessions and API keys are revoked")
