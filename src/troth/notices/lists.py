"""Mail to a list (``lists:`` in the policy): one message per member, through the outbox.

The members are the people who consented to the list's purpose (or, for a purpose that
does not rest on consent, every person not erased). Each member's address is read through
the gate for the list's purpose (:meth:`Troth.use`, audited): an address not collected for
that purpose is not used. The outbox then refuses whoever withdrew, opted out, restricted
the use or was erased (audited), adds the RFC 8058 one-click unsubscribe headers and the
link in the body (:mod:`.unsubscribe_link`) to marketing mail, and checks consent again at
delivery. The idempotency key is the list, the
campaign (default: the SHA-256 of the message) and the person: sending the same message
again queues nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from troth.audit.refusals import refuse
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import ActorKind, Reason
from troth.gate.masks import customer_side
from troth.notices.unsubscribe_link import check_template
from troth.policy.model import LegalBasis
from troth.store.contact import emails_in


@dataclass
class ListSend:
    """What one send did: how many were queued and why the others were not."""

    list_id: str
    campaign: str
    members: int = 0
    queued: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in asdict(self).items() if k != "list_id"}
        return {"list": self.list_id, **counts, "not_sent": dict(sorted(self.not_sent.items()))}


def parse_template(text: str) -> tuple[str, str]:
    """A template is ``Subject: ...``, an empty line, then the plain-text body, which may
    place the unsubscribe link with ``{{ unsubscribe_url }}`` (no other placeholder;
    without it the link is added at the end)."""
    head, sep, body = text.partition("\n\n")
    if not sep or not head.lower().startswith("subject:") or "\n" in head.strip():
        raise ValidationError(
            "the template must start with one 'Subject: ...' line, then an empty line, then"
            " the body"
        )
    subject = head.split(":", 1)[1].strip()
    if not subject or not body.strip():
        raise ValidationError("the template needs a subject and a body")
    check_template(subject, body)
    return subject, body


def _members(troth: Any, purpose: str) -> list[str]:
    from troth.consent.state import granted_subjects_select
    from troth.store.tables import subjects

    ctx = troth.ctx
    with ctx.engine.connect() as conn:
        if ctx.policy.purposes[purpose].legal_basis is LegalBasis.consent:
            q = granted_subjects_select(purpose)
        else:
            q = select(subjects.c.id).where(subjects.c.erased_at.is_(None))
        return sorted(str(sid) for (sid,) in conn.execute(q))


def send_to_list(
    troth: Any,
    list_id: str,
    template: str,
    *,
    actor: Any,
    campaign: str | None = None,
) -> ListSend:
    """Queue ``template`` (see :func:`parse_template`) to every member of ``list_id``."""
    from troth.notices.outbox import submit

    ctx = troth.ctx
    lst = next((x for x in ctx.policy.policy.lists if x.id == list_id), None)
    if lst is None:
        known = ", ".join(sorted(x.id for x in ctx.policy.policy.lists)) or "none"
        raise ValidationError(f"unknown list {list_id!r} (lists in the policy: {known})")
    if customer_side(actor):
        # The policy's lists are the vendor's: a customer's people (or its key) never
        # mail them, and learn nothing of them (how many members: one refusal, whatever
        # the list holds).
        refuse(
            ctx,
            "mail.send",
            actor,
            Reason.tenant_bound,
            f"list {list_id!r} is the organisation's own: a credential bound to a customer"
            " does not mail it",
            purpose=lst.purpose,
            details={"list": list_id},
        )
    subject, body = parse_template(template)
    campaign = campaign or hashlib.sha256(template.encode()).hexdigest()[:16]
    if not campaign.replace("-", "").replace("_", "").isalnum() or len(campaign) > 64:
        raise ValidationError("--campaign: up to 64 letters, digits, - or _")
    role = actor.role if actor.kind is ActorKind.staff else None
    if actor.kind is ActorKind.staff and lst.purpose not in ctx.policy.role_purposes.get(
        role or "", frozenset()
    ):
        # Staff whose role may never act for the list's purpose: one refusal (exit 3 from
        # the CLI), not a refused use per member and a report that looks like a send.
        refuse(
            ctx,
            "mail.send",
            actor,
            Reason.role_not_allowed,
            f"role {role!r} may not act for purpose {lst.purpose!r}, the purpose of list"
            f" {list_id!r}",
            purpose=lst.purpose,
            details={"list": list_id},
        )
    report = ListSend(list_id=list_id, campaign=campaign)
    for sid in _members(troth, lst.purpose):
        report.members += 1
        try:
            view = troth.use(sid, purpose=lst.purpose, actor=actor)
        except (Refused, NotFound) as exc:
            report.not_sent[str(getattr(exc, "reason", None) or exc.code)] += 1
            continue
        to = next(iter(emails_in(ctx.policy, view.values)), None)
        if to is None:
            report.not_sent["no_address_for_purpose"] += 1
            continue
        try:
            submit(
                ctx,
                idempotency_key=f"list:{list_id}:{campaign}:{sid}",
                to_addr=to,
                subject=subject,
                body_text=body,
                list_id=list_id,
                subject_id=sid,
                actor=actor.label,
            )
        except Refused as exc:
            report.not_sent[str(exc.reason)] += 1
            continue
        report.queued += 1
    return report
