"""troth's own part of many erasures at once, inside the caller's transaction: the same
decisions as :func:`troth.requests.execution.erase_in_store` person by person (legal holds,
legal minimums, consents ended, mail suppressed), carried out with one statement per table
and batch instead of one per person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from troth.consent.events import ConsentMethod
from troth.context import Context
from troth.notices.purge import scrub_for_subjects
from troth.requests.deferral import holds_on
from troth.requests.execution import (
    also_kept,
    erasure_report,
    held,
    kept_because,
    kept_groups,
    legal_keeps,
)
from troth.store.erasure import erase_subject_data
from troth.store.seals import reseal
from troth.store.subjects import SubjectRow
from troth.store.tables import records, restrictions
from troth.store.values import StoredValue, read_subjects_tags

if TYPE_CHECKING:
    from troth.consent import ConsentLedger

CHUNK = 500


def erase_many_in_store(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    found: Mapping[str, tuple[SubjectRow, list[StoredValue]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """troth's part of erasing each of ``subject_ids`` (as :func:`erase_in_store` would,
    one report per person, the same keys); people on legal hold keep everything.
    ``found``: the people and values as the caller read them in this transaction. A hold
    on the person or on their tenant keeps everything."""
    now = ctx.clock.now()
    ids = list(dict.fromkeys(subject_ids))
    if found is None:
        found = read_subjects_tags(conn, ctx, ids)  # what is decided on: nothing decrypted
    missing = [s for s in ids if s not in found]
    if missing:
        from troth.errors import NotFound

        raise NotFound(
            f"no subject {missing[0]!r}: look the person up by e-mail or phone first",
            subject_id=missing[0],
        )
    from troth.consent import ConsentLedger

    ending = _what_follows(conn, ctx, ids, now)
    ledger = ConsentLedger(ctx)
    reports = {sid: ending.report(ledger, sid, found[sid][1]) for sid in ids}
    kept: dict[tuple[str, date], list[StoredValue]] = {}
    erasable: list[str] = []
    holds = holds_on(conn, ids)
    for sid in ids:
        values = found[sid][1]
        if sid in holds:
            held(reports[sid], values)
            continue
        erasable.append(sid)
        mine = kept_groups(legal_keeps(ctx, values, now.date()), values)
        for (purpose, until), vals in sorted(mine.items()):
            kept.setdefault((purpose, until), []).extend(vals)
            reports[sid]["kept_because"].append(kept_because(ctx, purpose, until, vals))
        reports[sid]["kept"] = sum(len(v) for v in mine.values())
    _restrict_kept(conn, ctx, kept, now)
    keep_ids = {v.id for vals in kept.values() for v in vals}
    for start in range(0, len(erasable), CHUNK):
        chunk = erasable[start : start + CHUNK]
        keep = [v.id for s in chunk for v in found[s][1] if v.id in keep_ids]
        per = _erase_counted(conn, ctx, chunk, keep)
        conn.execute(
            restrictions.delete().where(
                restrictions.c.subject_id.in_(chunk), restrictions.c.request_id.is_not(None)
            )
        )
        for sid in chunk:
            deleted, shredded, scrubbed = per[sid]
            reports[sid]["deleted"] = deleted
            reports[sid]["mail_scrubbed"] = scrubbed
            reports[sid]["keys_shredded"] = shredded
            reports[sid]["also_kept"] = also_kept()
    return reports


@dataclass(frozen=True)
class _Ending:
    """What follows from the batch's people and ends with their erasure: who has a consent
    granted, who has mail that can be cancelled (the per-person calls run only for them)."""

    conn: Connection
    ctx: Context
    now: datetime
    granted: set[str]
    mailed: set[str]

    def report(self, ledger: ConsentLedger, sid: str, values: list[StoredValue]) -> dict[str, Any]:
        """One person's report, their consents ended and their mail cancelled."""
        from troth.notices.outbox import cancel_for_subject

        report = erasure_report(values)
        report["consents_ended"] = (
            ledger.end_all(
                self.conn,
                sid,
                method=ConsentMethod.request,
                actor="system:troth",
                at=self.now,
                details={"why": "erasure"},
            )
            if sid in self.granted
            else []
        )
        report["mail_cancelled"] = (
            cancel_for_subject(self.conn, self.ctx, sid) if sid in self.mailed else 0
        )
        return report


def _what_follows(conn: Connection, ctx: Context, ids: list[str], now: datetime) -> _Ending:
    """Every unsubscribe link of the people spent; who has consents and mail to end."""
    from troth.consent.tables import consent_state, unsubscribe_tokens
    from troth.notices.outbox import subjects_with_cancellable_mail

    granted: set[str] = set()
    mailed: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        granted |= set(
            conn.execute(
                select(consent_state.c.subject_id)
                .where(consent_state.c.subject_id.in_(chunk), consent_state.c.granted.is_(True))
                .distinct()
            ).scalars()
        )
        mailed |= subjects_with_cancellable_mail(conn, chunk)
        conn.execute(
            update(unsubscribe_tokens)
            .where(
                unsubscribe_tokens.c.subject_id.in_(chunk), unsubscribe_tokens.c.used_at.is_(None)
            )
            .values(used_at=now)
        )
    return _Ending(conn, ctx, now, granted, mailed)


def _restrict_kept(
    conn: Connection,
    ctx: Context,
    kept: Mapping[tuple[str, date], list[StoredValue]],
    now: datetime,
) -> None:
    """One UPDATE per (purpose, until) and chunk of values, whatever the number of people;
    the rows, checked when read in this transaction, sealed again as restricted."""
    for (purpose, until), vals in sorted(kept.items()):
        rids = [v.id for v in vals]
        for start in range(0, len(rids), CHUNK):
            conn.execute(
                update(records)
                .where(records.c.id.in_(rids[start : start + CHUNK]))
                .values(restricted_to=purpose, restricted_until=until, updated_at=now)
            )
        reseal(conn, ctx.keys, rids)


def _erase_counted(
    conn: Connection, ctx: Context, chunk: list[str], keep: list[int]
) -> dict[str, tuple[int, int, int]]:
    """:func:`erase_subject_data` over ``chunk``, with each person's counts (records
    deleted, keys shredded, read before the set-based statements run; settled mail
    scrubbed)."""
    from sqlalchemy import func

    from troth.store.tables import subject_keys

    deleted: dict[str, int] = dict.fromkeys(chunk, 0)
    q = (
        select(records.c.subject_id, func.count())
        .where(records.c.subject_id.in_(chunk))
        .group_by(records.c.subject_id)
    )
    if keep:
        q = q.where(records.c.id.not_in(keep))
    for sid, n in conn.execute(q):
        deleted[sid] = int(n)
    # A person keeps their keys when an encrypted value of theirs is kept.
    kept_encrypted = set(
        conn.execute(
            select(records.c.subject_id)
            .where(records.c.id.in_(keep), records.c.ciphertext.is_not(None))
            .distinct()
        ).scalars()
        if keep
        else []
    )
    keys: dict[str, int] = dict.fromkeys(chunk, 0)
    for sid, n in conn.execute(
        select(subject_keys.c.subject_id, func.count())
        .where(subject_keys.c.subject_id.in_(chunk))
        .group_by(subject_keys.c.subject_id)
    ):
        keys[sid] = 0 if sid in kept_encrypted else int(n)
    erase_subject_data(conn, ctx, chunk, keep=keep)
    scrubbed = scrub_for_subjects(conn, ctx, chunk)
    return {sid: (deleted[sid], keys[sid], scrubbed[sid]) for sid in chunk}
