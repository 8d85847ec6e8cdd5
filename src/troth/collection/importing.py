"""Importing many records from a JSON Lines or CSV file through one collection point.

Rows go in batches through :meth:`Troth.collect_many` (validated as a whole, one
transaction each). A batch with a bad row is split: each of its rows is collected alone, so
the good ones are stored and each bad one is reported with its reason; no row is ever half
stored. Every batch (and every single row of a split batch) runs under an idempotency key
made of the file's SHA-256 and its row numbers, in the same transaction as the work
(:func:`troth.idempotency.run_once`), and a state file records the next row after each
batch: a run killed at any point is resumed by running it again, and no row is stored
twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from troth.collection.identities import IdentifierInUse
from troth.errors import Refused, TrothError, ValidationError

BATCH = 200
# What refuses a row (reported, the other rows stored): bad input, the gate, and an
# identity of another person (troth.collection.identities).
_ROW_REFUSALS = (ValidationError, Refused, IdentifierInUse)
MAX_ROWS_REPORTED = 1000


@dataclass
class ImportState:
    """What the state file holds: where to resume and what happened so far."""

    file_sha256: str
    point: str
    batch: int = 0  # rows per transaction, kept for a resumed run (its keys name them)
    next_row: int = 1
    stored: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_rows(path: Path, fmt: str | None = None) -> Iterator[tuple[int, Any]]:
    """(row number, object or the reason it cannot be read). Rows count from 1: the line
    of a JSON Lines file, the data row of a CSV file (its header is row 0). Blank JSON
    lines count but yield nothing; empty CSV cells are left out of the row."""
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind not in ("jsonl", "ndjson", "csv"):
        raise ValidationError(
            f"{path.name}: give a .jsonl or .csv file (or --format jsonl|csv)", code="bad_format"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path.name} is not UTF-8 text ({exc.reason})") from None
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise ValidationError(f"{path.name}: the CSV file has no header row")
        for n, rec in enumerate(reader, start=1):
            if None in rec:
                yield n, f"more cells than the {len(reader.fieldnames)} columns of the header"
                continue
            yield n, {k: v for k, v in rec.items() if v not in (None, "")}
        return
    from troth.collection.validation import decode_json

    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = decode_json(line, f"row {n}")
        except ValidationError as exc:
            yield n, exc.message
            continue
        yield n, value if isinstance(value, dict) else "a row must be a JSON object"


def load_state(state_file: Path, sha: str, point: str) -> ImportState:
    if state_file.exists():
        data = json.loads(state_file.read_text())
        if data.get("file_sha256") == sha and data.get("point") == point:
            return ImportState(**data)
    return ImportState(file_sha256=sha, point=point)


def save_state(state_file: Path, state: ImportState) -> None:
    """Written whole to a temporary file, then renamed: a kill leaves the old or the new."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=1))
    os.replace(tmp, state_file)


def import_file(
    troth: Any,
    path: Path,
    point: str,
    *,
    actor: Any,
    state_file: Path,
    fmt: str | None = None,
    tenant_id: str | None = None,
    consents: tuple[str, ...] = (),
    jurisdiction: str | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    supplier: str | None = None,
    purposes: tuple[str, ...] | None = None,
) -> ImportState:
    """Import ``path`` (resuming from ``state_file`` when it names this file and point);
    returns the final state. ``progress`` is called with the number of rows just done.
    ``supplier`` names the third party a file of third-party data came from (a purchased
    list), ``purposes`` the purpose(s) it was supplied for (P03), as ``collect`` takes them."""
    if point not in troth.ctx.policy.points:
        known = ", ".join(sorted(troth.ctx.policy.points)) or "none"
        raise ValidationError(f"no collection point {point!r} in the policy (known: {known})")
    if batch < 1:
        raise ValidationError("--batch must be at least 1")
    sha = file_sha256(path)
    state = load_state(state_file, sha, point)
    if state.done:
        return state
    # A resumed run cuts the file into the same batches: a batch committed just before a
    # kill is then found again under its key, never stored a second time.
    state.batch = state.batch or batch
    options: dict[str, Any] = {
        "actor": actor,
        "tenant_id": tenant_id,
        "consents": consents,
        "consent_method": "import",  # the ledger's method: consent given elsewhere, imported
        "jurisdiction": jurisdiction,
        "supplier": supplier,
        "purposes": purposes,
    }
    run = _Run(troth, point, sha, f"import:{actor.label}", options, state, state_file, progress)
    run.rows(read_rows(path, fmt))
    state.done = True
    state.refused.sort(key=lambda r: int(r["row"]))
    save_state(state_file, state)
    return state


