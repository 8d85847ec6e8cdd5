"""The current consent state, derived from the ledger: the rule, written once as SQL.

The state of a (subject, purpose) is the event that comes last in replay order, which is
``(at, id)``: the latest time wins and equal times are broken by the event id. The
materialised ``consent_state`` row is moved forward by an upsert that only ever replaces
an older event, so out-of-order imports and concurrent writers converge on the replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)

from troth.consent.events import COOKIE_PREFIX, ConsentKind, ConsentStatus, Mismatch
from troth.consent.tables import consent_events, consent_state
from troth.dialects import find_dialect, reported_name
from troth.errors import ConfigError
from troth.stored import member

_STATE_COLUMNS = (
    "subject_id",
    "purpose",
    "granted",
    "notice_hash",
    "policy_version",
    "at",
    "event_id",
    "kind",
)


def _insert_for(conn: Connection) -> Any:
    dialect = find_dialect(conn)
    if dialect is None or not dialect.own_database:
        raise ConfigError(
            f"troth's own database must be SQLite or PostgreSQL, not {reported_name(conn)};"
            " set TROTH_DATABASE_URL"
        )
    return dialect.insert


def _upsert(conn: Connection, source: Select[Any] | None = None) -> Any:
    """INSERT .. ON CONFLICT (subject_id, purpose) DO UPDATE .. WHERE the new row is later."""
    s = consent_state.c
    ins = _insert_for(conn)(consent_state)
    if source is not None:
        ins = ins.from_select(list(_STATE_COLUMNS), source)
    new = ins.excluded
    later = or_(new.at > s.at, and_(new.at == s.at, new.event_id > s.event_id))
    return ins.on_conflict_do_update(
        index_elements=[s.subject_id, s.purpose],
        set_={c: new[c] for c in _STATE_COLUMNS[2:]},
        where=later,
    )


def apply_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Move the materialised state forward for freshly inserted events (each with ``id``)."""
    if not rows:
        return
    params = [
        {
            "subject_id": r["subject_id"],
            "purpose": r["purpose"],
            "granted": r["granted"],
            "notice_hash": r.get("notice_hash"),
            "policy_version": r["policy_version"],
            "at": r["at"],
            "event_id": r["id"],
            "kind": r["kind"],
        }
        for r in rows
    ]
    conn.execute(_upsert(conn), params)


def latest_events(where: ColumnElement[bool] | None = None) -> Select[Any]:
    """The replay, set-based: the last event in ``(at, id)`` order per (subject, purpose)."""
    e = consent_events.c
    rank = (
        func.row_number()
        .over(partition_by=(e.subject_id, e.purpose), order_by=(e.at.desc(), e.id.desc()))
        .label("rn")
    )
    inner = select(
        e.subject_id,
        e.purpose,
        e.granted,
        e.notice_hash,
        e.policy_version,
        e.at,
        e.id.label("event_id"),
        e.kind,
        rank,
    )
    if where is not None:
        inner = inner.where(where)
    sub = inner.subquery("latest")
    return select(*(sub.c[c] for c in _STATE_COLUMNS)).where(sub.c.rn == 1)


def apply_since(conn: Connection, after_id: int) -> None:
    """Fold every event with id > ``after_id`` into the state in one statement (imports)."""
    conn.execute(_upsert(conn, latest_events(consent_events.c.id > after_id)))


def rebuild(conn: Connection) -> int:
    """Replace the whole materialised state by the ledger's replay; returns the row count."""
    conn.execute(delete(consent_state))
    conn.execute(consent_state.insert().from_select(list(_STATE_COLUMNS), latest_events()))
    return int(conn.execute(select(func.count()).select_from(consent_state)).scalar_one())


def mismatches(conn: Connection, limit: int = 1000) -> list[Mismatch]:
    """Rows where the materialised state and the replay disagree (at most ``limit``)."""
    r = latest_events().subquery("replay")
    s = consent_state.c
    differs = or_(
        s.subject_id.is_(None),
        s.event_id != r.c.event_id,
        s.granted != r.c.granted,
        func.coalesce(s.notice_hash, literal("")) != func.coalesce(r.c.notice_hash, literal("")),
        s.policy_version != r.c.policy_version,
        s.at != r.c.at,
        s.kind != r.c.kind,
    )
    join = r.outerjoin(
        consent_state, and_(s.subject_id == r.c.subject_id, s.purpose == r.c.purpose)
    )
    out: list[Mismatch] = []
    cols = [r.c[c] for c in _STATE_COLUMNS] + [consent_state.c[c] for c in _STATE_COLUMNS]
    stmt = select(*cols).select_from(join).where(differs).limit(limit)
    n = len(_STATE_COLUMNS)
    for row in conn.execute(stmt):
        expected = _status(dict(zip(_STATE_COLUMNS, row[:n], strict=True)))
        actual_map = dict(zip(_STATE_COLUMNS, row[n:], strict=True))
        actual = _status(actual_map) if actual_map["subject_id"] is not None else None
        out.append(Mismatch(row[0], row[1], expected, actual))
    if len(out) < limit:
        e = consent_events.c
        orphan = (
            select(consent_state)
            .where(
                ~select(e.id)
                .where(and_(e.subject_id == s.subject_id, e.purpose == s.purpose))
                .exists()
            )
            .limit(limit - len(out))
        )
        for m in conn.execute(orphan).mappings():
            out.append(Mismatch(m["subject_id"], m["purpose"], None, _status(m)))
    return out


