"""The bulk path of the ledger: imported events as driver-ready tuples, inserted with the
driver's executemany (SQLAlchemy's per-row parameter machinery is most of the cost of a
Core executemany; each column's own bind processor is still applied)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, insert

from troth.consent.events import COOKIE_PREFIX, ImportedEvent, truncate_origin
from troth.consent.tables import consent_events
from troth.errors import ValidationError

if TYPE_CHECKING:
    from troth.context import Context


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
