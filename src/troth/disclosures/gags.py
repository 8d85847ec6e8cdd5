"""Non-disclosure orders (P20): while a legal demand's gag runs, nothing the person or their
tenant can see may tip them off.

A disclosure under a live gag, the audit entries that name it or its demand, every
attempt to disclose the person's data to the demand's recipient and every use of their
data for the disclosure's (legal-obligation) purpose, whenever made (the office's look
before it recorded the demand included), and the notices about it are left out of every
view made for the person or the tenant (the privacy centre's "who used my data", the
access export and its access log, the tenant's log of the vendor's accesses, letters);
they appear once the gag ends or is lifted
(:func:`lift_gag`). The office's own views (the audit log, legal demands) show everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, select, update

from troth.audit.entries import LoggedEntry, list_entries
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.disclosures.logged import Checked, check_demands, demand_rows, honoured_of
from troth.disclosures.tables import disclosures, legal_demands
from troth.errors import ValidationError
from troth.gate import SYSTEM, Actor
from troth.policy.masking import entry_for_the_person
from troth.policy.model import LegalBasis

# Detail keys by which an audit entry names a disclosure or a legal demand.
_DEMAND_KEYS = ("legal_demand", "demand")
_DISCLOSURE_KEYS = ("disclosure",)


@dataclass(frozen=True)
class LiveGags:
    """The demands whose non-disclosure order runs at one instant, and their disclosures."""

    demands: frozenset[str]
    disclosures: frozenset[str]
    # A person with a disclosure under a live gag -> when the earliest such demand came:
    # from then on, their entries under a legal-obligation purpose (the office reading
    # their data to answer it) and the vendor's looks at their records (the office reading
    # their audit trail or disclosures to answer it) are hidden too.
    subjects: Mapping[str, datetime] = field(default_factory=dict)
    legal_purposes: frozenset[str] = frozenset()
    # A gagged person -> the recipients of their disclosures under a live gag: every
    # attempt to disclose their data to one of them is hidden, whenever it was made (the
    # refusal that told the officer to record the demand came before the demand).
    recipients: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # A gagged person -> the (legal-obligation) purposes of those disclosures: every use
    # of their data for one of them, allowed or refused, is hidden whenever it was made
    # (the office checks what is held before it records the demand).
    purposes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The demands' rows found changed outside troth, to audit (troth.disclosures.logged).
    checked: Checked | None = field(default=None, compare=False)

    def hides(
        self,
        details: Mapping[str, Any],
        *,
        subject_id: str | None = None,
        purpose: str | None = None,
        at: datetime | None = None,
        action: str = "",
        actor: str = "",
    ) -> bool:
        """Does an entry name a gagged demand or disclosure, is it a use of a gagged
        person's data for the purpose of a gagged disclosure (whenever made), or is it,
        since the demand came, another legal-obligation use of their data or a look by the
        vendor's people at their records?"""
        if not self.demands:
            return False
        since = self.subjects.get(subject_id or "")
        if purpose is not None and purpose in self.purposes.get(subject_id or "", ()):
            return True
        looked = purpose in self.legal_purposes or _vendor_look(action, actor)
        if looked and since is not None and at is not None and at >= since:
            return True
        if action == "disclose" and since is not None:
            to = details.get("recipient")
            if purpose in self.legal_purposes or to in self.recipients.get(subject_id or "", ()):
                return True
        for key in _DEMAND_KEYS:
            value = details.get(key)
            if isinstance(value, str) and value in self.demands:
                return True
        for key in _DISCLOSURE_KEYS:
            value = details.get(key)
            if isinstance(value, str) and value in self.disclosures:
                return True
        return False

    def hides_entry(self, entry: LoggedEntry) -> bool:
        e = entry.entry
        return self.hides(
            e.details,
            subject_id=e.subject_id,
            purpose=e.purpose,
            at=entry.at,
            action=e.action,
            actor=e.actor,
        )


def _vendor_look(action: str, actor: str) -> bool:
    """A read or change of records about a person (``read_disclosures``, ``read_audit``...)
    or an office function, by the vendor's staff or admins."""
    vendor = actor.startswith(("staff:", "vendor_admin:"))
    return vendor and action.startswith(("read_", "change_", "office."))


