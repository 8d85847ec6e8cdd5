"""Settings: one object, from (highest first) explicit arguments, ``TROTH_*`` environment
variables, the home's ``troth.toml``, then defaults. Never read at import time."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from troth.errors import ConfigError

SETTINGS_FILE = "troth.toml"


class Settings(BaseSettings):
    """Every setting troth reads. Environment: ``TROTH_<NAME>`` (e.g. ``TROTH_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="TROTH_", extra="forbid")

    home: Path = Field(default=Path("."), description="The home directory of this troth.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of troth's database; default sqlite:///HOME/troth.db.",
    )
    database_pooled: bool = Field(
        default=False,
        description="The database URL goes through a pooler in transaction mode (PgBouncer):"
        " server-side prepared statements are turned off, since each transaction may run on"
        " another server connection.",
    )
    key_file: Path | None = Field(
        default=None,
        description="The key file (mode 0600), kept outside the database; default HOME/keys.json.",
    )
    policy_file: Path | None = Field(
        default=None, description="The policy in force; default HOME/policy.yaml."
    )
    audit_heads_file: Path | None = Field(
        default=None,
        description="Where signed audit tree heads are appended (mode 0600), outside the "
        "database; default audit-heads.jsonl beside the key file.",
    )
    audit_head_every_seconds: float = Field(
        default=0.0,
        ge=0,
        description="0 (the default) signs an audit tree head after every audited commit, "
        "before the call returns. A positive interval signs at most that often per process "
        "and no later than that after a commit (a timer signs the newest head; closing or "
        "exiting signs what is pending); on PostgreSQL a call then also returns once its "
        "audit entries are committed, and a thread sequences them just after "
        "(troth.audit.deferred).",
    )
    audit_log_origin: str | None = Field(
        default=None,
        description="The origin line of the audit log's C2SP checkpoints; default "
        "troth.audit/<16 hex digits of the SHA-256 of the public key>.",
    )
    audit_witness: str | None = Field(
        default=None,
        description="Where each signed tree head is also pushed as a C2SP checkpoint: a "
        "file path (appended) or an http(s) URL (POSTed); unset: nowhere.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people reach troth at (used in unsubscribe and e-mail links).",
    )
    mail_from: str = Field(default="privacy@localhost", description="Sender of troth's e-mail.")
    smtp_host: str | None = Field(
        default=None, description="SMTP server; when unset, mail is written as .eml files."
    )
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if any.")
    smtp_password: str | None = Field(default=None, description="SMTP password, if any.")
    smtp_starttls: bool = Field(default=False, description="Use STARTTLS to the SMTP server.")
    mail_dir: Path | None = Field(
        default=None, description="Folder for .eml files when no SMTP; default HOME/mail."
    )
    signin_codes_per_address: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Privacy-centre sign-in codes one e-mail address may ask for per hour.",
    )
    signin_code_interval_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="Seconds before the same e-mail address may be sent another sign-in code.",
    )
    signin_codes_per_client: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="Privacy-centre sign-in codes one client (IP address) may ask for per hour.",
    )
    session_idle_minutes: int = Field(
        default=30, description="A login session ends after this idle time."
    )
    session_absolute_hours: int = Field(
        default=12, description="A login session ends after this long in any case."
    )
    login_max_failures: int = Field(default=5, description="Failed logins before a lockout.")
    login_lockout_minutes: int = Field(default=15, description="How long a lockout lasts.")
    max_value_bytes: int = Field(default=1_000_000, description="Largest single value accepted.")
    outbox_keep_days: int = Field(
        default=30,
        ge=1,
        description="Days a settled outgoing message keeps its address and body; then they"
        " are scrubbed (the row and its idempotency key stay, so nothing is sent twice). One"
        " that carried a one-time code or link keeps only its subject line once sent.",
    )
    unsubscribe_link_days: int = Field(
        default=0,
        ge=0,
        description="Days an unsubscribe link works; 0 = always (RFC 8058 links in old mail"
        " keep working).",
    )
    export_link_hours: int = Field(default=72, description="How long a download link works.")
    datasets_dir: Path | None = Field(
        default=None,
        description="Folder of connected-dataset declarations (*.yaml) that requests run"
        " over; default HOME/datasets. Each dataset's URL comes from the environment"
        " variable its url_env names.",
    )
    trusted_proxies: str | None = Field(
        default=None,
        description="Addresses of the load balancers or reverse proxies in front of troth"
        " serve, comma-separated ('*': any): their X-Forwarded-For and X-Forwarded-Proto"
        " give the client's address (consent records, sign-in limits per client) and"
        " scheme. Unset: the connecting address is the client's.",
    )
    worker_interval_seconds: float = Field(default=30.0, description="Worker loop interval.")
    metrics_access: Literal["key", "open", "off"] = Field(
        default="key",
        description="Who may read /metrics: key (an API key with the metrics scope, bound to"
        " no tenant), open (anyone who reaches the port: only on a private bind or network),"
        " off (404).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Server logs: text, or json (one JSON object a line; one line per HTTP"
        " request with method, route template, status, duration and request id).",
    )
    worker_lease_seconds: float = Field(
        default=60.0,
        ge=1,
        description="How long a worker's claim on a job lasts; it renews the claim every"
        " third of this while the job runs, so a worker that dies loses its job to another"
        " within this time.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @classmethod
    def for_home(cls, home: Path | str | None = None, **overrides: Any) -> Settings:
        """Settings for a home: its ``troth.toml`` under env vars under ``overrides``."""
        import os

        home_path = Path(home or os.environ.get("TROTH_HOME") or ".").resolve()
        file_values: dict[str, Any] = {}
        cfg = home_path / SETTINGS_FILE
        if cfg.exists():
            try:
                file_values = tomllib.loads(cfg.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{cfg}: {exc}; fix the file (TOML)") from exc
            unknown = set(file_values) - set(cls.model_fields)
            if unknown:
                raise ConfigError(
                    f"{cfg}: unknown setting {sorted(unknown)[0]!r}"
                    f" (known: {', '.join(sorted(cls.model_fields))})"
                )
        env_set = {name for name in cls.model_fields if f"TROTH_{name.upper()}" in os.environ}
        values = {k: v for k, v in file_values.items() if k not in env_set}
        values.update(overrides)
        values["home"] = home_path
        return cls(**values)

    # -- resolved paths ------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'troth.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self._in_home(self.key_file, "keys.json")

    @property
    def resolved_policy_file(self) -> Path:
        return self._in_home(self.policy_file, "policy.yaml")

    @property
    def resolved_heads_file(self) -> Path:
        if self.audit_heads_file is None:  # beside the key file, away from the database
            return self.resolved_key_file.parent / "audit-heads.jsonl"
        return self._in_home(self.audit_heads_file, "audit-heads.jsonl")

    @property
    def resolved_mail_dir(self) -> Path:
        return self._in_home(self.mail_dir, "mail")

    @property
    def resolved_datasets_dir(self) -> Path:
        return self._in_home(self.datasets_dir, "datasets")

    def _in_home(self, value: Path | None, default: str) -> Path:
        if value is None:
            return self.home / default
        return value if value.is_absolute() else self.home / value
