"""PostgreSQL row-level security for tenant isolation (P13): even a buggy raw query run as
the application role reads nothing of another tenant.

    enable_tenant_rls(engine, "troth_app")             # once, as the schema owner
    with tenant_connection(engine, tenant_id, role="troth_app") as conn:
        conn.execute(text("SELECT * FROM records"))    # only this tenant's rows
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, func, select, text

from troth.dialects import dialect_for
from troth.errors import ConfigError, ValidationError

# Tables holding a tenant's people and their data, each with a tenant_id column.
TENANT_TABLES: tuple[str, ...] = ("subjects", "records")
# Tables keyed by subject: visible when their subject is (through the subjects policy).
SUBJECT_TABLES: tuple[str, ...] = ("subject_keys", "restrictions")
SETTING = "troth.tenant_id"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(f"{name!r} is not a plain PostgreSQL name (a-z, 0-9, _)")
    return f'"{name}"'


def enable_tenant_rls(
    engine: Engine,
    app_role: str,
    *,
    password: str | None = None,
    tenant_tables: Sequence[str] = TENANT_TABLES,
    subject_tables: Sequence[str] = SUBJECT_TABLES,
) -> None:
    """Create ``app_role`` (NOBYPASSRLS; NOLOGIN and granted to the connecting user, or
    LOGIN with ``password``), give it read/write on the current schema, and turn on
    forced row-level security: a row is visible only when its tenant_id equals the
    ``troth.tenant_id`` setting of the transaction. Idempotent."""
    if not dialect_for(engine).row_level_security:
        raise ConfigError("row-level security needs PostgreSQL; SQLite has one tenant per file")
    role = _ident(app_role)
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}
        ).first()
        login = "LOGIN PASSWORD :pw" if password else "NOLOGIN"
        verb = "ALTER" if exists else "CREATE"
        # Role options cannot take bind parameters: quote the password as a literal.
        opts = login.replace(":pw", _literal(password)) if password else login
        conn.execute(text(f"{verb} ROLE {role} {opts} NOSUPERUSER NOBYPASSRLS"))
        user = conn.execute(select(func.current_user())).scalar_one()
        is_super = conn.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
        if not is_super and user != app_role:
            conn.execute(text(f"GRANT {role} TO {_ident(str(user))}"))
        schema = conn.execute(select(func.current_schema())).scalar_one()
        conn.execute(text(f"GRANT USAGE ON SCHEMA {_ident(str(schema))} TO {role}"))
        conn.execute(
            text(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA"
                f" {_ident(str(schema))} TO {role}"
            )
        )
        conn.execute(
            text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_ident(str(schema))} TO {role}")
        )
        cond = f"tenant_id = current_setting('{SETTING}', true)"
        for table in tenant_tables:
            _policy(conn, table, cond)
        sub_cond = "subject_id IN (SELECT id FROM subjects)"
        for table in subject_tables:
            _policy(conn, table, sub_cond)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _policy(conn: Connection, table: str, cond: str) -> None:
    t = _ident(table)
    conn.execute(text(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"))
    conn.execute(text(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY"))
    conn.execute(text(f"DROP POLICY IF EXISTS tenant_isolation ON {t}"))
    conn.execute(text(f"CREATE POLICY tenant_isolation ON {t} USING ({cond}) WITH CHECK ({cond})"))


@contextmanager
def tenant_connection(engine: Engine, tenant_id: str, *, role: str) -> Iterator[Connection]:
    """A transaction running as ``role`` with ``troth.tenant_id`` set: every statement in
    it sees and writes only that tenant's rows. Both settings end with the transaction."""
    if not tenant_id:
        raise ValidationError("a tenant connection needs a tenant id")
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {_ident(role)}"))
        conn.execute(select(func.set_config(SETTING, tenant_id, True)))
        yield conn


def drop_app_role(engine: Engine, app_role: str) -> None:
    """Remove the role's privileges in this database and the role (tests, uninstall)."""
    role = _ident(app_role)
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}).first():
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
