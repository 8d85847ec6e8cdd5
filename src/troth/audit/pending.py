"""Pending audit entries (PostgreSQL): committed with their operation while another
transaction holds the tree's state row, each with an HMAC under the key file's token key
over its random id and canonical bytes; taken out and turned into the tree's next rows by
a sequencing round (:mod:`troth.audit.sequencer`), which checks every MAC first."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy import text as sql_text

from troth.audit import seal
from troth.audit.entry import AuditEntry
from troth.audit.merkle import CompactRange, leaf_hash
from troth.audit.tables import ENTRY_COLUMNS, audit_pending, entry_bytes, entry_row, iso
from troth.dialects import dialect_for
from troth.driver import Prepared, insert_many
from troth.errors import IntegrityError

if TYPE_CHECKING:
    from troth.context import Context

PENDING_BATCH = 10_000

# Take (at most a batch of) the pending entries out in one statement; under the state
# row's lock no other sequencer runs, and a MAC that fails rolls the DELETE back.
_TAKE_PENDING = (
    delete(audit_pending)
    .where(
        audit_pending.c.id.in_(
            select(audit_pending.c.id)
            .order_by(audit_pending.c.at, audit_pending.c.id)
            .limit(PENDING_BATCH)
        )
    )
    .returning(
        audit_pending.c.id,
        *[audit_pending.c[name] for name in ENTRY_COLUMNS[1:]],
        audit_pending.c.mac,
    )
)

# PostgreSQL, one statement for a sequencing round that does not wait: the state row if
# no other transaction holds it (kind 0), the pending entries taken out only then (kind
# 1, at most a batch), and which of :ids are in the tree already (kind 2).
TRY_ROUND = sql_text(
    "WITH st AS (SELECT size, frontier FROM audit_state WHERE id = 1 FOR UPDATE SKIP LOCKED),"  # noqa: S608
    " taken AS (DELETE FROM audit_pending WHERE EXISTS (SELECT 1 FROM st) AND id IN"
    f" (SELECT id FROM audit_pending ORDER BY at, id LIMIT {PENDING_BATCH})"
    " RETURNING id, at, actor, action, outcome, subject_id, tenant_id, purpose, categories,"
    " reason, details, mac)"
    " SELECT 0 AS kind, size AS n, frontier AS text, NULL::timestamptz AS at, NULL AS actor,"
    " NULL AS action, NULL AS outcome, NULL AS subject_id, NULL AS tenant_id,"
    " NULL AS purpose, NULL AS categories, NULL AS reason, NULL AS details FROM st"
    " UNION ALL SELECT 1, id, mac, at, actor, action, outcome, subject_id, tenant_id,"
    " purpose, categories, reason, details FROM taken"
    " UNION ALL SELECT 2, pending_id, seq::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL FROM audit_entries WHERE pending_id = ANY(CAST(:ids AS bigint[]))"
)

# PostgreSQL: a round's (or an inline append's) rows inserted and the sealed state stored
# in one statement.
STORE_COLUMNS = (*ENTRY_COLUMNS, "leaf_hash", "pending_id")
_STORE_TYPES = (
    "bigint",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bytea",
    "bigint",
)
STORE = sql_text(
    f"WITH ins AS (INSERT INTO audit_entries ({', '.join(STORE_COLUMNS)}) SELECT * FROM"  # noqa: S608
    " unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(STORE_COLUMNS, _STORE_TYPES, strict=True))
    + ")) UPDATE audit_state SET size = :new_size, root = :new_root,"
    " frontier = :new_frontier WHERE id = 1"
)
_PENDING_LABEL = "troth.audit.pending"
_INSERT_PENDING = Prepared(insert(audit_pending))
WAITING = "troth.audit.wait_sequenced"


@dataclass(slots=True)
class Waiting:
    """The pending entries a transaction committed: their ids, and the lists returned to
    each append call, filled with the seqs once the entries are sequenced."""

    ids: list[int] = field(default_factory=list)
    calls: list[tuple[list[int], list[int]]] = field(default_factory=list)


def pending_mac(mac: seal.Mac, pending_id: int, canon: Sequence[Any]) -> str:
    """The MAC of a pending entry: over its id and its canonical bytes (``canon`` in
    :data:`ENTRY_COLUMNS` order, the id in the seq's place)."""
    return mac(_PENDING_LABEL, entry_bytes((pending_id, *canon[1:]))).hex()


def commit_pending(
    conn: Connection, sealer: seal.Sealer, timed: Sequence[tuple[datetime, str, AuditEntry]]
) -> list[int]:
    """Insert ``timed`` into audit_pending, each with a random id and its MAC; the
    transaction sequences them after its commit. Returns the (for now empty) seq list."""
    rows: list[dict[str, Any]] = []
    for at, at_text, entry in timed:
        pid = secrets.randbits(63)
        row, tag = entry_row(pid, at, at_text, entry, lambda c: pending_mac(sealer.mac, c[0], c))
        del row["seq"]
        row["id"], row["mac"] = pid, tag
        rows.append(row)
    if len(rows) == 1:
        _INSERT_PENDING.execute(conn, rows[0])
    else:
        insert_many(conn, audit_pending, rows)
    waiting = conn.info.get(WAITING)
    if waiting is None:
        waiting = conn.info[WAITING] = Waiting()
    ids = [r["id"] for r in rows]
    out: list[int] = []
    waiting.ids.extend(ids)
    waiting.calls.append((ids, out))
    return out


def take_pending(
    conn: Connection, sealer: seal.Sealer, frontier: CompactRange
) -> tuple[list[dict[str, Any]], dict[int, int], bool]:
    """Move the pending entries (oldest first, at most a batch) into the tree after
    ``frontier`` (extended): their audit_entries rows, {pending id: seq}, and whether the
    batch was full. IntegrityError, and nothing moved, when one's MAC does not verify.
    PostgreSQL only (elsewhere nothing is ever pending)."""
    if not dialect_for(conn).pending_appends:
        return [], {}, False
    pending = conn.execute(_TAKE_PENDING).all()
    rows, seqs = pending_rows(sealer, frontier, sorted(pending, key=lambda p: (p[1], p[0])))
    return rows, seqs, len(pending) == PENDING_BATCH


def pending_rows(
    sealer: seal.Sealer, frontier: CompactRange, pending: Sequence[Sequence[Any]]
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The audit_entries rows of ``pending`` (id, the entry's columns, mac) appended after
    ``frontier`` (extended), and {pending id: seq}; IntegrityError when a MAC fails."""
    rows: list[dict[str, Any]] = []
    seqs: dict[int, int] = {}
    for p in pending:
        pid, at = int(p[0]), p[1]
        canon = (pid, iso(at), *p[2:11])
        if not hmac.compare_digest(pending_mac(sealer.mac, pid, canon), str(p[11])):
            raise IntegrityError(
                f"the pending audit entry {pid} is not MAC'd with this home's key: it was"
                " inserted or edited outside troth; nothing was sequenced. Run `troth audit"
                " verify`"
            )
        seq = frontier.size
        canon = (seq, *canon[1:])
        leaf = leaf_hash(entry_bytes(canon))
        frontier.append(leaf)
        row: dict[str, Any] = dict(zip(ENTRY_COLUMNS, canon, strict=True))
        row["at"], row["leaf_hash"], row["pending_id"] = at, leaf, pid
        rows.append(row)
        seqs[pid] = seq
    return rows, seqs


def check_pending(ctx: Context) -> tuple[int, str | None]:
    """How many entries are pending (committed, not yet sequenced), and what is wrong with
    the first whose MAC does not verify (inserted, edited or re-numbered outside troth):
    part of `troth audit verify`."""
    p = audit_pending
    cols = [p.c.id, *[p.c[name] for name in ENTRY_COLUMNS[1:]], p.c.mac]
    count = 0
    with ctx.engine.connect() as conn:
        result = conn.execution_options(yield_per=1 << 14).execute(
            select(*cols).order_by(p.c.at, p.c.id)
        )
        for row in result:
            count += 1
            pid = int(row[0])
            try:
                ok = hmac.compare_digest(
                    pending_mac(ctx.keys.mac, pid, (pid, iso(row[1]), *row[2:11])), str(row[11])
                )
            except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
                ok = False
            if not ok:
                result.close()
                return count, (
                    f"the pending audit entry {pid} is not MAC'd with this home's key: it was"
                    " inserted, edited or re-numbered outside troth (no process will"
                    " sequence it; nothing is appended until it is removed)"
                )
    return count, None
