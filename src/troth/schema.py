"""Import every module that declares tables, so ``troth.db.metadata`` is complete
(for ``create_all``, Alembic autogenerate and migration tests). One line per module."""

from __future__ import annotations

import troth.access.signin
import troth.access.tables
import troth.audit.tables
import troth.breaches.tables
import troth.connectors.jobs
import troth.consent.tables
import troth.disclosures.tables
import troth.discovery.tables
import troth.notices.outbox
import troth.operations.idempotency
import troth.operations.jobs
import troth.policy.versions
import troth.requests.tables
import troth.retention.tables
import troth.store.tables

__all__ = ["troth"]
