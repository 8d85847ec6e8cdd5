"""The initial schema: every table of troth 0.1, generated from troth.db.metadata by
Alembic autogenerate; tests/migrations/test_migrations.py checks the result against the metadata on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import troth.db

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=True),
        sa.Column("tenant_id", sa.String(length=128), nullable=True),
        sa.Column("purpose", sa.String(length=100), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_actor_seq", ["actor", "seq"], unique=False)
        batch_op.create_index("ix_audit_entries_at_subject_id", ["at", "subject_id"], unique=False)
        batch_op.create_index(
            "ix_audit_entries_subject_id_seq", ["subject_id", "seq"], unique=False
        )

    op.create_table(
        "audit_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_state")),
    )
    op.create_table(
        "breaches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("discovered_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("aware_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("occurred_from", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("occurred_until", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "systems",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "categories",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "regimes",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("high_risk", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("affected_count", sa.Integer(), nullable=False),
        sa.Column("regulator_notified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("individuals_notified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("late_reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("keep_until", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
    )
    op.create_table(
        "connector_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "identities",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_jobs")),
    )
    with op.batch_alter_table("connector_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connector_jobs_state_updated_at"), ["state", "updated_at"], unique=False
        )

    op.create_table(
        "disclosures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column(
            "categories",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "fields",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("location", sa.String(length=2), nullable=False),
        sa.Column("transfer_safeguard", sa.String(length=500), nullable=True),
        sa.Column("legal_demand_id", sa.String(length=32), nullable=True),
        sa.Column("notified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index("ix_disclosures_legal_demand_id", ["legal_demand_id"], unique=False)
        batch_op.create_index("ix_disclosures_subject_at", ["subject_id", "at"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_created_at", ["created_at"], unique=False)

    op.create_table(
        "legal_demands",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("instrument", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("received_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("gag_until", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_demands")),
    )
    with op.batch_alter_table("legal_demands", schema=None) as batch_op:
        batch_op.create_index("ix_legal_demands_status_gag", ["status", "gag_until"], unique=False)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("placed_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=255), nullable=False),
        sa.Column("lifted_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_subject_id"), ["subject_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_holds_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("published_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=True,
        ),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "privacy_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_sessions")),
    )
    with op.batch_alter_table("privacy_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_sessions_subject", ["subject_id"], unique=False)

    op.create_table(
        "privacy_signin_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("code_mac", sa.String(length=64), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("address_mac", sa.String(length=64), nullable=True),
        sa.Column("client_mac", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_signin_codes")),
    )
    with op.batch_alter_table("privacy_signin_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_privacy_signin_codes_address", ["address_mac", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_privacy_signin_codes_client", ["client_mac", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_privacy_signin_codes_subject", ["subject_id", "created_at"], unique=False
        )

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("primary_email", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "worker_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=200), nullable=True),
        sa.Column("locked_until", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_jobs")),
    )
    op.create_table(
        "breach_subjects",
        sa.Column("breach_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("notified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_breach_subjects_breach_id_breaches")
        ),
        sa.PrimaryKeyConstraint("breach_id", "subject_id", name=op.f("pk_breach_subjects")),
    )
    op.create_table(
        "connector_steps",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=True,
        ),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["connector_jobs.id"],
            name=op.f("fk_connector_steps_job_id_connector_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "dataset", name=op.f("pk_connector_steps")),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("invited_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invitations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index("ix_invitations_tenant", ["tenant_id"], unique=False)

    op.create_table(
        "policy_notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("point", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("needs_consent", sa.Boolean(), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=True),
        sa.Column("posted_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["policy_versions.version"],
            name=op.f("fk_policy_notices_version_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_notices")),
    )
    with op.batch_alter_table("policy_notices", schema=None) as batch_op:
        batch_op.create_index("ix_policy_notices_version", ["version"], unique=False)

    op.create_table(
        "subjects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=True),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("email_bidx", sa.String(length=64), nullable=True),
        sa.Column("phone_bidx", sa.String(length=64), nullable=True),
        sa.Column("customer_id_bidx", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("relationship_ended_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("erased_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("legal_hold", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subjects_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subjects_customer_id_bidx"), ["customer_id_bidx"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subjects_email_bidx"), ["email_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_subjects_phone_bidx"), ["phone_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_subjects_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "support_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket", sa.String(length=200), nullable=True),
        sa.Column(
            "categories",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "subject_ids",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("starts_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_support_grants_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_grants")),
    )
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_grants_tenant_requester", ["tenant_id", "requested_by"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("login_key", sa.String(length=400), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("tenant_role", sa.String(length=20), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login_key", name="uq_users_login_key"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_email", ["email"], unique=False)
        batch_op.create_index("ix_users_tenant", ["tenant_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_user", ["user_id"], unique=False)

    op.create_table(
        "consent_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("receipt_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_consent_events_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_consent_events_receipt_id")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_events_replay", ["subject_id", "purpose", "at", "id"], unique=False
        )

    op.create_table(
        "consent_receipts",
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_consent_receipts_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_consent_receipts")),
        sa.UniqueConstraint("event_id", name=op.f("uq_consent_receipts_event_id")),
    )
    with op.batch_alter_table("consent_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_receipts_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "consent_state",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_consent_state_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subject_id", "purpose", name=op.f("pk_consent_state")),
    )
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_state_purpose_granted", ["purpose", "granted", "subject_id"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("to_addr", sa.String(length=320), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=True),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "headers",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_outbox_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_outbox_subject_id", ["subject_id"], unique=False)

    op.create_table(
        "records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=True),
        sa.Column("collection_point", sa.String(length=64), nullable=True),
        sa.Column(
            "purposes",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=2), nullable=False),
        sa.Column("collected_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("restricted_to", sa.String(length=64), nullable=True),
        sa.Column("restricted_until", sa.Date(), nullable=True),
        sa.Column("anonymised", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_records_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_records_category_collected", ["category", "collected_at"], unique=False
        )
        batch_op.create_index(
            "ix_records_subject_category", ["subject_id", "category"], unique=False
        )
        batch_op.create_index("ix_records_tenant", ["tenant_id"], unique=False)

    op.create_table(
        "requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("email_bidx", sa.String(length=64), nullable=True),
        sa.Column("contact", sa.LargeBinary(), nullable=True),
        sa.Column("regime", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("on_behalf", sa.Boolean(), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=320), nullable=True),
        sa.Column("source_ref", sa.String(length=255), nullable=True),
        sa.Column("received_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_by", sa.Date(), nullable=True),
        sa.Column("due_at", sa.Date(), nullable=False),
        sa.Column("extended_due_at", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("verified_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=255), nullable=True),
        sa.Column("verification", sa.String(length=16), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("codes_sent", sa.Integer(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("closed_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_requests_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_requests_source_ref")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_requests_email_bidx"), ["email_bidx"], unique=False)
        batch_op.create_index("ix_requests_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_subject_id"), ["subject_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "restrictions",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("since", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_restrictions_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", "purpose", name=op.f("pk_restrictions")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sessions_user", ["user_id"], unique=False)

    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_keys_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", "version", name=op.f("pk_subject_keys")),
    )
    with op.batch_alter_table("subject_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_keys_kek_version"), ["kek_version"], unique=False
        )

    op.create_table(
        "unsubscribe_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_unsubscribe_tokens_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_unsubscribe_tokens")),
        sa.UniqueConstraint("nonce", name=op.f("uq_unsubscribe_tokens_nonce")),
    )
    with op.batch_alter_table("unsubscribe_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_unsubscribe_tokens_subject_list", ["subject_id", "list_id", "used_at"], unique=False
        )

    op.create_table(
        "request_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_events_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index("ix_request_events_request", ["request_id", "id"], unique=False)

    op.create_table(
        "request_exports",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("downloaded_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_exports_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_request_exports")),
    )
    with op.batch_alter_table("request_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_exports_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_request_exports_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_exports_request_id"))
        batch_op.drop_index(batch_op.f("ix_request_exports_expires_at"))

    op.drop_table("request_exports")
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index("ix_request_events_request")

    op.drop_table("request_events")
    with op.batch_alter_table("unsubscribe_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_unsubscribe_tokens_subject_list")

    op.drop_table("unsubscribe_tokens")
    with op.batch_alter_table("subject_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_keys_kek_version"))

    op.drop_table("subject_keys")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_user")

    op.drop_table("sessions")
    op.drop_table("restrictions")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_requests_subject_id"))
        batch_op.drop_index("ix_requests_state_due")
        batch_op.drop_index(batch_op.f("ix_requests_email_bidx"))

    op.drop_table("requests")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_tenant")
        batch_op.drop_index("ix_records_subject_category")
        batch_op.drop_index("ix_records_category_collected")

    op.drop_table("records")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_subject_id")
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_state_purpose_granted")

    op.drop_table("consent_state")
    with op.batch_alter_table("consent_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_receipts_subject_id"))

    op.drop_table("consent_receipts")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_replay")

    op.drop_table("consent_events")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_user")

    op.drop_table("api_keys")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_tenant")
        batch_op.drop_index("ix_users_email")

    op.drop_table("users")
    with op.batch_alter_table("support_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_support_grants_tenant_requester")

    op.drop_table("support_grants")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_subjects_phone_bidx"))
        batch_op.drop_index(batch_op.f("ix_subjects_email_bidx"))
        batch_op.drop_index(batch_op.f("ix_subjects_customer_id_bidx"))

    op.drop_table("subjects")
    with op.batch_alter_table("policy_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_notices_version")

    op.drop_table("policy_notices")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_tenant")

    op.drop_table("invitations")
    op.drop_table("connector_steps")
    op.drop_table("breach_subjects")
    op.drop_table("worker_jobs")
    op.drop_table("tenants")
    with op.batch_alter_table("privacy_signin_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_signin_codes_subject")
        batch_op.drop_index("ix_privacy_signin_codes_client")
        batch_op.drop_index("ix_privacy_signin_codes_address")

    op.drop_table("privacy_signin_codes")
    with op.batch_alter_table("privacy_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_sessions_subject")

    op.drop_table("privacy_sessions")
    op.drop_table("policy_versions")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_subject_id"))

    op.drop_table("legal_holds")
    with op.batch_alter_table("legal_demands", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_demands_status_gag")

    op.drop_table("legal_demands")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created_at")

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_subject_at")
        batch_op.drop_index("ix_disclosures_legal_demand_id")

    op.drop_table("disclosures")
    with op.batch_alter_table("connector_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_jobs_state_updated_at"))

    op.drop_table("connector_jobs")
    op.drop_table("breaches")
    op.drop_table("audit_state")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_subject_id_seq")
        batch_op.drop_index("ix_audit_entries_at_subject_id")
        batch_op.drop_index("ix_audit_entries_actor_seq")

    op.drop_table("audit_entries")
