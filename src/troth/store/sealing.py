"""Record seals across a home: the rows stored before troth sealed them, sealed once (the
first `troth db migrate` that brings the home to seals, which has the key file), and
every row checked (`troth audit verify`).

Sealing once is recorded in the audit log (action ``records.sealed``; a home made since
says so in the entry of its first policy): a home whose log says so never seals a row without a
seal again, so a database writer who clears a seal, or drops the column and winds the
schema version back for `troth db migrate` to run again, gets a row that stays refused
and named by `troth audit verify`, never one sealed over. Removing the entry instead
breaks the audit log's own verification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, and_, or_, select

from troth.access.seals import bad_rows, grant_tables, row_tables, seal_new, sealed_tables
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entry, transaction
from troth.audit.tables import audit_entries, audit_pending
from troth.context import Context
from troth.db import reading
from troth.store.identity_seals import bad_identities, seal_identities
from troth.store.seals import SEAL_COLUMNS, reseal, seal_key, seal_matches
from troth.store.subject_seals import reseal_subjects, subject_matches, subject_seal_key
from troth.store.subjects import SUBJECT_COLUMNS
from troth.store.tables import records, subjects

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Row, Table

    from troth.audit.verify import VerifyReport
    from troth.keys import Keyring

SEALED_ACTION = "records.sealed"
SEALED_FLAG = "records_sealed"
# The same for the people's own rows (troth.store.subject_seals).
SUBJECTS_SEALED_ACTION = "subjects.sealed"
SUBJECTS_SEALED_FLAG = "subjects_sealed"
# The same for accounts and API keys (troth.access.seals).
ACCESS_SEALED_ACTION = "access.sealed"
ACCESS_SEALED_FLAG = "access_sealed"
# The same for sessions, privacy-centre sessions, invitations and support grants (0015).
GRANTS_SEALED_ACTION = "grants.sealed"
GRANTS_SEALED_FLAG = "grants_sealed"
# The same for identities, requests and tenants (0016).
ROWS_SEALED_ACTION = "rows.sealed"
ROWS_SEALED_FLAG = "rows_sealed"
# The same for the outbox's messages, encrypted and sealed (0021, troth.notices.sealed).
OUTBOX_SEALED_ACTION = "outbox.sealed"
OUTBOX_SEALED_FLAG = "outbox_sealed"
_PAGE = 5_000
# At most this many bad records are named (the count says how many there are).
NAMED = 100


def sealed_before(conn: Connection, action: str = SEALED_ACTION, flag: str = SEALED_FLAG) -> bool:
    """Whether the home's audit log says its rows were sealed already: an entry of
    ``action``, or a home that sealed from its first day (its first policy's entry says
    ``flag``, :func:`troth.policy.versions.record_initial_version`)."""
    for t in (audit_entries, audit_pending):
        marked = or_(
            t.c.action == action,
            and_(t.c.action == "policy.publish", t.c.details.contains(f'"{flag}":true')),
        )
        if conn.execute(select(t.c.action).where(marked).limit(1)).first() is not None:
            return True
    return False


def seal_existing(ctx: Context) -> int | None:
    """Seal every row without a seal, in one audited transaction, unless the home's rows
    were sealed before (None: a row without a seal now was changed outside troth and is
    left for `troth audit verify` to name). Returns how many rows it sealed. The people's
    rows likewise, once (:data:`SUBJECTS_SEALED_ACTION`)."""
    from troth.notices.sealed import seal_existing_mail

    seal_existing_subjects(ctx)
    seal_existing_access(ctx)
    seal_existing_access(ctx, grants=True)
    seal_existing_rows(ctx)
    seal_existing_mail(ctx)
    return _seal_once(ctx, records, reseal, SEALED_ACTION, SEALED_FLAG)


def seal_existing_subjects(ctx: Context) -> int | None:
    """Seal every person's row without a seal, once per home, audited
    (``subjects.sealed``); None when the home's people were sealed before."""
    return _seal_once(ctx, subjects, reseal_subjects, SUBJECTS_SEALED_ACTION, SUBJECTS_SEALED_FLAG)


