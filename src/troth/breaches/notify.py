"""Telling people of a breach (P33): the notice rendered from the officer's template and
queued through the outbox to every affected person not yet told, a batch at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, func, select, update

from troth.audit.log import transaction
from troth.breaches.model import Breach, log_breach
from troth.breaches.steps import settle_status
from troth.breaches.tables import breach_subjects
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import Actor
from troth.operations.idempotency import _fault
from troth.store.contact import contact_addresses

# What a notice template may use; the same for every person (README, "Breaches").
VARIABLES = (
    "organisation, contact, breach (breach.title, breach.description, breach.categories,"
    " breach.occurred_from, breach.occurred_until, breach.discovered_at, breach.id, ...)"
)


@dataclass(frozen=True)
class Notice:
    """The notice of one breach as each person receives it, and who sends it."""

    breach_id: str
    subject: str
    body: str
    actor: Actor


def render_notice(ctx: Context, b: Breach, template: str, subject: str | None) -> tuple[str, str]:
    """The notice's subject and text, rendered from a Jinja2 ``template`` (variables:
    ``organisation``, ``breach``, ``contact``) in a sandbox."""
    org = ctx.policy.policy.organisation
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        body = env.from_string(template).render(
            organisation=org.name,
            contact=org.contact.email or "",
            breach={k: v for k, v in b.to_dict().items() if k != "late_reason"},
        )
    except TemplateError as exc:
        raise ValidationError(
            f"the notice template does not render: {exc} (its variables: {VARIABLES})",
            field="template",
        ) from exc
    return subject or f"{org.name}: a security incident affecting your data", body


def queue_notice(
    ctx: Context,
    notice: Notice,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Queue ``notice`` to every affected person not yet told, ``batch_size`` people per
    transaction, with ``progress(done, total)`` after each; returns the number queued."""
    bs = breach_subjects.c
    waiting = (bs.breach_id == notice.breach_id, bs.notified_at.is_(None))
    with ctx.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).where(*waiting)).scalar_one())
    sent = done = 0
    after = ""  # people without an address stay not told: walk past them, in id order
    while True:
        now = ctx.clock.now()
        with transaction(ctx) as conn:
            todo = list(
                conn.execute(
                    select(bs.subject_id)
                    .where(*waiting, bs.subject_id > after)
                    .order_by(bs.subject_id)
                    .limit(batch_size)
                ).scalars()
            )
            if not todo and after:
                break
            queued = _notify_batch(conn, ctx, notice, todo, now)
        _fault("breach.notified")
        sent += queued
        done += len(todo)
        if todo:
            after = todo[-1]
        if progress is not None:
            progress(done, total)
        if len(todo) < batch_size:
            break
    return sent


def _notify_batch(
    conn: Connection, ctx: Context, notice: Notice, todo: list[str], now: datetime
) -> int:
    """One batch: the addresses read together, the notices queued, the people marked
    told, one audit entry. Returns how many were queued."""
    from troth.notices.outbox import MailKind, enqueue

    bs = breach_subjects.c
    to = contact_addresses(conn, ctx, todo)
    queued = 0
    for sid in todo:
        if to.get(sid) is None:
            continue  # no address: stays on the list, not told (a public notice covers it)
        enqueue(
            conn,
            ctx,
            idempotency_key=f"breach:{notice.breach_id}:{sid}",
            to_addr=to[sid] or "",
            subject=notice.subject,
            body_text=notice.body,
            subject_id=sid,
            kind=MailKind.notice,
            actor=notice.actor.label,
        )
        queued += 1
    told = [sid for sid in todo if to.get(sid) is not None]
    if told:
        conn.execute(
            update(breach_subjects)
            .where(bs.breach_id == notice.breach_id, bs.notified_at.is_(None))
            .where(bs.subject_id.in_(told))
            .values(notified_at=now)
        )
    settle_status(conn, notice.breach_id)
    details = {"breach": notice.breach_id, "queued": queued, "undeliverable": len(todo) - queued}
    log_breach(conn, now, "breach.individuals_notified", notice.actor, details)
    return queued
