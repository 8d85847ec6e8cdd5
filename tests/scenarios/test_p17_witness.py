"""P17 with an external witness (issue 20, item 2.3): each head is also a C2SP checkpoint
(signed note) that a standard verifier checks with the public key alone, pushed to a file
or POSTed to a URL; the witness catches a deleted heads file and a log rewritten and
re-signed by someone who holds the key and the database. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import troth
from cli_runner import run
from served import ORDER
from troth.audit import sign_head, verify_log
from troth.audit.merkle import CompactRange, leaf_hash
from troth.audit.seal import seal
from troth.audit.tables import ENTRY_COLUMNS, audit_entries, audit_state, entry_bytes
from troth.store.tables import subjects


def _check_note(note: str, public_key_b64: str) -> tuple[str, int, bytes]:
    """A checkpoint checked per c2sp.org/signed-note and tlog-checkpoint, with nothing of
    troth's: (origin, size, root)."""
    body, blank, sigs = note.partition("\n\n")
    assert blank, "a blank line separates the text from the signatures"
    origin, size, root_b64 = body.split("\n")
    raw = base64.b64decode(public_key_b64)
    key_id = hashlib.sha256(origin.encode() + b"\x0a" + b"\x01" + raw).digest()[:4]
    (line,) = sigs.rstrip("\n").split("\n")
    dash, name, blob_b64 = line.split(" ")
    assert dash == "\u2014" and name == origin
    blob = base64.b64decode(blob_b64)
    assert blob[:4] == key_id
    Ed25519PublicKey.from_public_bytes(raw).verify(blob[4:], (body + "\n").encode())
    return origin, int(size), base64.b64decode(root_b64)


@pytest.fixture
def home_path(home: Any, db_url: str) -> Path:
    ctx = home("itechno", db_url, clock=None, context=True)
    ctx.engine.dispose()
    return ctx.home


def test_p17_troth_audit_head_prints_a_checkpoint_a_standard_verifier_accepts(
    home_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "head", "--checkpoint")
    assert code == 0
    with troth.open(home_path) as t:
        public = t.ctx.keys.public_key_b64()
        report = verify_log(t.ctx)
    origin, size, root = _check_note(out, public)
    assert origin.startswith("troth.audit/") and size == report.size and root.hex() == report.root
    tampered = out.replace(f"\n{size}\n", f"\n{size + 1}\n")
    with pytest.raises(InvalidSignature):
        _check_note(tampered, public)


def _forge_with_the_key(t: Any) -> None:
    """Someone with the database and the key file rewrites entry 1 and re-signs: the tree
    state recomputed and sealed, the heads file replaced by one new head."""
    with t.ctx.engine.begin() as conn:
        rows = conn.execute(sa.select(audit_entries).order_by(audit_entries.c.seq)).all()
        leaves = []
        for r in rows:
            row = dict(r._mapping)
            if row["seq"] == 1:
                row["actor"] = "staff:nobody"
                row["leaf_hash"] = leaf_hash(entry_bytes([row[c] for c in ENTRY_COLUMNS]))
                conn.execute(
                    sa.update(audit_entries)
                    .where(audit_entries.c.seq == 1)
                    .values(actor=row["actor"], leaf_hash=row["leaf_hash"])
                )
            leaves.append(bytes(row["leaf_hash"]))
        frontier = CompactRange()
        for leaf in leaves:
            frontier.append(leaf)
        conn.execute(
            sa.update(audit_state).values(
                size=frontier.size,
                root=frontier.root().hex(),
                frontier=seal(t.ctx.keys.mac, frontier),
            )
        )
    t.ctx.settings.resolved_heads_file.unlink()
    sign_head(t.ctx)


