"""The one step most migrations take, written once: add columns to a table, and drop
them again on the way down.

Batch mode, so that SQLite (which cannot alter a column in place) copies the table; on
PostgreSQL and MariaDB it is a plain ``ALTER TABLE``.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

Step = Callable[[], None]


def columns_added(table: str, *columns: sa.Column[object]) -> tuple[Step, Step]:
    """``upgrade, downgrade = columns_added("t", sa.Column(...), ...)``: the upgrade adds
    each column to ``table``; the downgrade drops them, newest first."""

    def upgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(column)

    def downgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for column in reversed(columns):
                batch.drop_column(column.name)

    return upgrade, downgrade
