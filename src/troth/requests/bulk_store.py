"""troth's own part of many erasures at once, inside the caller's transaction: the same
decisions as :func:`troth.requests.execution.erase_in_store` person by person (legal holds,
legal minimums, consents ended, mail suppressed), carried out with one statement per table
and batch instead of one per person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, select, update

from troth.consent.events import ConsentMethod
from troth.context import Context
from troth.requests.execution import legal_keep
from troth.store.erasure import erase_subject_data
from troth.store.subjects import SubjectRow
from troth.store.tables import records, restrictions
from troth.store.values import StoredValue, read_subjects_tags

CHUNK = 500


def erase_many_in_store(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    found: Mapping[str, tuple[SubjectRow, list[StoredValue]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """troth's part of erasing each of ``subject_ids`` (as :func:`erase_in_store` would,
    one report per person, the same keys); people on legal hold keep everything.
    ``found``: the people and values as the caller read them in this transaction."""
    from troth.consent import ConsentLedger
    from troth.consent.tables import consent_state, unsubscribe_tokens
    from troth.notices.outbox import cancel_for_subject, subjects_with_cancellable_mail

    now = ctx.clock.now()
    ids = list(dict.fromkeys(subject_ids))
    if found is None:
        found = read_subjects_tags(conn, ids)  # what is decided on: no value is decrypted
    missing = [s for s in ids if s not in found]
    if missing:
        from troth.errors import NotFound

        raise NotFound(
            f"no subject {missing[0]!r}: look the person up by e-mail or phone first",
            subject_id=missing[0],
        )
    # What follows from each person ends (consents, unsubscribe links, queued mail): the
    # per-person calls run only for the people who have something to end.
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
    ledger = ConsentLedger(ctx)
    reports: dict[str, dict[str, Any]] = {}
    kept: dict[tuple[str, date], list[StoredValue]] = {}
    erasable: list[str] = []
    for sid in ids:
        subj, values = found[sid]
        report: dict[str, Any] = {
            "system": "troth",
            "found": len(values),
            "deleted": 0,
            "masked": 0,
            "kept": 0,
            "kept_because": [],
        }
        ended = (
            ledger.end_all(
                conn,
                sid,
                method=ConsentMethod.request,
                actor="system:troth",
                at=now,
                details={"why": "erasure"},
            )
            if sid in granted
            else []
        )
        report["consents_ended"] = ended
        report["mail_cancelled"] = cancel_for_subject(conn, ctx, sid) if sid in mailed else 0
        reports[sid] = report
        if subj.legal_hold:
            report["kept"] = len(values)
            report["kept_because"].append(
                {
                    "rows": len(values),
                    "reason": f"legal hold: {subj.legal_hold}",
                    "purpose": None,
                    "until": None,
                    "categories": sorted({v.category for v in values}),
                }
            )
            continue
        erasable.append(sid)
        mine: dict[tuple[str, date], list[StoredValue]] = {}
        for v in values:
            hold = legal_keep(ctx, v, now.date())
            if hold is not None:
                mine.setdefault(hold, []).append(v)
        for (purpose, until), vals in sorted(mine.items()):
            kept.setdefault((purpose, until), []).extend(vals)
            p = ctx.policy.purposes[purpose]
            lm = p.retention.legal_minimum if p.retention else None
            law = lm.law if lm else ""
            cats = sorted({v.category for v in vals})
            report["kept_because"].append(
                {
                    "rows": len(vals),
                    "reason": f"{law} requires keeping {', '.join(cats)}"
                    f"; restricted to {purpose!r} until {until.isoformat()}",
                    "purpose": purpose,
                    "law": law,
                    "until": until.isoformat(),
                    "categories": cats,
                    "fields": sorted({v.field for v in vals}),
                }
            )
        report["kept"] = sum(len(v) for v in mine.values())
    # One UPDATE per (purpose, until) and chunk of values, whatever the number of people.
    for (purpose, until), vals in sorted(kept.items()):
        rids = [v.id for v in vals]
        for start in range(0, len(rids), CHUNK):
            conn.execute(
                update(records)
                .where(records.c.id.in_(rids[start : start + CHUNK]))
                .values(restricted_to=purpose, restricted_until=until, updated_at=now)
            )
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
            deleted, shredded = per[sid]
            reports[sid]["deleted"] = deleted
            reports[sid]["keys_shredded"] = shredded
            reports[sid]["also_kept"] = [
                {"what": "consent records", "reason": "proof of consent (GDPR Art. 7(1))"},
                {"what": "audit log entries", "reason": "tamper-evident log; they hold no values"},
            ]
    return reports


def _erase_counted(
    conn: Connection, ctx: Context, chunk: list[str], keep: list[int]
) -> dict[str, tuple[int, int]]:
    """:func:`erase_subject_data` over ``chunk``, with each person's counts (records
    deleted, keys shredded) read before the set-based statements run."""
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
    return {sid: (deleted[sid], keys[sid]) for sid in chunk}
