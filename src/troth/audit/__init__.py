"""The tamper-evident audit log: entries in an RFC 6962 Merkle tree, signed tree heads
outside the database, verification and proofs anyone can check with the public key."""

from __future__ import annotations

from troth.audit.entries import LoggedEntry, accessed_subjects, list_entries
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.heads import SignedHead, close_heads, read_heads
from troth.audit.log import append_entries, append_entry, sign_head, transaction
from troth.audit.proofs import consistency_proof, inclusion_proof, verify_proof
from troth.audit.tables import audit_entries, audit_state, entry_bytes
from troth.audit.verify import VerifyReport, verify_log

__all__ = [
    "AuditEntry",
    "LoggedEntry",
    "Outcome",
    "SignedHead",
    "VerifyReport",
    "accessed_subjects",
    "append_entries",
    "append_entry",
    "audit_entries",
    "audit_state",
    "close_heads",
    "consistency_proof",
    "entry_bytes",
    "inclusion_proof",
    "list_entries",
    "read_heads",
    "sign_head",
    "transaction",
    "verify_log",
    "verify_proof",
]