def test_p17_a_file_witness_catches_a_deleted_heads_file_and_a_re_signed_log(
    home_path: Path,
) -> None:
    witness = home_path.parent / "witness" / "checkpoints.txt"
    witness.parent.mkdir()
    with troth.open(home_path, audit_witness=str(witness)) as t:
        for i in range(3):
            t.collect("order_form", {**ORDER, "email": f"p{i}@example.com"})
        public = t.ctx.keys.public_key_b64()
        assert verify_log(t.ctx, witness=str(witness)).ok
        # Notes one after another, each followed by a blank line: text, blank, signature.
        chunks = witness.read_text().rstrip("\n").split("\n\n")
        notes = [f"{a}\n\n{b}\n" for a, b in zip(chunks[0::2], chunks[1::2], strict=True)]
        assert [_check_note(n, public)[1] for n in notes] == [2, 3, 4]

        t.ctx.settings.resolved_heads_file.rename(home_path / "elsewhere.jsonl")
        report = verify_log(t.ctx, witness=str(witness))
        assert not report.ok and "is missing" in str(report.problem)
        (home_path / "elsewhere.jsonl").rename(t.ctx.settings.resolved_heads_file)

    with troth.open(home_path) as t:  # the forger does not tell the witness
        _forge_with_the_key(t)
        assert verify_log(t.ctx).ok, "without a witness a key holder's rewrite verifies"
        report = verify_log(t.ctx, witness=str(witness))
        assert not report.ok and f"the witness {witness} holds another root for size 4" in str(
            report.problem
        )
        # Without the re-signed head at the same size, the witnessed head of size 2 catches
        # the rewritten entry 1.
        t.ctx.settings.resolved_heads_file.write_text("")
        report = verify_log(t.ctx, witness=str(witness))
        assert not report.ok and "entries 0..1 do not match the signed tree head of size 2" in str(
            report.problem
        )


class _Witness(BaseHTTPRequestHandler):
    notes: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).notes.append(body)
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        data = "\n".join(type(self).notes).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_witness() -> Iterator[tuple[str, list[str]]]:
    handler = type("Witness", (_Witness,), {"notes": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints", handler.notes
    server.shutdown()
    server.server_close()


def test_p17_a_url_witness_receives_each_head_and_catches_a_rollback(
    home_path: Path, http_witness: tuple[str, list[str]]
) -> None:
    url, received = http_witness
    with troth.open(home_path, audit_witness=url) as t:
        t.collect("order_form", ORDER)
        public = t.ctx.keys.public_key_b64()
    assert received, "closing troth waits for the last POST"
    _origin, size, root = _check_note(received[-1], public)
    with troth.open(home_path) as t:
        report = verify_log(t.ctx, witness=url)
        assert report.ok and report.size == size and report.root == root.hex()
        # Restore an older database and heads file: only the witness still knows better.
        with t.ctx.engine.begin() as conn:
            conn.execute(sa.delete(audit_entries).where(audit_entries.c.seq >= size - 1))
        heads = t.ctx.settings.resolved_heads_file
        heads.write_text(heads.read_text().splitlines()[0] + "\n")
        report = verify_log(t.ctx, witness=url)
        assert not report.ok and f"held by the witness {url}" in str(report.problem)


def test_p17_a_witness_with_a_foreign_checkpoint_fails_verify(
    home_path: Path, home: Any, tmp_path: Path
) -> None:
    other = home("itechno", name="other", clock=None, context=True)
    with troth.open(other.home) as o:
        note = sign_and_note(o)
    witness = tmp_path / "w.txt"
    witness.write_text(note)
    with troth.open(home_path) as t:
        report = verify_log(t.ctx, witness=str(witness))
    assert not report.ok and "witness" in str(report.problem)


def sign_and_note(t: Any) -> str:
    from troth.audit.checkpoint import checkpoint, origin_of

    head = sign_head(t.ctx)
    return checkpoint(origin_of(t.ctx.settings, t.ctx.keys), head.size, head.root, t.ctx.keys)


def test_p17_an_unwritable_witness_never_fails_a_committed_operation(
    home_path: Path, tmp_path: Path
) -> None:
    """The witness is a copy: a push that fails is logged, the operation (already
    committed) succeeds once, and verify with the witness says it cannot read it."""
    witness = tmp_path / "witness-dir"
    witness.mkdir()
    with troth.open(home_path, audit_witness=str(witness)) as t:
        sid = t.collect("order_form", ORDER).subject_id
        assert verify_log(t.ctx).ok
        report = verify_log(t.ctx, witness=str(witness))
        assert not report.ok and f"witness {witness}: cannot read the witness" in str(
            report.problem
        )
    with troth.open(home_path) as t, t.ctx.engine.connect() as conn:
        people = conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one()
    assert sid and people == 1, "stored once"