def live_gags(conn: Connection, now: datetime, legal_purposes: frozenset[str]) -> LiveGags:
    """Demands whose gag, as the audit log recorded it, runs after ``now`` (a row changed
    outside troth never lifts it early: :mod:`troth.disclosures.logged`), every
    disclosure made under them or under a demand whose row is missing, and the people
    those disclosures concern. The tampered rows found are in ``checked`` (to audit)."""
    rows = demand_rows(conn)
    received = {r.id: r.received_at for r in rows if isinstance(r.received_at, datetime)}
    checked = check_demands(conn, rows)
    d = disclosures.c
    orphans = select(d.legal_demand_id).where(
        d.legal_demand_id.is_not(None),
        ~exists(select(legal_demands.c.id).where(legal_demands.c.id == d.legal_demand_id)),
    )
    lost = set(conn.execute(orphans.distinct()).scalars())
    if lost:  # a disclosure under a demand no row holds: gagged until repaired
        checked.merge(check_demands(conn, demand_rows(conn, lost)))
    live = {i for i, h in checked.gags.items() if h.gagged(now)}
    if not live:
        return LiveGags(frozenset(), frozenset(), checked=checked)
    made: set[str] = set()
    people: dict[str, datetime] = {}
    to: dict[str, set[str]] = {}
    why: dict[str, set[str]] = {}
    for did, sid, demand, recipient, purpose, at in conn.execute(
        select(d.id, d.subject_id, d.legal_demand_id, d.recipient, d.purpose, d.at).where(
            d.legal_demand_id.in_(sorted(live))
        )
    ):
        made.add(str(did))
        since = received.get(str(demand)) or at
        people[str(sid)] = min(since, people.get(str(sid), since))
        to.setdefault(str(sid), set()).add(str(recipient))
        if purpose in legal_purposes:
            why.setdefault(str(sid), set()).add(str(purpose))
    return LiveGags(
        frozenset(live),
        frozenset(made),
        people,
        legal_purposes,
        {sid: frozenset(names) for sid, names in to.items()},
        {sid: frozenset(names) for sid, names in why.items()},
        checked=checked,
    )


def gags_now(ctx: Context) -> LiveGags:
    legal = frozenset(
        p.id for p in ctx.policy.purposes.values() if p.legal_basis is LegalBasis.legal_obligation
    )
    with ctx.engine.connect() as conn:
        gags = live_gags(conn, ctx.clock.now(), legal)
    if gags.checked is not None:
        gags.checked.audit(ctx)
    return gags


def person_entries(
    ctx: Context,
    subject_id: str,
    *,
    limit: int = 200,
    after_seq: int | None = None,
    newest_first: bool = False,
) -> list[LoggedEntry]:
    """The audit entries about a person that the person may see: every entry naming them
    except those about a disclosure under a live gag, without the categories withheld from
    their access (:func:`~troth.policy.masking.entry_for_the_person`). Up to ``limit``,
    paged like :func:`troth.audit.entries.list_entries`."""
    gags = gags_now(ctx)
    out: list[LoggedEntry] = []
    after = after_seq
    page_size = min(max(limit, 100), 10_000)
    while len(out) < limit:
        page = list_entries(
            ctx,
            subject_id=subject_id,
            limit=page_size,
            after_seq=after,
            newest_first=newest_first,
        )
        shown = (entry_for_the_person(ctx.policy, e) for e in page if not gags.hides_entry(e))
        out.extend(e for e in shown if e is not None)
        if len(page) < page_size:
            break
        after = page[-1].seq
    return out[:limit]


def lift_gag(ctx: Context, demand_id: str, *, actor: Actor = SYSTEM) -> int:
    """End a demand's non-disclosure order now (the court lifted it early): its
    disclosures become visible to the person, who is told at once. Returns how many
    notices were queued. ValidationError when no gag runs. Needs the power
    ``legal_demands`` (troth.office)."""
    from troth.disclosures.demands import DemandStatus, demand_row, notify_untold
    from troth.office import authorize
    from troth.policy.model import Power

    authorize(ctx, actor, Power.legal_demands, details={"demand": demand_id[:64]})

    now = ctx.clock.now()
    with transaction(ctx) as conn:
        demand = demand_row(conn, demand_id, tolerant=True)
        # The gag the log recorded: one moved outside troth is lifted from where it was.
        honoured, checked = honoured_of(conn, demand_id)
        gag = honoured.gag_until
        if gag is None or gag <= now:
            raise ValidationError(
                f"legal demand {demand_id} has no running non-disclosure order to lift"
                + (f" (it ended {gag.isoformat()})" if gag else ""),
                field="demand",
            )
        checked.audit(ctx, conn)
        conn.execute(
            update(legal_demands).where(legal_demands.c.id == demand_id).values(gag_until=now)
        )
        details = {"demand": demand_id, "gag_until_was": gag.isoformat()}
        details["gag_until"] = now.isoformat()
        entry = AuditEntry("legal_demand.lift_gag", actor.label, Outcome.info, details=details)
        append_entries(conn, now, [entry])
        sent = 0
        if demand.status == DemandStatus.disclosed:
            sent = notify_untold(conn, ctx, demand)
    return sent


__all__ = ["LiveGags", "gags_now", "lift_gag", "live_gags", "person_entries"]
