"""Publishing a new version of the policy (P34, P35, P36, P07, P08).

``publish_policy`` diffs the new file against the version in force, records the version
with its effective date, and for material changes: posts a notice that holds back each new
use of data already collected for the policy's notice period (P08); asks for consent again
where a consent purpose's notice changed (P07); queues a notice e-mail to each customer's
primary address and to each person whose data a new use touches, when the policy says so
(P35); and keeps every stored value tagged with the version it was collected under (P36).
Running it again after an interruption finishes the job and sends nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.errors import Conflict, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.changes import PolicyDiff
from troth.policy.diff import diff_policies
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import LegalBasis, Policy, Power, check_effective
from troth.policy.versions import NewVersion, policy_history, published_digest, record_version
from troth.store.tables import policy_notices, records, tenants


@dataclass
class PublishResult:
    version: str
    effective: date
    material: bool
    changes: list[dict[str, Any]]
    new_uses: list[tuple[str, str, str]] = field(default_factory=list)
    reconsent: list[str] = field(default_factory=list)
    emails_queued: int = 0
    already_published: bool = False
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """Each new use of data already held and what it waits for: the end of the notice
    period (``notice_until``) and, where ``fresh_consent``, the person's consent."""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "effective": self.effective.isoformat(),
            "material": self.material,
            "changes": self.changes,
            "new_uses": [list(u) for u in self.new_uses],
            "reconsent": self.reconsent,
            "emails_queued": self.emails_queued,
            "already_published": self.already_published,
            "waiting": self.waiting,
            "warnings": self.warnings,
        }


def new_uses(old: PolicyIndex, new: PolicyIndex) -> list[tuple[str, str, str]]:
    """(point, purpose, category) triples the new policy lets data already collected serve
    and the old one did not: a point's new purpose, or a purpose newly allowed a category."""

    def uses(idx: PolicyIndex) -> set[tuple[str, str, str]]:
        out: set[tuple[str, str, str]] = set()
        for point, fields in idx.point_fields.items():
            cats = {f.category for f in fields.values()}
            for purpose in idx.point_purposes[point]:
                out.update((point, purpose, c) for c in cats if idx.purpose_allows(purpose, c))
        return out

    return sorted(uses(new) - uses(old))


def notice_text(policy: Policy, purpose: str) -> str:
    p = next(p for p in policy.purposes if p.id == purpose)
    return p.notice or p.description


def reconsent_purposes(old: Policy, new: Policy) -> list[str]:
    """Consent purposes whose notice now says something else, or that now reach more
    categories: consent given to the old notice does not cover them (P07)."""
    before = {p.id: p for p in old.purposes}
    out = []
    for p in new.purposes:
        if p.legal_basis is not LegalBasis.consent or p.id not in before:
            continue
        b = before[p.id]
        if notice_text(old, p.id) != notice_text(new, p.id) or set(p.categories) - set(
            b.categories
        ):
            out.append(p.id)
    return out


def earliest_effective(policy: Policy, now: datetime) -> date:
    """The first day, in the organisation's time zone, that a material change published at
    ``now`` may take effect: the first local midnight at or after the notice period's end
    (with no notice period, the day of publishing)."""
    zone = policy.organisation.zone()
    days = policy.notices.notice_period_days
    if days == 0:
        return now.astimezone(zone).date()
    end = (now + timedelta(days=days)).astimezone(zone)
    return end.date() if end.time() == time.min else end.date() + timedelta(days=1)


