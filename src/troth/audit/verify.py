"""Checking the audit log: recompute every leaf and root from the stored rows and compare
them with the signed heads; produce and check inclusion and consistency proofs.

:func:`verify_log` streams the entries once, in order, naming the first bad one (or range)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from troth.audit.alarms import alarm_problem
from troth.audit.checkpoint import origin_of, witnessed
from troth.audit.heads import SignedHead, read_heads
from troth.audit.heads_start import started_late
from troth.audit.leaves import entry_columns, leaves_of
from troth.audit.log import read_state
from troth.audit.merkle import EMPTY_ROOT, CompactRange, subtree_levels
from troth.audit.pending import check_pending
from troth.audit.seal import is_sealed
from troth.audit.tables import (
    audit_entries,
    audit_state,
)
from troth.context import Context
from troth.dialects import dialect_for
from troth.errors import ConfigError, ValidationError
from troth.store.plain import plain_fields
from troth.stored import tolerating

Progress = Callable[[int, int], None]
_CHUNK = 1 << 14  # a power of two: each full chunk is one perfect subtree of the log
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
    bad_records: list[int] = field(default_factory=list)  # records not matching their seals
    bad_subjects: list[str] = field(default_factory=list)  # people not matching their seals
    bad_credentials: list[str] = field(default_factory=list)  # "users:ID", "sessions:ID"...
    bad_mail: list[str] = field(default_factory=list)  # "outbox:ID" not matching its seal
    # What the log recorded and the tables lost or gained (troth.audit.crosscheck).
    bad_holds: list[str] = field(default_factory=list)
    bad_consents: list[str] = field(default_factory=list)
    bad_restrictions: list[str] = field(default_factory=list)
    bad_disclosures: list[str] = field(default_factory=list)  # disclosures' and demands' ids
    bad_versions: list[str] = field(default_factory=list)  # published policy versions
    bad_values: list[str] = field(default_factory=list)  # "table:ID (column)" unreadable

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


def _snapshot(ctx: Context) -> Connection:
    # One consistent snapshot for state + entries while writers go on (PostgreSQL); on
    # SQLite the engine's BEGIN IMMEDIATE already gives one.
    conn = ctx.engine.connect()
    isolation = dialect_for(conn).snapshot_isolation
    if isolation is not None:
        conn = conn.execution_options(isolation_level=isolation)
    return conn


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


def verify_log(
    ctx: Context, progress: Progress | None = None, witness: str | None = None
) -> VerifyReport:
    """Recompute every leaf, the seq sequence, the root at every signed head and the stored
    state root (stopping at the first problem), then check every stored value against its
    record seal (each bad one named: troth.store.sealing), the tables troth decides on
    against what the log recorded (troth.audit.crosscheck) and every value against what
    troth writes (troth.audit.unreadable; a row changed so is named, not a crash). Never
    raises for a bad log: it reports. ``witness`` (C2SP checkpoints in a file or at a
    URL, troth.audit.checkpoint): checked like heads."""
    from troth.audit.crosscheck import with_crosscheck
    from troth.audit.unreadable import with_values
    from troth.store.sealing import with_seals  # the store's module imports the log's

    with tolerating():  # an unreadable value is named by with_values, and fails its seal
        report = with_seals(ctx, _verify_entries(ctx, progress, witness))
        return with_values(ctx, with_crosscheck(ctx, report))


def _verify_entries(ctx: Context, progress: Progress | None, witness: str | None) -> VerifyReport:
    heads = _read_heads(ctx)
    if isinstance(heads, VerifyReport):
        return heads
    alarm = alarm_problem(ctx)
    if alarm is not None:
        return VerifyReport(False, 0, "", problem=alarm)
    if witness:
        problem = _add_witnessed(ctx, witness, heads)
        if problem is not None:
            return VerifyReport(False, 0, "", problem=problem)
    if 0 in heads.by_size and heads.by_size[0][1].root != EMPTY_ROOT.hex():
        problem = f"heads file line {heads.by_size[0][0]}: an empty tree has another root"
        return heads.fail(0, "", problem, None, None)
    walked = _walk(ctx, heads, progress)
    if isinstance(walked, VerifyReport):
        return walked
    return _check_end(ctx, heads, walked)


@dataclass
class _Heads:
    """The signed heads verify checks the log against: {size: (heads file line, head)},
    line 0 for a head only the witness holds."""

    by_size: dict[int, tuple[int, SignedHead]]
    local_latest: SignedHead | None  # the largest in the heads file itself
    witness: str | None = None

    @property
    def latest(self) -> SignedHead | None:
        return self.by_size[max(self.by_size)][1] if self.by_size else None

    def where(self, size: int) -> str:
        lineno = self.by_size[size][0]
        return f"heads file line {lineno}" if lineno else f"witness {self.witness}"

    def fail(
        self, n: int, root_hex: str, problem: str, seq: int | None, rng: tuple[int, int] | None
    ) -> VerifyReport:
        return VerifyReport(
            False,
            n,
            root_hex,
            heads_checked=len(self.by_size),
            problem=problem,
            first_bad_seq=seq,
            bad_range=rng,
            latest_head=self.latest,
        )


def _read_heads(ctx: Context) -> _Heads | VerifyReport:
    """The heads file's heads, each signature checked; a failing report when a line is
    unreadable, not signed with the home's key, or signs another root for a size."""
    path = ctx.settings.resolved_heads_file
    public_key = ctx.keys.public_key
    heads: dict[int, tuple[int, SignedHead]] = {}
    try:
        lines = read_heads(ctx)
    except OSError as exc:
        unreadable = f"the heads file {path} cannot be read ({exc.strerror or exc})"
        return VerifyReport(False, 0, "", problem=unreadable)
    for lineno, head, error in lines:
        where = f"heads file {path} line {lineno}"
        problem: str | None = None
        if head is None:
            problem = f"{where} is damaged ({error})"
        elif not head.verify(public_key):
            problem = (
                f"{where}: signature does not verify with this home's key "
                "(the line was edited or signed with another key)"
            )
        elif (seen := heads.get(head.size)) is not None and seen[1].root != head.root:
            problem = f"{where} and line {seen[0]} sign different roots for size {head.size}"
        if problem is not None or head is None:
            return VerifyReport(False, 0, "", problem=problem)
        heads[head.size] = (lineno, head)
    return _Heads(heads, heads[max(heads)][1] if heads else None)


