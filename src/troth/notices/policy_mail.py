"""The notice e-mail of a material policy change (P35): who it goes to and what it says.

It goes to each active customer's primary address and to each person whose data the change
concerns (troth.notices.changes.concerned), at the e-mail they gave; where the customers
decide about their people (``tenant_controller: customer``), only to the organisation's own
people: a customer's are the customer's to tell, and its notice says so. The idempotency key
(version + address) means a rerun of the publication queues nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_, select

from troth.context import Context
from troth.policy.changes import Change, ChangeKind, PolicyDiff, Severity
from troth.policy.model import Policy
from troth.store.seals import bad_seals
from troth.store.tables import records, tenants
from troth.stored import tolerating

if TYPE_CHECKING:
    from troth.keys import Keyring


def queue_notice_emails(
    conn: Connection,
    ctx: Context,
    policy: Policy,
    effective: date,
    diff: PolicyDiff,
    touched: set[tuple[str, str]] | None,
    actor: str,
) -> int:
    """One notice per customer's primary address and per person the change concerns
    (:func:`notice_addresses`); the idempotency key (version + address) means a rerun
    queues nothing twice."""
    from troth.notices.outbox import MailKind, enqueue
    from troth.policy.parties import customers_control

    tampered: list[str] = []
    theirs = customers_control(policy)  # a customer's people are the customer's to tell
    addresses = notice_addresses(conn, ctx.keys, touched, tampered, customers_people=not theirs)
    if tampered:  # a customer's row changed outside troth: no notice to its address
        from troth.audit.log import append_entries
        from troth.audit.refusals import denial
        from troth.gate import Reason

        refusals = [
            denial("policy.notice", actor, Reason.record_tampered, tenant_id=t) for t in tampered
        ]
        append_entries(conn, ctx.clock.now(), refusals)
    subject, body = notice_mail(policy, effective, diff)
    count = 0
    for email, sid in sorted(addresses.items()):
        tell = sid is None and theirs  # a customer, whose people were not mailed
        text = body + (_TELL_YOURS.format(policy.organisation.name) if tell else "")
        key = hashlib.sha256(f"policy:{policy.version}:{email.lower()}".encode()).hexdigest()
        enqueue(
            conn,
            ctx,
            idempotency_key=f"policy-notice:{key}",
            to_addr=email,
            subject=subject,
            body_text=text,
            subject_id=sid,
            kind=MailKind.notice,
            actor=actor,
        )
        count += 1
    return count


def notice_addresses(
    conn: Connection,
    keys: Keyring,
    touched: set[tuple[str, str]] | None,
    tampered: list[str] | None = None,
    *,
    customers_people: bool = True,
) -> dict[str, str | None]:
    """Who a material change's notice goes to: each active customer's primary address
    (None: a tenant) and each person whose data the change concerns (their subject id):
    who gave data of a ``touched`` (collection point, category) pair, or everyone with an
    address when ``touched`` is None (:func:`troth.notices.changes.concerned`), at an
    address that matches its seal: one a database writer put there gets nothing (a
    customer's row that does not match its seal: its id added to ``tampered``). Without
    ``customers_people``, the organisation's own people only (a customer's people are
    the customer's to tell: ``tenant_controller: customer``)."""
    from troth.access.seals import row_matches

    addresses: dict[str, str | None] = {}
    with tolerating():  # a value troth never writes matches no seal (troth.stored)
        rows = conn.execute(
            select(tenants).where(
                tenants.c.primary_email.is_not(None), tenants.c.status == "active"
            )
        ).all()
    for row in rows:
        if row_matches(keys, tenants, row):
            addresses.setdefault(row.primary_email, None)
        elif tampered is not None:  # a customer's row changed outside troth (its id)
            tampered.append(row.id)
    if touched is None or touched:
        # People whose data the change concerns (a category collected at the point it is
        # about, not the same category collected elsewhere), at the e-mail they gave.
        r = records.c
        q = select(records.c.id, records.c.subject_id, records.c.value).where(
            records.c.field == "email", records.c.value.is_not(None)
        )
        if not customers_people:
            q = q.where(records.c.tenant_id.is_(None))
        if touched is not None:
            pairs = sorted(touched)
            affected = (
                select(r.subject_id)
                .where(or_(*(and_(r.collection_point == p, r.category == c) for p, c in pairs)))
                .distinct()
                .scalar_subquery()
            )
            q = q.where(records.c.subject_id.in_(affected))
        found = conn.execute(q).all()
        bad = set(bad_seals(conn, keys, [rid for rid, _, _ in found]))
        for rid, sid, value in found:
            if rid not in bad:
                addresses.setdefault(json.loads(value), sid)
    return addresses


# Added to a customer's notice where it decides about its people (they were not mailed).
_TELL_YOURS = (
    "\n{} holds your people's data for you and has not written to them about this change:"
    " you decide whether and how to tell them.\n"
)


def notice_mail(policy: Policy, effective: date, diff: PolicyDiff) -> tuple[str, str]:
    """The notice e-mail of a material change: its subject and text."""
    org = policy.organisation
    lines = changes_in_words(policy, diff.material)
    body = (
        f"{org.name} has changed its privacy policy (version {policy.version}, effective"
        f" {effective.isoformat()}).\n\nWhat changed:\n"
        + "\n".join(f"- {line}" for line in lines)
        + f"\n\nNew uses of data we already hold start after {policy.notices.notice_period_days}"
        " days' notice."
        + (
            " We will ask for your consent first."
            if policy.notices.new_purpose_needs_consent
            else ""
        )
        + (f"\n\nThe policy: {org.policy_url}" if org.policy_url else "")
        + "\n"
    )
    return f"Changes to the {org.name} privacy policy", body


_ID = re.compile(r"'([A-Za-z0-9_.\-]+)'")


def changes_in_words(policy: Policy, changes: Iterable[Change | Mapping[str, Any]]) -> list[str]:
    """Each change as the person reads it (a :class:`Change`, or one as the version
    history stores it): an id in quotes becomes what ``policy`` says it stands for."""
    words = _names_in_words(policy)
    out = []
    for c in changes:
        change = c if isinstance(c, Change) else _change(c)
        out.append(_ID.sub(lambda m: words.get(m.group(1), m.group(0)), change.sentence))
    return out


def _change(d: Mapping[str, Any]) -> Change:
    return Change(
        ChangeKind(d["kind"]),
        d["section"],
        d["id"],
        d["detail"],
        Severity(d["severity"]),
        d.get("item") or "",
        d.get("before"),
        d.get("after"),
    )


def _names_in_words(policy: Policy) -> dict[str, str]:
    """Each purpose, collection point, category and recipient id of ``policy`` -> its
    description (a recipient: its name), in quotes: nothing a person reads is an id."""
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(policy)
    named: dict[str, str | None] = {c: info.description for c, info in index.categories.items()}
    named |= {cp.id: cp.description for cp in policy.collection_points}
    named |= {p.id: p.description for p in policy.purposes}
    named |= {r.id: r.name for r in policy.recipients}
    return {k: f"\u201c{v}\u201d" for k, v in named.items() if v and v != k}
