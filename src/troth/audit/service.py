"""The audit log as an application reaches it: ``t.audit`` (:class:`AuditService`).

Verify the whole log against its signed heads, sign the current head, read entries, and
prove an entry's inclusion or the log's consistency. Reading and verifying need the
office power ``read_audit`` (troth.office; a refusal is audited); proofs hold hashes
only and anyone checks them with the public key (:func:`troth.audit.verify_proof`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, cast

from troth.audit.entries import LoggedEntry
from troth.audit.heads import SignedHead
from troth.audit.verify import VerifyReport
from troth.context import Context
from troth.gate import SYSTEM, Actor

__all__ = ["AuditService", "ConsistencyProof", "HeadDict", "InclusionProof"]


class HeadDict(TypedDict):
    """A signed tree head as JSON."""

    size: int
    root: str
    at: str
    sig: str


class InclusionProof(TypedDict):
    """Proof that one entry is in the log under a signed head."""

    entry: str  # the entry's canonical JSON
    leaf: str
    index: int
    size: int
    path: list[str]
    root: str
    head: HeadDict


class ConsistencyProof(TypedDict):
    """Proof that the log of ``size2`` entries extends the log of ``size1`` unchanged."""

    size1: int
    size2: int
    root1: str
    root2: str
    path: list[str]


@dataclass(eq=False)
class AuditService:
    """One home's tamper-evident audit log."""

    ctx: Context

    def verify(
        self,
        *,
        actor: Actor = SYSTEM,
        progress: Callable[[int, int], None] | None = None,
        witness: str | None = None,
    ) -> VerifyReport:
        """Recompute every leaf and root and check them against every signed head (and a
        witness's checkpoints, default the home's ``audit_witness``); never raises for a
        bad log: ``report.ok`` is False and ``report.problem`` says where."""
        from troth.audit.verify import verify_log
        from troth.office import authorize
        from troth.policy.model import Power

        authorize(self.ctx, actor, Power.read_audit, details={"operation": "verify"})
        return verify_log(
            self.ctx, progress=progress, witness=witness or self.ctx.settings.audit_witness
        )

    def head(self) -> SignedHead:
        """Sign the current tree head and append it to the heads file: keep a copy where
        the database's administrators cannot edit it."""
        from troth.audit.log import sign_head

        return sign_head(self.ctx)

    def public_key(self) -> str:
        """The home's Ed25519 public key (base64): anyone checks heads and proofs with it
        (:func:`troth.audit.verify_proof`)."""
        return self.ctx.keys.public_key_b64()

    def entries(
        self,
        *,
        actor: Actor = SYSTEM,
        subject_id: str | None = None,
        by: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LoggedEntry]:
        """Audit entries, newest first (power ``read_audit``): about ``subject_id``, by
        the actor labelled ``by``, between ``since`` and ``until``."""
        from troth.office import read_audit

        return read_audit(
            self.ctx,
            actor,
            subject_id=subject_id,
            by=by,
            limit=limit,
            since=since,
            until=until,
        )

    def inclusion_proof(self, seq: int) -> InclusionProof:
        """Proof that entry ``seq`` is in the log under the latest signed head."""
        from troth.audit.proofs import inclusion_proof

        return cast(InclusionProof, inclusion_proof(self.ctx, seq))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """Proof that the log of ``size2`` entries (default: now) extends ``size1``'s."""
        from troth.audit.proofs import consistency_proof

        return cast(ConsistencyProof, consistency_proof(self.ctx, size1, size2))