def _add_witnessed(ctx: Context, witness: str, heads: _Heads) -> str | None:
    """Add the witness's checkpoints to ``heads``; what is wrong, when its checkpoints
    cannot be read or one holds another root for a size than a head."""
    heads.witness = witness
    try:
        found = witnessed(witness, ctx.home, origin_of(ctx.settings, ctx.keys), ctx.keys.public_key)
    except (ValidationError, ConfigError) as exc:
        return f"witness {witness}: {exc.message}"
    for cp in found:
        seen = heads.by_size.get(cp.size)
        if seen is not None and seen[1].root != cp.root:
            other = f"heads file line {seen[0]}" if seen[0] else "another of its checkpoints"
            return (
                f"the witness {witness} holds another root for size {cp.size}"
                f" than {other}: the log was rewritten and re-signed"
            )
        if seen is None:
            heads.by_size[cp.size] = (_WITNESSED, SignedHead(cp.size, cp.root, "", ""))
    return None


@dataclass
class _Walked:
    """What streaming the entries found: how many, their root, the size of the last
    signed head they matched, and the state row as stored."""

    n: int
    root_hex: str
    last_good: int
    state_size: int
    state_root: str
    state_text: str | None


def _walk(ctx: Context, heads: _Heads, progress: Progress | None) -> _Walked | VerifyReport:
    """Stream the entries in seq order, a chunk at a time, checking each chunk's seqs and
    leaves and the root at every signed head inside it; a failing report at the first
    problem."""
    check_at = sorted(s for s in heads.by_size if s > 0)
    check_at.append(-1)  # sentinel
    walk = _Walk(heads, check_at)
    with _snapshot(ctx) as conn:
        state_size, state_root = read_state(conn)
        state_text = conn.execute(select(audit_state.c.frontier)).scalar()
        sqlite = dialect_for(conn).times_as_text
        stmt = select(*entry_columns(sqlite)).order_by(audit_entries.c.seq)
        result = _stream(conn, stmt, sqlite)
        try:
            # Whole chunks at a time: list comprehensions for the leaves and the subtrees
            # instead of a Python loop body per entry (verify is bound by per-row overhead).
            for part in result.partitions(_CHUNK):
                failed = walk.chunk(part, leaves_of(part, sqlite))
                if failed is not None:
                    return failed
                if progress is not None:
                    progress(walk.n, max(state_size, walk.n))
        finally:
            result.close()
    root_hex = walk.frontier.root().hex()
    return _Walked(walk.n, root_hex, walk.last_good, state_size, state_root, state_text)


