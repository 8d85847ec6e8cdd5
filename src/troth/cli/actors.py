"""Who acts, as typed on the command line: ``--actor staff:ann@accounts``, ``app:shop``,
``tenant_admin:ana@acme.example@Acme Ltd``... (:func:`parse_actor`). Where a person has an
account, their e-mail stands for them and the actor is the one their sign-in would make."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from troth.cli import home_of
from troth.errors import ValidationError

if TYPE_CHECKING:
    from troth.gate import Actor


def parse_actor(text: str | None) -> Actor:
    """``staff:alice@accounts`` (role after @), ``app:shop``, ``system``, ``subject:ID``,
    ``tenant_admin:USER@TENANT``, ``tenant_member:USER@TENANT``, ``vendor:carol``.

    Where a person has an account, their e-mail may stand for them: ``staff:ann@example.com``
    (the role is the account's), ``tenant_admin:ana@acme.example@TENANT`` (TENANT: the id, a
    unique prefix or the tenant's name), ``vendor:ops@vendor.example``. The account is looked
    up in the home, and the actor is the one its sign-in would be; an unknown e-mail, or an
    account of another kind or tenant, is an error."""
    from troth.gate import SYSTEM, Actor, ActorKind
    from troth.gate.model import ACTOR_KIND_NAMES

    if not text or text == "system":
        return SYSTEM
    kind, _, rest = text.partition(":")
    # troth itself is only ever "system", never "system:ID".
    k = ACTOR_KIND_NAMES.get(kind) if kind != ActorKind.system.value else None
    ident, extra = rest, ""
    if k in (ActorKind.staff, ActorKind.tenant_admin, ActorKind.tenant_member):
        head, at, tail = rest.rpartition("@")
        # The part after the last @ is the role or tenant, unless it is an e-mail's domain.
        if at and head and not ("." in tail and "@" not in head and k is ActorKind.staff):
            ident, extra = head, tail
        if k is not ActorKind.staff and "." in extra and "@" not in ident:
            raise ValidationError(
                f"actor {text!r}: write {kind}:EMAIL@TENANT (the tenant's id or name after"
                " the e-mail)"
            )
    if k is None or not ident:
        raise ValidationError(
            f"actor {text!r} not understood: write staff:NAME@ROLE, staff:EMAIL, app:NAME,"
            " subject:ID, tenant_admin:EMAIL@TENANT, tenant_member:EMAIL@TENANT,"
            " vendor:EMAIL or system"
        )
    if "@" in ident and k in (
        ActorKind.staff,
        ActorKind.tenant_admin,
        ActorKind.tenant_member,
        ActorKind.vendor_admin,
    ):
        return _account_actor(k, ident, extra or None)
    if k is ActorKind.staff:
        return Actor(k, ident, role=extra or None)
    if k in (ActorKind.tenant_admin, ActorKind.tenant_member):
        return Actor(k, ident, tenant_id=_tenant_id(extra) if extra else None)
    if k is ActorKind.application:
        # From the CLI an application acts with the operator's full authority.
        return Actor(k, ident, scopes=frozenset({"admin"}))
    return Actor(k, ident)


def _home() -> Path:
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    return home_of(ctx) if ctx is not None else Path.cwd()  # type: ignore[arg-type]


def _tenant_id(text: str) -> str:
    """A tenant typed on the command line (id, unique prefix or name) as its id; a whole
    id, or one given outside a command, is taken as it is."""
    import re

    from typer._click.globals import get_current_context

    if re.fullmatch(r"[0-9a-f]{32}", text) or get_current_context(silent=True) is None:
        return text
    from troth.cli.ids import full_id_in

    return full_id_in(_home(), "tenant", text)


def _account_actor(kind: Any, email: str, extra: str | None) -> Actor:
    """The actor of the account with this e-mail, as its sign-in would make it."""
    from troth.access import actor_for
    from troth.errors import NotFound
    from troth.gate import ActorKind

    tenant = None
    if kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        if not extra:
            raise ValidationError(f"write {kind.value}:{email}@TENANT (the tenant's id or name)")
        tenant = _tenant_id(extra)
    user_kind = {ActorKind.staff: "staff", ActorKind.vendor_admin: "vendor_admin"}.get(kind)
    t = _troth(_home())
    try:
        try:
            user = t.access.accounts.find_user(email, kind=user_kind, tenant_id=tenant)
        except NotFound:
            where = f" in tenant {tenant}" if tenant else ""
            raise NotFound(
                f"--actor: no {kind.value} account {email!r}{where}; list them with"
                " `troth users list`",
                code="unknown_account",
            ) from None
    finally:
        t.close()
    actor = actor_for(user)
    if actor.kind is not kind:
        raise ValidationError(
            f"--actor: {email} is a {actor.kind.value}, not a {kind.value}; write"
            f" {actor.kind.value}:{email}" + (f"@{extra}" if extra else "")
        )
    if kind is ActorKind.staff and extra and extra != actor.role:
        raise ValidationError(f"--actor: {email} has the role {actor.role!r}, not {extra!r}")
    return actor


def _troth(home: Path) -> Any:
    from troth.engine import Troth

    return Troth.open(home)
