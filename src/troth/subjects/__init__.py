"""A person's life cycle in troth, beside their values: the relationship with them ends
(a candidate rejected, an employee gone, a contract over) and may resume
(:mod:`troth.subjects.relationship`); ``t.subjects`` on the Python API."""

from __future__ import annotations

from troth.subjects.relationship import BulkOutcome, RelationshipChange, SubjectService

__all__ = ["BulkOutcome", "RelationshipChange", "SubjectService"]
