"""P17 (ixanet): every access, change and decision is in an append-only audit log whose
integrity can be verified; driven through the Python API on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from troth.audit import inclusion_proof, list_entries, verify_log, verify_proof
from troth.audit.heads import read_heads
from troth.audit.tables import audit_entries
from troth.errors import Refused
from troth.gate import Actor, ActorKind

ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
SUPPORT = Actor(ActorKind.staff, "sam", role="support")


def _flip_one_byte(text: str) -> str:
    return text[:1] + chr(ord(text[1]) ^ 1) + text[2:]


def test_p17_every_access_and_decision_is_logged_and_verifiable(home, db_url):
    t = home("ixanet", db_url)
    ann = t.collect(
        "subscription",
        {"name": "Ann", "email": "ann@example.com", "plan": "Pro"},
        consents=["billing", "client_relations", "customer_service"],
    ).subject_id
    t.collect(
        "purchase",
        {"email": "bob@example.com", "product": "Hosting", "amount": 9.5},
        consents=["billing", "customer_service"],
    )
    t.use(ann, purpose="billing", actor=ACCOUNTS)
    with pytest.raises(Refused):
        t.use(ann, purpose="billing", actor=SUPPORT)
    t.use(ann, purpose="customer_service", actor=SUPPORT)

    # Who accessed Ann's data, for what, and what troth decided.
    mine = list_entries(t.ctx, subject_id=ann)
    uses = [(e.entry.actor, e.entry.purpose, str(e.entry.outcome)) for e in mine]
    assert ("staff:ada", "billing", "allow") in uses
    assert ("staff:sam", "billing", "deny") in uses
    assert ("staff:sam", "customer_service", "allow") in uses

    report = verify_log(t.ctx)
    assert report.ok, report.problem
    assert report.size == len(list_entries(t.ctx, limit=10_000)) >= 6
    assert report.unsigned == 0 and read_heads(t.ctx)

    # Each entry is provably in the log with the public key alone.
    public = t.ctx.keys.public_key_b64()
    for seq in range(report.size):
        assert verify_proof(inclusion_proof(t.ctx, seq), public)

    # Changing one byte of any entry makes verification fail, naming that entry.
    for seq in range(report.size):
        for column in ("details", "actor"):
            with t.ctx.engine.connect() as conn:
                original = conn.execute(
                    sa.select(audit_entries.c[column]).where(audit_entries.c.seq == seq)
                ).scalar_one()
            edit = sa.update(audit_entries).where(audit_entries.c.seq == seq)
            with t.ctx.engine.begin() as conn:
                conn.execute(edit.values({column: _flip_one_byte(original)}))
            bad = verify_log(t.ctx)
            assert not bad.ok and bad.first_bad_seq == seq, (seq, column, bad.problem)
            with t.ctx.engine.begin() as conn:
                conn.execute(edit.values({column: original}))
    assert verify_log(t.ctx).ok
