"""Telling people of a breach (P33): the notice rendered from the officer's template and
queued through the outbox to every affected person not yet told, a batch at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, func, select, update

from troth.audit.log import transaction
from troth.breaches.duties import leaves_to_controller, vendor_controls
from troth.breaches.model import Breach, log_breach
from troth.breaches.steps import settle_status
from troth.breaches.tables import breach_subjects
from troth.clock import utc
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import Actor
from troth.operations.idempotency import _fault
from troth.store.contact import contact_addresses
from troth.store.tables import subjects

# What a notice template may use; the same for everyone under one regime (README,
# "Breaches"): times are written in the person's regime's zone.
VARIABLES = (
    "organisation, controller, contact, dpo (dpo.name, dpo.email, dpo.phone, dpo.address),"
    " breach (breach.title, breach.description, breach.categories, breach.occurred_from,"
    " breach.occurred_until, breach.discovered_at, breach.id, breach.affected_count, ...)"
)
# The notice the console offers to start from: the person by no title it cannot know, the
# data in the policy's words, who decides about it (the organisation, or the customer it
# holds it for), times in the person's zone.
DEFAULT_TEMPLATE = """Hello,

On {{ breach.discovered_at }} {{ organisation }} found a security incident:
{{ breach.title }}.

{{ breach.description }}