def publish_policy(
    ctx: Context,
    path: Path | str,
    *,
    effective: date | None = None,
    actor: Actor = SYSTEM,
    expect_digest: str | None = None,
) -> PublishResult:
    """Publish the policy file at ``path`` as the version in force (see module doc), for
    an actor with the power ``publish_policy`` (troth.office). A file that does not
    validate raises PolicyError: nothing recorded, nothing sent. With ``expect_digest``
    (a :class:`PublishPreview`'s ``digest``), the text and effective date must be the
    ones previewed, or Conflict ``preview_stale`` is raised before anything is done."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "publish"})
    text = Path(path).read_text()
    if expect_digest is not None and not hmac.compare_digest(
        expect_digest, preview_digest(text, effective)
    ):
        raise Conflict(
            "the policy or its effective date changed since the preview: show the changes"
            " again and confirm what you see",
            code="preview_stale",
        )
    new_policy = parse_policy(text, str(path))
    new_index = PolicyIndex.build(new_policy, text)
    old_index = ctx.policy
    old_policy = old_index.policy
    when = effective or new_policy.effective
    try:
        check_effective(when)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    with ctx.engine.connect() as conn:
        existing = published_digest(conn, new_policy.version)
    if existing is not None:
        if existing != new_index.digest:
            raise Conflict(
                f"policy version {new_policy.version!r} is already published with other content;"
                " give the changed policy a new `version`"
            )
        # Interrupted after recording: make sure the file is in place, nothing else.
        _install(ctx, text, new_index)
        return PublishResult(new_policy.version, when, False, [], already_published=True)
    if when < old_policy.effective:
        raise ValidationError(
            f"effective date {when} is before the version in force ({old_policy.effective});"
            " a new version cannot take effect in the past of the current one"
        )
    diff = diff_policies(old_policy, new_policy)
    now = ctx.clock.now()
    if diff.has_material:
        earliest = earliest_effective(new_policy, now)
        if when < earliest:
            zone = new_policy.organisation.zone()
            raise ValidationError(
                f"a material change cannot take effect on {when}: its notice period "
                f"({new_policy.notices.notice_period_days} days from publishing) runs until "
                f"{earliest} at the earliest ({zone.key}); set `effective` in the file, or "
                f"--effective, to {earliest} or later",
                code="effective_too_early",
                earliest=earliest.isoformat(),
            )
    uses = new_uses(old_index, new_index)
    again = reconsent_purposes(old_policy, new_policy)
    needs_consent = new_policy.notices.new_purpose_needs_consent
    with transaction(ctx) as conn:
        record_version(
            conn,
            NewVersion(
                version=new_policy.version,
                effective=when,
                published_at=now,
                digest=new_index.digest,
                text=text,
                changes=diff.to_dict()["changes"],
                material=diff.has_material,
            ),
        )
        rows: list[dict[str, Any]] = [
            {
                "version": new_policy.version,
                "kind": "new_use",
                "point": point,
                "purpose": purpose,
                "category": category,
                "needs_consent": needs_consent,
                "notice_hash": None,
                "posted_at": now,
            }
            for point, purpose, category in uses
        ]
        rows += [
            {
                "version": new_policy.version,
                "kind": "reconsent",
                "point": None,
                "purpose": purpose,
                "category": None,
                "needs_consent": True,
                "notice_hash": hashlib.sha256(
                    notice_text(new_policy, purpose).encode()
                ).hexdigest(),
                "posted_at": now,
            }
            for purpose in again
        ]
        if rows:
            conn.execute(policy_notices.insert(), rows)
        queued = 0
        if diff.has_material and new_policy.notices.email_customers:
            queued = _queue_emails(conn, ctx, new_policy, when, diff, uses, actor.label)
        append_entries(
            conn,
            now,
            [
                AuditEntry(
                    action="policy.publish",
                    actor=actor.label,
                    details={
                        "version": new_policy.version,
                        "previous": old_policy.version,
                        "effective": when.isoformat(),
                        "material": diff.has_material,
                        "changes": len(diff.changes),
                        "new_uses": len(uses),
                        "reconsent": again,
                        "emails_queued": queued,
                    },
                )
            ],
        )
    _install(ctx, text, new_index)
    waiting, warnings = _waiting(new_policy, uses, now)
    return PublishResult(
        new_policy.version,
        when,
        diff.has_material,
        diff.to_dict()["changes"],
        uses,
        again,
        queued,
        waiting=waiting,
        warnings=warnings,
    )


def _waiting(
    policy: Policy, uses: list[tuple[str, str, str]], now: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """What each new use waits for, and the warnings an officer must read."""
    notices = policy.notices
    until = now + timedelta(days=notices.notice_period_days)
    local = until.astimezone(policy.organisation.zone())
    fresh = notices.new_purpose_needs_consent
    waiting = [
        {
            "point": point,
            "purpose": purpose,
            "category": category,
            "notice_until": local.isoformat(),
            "fresh_consent": fresh,
        }
        for point, purpose, category in uses
    ]
    warnings = []
    if fresh and uses:
        purposes = sorted({p for _, p, _ in uses})
        warnings.append(
            "data already held may serve "
            + ", ".join(purposes)
            + " only once each person has given fresh consent (privacy centre, API"
            " POST /api/v1/subjects/ID/consents/PURPOSE/grant, troth consent grant)"
            + (f", and not before {local:%Y-%m-%d %H:%M %Z}" if notices.notice_period_days else "")
        )
    return waiting, warnings


def install_policy(ctx: Context, text: str, index: PolicyIndex) -> None:
    """Make ``index`` (compiled from ``text``) the policy in force in ``ctx``: the policy
    file replaced atomically, the index swapped (a version another process published:
    :mod:`troth.policy.follow`)."""
    _install(ctx, text, index)


def _install(ctx: Context, text: str, index: PolicyIndex) -> None:
    """Make the new policy the one in force: replace the file atomically, swap the index."""
    target = ctx.settings.resolved_policy_file
    if not target.exists() or target.read_text() != text:
        # A file of this process's own: several processes may install the same version.
        tmp = target.with_name(f"{target.name}.publishing.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)
    ctx.policy = index


def _queue_emails(
    conn: Connection,
    ctx: Context,
    policy: Policy,
    effective: date,
    diff: PolicyDiff,
    uses: list[tuple[str, str, str]],
    actor: str,
) -> int:
    """One notice per customer's primary address and per person a new use touches; the
    idempotency key (version + address) means a rerun queues nothing twice."""
    from troth.notices.outbox import MailKind, enqueue

    addresses = _notice_addresses(conn, uses)
    subject, body = notice_mail(policy, effective, diff)
    count = 0
    for email, sid in sorted(addresses.items()):
        key = hashlib.sha256(f"policy:{policy.version}:{email.lower()}".encode()).hexdigest()
        enqueue(
            conn,
            ctx,
            idempotency_key=f"policy-notice:{key}",
            to_addr=email,
            subject=subject,
            body_text=body,
            subject_id=sid,
            kind=MailKind.notice,
            actor=actor,
        )
        count += 1
    return count


def _notice_addresses(conn: Connection, uses: list[tuple[str, str, str]]) -> dict[str, str | None]:
    """Who a material change's notice goes to: each active customer's primary address
    (None: a tenant) and each person whose data a new use touches (their subject id)."""
    addresses: dict[str, str | None] = {}
    for (email,) in conn.execute(
        select(tenants.c.primary_email).where(
            tenants.c.primary_email.is_not(None), tenants.c.status == "active"
        )
    ):
        addresses.setdefault(email, None)
    touched = sorted({c for _, _, c in uses})
    if touched:
        # People whose data a new use touches, reached at the e-mail they gave.
        affected = (
            select(records.c.subject_id)
            .where(records.c.category.in_(touched))
            .distinct()
            .scalar_subquery()
        )
        q = select(records.c.subject_id, records.c.value).where(
            records.c.field == "email",
            records.c.value.is_not(None),
            records.c.subject_id.in_(affected),
        )
        import json

        for sid, value in conn.execute(q):
            addresses.setdefault(json.loads(value), sid)
    return addresses


def notice_mail(policy: Policy, effective: date, diff: PolicyDiff) -> tuple[str, str]:
    """The notice e-mail of a material change: its subject and text."""
    org = policy.organisation
    lines = [c.sentence for c in diff.material]
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


def preview_digest(text: str, effective: date | None) -> str:
    """What a publish confirmation is bound to: the exact text and effective date shown."""
    when = effective.isoformat() if effective else "-"
    return hashlib.sha256(f"troth-publish-preview\n{when}\n{text}".encode()).hexdigest()


@dataclass
class PublishPreview:
    """What publishing a text would do, before anything is done: the changes, the
    effective date, and how many notice e-mails would go to how many people and
    customers, with the notice itself. ``digest`` binds a confirmation to this text."""

    version: str
    effective: date
    earliest: date | None
    diff: PolicyDiff
    people: int
    tenants: int
    mail: bool
    subject: str
    body: str
    digest: str
    problem: str | None = None

    @property
    def emails(self) -> int:
        return self.people + self.tenants if self.mail else 0


def preview_publish(
    ctx: Context,
    text: str,
    name: str = "policy.yaml",
    *,
    effective: date | None = None,
    actor: Actor = SYSTEM,
) -> PublishPreview:
    """What :func:`publish_policy` would do with ``text`` (power ``publish_policy``);
    raises PolicyError when it does not validate. ``problem`` says why publishing it as
    it stands would be refused (an effective date too early, a version already used)."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "preview"})
    new_policy = parse_policy(text, name)
    new_index = PolicyIndex.build(new_policy, text)
    old_policy = ctx.policy.policy
    when = effective or new_policy.effective
    diff = diff_policies(old_policy, new_policy)
    uses = new_uses(ctx.policy, new_index)
    problem: str | None = None
    earliest = earliest_effective(new_policy, ctx.clock.now()) if diff.has_material else None
    try:
        check_effective(when)
    except ValueError as exc:
        problem = str(exc)
    if when < old_policy.effective:
        problem = f"effective date {when} is before the version in force ({old_policy.effective})"
    elif earliest is not None and when < earliest:
        problem = (
            f"a material change cannot take effect on {when}: its notice period runs until"
            f" {earliest} at the earliest; set the effective date to {earliest} or later"
        )
    with ctx.engine.connect() as conn:
        if published_digest(conn, new_policy.version) is not None:
            problem = f"version {new_policy.version!r} is already published; give it a new version"
        addresses = _notice_addresses(conn, uses)
    subject, body = notice_mail(new_policy, when, diff)
    return PublishPreview(
        version=new_policy.version,
        effective=when,
        earliest=earliest,
        diff=diff,
        people=sum(1 for sid in addresses.values() if sid is not None),
        tenants=sum(1 for sid in addresses.values() if sid is None),
        mail=diff.has_material and new_policy.notices.email_customers,
        subject=subject,
        body=body,
        digest=preview_digest(text, effective),
        problem=problem,
    )


def diff_candidate(ctx: Context, new: Policy, *, actor: Actor = SYSTEM) -> PolicyDiff:
    """What publishing ``new`` would change against the policy in force (power
    ``publish_policy``)."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "diff"})
    return diff_policies(ctx.policy.policy, new)


def notice_feed(ctx: Context) -> list[dict[str, Any]]:
    """The website's change notices: each version with material changes (P35)."""
    return [
        {
            "version": v["version"],
            "effective": v["effective"],
            "posted": v["published_at"],
            "changes": [c for c in v["changes"] if c.get("severity") == "material"],
        }
        for v in policy_history(ctx)
        if v["material"]
    ]
