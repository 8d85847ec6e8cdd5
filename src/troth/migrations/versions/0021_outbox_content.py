"""The outbox keeps what a message says encrypted, and each row sealed (trial #19 F1: a
one-time sign-in code, a request's confirmation code or a download link lay in plain text
in ``body_text`` for up to 30 days, and a queued message could be re-addressed unseen).
``content`` holds the subject line, bodies and headers, AES-256-GCM encrypted under a key
derived from the key file; ``seal`` is the row's keyed MAC (troth.notices.sealed). The
rows stored before are encrypted and sealed once by `troth db migrate`, which has the key
file (troth.store.sealing, ``outbox.sealed``).

Going down drops both columns: mail queued since (its words only in ``content``) is lost;
deliver the outbox first.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0021_outbox_content"
down_revision = "0020_disclosure_masks"

upgrade, downgrade = columns_added(
    "outbox",
    sa.Column("content", sa.LargeBinary(16 * 1024 * 1024)),
    sa.Column("seal", sa.LargeBinary),
)
