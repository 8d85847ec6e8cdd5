"""The bulk path of the ledger: imported events as driver-ready tuples, inserted with the
driver's executemany (SQLAlchemy's per-row parameter machinery is most of the cost of a
Core executemany; each column's own bind processor is still applied)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy import exc as sa_exc

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.consent import state as _state
from troth.consent.append import erased_refusal, subjects
from troth.consent.events import COOKIE_PREFIX, ImportedEvent, truncate_origin
from troth.consent.tables import consent_events
from troth.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from troth.context import Context

IMPORT_BATCH = 5000


def import_events(ctx: Context, events: Iterable[ImportedEvent], actor: str, source: str) -> int:
    """Import events from a previous system in one transaction: batched inserts, then one
    set-based state update. Every event is checked first; one bad event stores nothing.
    Returns the number imported; one audit entry sums up the import."""
    now = ctx.clock.now()
    count = 0
    refusal = None
    try:
        with transaction(ctx) as conn:
            after = int(
                conn.execute(select(func.coalesce(func.max(consent_events.c.id), 0))).scalar_one()
            )
            rows = ImportRows(ctx, conn)
            events_in = conn.begin_nested()  # undone whole if the import names an erased person
            batch: list[tuple[Any, ...]] = []
            for ev in events:
                batch.append(rows.build(ev))
                if len(batch) >= IMPORT_BATCH:
                    rows.insert(batch)
                    count += len(batch)
                    batch = []
            if batch:
                rows.insert(batch)
                count += len(batch)
            # Nothing is recorded for an erased person, an import alike: it writes nothing.
            refusal = erased_refusal(conn, sorted(rows.subject_ids))
            if refusal is not None:
                events_in.rollback()
            else:
                events_in.commit()
            if count and refusal is None:
                _state.apply_since(conn, after)
                # The ids it wrote lie in (after, last]: `troth audit verify` checks every
                # event of the ledger against the log (troth.audit.crosscheck).
                last = conn.execute(select(func.max(consent_events.c.id))).scalar_one()
                details = {"events": count, "after_event_id": after, "last_event_id": last}
                entry = AuditEntry(
                    action="consent.import",
                    actor=actor,
                    outcome=Outcome.info,
                    details={**details, "source": source},
                )
                append_entries(conn, now, [entry])
    except sa_exc.IntegrityError:
        # The subjects foreign key refused a row: name the first unknown subject.
        raise _unknown_subjects(ctx, rows.subject_ids) from None
    if refusal is not None:
        refuse(
            ctx,
            "consent.refused",
            actor,
            refusal.reason,
            f"the import names {refusal.subject_id!r}: {refusal.message}; leave them out",
            subject_id=refusal.subject_id,
            details={"source": source, "events": count},
            shown={"subject_id": refusal.subject_id},
        )
    return count


def _unknown_subjects(ctx: Context, wanted: set[str]) -> NotFound:
    with ctx.engine.connect() as conn:
        found = set(conn.execute(select(subjects.c.id).where(subjects.c.id.in_(wanted))).scalars())
    missing = sorted(wanted - found) or ["?"]
    return NotFound(
        f"imported events name {len(missing)} unknown subject(s), e.g. "
        f"{missing[0]!r}; import the people first, then their consent",
        code="unknown_subject",
    )


class ImportRows:
    """Imported events as driver-ready tuples (the bulk path; see :func:`executemany`)."""

    COLUMNS = (
        "subject_id",
        "purpose",
        "kind",
        "granted",
        "policy_version",
        "notice_hash",
        "method",
        "at",
        "origin",
        "user_agent",
        "url",
        "jurisdiction",
    )

    def __init__(self, ctx: Context, conn: Connection) -> None:
        self.conn = conn
        self.purposes = ctx.policy.purposes
        self.version = ctx.policy.version
        self.jurisdiction = str(ctx.policy.default_jurisdiction)
        dialect = conn.dialect
        # The full chain SQLAlchemy itself applies (TypeDecorator + the dialect's DateTime
        # format): the public bind_processor() alone leaves SQLite's text without
        # microseconds, which then sorts before the same instant written by the ORM path.
        self.at = consent_events.c.at.type._cached_bind_processor(dialect) or _same
        self.flag = consent_events.c.granted.type.bind_processor(dialect) or _same
        self.subject_ids: set[str] = set()

    def build(self, ev: ImportedEvent) -> tuple[Any, ...]:
        if ev.purpose not in self.purposes and not ev.purpose.startswith(COOKIE_PREFIX):
            raise ValidationError(
                f"imported event for {ev.subject_id!r} names unknown purpose {ev.purpose!r}; "
                "map it to a purpose of the policy",
                code="unknown_purpose",
            )
        if ev.at.tzinfo is None:
            raise ValidationError(
                f"imported event for {ev.subject_id!r} has a time without a timezone; "
                "give UTC times",
                code="naive_datetime",
            )
        self.subject_ids.add(ev.subject_id)
        return (
            ev.subject_id,
            ev.purpose,
            "import",
            self.flag(bool(ev.granted)),
            ev.policy_version or self.version,
            ev.notice_hash,
            "import",
            self.at(ev.at),
            truncate_origin(ev.origin) if ev.origin else None,
            ev.user_agent[:512] if ev.user_agent else None,
            ev.url[:2048] if ev.url else None,
            ev.jurisdiction or self.jurisdiction,
        )

    def insert(self, batch: list[tuple[Any, ...]]) -> None:
        executemany(self.conn, consent_events, self.COLUMNS, batch)


def executemany(
    conn: Connection, tbl: Table, names: Sequence[str], params: list[tuple[Any, ...]]
) -> None:
    """INSERT rows (tuples already bind-processed, in ``names`` order) through the
    driver's executemany: the bulk path, without per-row statement machinery."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:
        conn.execute(insert(tbl), [dict(zip(names, p, strict=True)) for p in params])
        return
    preparer = conn.dialect.identifier_preparer
    # Identifiers come from the table's metadata, values are bound: no injection.
    columns = ", ".join(preparer.quote(n) for n in names)
    markers = ", ".join([marker] * len(names))
    sql = f"INSERT INTO {preparer.format_table(tbl)} ({columns}) VALUES ({markers})"  # noqa: S608
    conn.exec_driver_sql(sql, params)


def _same(value: Any) -> Any:
    return value