The data involved: {{ breach.categories }}.
{% if controller != organisation %}
{{ organisation }} holds this data for {{ controller }}, who decides about it.
{% endif %}
What we have done, and what you can do, is on our website. Questions: {{ contact }}.
"""
# How a time reads in a notice: "Tuesday 15 December 2026 at 10:00 NZDT".
WHEN = "%A %-d %B %Y at %H:%M %Z"
_TIMES = ("occurred_from", "occurred_until", "discovered_at", "aware_at", "recorded_at")


@dataclass(frozen=True)
class Notice:
    """The notice of one breach, rendered once per regime of the people told (their
    times in its zone), and who sends it."""

    breach: Breach
    template: str
    subject: str | None
    actor: Actor

    @property
    def breach_id(self) -> str:
        return self.breach.id


class Words(list[str]):
    """A list that prints as words ("health records and contact details"), so that
    ``{{ breach.categories }}`` reads as a sentence and a loop still gets each one."""

    def __str__(self) -> str:
        items = [str(x) for x in self]
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class ContactPoint:
    """Who the people may ask (GDPR Art. 34(2) with 33(3)(b)): the data protection
    officer the policy names (``organisation.dpo``), else its privacy contact."""

    name: str
    email: str
    phone: str
    address: str

    def __str__(self) -> str:
        return ", ".join(x for x in (self.name, self.email, self.phone, self.address) if x)


def contact_point(ctx: Context) -> ContactPoint:
    org = ctx.policy.policy.organisation
    c = org.dpo or org.contact
    return ContactPoint(c.name or "", c.email or "", c.phone or "", c.address or "")


def category_words(ctx: Context, categories: Iterable[str]) -> Words:
    """The categories as the policy describes them (a dataset's own: its id in words)."""
    known = ctx.policy.categories
    out = Words()
    for c in categories:
        info = known.get(c)
        text = info.description.strip().rstrip(".") if info and info.description else ""
        out.append(text or c.replace("_", " "))
    return out


def notice_context(
    ctx: Context, b: Breach, regime: str | None, controller: str | None = None
) -> dict[str, Any]:
    """What a notice template is given for the people under ``regime`` (None: the
    organisation's own zone): times in words in that regime's zone, categories by their
    descriptions, the contact point, and ``controller``: who decides about their data
    (None: the organisation; a customer's name for its people where the customers decide,
    :func:`controller_of`)."""
    org = ctx.policy.policy.organisation
    zone = org.zone(regime or None)
    data = {k: v for k, v in b.to_dict().items() if k != "late_reason"}
    for name in _TIMES:
        data[name] = utc(getattr(b, name)).astimezone(zone).strftime(WHEN)
    data["categories"] = category_words(ctx, b.categories)
    data["category_ids"] = list(b.categories)
    return {
        "organisation": org.name,
        "controller": controller or org.name,
        "contact": org.contact.email or "",
        "dpo": contact_point(ctx),
        "breach": data,
    }


def render_notice(
    ctx: Context,
    b: Breach,
    template: str,
    subject: str | None,
    regime: str | None = None,
    controller: str | None = None,
) -> tuple[str, str]:
    """The notice's subject and text for the people under ``regime``, rendered from a
    Jinja2 ``template`` (variables: :data:`VARIABLES`) in a sandbox. A template whose
    first line is ``Subject: ...`` sets the subject (rendered too; the line and the empty
    line after it are not the body), as a ``mail send`` template does; else ``subject``,
    else a fixed one. Both a ``Subject:`` line and ``subject`` is an error (which wins?)."""
    org = ctx.policy.policy.organisation
    own, template = template_subject(template)
    if own is not None and subject is not None:
        raise ValidationError(
            "the template starts with a 'Subject:' line and a subject was given too: give it"
            " once (drop --subject, or the template's first line)",
            field="subject",
        )
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    context = notice_context(ctx, b, regime, controller)
    try:
        body = env.from_string(template).render(**context)
        if own is not None:
            subject = " ".join(env.from_string(own).render(**context).split())
    except TemplateError as exc:
        raise ValidationError(
            f"the notice template does not render: {exc} (its variables: {VARIABLES})",
            field="template",
        ) from exc
    if own is not None and not subject:
        raise ValidationError("the template's 'Subject:' line is empty", field="template")
    return subject or f"{org.name}: a security incident affecting your data", body


def template_subject(template: str) -> tuple[str | None, str]:
    """A notice template's own subject (its first line ``Subject: ...``, any case) and the
    rest (without that line and one empty line after it); (None, the template) without."""
    head, nl, rest = template.lstrip("\ufeff").partition("\n")
    if not head.lower().startswith("subject:"):
        return None, template
    if rest.startswith("\r\n"):
        rest = rest[2:]
    elif rest.startswith("\n"):
        rest = rest[1:]
    return head.split(":", 1)[1].strip(), rest if nl else ""


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


def controller_of(conn: Connection, ctx: Context, b: Breach, tenant: str | None) -> str | None:
    """Who decides about the data of a person of ``tenant`` hit by ``b``, for the notice:
    the customer (its name) where the customers decide about their people and the breach
    is not only of the organisation's own purposes' data (:func:`vendor_controls`); None:
    the organisation."""
    from troth.access.mail import tenant_contact
    from troth.policy.parties import customers_control

    if tenant is None or not customers_control(ctx.policy.policy) or vendor_controls(ctx, b):
        return None
    return tenant_contact(conn, ctx, tenant)[0]


def _people(conn: Connection, todo: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Each person's (jurisdiction, tenant)."""
    rows = conn.execute(
        select(subjects.c.id, subjects.c.jurisdiction, subjects.c.tenant_id).where(
            subjects.c.id.in_(todo)
        )
    )
    return {r.id: (r.jurisdiction, r.tenant_id) for r in rows}


def _notify_batch(
    conn: Connection, ctx: Context, notice: Notice, todo: list[str], now: datetime
) -> int:
    """One batch: the addresses read together, the notices queued (each rendered for the
    person's regime), the people marked told, one audit entry. A customer's people are
    left to the customer when the policy says so (:func:`leaves_to_controller`). Returns
    how many were queued."""
    from troth.notices.outbox import MailKind, enqueue

    bs = breach_subjects.c
    to = contact_addresses(conn, ctx, todo)
    who = _people(conn, todo)
    leave = leaves_to_controller(ctx) and not vendor_controls(ctx, notice.breach)
    rendered: dict[tuple[str | None, str | None], tuple[str, str]] = {}
    told: list[str] = []
    left = 0
    for sid in todo:
        regime, tenant = who.get(sid, (None, None))
        if leave and tenant is not None:
            left += 1
            continue  # the customer tells its own people (told of the breach by troth)
        if to.get(sid) is None:
            continue  # no address: stays on the list, not told (a public notice covers it)
        whose = controller_of(conn, ctx, notice.breach, tenant)
        if (regime, whose) not in rendered:
            rendered[regime, whose] = render_notice(
                ctx, notice.breach, notice.template, notice.subject, regime, whose
            )
        title, body = rendered[regime, whose]
        enqueue(
            conn,
            ctx,
            idempotency_key=f"breach:{notice.breach_id}:{sid}",
            to_addr=to[sid] or "",
            subject=title,
            body_text=body,
            subject_id=sid,
            kind=MailKind.notice,
            actor=notice.actor.label,
        )
        told.append(sid)
    if told:
        conn.execute(
            update(breach_subjects)
            .where(bs.breach_id == notice.breach_id, bs.notified_at.is_(None))
            .where(bs.subject_id.in_(told))
            .values(notified_at=now)
        )
    settle_status(conn, notice.breach_id)
    details = {
        "breach": notice.breach_id,
        "queued": len(told),
        "undeliverable": len(todo) - len(told) - left,
        "left_to_controller": left,
    }
    log_breach(conn, now, "breach.individuals_notified", notice.actor, details)
    return len(told)