def seal_existing_access(ctx: Context, *, grants: bool = False) -> dict[str, int] | None:
    """Seal every account and API key without a seal, once per home, audited
    (``access.sealed``); None when the home's accounts and keys were sealed before. With
    ``grants``, the same for sessions, privacy-centre sessions, invitations and support
    grants (``grants.sealed``, schema 0015)."""
    action, flag = (GRANTS_SEALED_ACTION, GRANTS_SEALED_FLAG) if grants else (
        ACCESS_SEALED_ACTION, ACCESS_SEALED_FLAG,
    )  # fmt: skip
    with transaction(ctx) as conn:
        if sealed_before(conn, action, flag):
            return None
        done = {}
        for table in grant_tables() if grants else sealed_tables():
            q = select(table.c.id).where(table.c.seal.is_(None))
            done[table.name] = seal_new(conn, ctx.keys, table, list(conn.execute(q).scalars()))
        entry = AuditEntry(action=action, actor="system", details=done)
        append_entry(conn, ctx.clock.now(), entry)
    return done


def seal_existing_rows(ctx: Context) -> dict[str, int] | None:
    """Seal every identity, request and tenant without a seal, once per home, audited
    (``rows.sealed``, schema 0016); None when they were sealed before."""
    with transaction(ctx) as conn:
        if sealed_before(conn, ROWS_SEALED_ACTION, ROWS_SEALED_FLAG):
            return None
        done = {"identities": seal_identities(conn, ctx.keys)}
        for table in row_tables():
            q = select(table.c.id).where(table.c.seal.is_(None))
            done[table.name] = seal_new(conn, ctx.keys, table, list(conn.execute(q).scalars()))
        entry = AuditEntry(action=ROWS_SEALED_ACTION, actor="system", details=done)
        append_entry(conn, ctx.clock.now(), entry)
    return done


def _seal_once(
    ctx: Context,
    table: Table,
    seal: Callable[[Connection, Keyring, list[Any]], int],
    action: str,
    flag: str,
) -> int | None:
    """Seal the rows of ``table`` without a seal with ``seal``, audited ``action``,
    unless the log says they were sealed before (None)."""
    with transaction(ctx) as conn:
        if sealed_before(conn, action, flag):
            return None
        q = select(table.c.id).where(table.c.seal.is_(None))
        done = seal(conn, ctx.keys, list(conn.execute(q).scalars()))
        entry = AuditEntry(action=action, actor="system", details={"sealed": done})
        append_entry(conn, ctx.clock.now(), entry)
    return done


@dataclass
class SealReport:
    """What :func:`check_seals` found: how many rows it checked, how many do not match
    their seals, and the ids of the first :data:`NAMED` of them."""

    checked: int = 0
    bad: int = 0
    bad_ids: list[int] = field(default_factory=list)
    people: int = 0
    bad_people: list[str] = field(default_factory=list)
    bad_people_count: int = 0
    credentials: int = 0
    bad_credentials: list[str] = field(default_factory=list)
    mail: int = 0
    bad_mail: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str | None:
        found = (
            self._records_problem(),
            self._people_problem(),
            self._access_problem(),
            self._mail_problem(),
        )
        parts = [p for p in found if p]
        return "; ".join(parts) if parts else None

    def _mail_problem(self) -> str | None:
        n = len(self.bad_mail)
        if not n:
            return None
        return (
            f"{n} message{'s' if n != 1 else ''} of {self.mail} in the outbox"
            f" {'does' if n == 1 else 'do'} not match their seals:"
            f" {', '.join(self.bad_mail[:NAMED])} were changed outside troth (an address,"
            " person, list, kind, subject line, body or headers edited, a row inserted, or"
            " the seal cleared); troth does not send them (`outbox list` shows them failed)"
            " until they are restored from a backup or deleted"
        )

    def _access_problem(self) -> str | None:
        n = len(self.bad_credentials)
        if not n:
            return None
        return (
            f"{n} row{'s' if n != 1 else ''} of {self.credentials} accounts, API keys,"
            " sessions, invitations, support grants, identities, requests and tenants"
            f" {'does' if n == 1 else 'do'} not match their seals:"
            f" {', '.join(self.bad_credentials[:NAMED])} were changed outside troth (a role,"
            " tenant, scope, password, time, status, address, deadline or revocation"
            " edited, a row inserted, or the seal cleared); troth refuses them (a"
            " credential or session as unauthenticated, an invitation at acceptance, a"
            " grant as no grant, an identity as finding nobody, a request at every step, a"
            " tenant's notices as unsent) until they are restored from a backup (an"
            " identity: `troth reindex`)"
        )

    def _people_problem(self) -> str | None:
        n = self.bad_people_count
        if not n:
            return None
        more = f" (the first {len(self.bad_people)} named)" if n > len(self.bad_people) else ""
        return (
            f"{n} {'person' if n == 1 else 'people'} of {self.people}"
            f" {'does' if n == 1 else 'do'} not match their"
            f" seals{more}: subjects {', '.join(self.bad_people)} were changed outside troth"
            " (their tenant, status, erasure, legal hold or jurisdiction, or the seal"
            " cleared); troth shows nothing of them until they are restored from a backup"
        )

    def _records_problem(self) -> str | None:
        if not self.bad:
            return None
        more = f" (the first {len(self.bad_ids)} named)" if self.bad > len(self.bad_ids) else ""
        ids = ", ".join(str(i) for i in self.bad_ids)
        return (
            f"{self.bad} stored value{'s' if self.bad != 1 else ''} of {self.checked} do not"
            f" match their seals{more}: records {ids} were changed outside troth (their"
            " value or tags relabelled, moved or the seal cleared); troth shows nothing of"
            " their people until they are restored from a backup or deleted"
        )