class _Walk:
    """The running state of :func:`_walk`: entries seen, their frontier, and the next
    signed head to check."""

    def __init__(self, heads: _Heads, check_at: list[int]) -> None:
        self.heads, self.check_at = heads, check_at
        self.next_i, self.next_size = 0, check_at[0]
        self.last_good = 0  # size of the last signed head the entries matched
        self.frontier = CompactRange()
        self.n = 0

    def chunk(self, part: Sequence[Any], leaves: list[bytes]) -> VerifyReport | None:
        """Check one chunk of rows (and their recomputed ``leaves``); a report if bad."""
        n, count = self.n, len(part)
        bad = _first_bad(part, leaves, n)
        good = count if bad is None else bad[0]
        levels = subtree_levels(leaves)
        while 0 < self.next_size <= n + good:
            probe = self.frontier.copy()
            probe.extend_levels(levels, self.next_size - n)
            size = self.next_size
            if probe.root().hex() != self.heads.by_size[size][1].root:
                problem = (
                    f"entries {self.last_good}..{size - 1} do not match the signed tree"
                    f" head of size {size} ({self.heads.where(size)}): an entry in"
                    " that range was changed and its hash recomputed"
                )
                return self.heads.fail(size, "", problem, None, (self.last_good, size - 1))
            self.last_good = size
            self.next_i += 1
            self.next_size = self.check_at[self.next_i]
        if bad is not None:
            return self.heads.fail(n + bad[0], "", bad[1], n + bad[0], None)
        self.frontier.extend_levels(levels, count)
        self.n += count
        return None


def _first_bad(part: Sequence[Any], leaves: list[bytes], n: int) -> tuple[int, str] | None:
    """(index in ``part``, problem) of the first row out of seq order or whose contents do
    not match its stored leaf hash; None when every row is good."""
    count = len(part)
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
    return bad


def _check_end(ctx: Context, heads: _Heads, w: _Walked) -> VerifyReport:
    """After the walk: the entries against the latest head and the stored state (size,
    root, seal), heads overdue, and the pending entries' MACs."""
    n, root_hex, latest = w.n, w.root_hex, heads.latest
    problem: str | None = None
    rng: tuple[int, int] | None = None
    seq: int | None = None
    signed = latest.size if latest else 0
    if latest is not None and latest.size > n:
        where = heads.where(latest.size)
        where = f"on {where}" if where.startswith("heads") else f"held by the {where}"
        problem = (
            f"the log holds {n} entries but the signed tree head {where}"
            f" covers {latest.size}: entries {n}..{latest.size - 1} were deleted or the"
            " database was rolled back"
        )
        seq, rng = n, (n, latest.size - 1)
    elif w.state_size != n:
        first = min(w.state_size, n)
        how = "were inserted outside troth" if n > w.state_size else "were deleted"
        problem = (
            f"the tree state records {w.state_size} entries but {n} are stored: entries from"
            f" {first} {how}"
        )
        seq, rng = first, (first, max(w.state_size, n) - 1)
    elif w.state_root != root_hex:
        problem = (
            f"entries {w.last_good}..{n - 1} do not match the stored tree root: an entry in"
            " that range was changed and its hash recomputed"
        )
        rng = (w.last_good, max(n - 1, w.last_good))
    elif w.state_text is not None and not (
        is_sealed(ctx.keys.mac, w.state_text)
        or (signed == n and latest and latest.root == root_hex)
    ):
        problem = (
            "the tree state is not sealed with this home's key: it was written outside troth"
            f" (entries from {signed} inserted or edited with the tree recomputed)"
        )
        seq, rng = (signed if signed < n else None), (signed, n - 1)
    else:
        return _check_signed(ctx, heads, w)
    return heads.fail(n, root_hex, problem, seq, rng)


def _check_signed(ctx: Context, heads: _Heads, w: _Walked) -> VerifyReport:
    """The entries no head covers yet (not overdue), then the pending entries' MACs."""
    n, root_hex, latest = w.n, w.root_hex, heads.latest
    path = ctx.settings.resolved_heads_file
    signed = latest.size if latest else 0
    local = [head for line, head in heads.by_size.values() if line]
    if n > 0 and local:
        late = started_late(ctx, min(local, key=lambda h: h.size), path, UNSIGNED_SLACK_SECONDS)
        if late is not None:
            return heads.fail(n, root_hex, late, 0, (0, n - 1))
    if n > 0 and heads.local_latest is None:
        stale = _stale_unsigned(ctx, 0, n, path, None)
        if stale is not None:
            return heads.fail(n, root_hex, stale, 0, (0, n - 1))
    if n > signed:
        stale = _stale_unsigned(ctx, signed, n, path, latest)
        if stale is not None:
            return heads.fail(n, root_hex, stale, signed, (signed, n - 1))
    pending, bad_pending = check_pending(ctx)
    if bad_pending is not None:
        return heads.fail(n, root_hex, bad_pending, None, None)
    return VerifyReport(
        True,
        n,
        root_hex,
        heads_checked=len(heads.by_size),
        unsigned=n - signed,
        pending=pending,
        latest_head=latest,
    )


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
