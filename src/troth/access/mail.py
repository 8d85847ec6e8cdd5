"""The access service's mail: invitations and emergency-access notices, queued through
the outbox in the caller's transaction (so they go out only if the change commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from troth.context import Context
from troth.store.tables import tenants

if TYPE_CHECKING:
    from troth.notices.outbox import MailKind


def tenant_contact(conn: Connection, ctx: Context, tenant_id: str) -> tuple[str, str | None]:
    """The tenant's name and primary address; no address (audited ``record_tampered``,
    in the caller's transaction) when its row does not match its seal: a notice never goes
    to an address a database writer put there."""
    from troth.access.seals import tenant_rows

    good, bad = tenant_rows(conn, ctx.keys, [tenant_id])
    if bad:
        from troth.audit.log import append_entries
        from troth.audit.refusals import denial
        from troth.gate import Reason

        refusal = denial("tenant.notice", "system", Reason.record_tampered, tenant_id=tenant_id)
        append_entries(conn, ctx.clock.now(), [refusal])
        name = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).scalar()
        return str(name), None
    row = good[tenant_id]
    return str(row.name), row.primary_email


@dataclass(frozen=True, slots=True)
class _Mail:
    key: str  # the outbox's idempotency key: queued once
    to_addr: str
    subject: str
    body: str
    kind: MailKind
    once: bool = False  # carries a single-use link: its words are not kept once sent


def _send(conn: Connection, ctx: Context, mail: _Mail) -> int:
    """Queue one of troth's own mails (actor ``system``) in the caller's transaction."""
    from troth.notices.outbox import enqueue

    return enqueue(
        conn,
        ctx,
        idempotency_key=mail.key,
        to_addr=mail.to_addr,
        subject=mail.subject,
        body_text=mail.body,
        kind=mail.kind,
        actor="system",
        once=mail.once,
    )


def send_invitation(
    conn: Connection, ctx: Context, tenant_id: str, addr: str, token: str, expires: datetime
) -> int:
    """Queue the invitation e-mail with its single-use link."""
    from troth.notices.outbox import MailKind

    name, _ = tenant_contact(conn, ctx, tenant_id)
    org = ctx.policy.policy.organisation.name
    # The code rides after "#": browsers never send it, so no access log keeps it.
    url = f"{ctx.settings.public_url.rstrip('/')}/invitations#{token}"
    body = (
        f"You are invited to join {name} on {org}.\n\n"
        f"Accept the invitation and choose a password here:\n{url}\n\n"
        f"The link works once, until {expires:%Y-%m-%d %H:%M} UTC.\n"
        "If you did not expect this, ignore this message.\n"
    )
    subject = f"Invitation to {name} on {org}"
    key = f"invitation:{token[:24]}"
    return _send(conn, ctx, _Mail(key, addr, subject, body, MailKind.transactional, once=True))


def send_emergency_notice(conn: Connection, ctx: Context, grant: Any) -> int | None:
    """Tell the tenant's primary address at once that the vendor used emergency access."""
    from troth.notices.outbox import MailKind

    name, primary = tenant_contact(conn, ctx, grant.tenant_id)
    if not primary:
        return None
    org = ctx.policy.policy.organisation.name
    scope = ", ".join(grant.categories) or "all categories"
    who = ", ".join(grant.subject_ids) or "all people"
    body = (
        f"{org} staff opened EMERGENCY access to {name}'s data without waiting for your"
        " approval, as its privacy policy allows.\n\n"
        f"Reason: {grant.reason}\n"
        f"Ticket: {grant.ticket or '-'}\n"
        f"Scope: {scope}; {who}\n"
        f"From {grant.starts_at:%Y-%m-%d %H:%M} to {grant.expires_at:%Y-%m-%d %H:%M} UTC\n"
        f"Grant: {grant.id}\n\n"
        "You can revoke this access at any time, and every look at your data under it is"
        " listed for you.\n"
    )
    subject = f"Emergency support access to {name}"
    key = f"emergency:{grant.id}"
    return _send(conn, ctx, _Mail(key, primary, subject, body, MailKind.notice))