def read_state(conn: Connection, subject_id: str) -> dict[str, ConsentStatus]:
    """Every purpose (and ``cookie:<category>``) with a state for this subject."""
    rows = conn.execute(select(consent_state).where(consent_state.c.subject_id == subject_id))
    return {m["purpose"]: _status(m) for m in rows.mappings()}


def backed(s: Any = consent_state) -> ColumnElement[bool]:
    """The state row ``s`` agrees with the ledger: the event it names is there, of the
    same person and purpose, at the same time, saying what the row says, and no later
    event of the ledger (in replay order) replaced it. A row changed outside troth (one
    ``UPDATE consent_state`` re-subscribing someone who unsubscribed, a row pointed at an
    older grant) does not: troth then counts no consent (fail closed). Two index probes
    per row (the event's key, and the replay index)."""
    e = consent_events.alias("backing")
    later = consent_events.alias("later")
    return and_(
        exists(
            select(literal(1)).where(
                e.c.id == s.c.event_id,
                e.c.subject_id == s.c.subject_id,
                e.c.purpose == s.c.purpose,
                e.c.granted == s.c.granted,
                e.c.kind == s.c.kind,
                e.c.at == s.c.at,
                e.c.notice_hash.is_not_distinct_from(s.c.notice_hash),
            )
        ),
        ~exists(
            select(literal(1)).where(
                later.c.subject_id == s.c.subject_id,
                later.c.purpose == s.c.purpose,
                or_(later.c.at > s.c.at, and_(later.c.at == s.c.at, later.c.id > s.c.event_id)),
            )
        ),
    )


def active_purposes(conn: Connection, subject_id: str) -> frozenset[str]:
    """Purposes this subject has an active grant for, read in the caller's transaction, so
    a withdrawal takes effect for the very next decision. A state the ledger does not back
    (:func:`backed`) is no grant."""
    s = consent_state.c
    rows = conn.execute(
        select(s.purpose).where(s.subject_id == subject_id, s.granted.is_(True), backed())
    ).scalars()
    return frozenset(p for p in rows if not p.startswith(COOKIE_PREFIX))


def opted_out_purposes(conn: Connection, subject_id: str) -> frozenset[str]:
    """Purposes this subject said no to (withdrawal, GPC, unsubscribe, opt-out import):
    as the state says, or as the ledger's replay says (a state row deleted or changed
    outside troth: fail closed, the person stays opted out), or a state the ledger does
    not back (:func:`backed`). One query."""
    s = consent_state.c
    state_says = select(s.purpose).where(
        s.subject_id == subject_id, or_(s.granted.is_(False), ~backed())
    )
    latest = latest_events(consent_events.c.subject_id == subject_id).subquery("mine")
    ledger_says = select(latest.c.purpose).where(latest.c.granted.is_(False))
    rows = conn.execute(state_says.union(ledger_says)).scalars()
    return frozenset(p for p in rows if not p.startswith(COOKIE_PREFIX))


def granted_subjects_select(purpose: str) -> Select[Any]:
    """``SELECT subject_id`` of everyone with an active grant for ``purpose`` (a subquery
    for set-based sends and retention), as the ledger backs it (:func:`backed`)."""
    s = consent_state.c
    return select(s.subject_id).where(s.purpose == purpose, s.granted.is_(True), backed())


def granted_subjects(conn: Connection, purpose: str) -> frozenset[str]:
    """Everyone with an active grant for ``purpose``, in one indexed query."""
    return frozenset(conn.execute(granted_subjects_select(purpose)).scalars())


def _status(m: Mapping[Any, Any]) -> ConsentStatus:
    return ConsentStatus(
        purpose=m["purpose"],
        granted=bool(m["granted"]),
        notice_hash=m["notice_hash"],
        policy_version=m["policy_version"],
        at=m["at"],
        event_id=int(m["event_id"]),
        kind=member(ConsentKind, m["kind"], "consent_state.kind"),
    )


def replay(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Reference replay in Python (tests): the winning event id per (subject, purpose)."""
    best: dict[tuple[str, str], tuple[Any, int]] = {}
    for ev in events:
        key = (ev["subject_id"], ev["purpose"])
        rank = (ev["at"], int(ev["id"]))
        if key not in best or rank > best[key]:
            best[key] = rank
    return {k: v[1] for k, v in best.items()}
