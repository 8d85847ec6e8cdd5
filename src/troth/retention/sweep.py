"""The sweeps of one retention run: expired values deleted, crypto-shredded or anonymised
batch by batch, each batch its own transaction with one audit entry of counts per category
and purpose (never values)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    update,
)

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.db import driver_rows
from troth.policy.model import RetentionAction
from troth.retention.rules import (
    IDENTIFYING_CATEGORIES,
    NUMBER_BAND,
    Disposition,
    Expiry,
    dispositions,
    purpose_list,
)
from troth.store.ids import new_id
from troth.store.keystore import shred_subject_keys
from troth.store.seals import SEAL_COLUMNS, RecordChecker, reseal
from troth.store.subject_seals import SubjectChecker, sealed_rows
from troth.store.subjects import SUBJECT_COLUMNS
from troth.store.tables import records, subjects

Progress = Callable[[int], None]
# Where a due row read by :meth:`Sweep.sealed_due` holds its category and purposes.
_CATEGORY = 1 + [c.name for c in SEAL_COLUMNS].index("category")
_PURPOSES = 1 + [c.name for c in SEAL_COLUMNS].index("purposes")
# One batch of a sweep, in its transaction: given the last id done, the rows it changed.
Step = Callable[[Connection, int], Sequence[Any]]


@dataclass
class RetentionReport:
    """What a sweep removed (or, dry, would remove): rows per (action, category), rows kept
    by a legal hold."""

    dry_run: bool
    at: datetime
    done: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    keys_shredded: int = 0
    # Rows due left as they are: they, or their person's row, do not match their seals
    # (a dry run counts them too: they are what a run would leave).
    skipped_tampered: int = 0
    batches: int = 0
    datasets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.done.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "at": self.at.isoformat(),
            "total": self.total,
            "done": [
                {"action": a, "category": c, "rows": n} for (a, c), n in sorted(self.done.items())
            ],
            "by_purpose": dict(sorted(self.by_purpose.items())),
            "held": dict(sorted(self.held.items())),
            "keys_shredded": self.keys_shredded,
            "skipped_tampered": self.skipped_tampered,
            "batches": self.batches,
            "datasets": self.datasets,
        }


class Sweep:
    """The statements of one retention run at one instant, over its :class:`Expiry`."""

    def __init__(self, expiry: Expiry) -> None:
        self.expiry = expiry
        self.ctx = expiry.ctx
        self.now = expiry.now
        self.dialect = expiry.dialect
        self.dispositions = dispositions(expiry.ctx)
        self.people = SubjectChecker(expiry.ctx.keys)
        self.records = RecordChecker(expiry.ctx.keys)

    def _batches(self, progress: Progress | None, step: Step) -> None:
        """Run ``step`` (given the last id done, it changes one batch and returns its rows,
        the id first; none when nothing is left) one transaction at a time."""
        after = 0
        while True:
            with transaction(self.ctx) as conn:
                rows = step(conn, after)
            if not rows:
                return
            after = max(row[0] for row in rows)
            if progress is not None:
                progress(len(rows))

    def remove(
        self,
        action: RetentionAction,
        batch: int,
        report: RetentionReport,
        progress: Progress | None,
    ) -> None:
        """Delete (or crypto-shred: delete, then destroy the data keys of people with no
        encrypted value left) expired rows, one batch per transaction."""

        def step(conn: Connection, after: int) -> Sequence[Any]:
            ids, bad = self._of_sealed_people(conn, self.expiry.batch_ids(action, after, batch))
            report.skipped_tampered += len(bad)
            if not ids:
                return [(i,) for i in bad]
            rows = conn.execute(
                delete(records)
                .where(self.dialect.one_of(records.c.id, ids))
                .returning(
                    records.c.id,
                    records.c.category,
                    cast(records.c.purposes, Text),
                    records.c.subject_id,
                    records.c.ciphertext.is_not(None),
                )
            ).all()
            if not rows:
                return [(i,) for i in bad]
            shredded = 0
            if action is RetentionAction.crypto_shred:
                shredded = self._shred(conn, {row[3] for row in rows if row[4]})
                report.keys_shredded += shredded
            self._account(conn, action.value, rows, report, shredded)
            return [*rows, *((i,) for i in bad)]

        self._batches(progress, step)

    def _of_sealed_people(self, conn: Connection, picked: Any) -> tuple[list[int], list[int]]:
        """The records ``picked`` selects, split: those that match their seals and whose
        person's row matches its own, and the others, left as they are: retention never
        acts on what a database writer made of a value (a restriction's end moved
        earlier, a collection time or purposes changed, the seal cleared) or of a person
        (a hold cleared, a relationship ended early, a tenant moved); ``troth audit
        verify`` names them."""
        good, bad = self.sealed_due(conn, picked)
        return [int(r[0]) for r in good], bad

    def sealed_due(self, conn: Connection, picked: Any) -> tuple[list[Any], list[int]]:
        """The records ``picked`` selects that match their seals and whose person's row
        matches its own, as (id, category, purposes), and the ids of the others. One
        query reads each due record with its person's row (a record whose person has no
        row has no person to check), as the driver returns them (no SQLAlchemy rows: a
        run reads every value it removes); the run's checker remembers the people it has
        checked."""
        with self.dialect.key_order(conn):
            rows = driver_rows(conn, self._due_rows(picked))
        n = len(SEAL_COLUMNS) + 1
        record, people = self.records, self.people
        good: list[Any] = []
        bad: list[int] = []
        for row in rows:
            purposes, encoded = record.purposes(row[_PURPOSES])
            if record.matches(row[1:n], encoded, row[n]) and (
                row[n + 1] is None or people.driver_row_matches(row[n + 1 :])
            ):
                good.append((row[0], row[_CATEGORY], purposes))
            else:
                bad.append(int(row[0]))
        return good, bad

    @staticmethod
    def _due_rows(picked: Any) -> Any:
        """Each record ``picked`` (:meth:`Expiry.batch_ids`) selects, read in the same scan:
        its id, the columns its seal covers (the purposes as stored text), its seal, then
        its person's sealed columns and seal (an alias: the conditions on ``subjects``
        in ``picked`` stay subqueries of their own)."""
        r = picked.selected_columns[0].table
        s = subjects.alias("s")
        return picked.with_only_columns(
            r.c.id,
            *(
                cast(r.c.purposes, Text) if c.name == "purposes" else r.c[c.name]
                for c in SEAL_COLUMNS
            ),
            r.c.seal,
            *(s.c[c.name] for c in SUBJECT_COLUMNS),
            s.c.seal,
            maintain_column_froms=False,
        ).select_from(r.outerjoin(s, s.c.id == r.c.subject_id))

    def _shred(self, conn: Connection, candidates: set[str]) -> int:
        if not candidates:
            return 0
        still = set(
            conn.execute(
                select(records.c.subject_id)
                .where(
                    records.c.subject_id.in_(sorted(candidates)), records.c.ciphertext.is_not(None)
                )
                .distinct()
            ).scalars()
        )
        return shred_subject_keys(conn, sorted(candidates - still))

    def anonymise(self, batch: int, report: RetentionReport, progress: Progress | None) -> None:
        """Irreversibly anonymise expired rows: identifying, encrypted and free-text values
        are deleted; dates become months, numbers bands; the collection time becomes its
        month; the rows move to a fresh pseudonymous subject per person and batch, so the
        person can no longer be found from them."""
        action = RetentionAction.anonymise
        keep_cond = self._keepable

        def drop(conn: Connection, after: int) -> Sequence[Any]:
            """1. drop what identifies."""
            picked = self.expiry.batch_ids(action, after, batch, lambda r: not_(keep_cond(r)))
            ids, bad = self._of_sealed_people(conn, picked)
            report.skipped_tampered += len(bad)
            rows: Sequence[Any] = []
            if ids:
                rows = conn.execute(
                    delete(records)
                    .where(records.c.id.in_(ids))
                    .returning(records.c.id, records.c.category, cast(records.c.purposes, Text))
                ).all()
            if rows:
                self._account(conn, "anonymise_drop", rows, report, 0, key="anonymise")
            return [*rows, *((i,) for i in bad)]

        def generalise(conn: Connection, after: int) -> Sequence[Any]:
            """2. generalise the rest and detach it from the person. A row that does not
            match its seal is left as it is (generalising and sealing it again would
            accept what was done to it; `troth audit verify` names it)."""
            picked = self.expiry.batch_ids(action, after, batch, keep_cond)
            good, bad = self._of_sealed_people(conn, picked)
            rows: Sequence[Any] = []
            if good:
                rows = self._generalise(conn, good)
                self._detach(conn, rows)
                reseal(conn, self.ctx.keys, good)
                self._account(conn, "anonymise", rows, report, 0)
            report.skipped_tampered += len(bad)
            return [*rows, *((i,) for i in bad)]

        self._batches(progress, drop)
        self._batches(progress, generalise)

    def _generalise(self, conn: Connection, ids: list[int]) -> Sequence[Any]:
        """Generalise the rows ``ids``: their (id, category, purposes, subject)."""
        return conn.execute(
            update(records)
            .where(records.c.id.in_(ids))
            .values(
                value=self._generalised(),
                anonymised=True,
                collected_at=self._month_start(),
                supplier=None,
                updated_at=self.now,
            )
            .returning(
                records.c.id,
                records.c.category,
                cast(records.c.purposes, Text),
                records.c.subject_id,
            )
        ).all()

    def _keepable(self, r: Any) -> ColumnElement[bool]:
        keep = [
            and_(r.c.collection_point == cp, r.c.field == f)
            for (cp, f), d in self.dispositions.items()
            if d is not Disposition.drop
        ]
        if not keep:
            return false()
        return and_(
            r.c.ciphertext.is_(None),
            r.c.category.not_in(sorted(IDENTIFYING_CATEGORIES)),
            or_(*keep),
        )

    def _fields(self, d: Disposition) -> ColumnElement[bool]:
        conds = [
            and_(records.c.collection_point == cp, records.c.field == f)
            for (cp, f), disp in self.dispositions.items()
            if disp is d
        ]
        return or_(*conds) if conds else false()

    def _generalised(self) -> Any:
        v = records.c.value
        month = func.substr(v, 1, 8) + literal('"')
        low: Any = self.dialect.band_low(v, NUMBER_BAND)
        numeric: Any = self.dialect.json_numeric(v)
        band = (
            literal('"')
            + cast(low, String)
            + literal("-")
            + cast(low + (NUMBER_BAND - 1), String)
            + literal('"')
        )
        return case(
            (self._fields(Disposition.month), month),
            (and_(self._fields(Disposition.band), numeric), band),
            (self._fields(Disposition.band), null()),
            else_=v,
        )

    def _month_start(self) -> Any:
        return self.dialect.month_start(records.c.collected_at)

    def _detach(self, conn: Connection, rows: Sequence[Any]) -> None:
        """Move anonymised rows to fresh subjects that identify no one (one per person in
        this batch, so rows of one submission still group together)."""
        old = sorted({row[3] for row in rows})
        info = {
            sid: (tenant, juris)
            for sid, tenant, juris in conn.execute(
                select(subjects.c.id, subjects.c.tenant_id, subjects.c.jurisdiction).where(
                    subjects.c.id.in_(old)
                )
            )
        }
        mapping = {sid: new_id() for sid in old}
        fresh = [
            {
                "id": mapping[sid],
                "tenant_id": info[sid][0],
                "kind": "anonymous",
                "jurisdiction": info[sid][1],
                "status": "anonymous",
                "created_at": self.now,
            }
            for sid in old
        ]
        conn.execute(subjects.insert(), sealed_rows(self.ctx.keys, fresh))
        ids = sorted(row[0] for row in rows)
        conn.execute(
            update(records)
            .where(
                records.c.subject_id == bindparam("b_old"),
                records.c.anonymised.is_(True),
                records.c.id >= ids[0],
                records.c.id <= ids[-1],
            )
            .values(subject_id=bindparam("b_new")),
            [{"b_old": sid, "b_new": new} for sid, new in mapping.items()],
        )

    def _account(
        self,
        conn: Connection,
        action: str,
        rows: Sequence[Any],
        report: RetentionReport,
        shredded: int,
        key: str | None = None,
    ) -> None:
        """Count a batch in the report and audit it."""
        cats: Counter[str] = Counter(row[1] for row in rows)
        purposes: Counter[str] = Counter()
        for text, n in Counter(row[2] for row in rows).items():
            for p in purpose_list(text):
                purposes[p] += n
        for cat, n in cats.items():
            report.done[(key or action, cat)] += n
        report.by_purpose.update(purposes)
        report.batches += 1
        self._audit(conn, action, cats, purposes, shredded)

    def _audit(
        self,
        conn: Connection,
        action: str,
        cats: Counter[str],
        purposes: Counter[str],
        shredded: int = 0,
    ) -> None:
        details: dict[str, Any] = {
            "action": action,
            "rows": cats.total(),
            "categories": dict(sorted(cats.items())),
            "purposes": dict(sorted(purposes.items())),
        }
        if shredded:
            details["keys_shredded"] = shredded
        append_entries(
            conn,
            self.now,
            [
                AuditEntry(
                    "retention",
                    "system:troth",
                    Outcome.allow,
                    categories=tuple(sorted(cats)),
                    details=details,
                )
            ],
        )