def check_seals(ctx: Context) -> SealReport:
    """Check every row of ``records`` and of ``subjects`` against its seal, a page at a
    time; then every sealed row of the other tables, the outbox's included."""
    from troth.notices.sealed import bad_mail

    key = seal_key(ctx.keys)
    people_key = subject_seal_key(ctx.keys)
    people = select(*SUBJECT_COLUMNS, subjects.c.seal)
    values = select(records.c.id, *SEAL_COLUMNS, records.c.seal)
    with reading(ctx.engine) as conn:
        n, bad, named = _scan(
            conn, people, subjects.c.id, "", lambda r: subject_matches(people_key, r[:-1], r[-1])
        )
        report = SealReport(people=n, bad_people_count=bad, bad_people=named)
        report.checked, report.bad, report.bad_ids = _scan(
            conn, values, records.c.id, 0, lambda r: seal_matches(key, r[1:-1], r[-1])
        )
        for table in (*sealed_tables(), *grant_tables(), *row_tables()):
            n, bad_ids = bad_rows(conn, ctx.keys, table)
            report.credentials += n
            report.bad_credentials += [f"{table.name}:{i}" for i in bad_ids]
        n, bad_ids = bad_identities(conn, ctx.keys)
        report.credentials += n
        report.bad_credentials += [f"identities:{i}" for i in bad_ids]
        report.mail, report.bad_mail = bad_mail(conn, ctx.keys)
    return report


def _scan(
    conn: Connection,
    query: Select[Any],
    column: ColumnElement[Any],
    after: Any,
    good: Callable[[Row[Any]], bool],
) -> tuple[int, int, list[Any]]:
    """Page through ``query`` (the row's id first) by ``column`` from past ``after``: how
    many rows it read, how many were not ``good``, and the ids of the first :data:`NAMED`
    of those."""
    checked, bad = 0, 0
    named: list[Any] = []
    q = query.order_by(column)
    while True:
        page = conn.execute(q.where(column > after).limit(_PAGE)).all()
        if not page:
            return checked, bad, named
        for r in page:
            if not good(r):
                bad += 1
                if len(named) < NAMED:
                    named.append(r[0])
        checked += len(page)
        after = page[-1][0]


def with_seals(ctx: Context, report: VerifyReport) -> VerifyReport:
    """``report`` (the audit log's verification) with every stored value checked against
    its seal: any that does not match fails it, named in ``bad_records`` and the problem."""
    seals = check_seals(ctx)
    report.bad_records = seals.bad_ids
    report.bad_subjects = seals.bad_people
    report.bad_credentials = seals.bad_credentials[:NAMED]
    report.bad_mail = seals.bad_mail[:NAMED]
    if seals.problem is not None:
        report.ok = False
        report.problem = "; ".join(p for p in (report.problem, seals.problem) if p)
    return report
