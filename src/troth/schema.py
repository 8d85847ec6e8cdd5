"""Import every module that declares tables, so ``troth.db.metadata`` is complete
(for ``create_all``, Alembic autogenerate and migration tests). One line per module."""

from __future__ import annotations

import troth.store.tables  # noqa: F401
import troth.audit.log  # noqa: F401
import troth.consent.tables  # noqa: F401
import troth.connectors.jobs  # noqa: F401
import troth.access.tables  # noqa: F401
import troth.notices.outbox  # noqa: F401
import troth.retention  # noqa: F401
import troth.disclosures.tables  # noqa: F401
import troth.api.idempotency  # noqa: F401
import troth.web.signin  # noqa: F401
import troth.breaches.register  # noqa: F401
import troth.requests.tables  # noqa: F401
import troth.worker  # noqa: F401