@dataclass
class _Run:
    """One run of an import: rows collected batch by batch under their idempotency keys,
    the state saved after each batch."""

    troth: Any
    point: str
    sha: str
    key_actor: str
    options: dict[str, Any]
    state: ImportState
    state_file: Path
    progress: Callable[[int], None] | None

    def rows(self, rows: Iterator[tuple[int, Any]]) -> None:
        """Collect the rows from ``state.next_row`` on, a batch at a time; a row that is
        not a record is refused and skipped."""
        state = self.state
        pending: list[tuple[int, dict[str, Any]]] = []
        skipped = 0
        for n, row in rows:
            if n < state.next_row:
                continue
            if isinstance(row, str):
                self.refuse(n, f"invalid_row: {row}")
                skipped += 1
                continue
            pending.append((n, row))
            if len(pending) >= state.batch:
                try:
                    self.flush(pending)
                except _ROW_REFUSALS as exc:  # a batch of one, refused
                    self.refuse(pending[0][0], f"{exc.code}: {exc.message}")
                    state.next_row = pending[0][0] + 1
                    save_state(self.state_file, state)
                self.skipped(skipped)
                pending, skipped = [], 0
        try:
            self.flush(pending)
        except _ROW_REFUSALS as exc:
            self.refuse(pending[0][0], f"{exc.code}: {exc.message}")
        self.skipped(skipped)

    def skipped(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)

    def refuse(self, n: int, why: str) -> None:
        if len(self.state.refused) < MAX_ROWS_REPORTED:
            self.state.refused.append({"row": n, "reason": why})

    def collect(self, rows: list[tuple[int, dict[str, Any]]]) -> int:
        """Collect a batch once (its key: the file's digest and its row numbers)."""
        from troth.operations.idempotency import run_once

        first, last = rows[0][0], rows[-1][0]
        fingerprint = hashlib.sha256(
            json.dumps([r for _, r in rows], sort_keys=True, default=str).encode()
        ).hexdigest()

        def work() -> tuple[int, Any]:
            results = self.troth.collect_many(self.point, [r for _, r in rows], **self.options)
            return 200, [r.subject_id for r in results]

        key = f"{self.sha}:{first}-{last}"
        _, body, _ = run_once(self.troth.ctx, self.key_actor, key, fingerprint, work)
        return len(body)

    def flush(self, pending: list[tuple[int, dict[str, Any]]]) -> None:
        """Collect a batch; if it is refused, each of its rows alone (the bad ones are
        reported, the good ones stored)."""
        if not pending:
            return
        state = self.state
        try:
            state.stored += self.collect(pending)
        except _ROW_REFUSALS:
            if len(pending) == 1:
                raise
            for n, row in pending:  # find the bad rows: each alone
                try:
                    state.stored += self.collect([(n, row)])
                except _ROW_REFUSALS as exc:
                    self.refuse(n, f"{exc.code}: {exc.message}")
        state.next_row = pending[-1][0] + 1
        save_state(self.state_file, state)
        if self.progress is not None:
            self.progress(len(pending))


def count_rows(path: Path) -> int:
    """Rows in the file (for a progress bar): lines, less the CSV header."""
    with path.open("rb") as fh:
        lines = sum(1 for _ in fh)
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


__all__ = ["ImportState", "TrothError", "count_rows", "file_sha256", "import_file", "read_rows"]
