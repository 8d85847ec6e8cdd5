"""Checking the audit log: recompute every leaf and root from the stored rows and compare
them with the signed heads; produce and check inclusion and consistency proofs.

:func:`verify_log` streams the entries once, in seq order, and stops at the first problem,
naming the entry (or, when only a signed head reveals it, the range between two heads).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Connection, String, func, select, type_coerce

from troth.audit.checkpoint import origin_of, witnessed
from troth.audit.heads import SignedHead, read_heads
from troth.audit.log import read_state, sign_head
from troth.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_path,
    inclusion_path,
    leaf_hash,
    root,
    subtree_levels,
    verify_inclusion,
)
from troth.audit.pending import pending_mac
from troth.audit.seal import is_sealed
from troth.audit.tables import (
    ENTRY_COLUMNS,
    audit_entries,
    audit_pending,
    audit_state,
    entry_bytes,
    iso,
)
from troth.context import Context
from troth.dialects import dialect_for
from troth.errors import ConfigError, IntegrityError, NotFound, ValidationError

Progress = Callable[[int, int], None]
_CHUNK = 1 << 14  # a power of two: each full chunk is one perfect subtree of the log
_LEAF = b"\x00"
_WITNESSED = 0  # the "line" of a head that only the witness holds
# Seconds beyond audit_head_every_seconds an entry may wait for its signed head before
# verify calls it unsigned (a process killed before it signed, a lost heads file).
UNSIGNED_SLACK_SECONDS = 60.0


@dataclass
class VerifyReport:
    """What :func:`verify_log` found. ``ok`` is False with ``problem`` saying what and
    ``first_bad_seq`` / ``bad_range`` (inclusive) saying where."""

    ok: bool
    size: int
    root: str
    heads_checked: int = 0
    unsigned: int = 0  # entries after the latest signed head: no signature covers them yet
    pending: int = 0  # entries committed, MAC'd, not yet sequenced into the tree
    problem: str | None = None
    first_bad_seq: int | None = None
    bad_range: tuple[int, int] | None = None
    latest_head: SignedHead | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "heads_checked": self.heads_checked,
            "unsigned": self.unsigned,
            "pending": self.pending,
            "problem": self.problem,
            "first_bad_seq": self.first_bad_seq,
            "bad_range": list(self.bad_range) if self.bad_range else None,
            "latest_head": self.latest_head.to_dict() if self.latest_head else None,
        }


def _snapshot(ctx: Context) -> Connection:
    # One consistent snapshot for state + entries while writers go on (PostgreSQL); on
    # SQLite the engine's BEGIN IMMEDIATE already gives one.
    conn = ctx.engine.connect()
    isolation = dialect_for(conn).snapshot_isolation
    if isolation is not None:
        conn = conn.execution_options(isolation_level=isolation)
    return conn


def _sqlite_iso(raw: str) -> str:
    """iso() text of a time as SQLAlchemy keeps it on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff",
    UTC), without a datetime round trip; any other shape was not written by troth and
    comes out unreadable, so its leaf cannot match."""
    if len(raw) != 26 or raw[10] != " ":
        return "unreadable:" + raw
    return raw[:10] + "T" + (raw[11:19] if raw.endswith(".000000") else raw[11:]) + "+00:00"


def _leaves_of(rows: Sequence[Any], sqlite: bool) -> list[bytes]:
    """The recomputed leaf hash of each row; a row too damaged to serialise gets an empty
    leaf, which matches nothing."""
    sha, eb, iso_of = hashlib.sha256, entry_bytes, _sqlite_iso
    try:
        if sqlite:
            return [sha(_LEAF + eb(r, iso_of(r[1]))).digest() for r in rows]
        return [sha(_LEAF + eb(r)).digest() for r in rows]
    except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
        out = []
        for r in rows:
            try:
                out.append(sha(_LEAF + eb(r, iso_of(r[1]) if sqlite else None)).digest())
            except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
                out.append(b"")
        return out


class _DriverRows:
    """The rows of a statement straight from the SQLite driver's cursor, as tuples, in
    the caller's transaction: every column verify reads is text, an integer or bytes
    there, so SQLAlchemy's per-row processing adds nothing but time."""

    def __init__(self, conn: Connection, stmt: Any) -> None:
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._cursor.execute(str(stmt.compile(dialect=conn.dialect)))

    def partitions(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        while part := self._cursor.fetchmany(size):
            yield part

    def close(self) -> None:
        self._cursor.close()


def _stream(conn: Connection, stmt: Any, sqlite: bool) -> Any:
    """The entries in chunks: on SQLite from the driver (after ``read_state`` began the
    snapshot both run in), elsewhere through SQLAlchemy with a server-side cursor."""
    if sqlite:
        return _DriverRows(conn, stmt)
    return conn.execution_options(yield_per=_CHUNK).execute(stmt)


def _entry_columns(times_as_text: bool) -> list[ColumnElement[Any]]:
    """The columns entry_bytes() reads, then leaf_hash; ``at`` as raw text on SQLite."""
    t = audit_entries
    cols: list[ColumnElement[Any]] = [t.c[name] for name in ENTRY_COLUMNS] + [t.c.leaf_hash]
    if times_as_text:
        cols[1] = type_coerce(t.c.at, String).label("at")
    return cols


def verify_log(
    ctx: Context, progress: Progress | None = None, witness: str | None = None
) -> VerifyReport:
    """Recompute every leaf, the seq sequence, the root at every signed head and the stored
    state root; stop at the first problem. Never raises for a bad log: it reports.
    ``witness`` (a file or URL holding C2SP checkpoints, troth.audit.checkpoint): its
    checkpoints are checked against the log like heads from the heads file."""
    path = ctx.settings.resolved_heads_file
    public_key = ctx.keys.public_key
    heads: dict[int, tuple[int, SignedHead]] = {}
    try:
        lines = read_heads(ctx)
    except OSError as exc:
        return VerifyReport(
            False, 0, "", problem=f"the heads file {path} cannot be read ({exc.strerror or exc})"
        )
    for lineno, head, error in lines:
        where = f"heads file {path} line {lineno}"
        if head is None:
            return VerifyReport(False, 0, "", problem=f"{where} is damaged ({error})")
        if not head.verify(public_key):
            return VerifyReport(
                False,
                0,
                "",
                problem=f"{where}: signature does not verify with this home's key "
                "(the line was edited or signed with another key)",
            )
        seen = heads.get(head.size)
        if seen is not None and seen[1].root != head.root:
            return VerifyReport(
                False,
                0,
                "",
                problem=f"{where} and line {seen[0]} sign different roots for size {head.size}",
            )
        heads[head.size] = (lineno, head)
    local_latest = heads[max(heads)][1] if heads else None
    if witness:
        try:
            found = witnessed(
                witness, ctx.home, origin_of(ctx.settings, ctx.keys), ctx.keys.public_key
            )
        except (ValidationError, ConfigError) as exc:
            return VerifyReport(False, 0, "", problem=f"witness {witness}: {exc.message}")
        for cp in found:
            seen = heads.get(cp.size)
            if seen is not None and seen[1].root != cp.root:
                other = f"heads file line {seen[0]}" if seen[0] else "another of its checkpoints"
                return VerifyReport(
                    False,
                    0,
                    "",
                    problem=f"the witness {witness} holds another root for size {cp.size}"
                    f" than {other}: the log was rewritten and re-signed",
                )
            if seen is None:
                heads[cp.size] = (_WITNESSED, SignedHead(cp.size, cp.root, "", ""))
    latest = heads[max(heads)][1] if heads else None

    def fail(
        n: int, root_hex: str, problem: str, seq: int | None, rng: tuple[int, int] | None
    ) -> VerifyReport:
        return VerifyReport(
            False,
            n,
            root_hex,
            heads_checked=len(heads),
            problem=problem,
            first_bad_seq=seq,
            bad_range=rng,
            latest_head=latest,
        )

    if 0 in heads and heads[0][1].root != EMPTY_ROOT.hex():
        return fail(
            0, "", f"heads file line {heads[0][0]}: an empty tree has another root", None, None
        )

    check_at = sorted(s for s in heads if s > 0)
    check_at.append(-1)  # sentinel
    next_i = 0
    next_size = check_at[0]
    last_good = 0  # size of the last signed head the entries matched
    frontier = CompactRange()
    n = 0

    t = audit_entries
    with _snapshot(ctx) as conn:
        state_size, state_root = read_state(conn)
        state_text = conn.execute(select(audit_state.c.frontier)).scalar()
        sqlite = dialect_for(conn).times_as_text
        stmt = select(*_entry_columns(sqlite)).order_by(t.c.seq)
        result = _stream(conn, stmt, sqlite)
        # Whole chunks at a time: list comprehensions for the leaves and the subtrees
        # instead of a Python loop body per entry (verify is bound by per-row overhead).
        for part in result.partitions(_CHUNK):
            count = len(part)
            leaves = _leaves_of(part, sqlite)
            bad: tuple[int, str] | None = None
            seqs = [r[0] for r in part]
            if seqs != list(range(n, n + count)):
                i = next(i for i, s in enumerate(seqs) if s != n + i)
                bad = (
                    i,
                    f"entry {n + i} is missing: the next stored entry is {seqs[i]}"
                    " (deleted, or the seqs were re-numbered)",
                )
            stored = [r[11] for r in part]
            if leaves != stored:
                i = next(i for i, (a, b) in enumerate(zip(leaves, stored, strict=True)) if a != b)
                if bad is None or i < bad[0]:
                    bad = (
                        i,
                        f"entry {n + i} was modified, moved or re-numbered: its contents no"
                        " longer match its leaf hash",
                    )
            good = count if bad is None else bad[0]
            levels = subtree_levels(leaves)
            while 0 < next_size <= n + good:
                probe = frontier.copy()
                probe.extend_levels(levels, next_size - n)
                lineno, head = heads[next_size]
                if probe.root().hex() != head.root:
                    result.close()
                    where = f"heads file line {lineno}" if lineno else f"witness {witness}"
                    problem = (
                        f"entries {last_good}..{next_size - 1} do not match the signed tree"
                        f" head of size {next_size} ({where}): an entry in"
                        " that range was changed and its hash recomputed"
                    )
                    return fail(next_size, "", problem, None, (last_good, next_size - 1))
                last_good = next_size
                next_i += 1
                next_size = check_at[next_i]
            if bad is not None:
                result.close()
                return fail(n + bad[0], "", bad[1], n + bad[0], None)
            frontier.extend_levels(levels, count)
            n += count
            if progress is not None:
                progress(n, max(state_size, n))
        result.close()
    root_hex = frontier.root().hex()
    if latest is not None and latest.size > n:
        lineno = heads[latest.size][0]
        where = f"on heads file line {lineno}" if lineno else f"held by the witness {witness}"
        problem = (
            f"the log holds {n} entries but the signed tree head {where}"
            f" covers {latest.size}: entries {n}..{latest.size - 1} were deleted or the"
            " database was rolled back"
        )
        return fail(n, root_hex, problem, n, (n, latest.size - 1))
    if state_size != n:
        first = min(state_size, n)
        how = "were inserted outside troth" if n > state_size else "were deleted"
        problem = (
            f"the tree state records {state_size} entries but {n} are stored: entries from"
            f" {first} {how}"
        )
        return fail(n, root_hex, problem, first, (first, max(state_size, n) - 1))
    if state_root != root_hex:
        problem = (
            f"entries {last_good}..{n - 1} do not match the stored tree root: an entry in that"
            " range was changed and its hash recomputed"
        )
        return fail(n, root_hex, problem, None, (last_good, max(n - 1, last_good)))
    signed = latest.size if latest else 0
    if state_text is not None and not (
        is_sealed(ctx.keys.mac, state_text) or (signed == n and latest and latest.root == root_hex)
    ):
        problem = (
            "the tree state is not sealed with this home's key: it was written outside troth"
            f" (entries from {signed} inserted or edited with the tree recomputed)"
        )
        return fail(n, root_hex, problem, signed if signed < n else None, (signed, n - 1))
    if n > 0 and local_latest is None:
        stale = _stale_unsigned(ctx, 0, n, path, None)
        if stale is not None:
            return fail(n, root_hex, stale, 0, (0, n - 1))
    if n > signed:
        stale = _stale_unsigned(ctx, signed, n, path, latest)
        if stale is not None:
            return fail(n, root_hex, stale, signed, (signed, n - 1))
    pending, bad_pending = _check_pending(ctx)
    if bad_pending is not None:
        return fail(n, root_hex, bad_pending, None, None)
    return VerifyReport(
        True,
        n,
        root_hex,
        heads_checked=len(heads),
        unsigned=n - signed,
        pending=pending,
        latest_head=latest,
    )


def _check_pending(ctx: Context) -> tuple[int, str | None]:
    """How many entries are pending (committed, not yet sequenced), and what is wrong with
    the first whose MAC does not verify (inserted, edited or re-numbered outside troth)."""
    p = audit_pending
    cols = [p.c.id, *[p.c[name] for name in ENTRY_COLUMNS[1:]], p.c.mac]
    count = 0
    with ctx.engine.connect() as conn:
        result = conn.execution_options(yield_per=_CHUNK).execute(
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


def _stale_unsigned(
    ctx: Context, signed: int, n: int, path: Any, latest: SignedHead | None
) -> str | None:
    """Why entries ``signed``..``n - 1`` should have a signed head by now, or None: the
    first of them is older than ``audit_head_every_seconds`` plus slack (a head is signed
    within that time of a commit), or there is no head at all."""
    if latest is None:
        where = "is missing" if not path.exists() else "holds no signed head"
        return (
            f"the heads file {path} {where} but the log holds {n} entries: no signature"
            " covers them (the heads file was deleted, emptied or moved; restore it or"
            " compare with your witness)"
        )
    with ctx.engine.connect() as conn:
        first_at = conn.execute(
            select(audit_entries.c.at).where(audit_entries.c.seq == signed)
        ).scalar()
    limit = ctx.settings.audit_head_every_seconds + UNSIGNED_SLACK_SECONDS
    if first_at is None:
        return None
    age = (ctx.clock.now() - first_at).total_seconds()
    if age <= limit:
        return None
    return (
        f"entries {signed}..{n - 1} have no signed head although the first was written"
        f" {age:.0f} s ago (heads are signed within {limit:.0f} s): the heads file lost its"
        " latest lines, or the entries were written outside troth"
    )


# -- proofs ------------------------------------------------------------------------------
def _latest_valid_head(ctx: Context) -> SignedHead | None:
    public_key = ctx.keys.public_key
    best: SignedHead | None = None
    for _lineno, head, _error in read_heads(ctx):
        if head is not None and head.verify(public_key) and (best is None or head.size > best.size):
            best = head
    return best


def _leaves(conn: Connection, size: int) -> list[bytes]:
    t = audit_entries
    stmt = select(t.c.leaf_hash).where(t.c.seq < size).order_by(t.c.seq)
    leaves = [bytes(h) for h in conn.execution_options(yield_per=_CHUNK).execute(stmt).scalars()]
    if len(leaves) != size:
        raise IntegrityError(
            f"the audit log holds {len(leaves)} entries below a signed head of size {size};"
            " run `troth audit verify`"
        )
    return leaves


def inclusion_proof(ctx: Context, seq: int) -> dict[str, Any]:
    """Proof that entry ``seq`` is in the log under a signed head (the latest one; a new
    checkpoint is signed when none covers ``seq`` yet). Check it with :func:`verify_proof`."""
    t = audit_entries
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(*[t.c[name] for name in ENTRY_COLUMNS], t.c.leaf_hash).where(t.c.seq == seq)
        ).first()
        if row is None:
            count = conn.execute(select(func.count()).select_from(t)).scalar_one()
            raise NotFound(f"no audit entry {seq}; the log holds entries 0..{count - 1}")
    head = _latest_valid_head(ctx)
    if head is None or head.size <= seq:
        head = sign_head(ctx)
    with ctx.engine.connect() as conn:
        leaves = _leaves(conn, head.size)
    canon = entry_bytes(row)
    leaf = leaf_hash(canon)
    path = inclusion_path(leaves, seq, head.size)
    if leaf != bytes(row[11]) or not verify_inclusion(
        leaf, seq, head.size, path, bytes.fromhex(head.root)
    ):
        raise IntegrityError(
            f"audit entry {seq} does not match the signed head; run `troth audit verify`"
        )
    return {
        "entry": canon.decode(),
        "leaf": leaf.hex(),
        "index": seq,
        "size": head.size,
        "path": [p.hex() for p in path],
        "root": head.root,
        "head": head.to_dict(),
    }


def verify_proof(proof: Mapping[str, Any], public_key_b64: str) -> bool:
    """Stand-alone check of an :func:`inclusion_proof` with only the public key: the head's
    signature, the entry's leaf hash and the Merkle path to the signed root."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        head = SignedHead.from_dict(proof["head"])
        index, size = int(proof["index"]), int(proof["size"])
        leaf, root_hash = bytes.fromhex(proof["leaf"]), bytes.fromhex(proof["root"])
        path = [bytes.fromhex(p) for p in proof["path"]]
        if not head.verify(public_key) or head.size != size or head.root != root_hash.hex():
            return False
        if "entry" in proof:
            entry = str(proof["entry"])
            if leaf_hash(entry.encode()) != leaf or json.loads(entry).get("seq") != index:
                return False
        return verify_inclusion(leaf, index, size, path, root_hash)
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError):
        return False


def consistency_proof(ctx: Context, size1: int, size2: int | None = None) -> dict[str, Any]:
    """Proof that the log of ``size2`` entries (default: now) extends the log of ``size1``
    entries unchanged; check with :func:`troth.audit.merkle.verify_consistency`."""
    with ctx.engine.connect() as conn:
        size2 = read_state(conn)[0] if size2 is None else size2
        if not 0 <= size1 <= size2:
            raise ValidationError(f"sizes must satisfy 0 <= {size1} <= {size2}")
        leaves = _leaves(conn, size2)
    return {
        "size1": size1,
        "size2": size2,
        "root1": root(leaves[:size1]).hex(),
        "root2": root(leaves).hex(),
        "path": [p.hex() for p in consistency_path(leaves, size1, size2)],
    }
