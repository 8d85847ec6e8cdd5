"""Proofs over the audit log: that an entry is in it under a signed head (inclusion), that
a later log extends an earlier one unchanged (consistency), and the stand-alone check of an
inclusion proof with only the public key."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select

from troth.audit.heads import SignedHead, read_heads
from troth.audit.log import read_state, sign_head
from troth.audit.merkle import (
    consistency_path,
    inclusion_path,
    leaf_hash,
    root,
    verify_inclusion,
)
from troth.audit.tables import ENTRY_COLUMNS, audit_entries, entry_bytes
from troth.context import Context
from troth.errors import IntegrityError, NotFound, ValidationError

_CHUNK = 1 << 14


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
