"""``Idempotency-Key`` for the HTTP edge: the state and its rules live in
:mod:`troth.operations.idempotency` (a domain module; the edge holds no SQL)."""

from __future__ import annotations

from troth.operations.idempotency import request_hash, run_once

__all__ = ["request_hash", "run_once"]
