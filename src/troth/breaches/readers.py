"""A breach by a named actor (P33): a rogue or compromised account. Its people are exactly
those whose data of a breached category the audit log shows that actor read (an allowed
use, export or disclosure in the window, :func:`troth.breaches.affected.compute_affected`).

The officer names the actor as the command line does (``staff:mo``, ``staff:mo@moderator``,
``app:crm``, ``staff:ann@example.com``, ``tenant_admin:ana@acme.example@TENANT_ID``); the
audit log writes it ``kind:id``, without the role or tenant, and an account's actor by the
account's id. An actor the audit log has never seen is refused (most likely a typo, which
would otherwise report a breach with nobody affected); one that read nothing in the window
gives a breach with nobody affected, said so."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from troth.audit.tables import audit_entries
from troth.errors import TrothError, ValidationError
from troth.gate import ActorKind
from troth.gate.model import ACTOR_KIND_NAMES

_ROLE_OR_TENANT = (ActorKind.staff, ActorKind.tenant_admin, ActorKind.tenant_member)
_ACCOUNTS = (*_ROLE_OR_TENANT, ActorKind.vendor_admin)
_ID = re.compile(r"[0-9a-f]{32}")
_HOW = (
    "write kind:id as the audit log shows it (staff:mo; a role after @ may follow:"
    " staff:mo@moderator), or an account's e-mail (staff:ann@example.com)"
)


def _parts(text: str) -> tuple[ActorKind, str, str]:
    """(kind, id, role or tenant) of an actor as typed; a malformed one is refused."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"actor {text!r} not understood: {_HOW}", field="actors")
    kind_text, _, rest = text.strip().partition(":")
    kind = ACTOR_KIND_NAMES.get(kind_text)
    if kind is ActorKind.system and not rest:
        return kind, "troth", ""
    ident, extra = rest, ""
    if kind in _ROLE_OR_TENANT:
        head, at, tail = rest.rpartition("@")
        # After the last @: the role or tenant, unless it is an e-mail's domain.
        if at and head and not ("." in tail and "@" not in head and kind is ActorKind.staff):
            ident, extra = head, tail
    if kind is None or not ident or any(c.isspace() for c in ident):
        raise ValidationError(f"actor {text!r} not understood: {_HOW}", field="actors")
    return kind, ident, extra


def _account_label(conn: Connection, text: str, kind: ActorKind, email: str, extra: str) -> str:
    """The audit label of the account with this e-mail (its id, as its sign-in acts)."""
    from troth.access._base import normalise_email
    from troth.access.accounts import find_user_row

    tenant: str | None = None
    if kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        if not _ID.fullmatch(extra):
            raise ValidationError(
                f"actor {text!r}: write {kind.value}:EMAIL@TENANT_ID (the tenant's id)",
                field="actors",
            )
        tenant = extra
    user_kind = "vendor_admin" if kind is ActorKind.vendor_admin else "staff"
    try:
        addr = normalise_email(email, "actor")
    except TrothError:
        raise ValidationError(f"actor {text!r} not understood: {_HOW}", field="actors") from None
    row = find_user_row(conn, addr, None if tenant else user_kind, tenant)
    if row is None:
        raise ValidationError(
            f"actor {text!r}: no {kind.value} account {addr}"
            + (f" in tenant {tenant}" if tenant else ""),
            field="actors",
        )
    return f"{kind.value}:{row.id}"


def audit_labels(conn: Connection, given: Iterable[str]) -> tuple[str, ...]:
    """The actors as the audit log writes them, sorted and distinct. A malformed actor, an
    unknown account's e-mail or an actor that never acted (no audit entry at all) is
    refused, naming it."""
    labels: set[str] = set()
    for text in given:
        kind, ident, extra = _parts(text)
        if "@" in ident and kind in _ACCOUNTS:
            label = _account_label(conn, text, kind, ident, extra)
        else:
            label = f"{kind.value}:{ident}"
        if (
            conn.execute(
                select(audit_entries.c.seq).where(audit_entries.c.actor == label).limit(1)
            ).first()
            is None
        ):
            raise ValidationError(
                f"actor {text!r} ({label}) never acted: the audit log has no entry by it, so"
                f" it read nothing through troth. Check the name ({_HOW})",
                field="actors",
            )
        labels.add(label)
    return tuple(sorted(labels))


def check_systems_for_actors(actors: Sequence[str], systems: Sequence[str]) -> None:
    """A breach by named actors counts what they read through troth (its audit log): it
    names troth's store, and only it."""
    if actors and list(systems) != ["troth"]:
        raise ValidationError(
            "a breach by named actors (--by, actors) counts what they read through troth,"
            " per its audit log: name the system troth only (a connected dataset's or a"
            " recipient's reads are not in it; record those as a breach of their own)",
            field="systems",
        )


__all__ = ["audit_labels", "check_systems_for_actors"]
