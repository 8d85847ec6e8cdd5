"""A home: the directory that holds one organisation's troth (settings, policy, key file,
SQLite database by default, signed audit heads, mail folder)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from troth.clock import Clock, SystemClock
from troth.context import Context
from troth.db import check_database_url, make_engine, sqlite_file
from troth.errors import ConfigError, DatabaseVersionError
from troth.keys import Keyring
from troth.settings import SETTINGS_FILE, Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from troth.policy.index import PolicyIndex

# The home's record that the policy file with a given SHA-256 passed validation, and the
# facts a lookup takes from it, authenticated with the home's token key (a MAC): a lookup
# (`troth find`) reads it instead of parsing and validating the whole policy. Changed
# policy text, a changed troth (its policy code) or a record not made with this home's
# keys: the policy is parsed and validated again, as `open_context` always does.
POLICY_CHECKED_FILE = ".policy-checked.json"
_POLICY_CHECKED_LABEL = "policy-checked"


def init_home(
    home: Path | str,
    *,
    example: str | None = None,
    policy_file: Path | None = None,
    database_url: str | None = None,
    clock: Clock | None = None,
) -> Context:
    """Create a home: troth.toml, policy.yaml (from an example or a file), keys.json (0600)
    and the database at the newest schema, with the policy recorded as version one."""
    from troth.examples import example_path
    from troth.migrations import upgrade_database

    home = Path(home).resolve()
    if (home / SETTINGS_FILE).exists() or (home / "keys.json").exists():
        raise ConfigError(f"{home} is already a troth home; use --home {home} to work with it")
    if example is None and policy_file is None:
        raise ConfigError("give --example NAME or --policy FILE for the new home's policy")
    from troth.policy.loader import parse_policy

    source = example_path(example) if example else Path(policy_file or "")
    text = source.read_text()
    parse_policy(text, str(source))  # refuse a bad policy before creating anything
    # A database troth cannot use, cannot reach or that is taken: refused before anything.
    # (given here, or in TROTH_DATABASE_URL; unset: a new SQLite file in the home)
    given = database_url or Settings.for_home(home).database_url
    setting = "--database" if database_url else "TROTH_DATABASE_URL"
    existing = _check_new_database(given, setting) if given else frozenset()
    made: list[Path] = []  # what this call creates, removed again if it fails
    drop_url: str | None = None
    try:
        for folder in reversed([home, *home.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        made += [p for n in ("policy.yaml", SETTINGS_FILE) if not (p := home / n).exists()]
        made.append(home / "keys.json")
        shutil.copyfile(source, home / "policy.yaml")
        lines = ["# troth settings for this home; every key is documented in the README.\n"]
        if database_url:
            lines.append(f'database_url = "{database_url}"\n')
        (home / SETTINGS_FILE).write_text("".join(lines))
        Keyring.create(home / "keys.json")
        settings = Settings.for_home(home)
        url = settings.resolved_database_url
        db_file = sqlite_file(url)
        new_file = db_file is not None and not db_file.exists()
        if db_file is not None and new_file:
            made += [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")]
        if not settings.resolved_heads_file.exists():
            made.append(settings.resolved_heads_file)
        # Tables to drop again: in a database given here that was already there (a server's,
        # or a SQLite file), found without a troth; a new SQLite file is removed instead.
        drop_url = url if given and not new_file else None
        upgrade_database(url)
        ctx = open_context(home, clock=clock)
        from troth.policy.versions import record_initial_version

        record_initial_version(ctx, text)  # says the home seals its values from the first
    except BaseException as exc:
        _undo_init(made, drop_url, existing)
        if isinstance(exc, OSError) and exc.filename:  # a folder that cannot be made
            raise ConfigError(
                f"cannot create the home {home}: {exc.strerror} ({exc.filename});"
                " choose a folder you may write"
            ) from None
        raise
    return ctx


def upgrade_home(home: Path | str | None, *, clock: Clock | None = None) -> tuple[str, int | None]:
    """`troth db migrate`: the home's database brought to this troth's schema, then the
    values stored before record seals sealed, once per home (troth.store.sealing). Returns
    the schema and how many values were sealed (None: the home was sealed before)."""
    from troth.engine import Troth
    from troth.migrations import head_revision, upgrade_database
    from troth.store.sealing import seal_existing

    upgrade_database(_home_settings(home).resolved_database_url)
    with Troth(open_context(home, clock=clock)) as t:  # closing signs the audit head
        sealed = seal_existing(t.ctx)
    return head_revision(), sealed


def _check_new_database(url: str, setting: str = "--database") -> frozenset[str]:
    """Refuse, before anything is created, a database URL troth cannot use, a database it
    cannot reach, and one that already holds a troth (each home seals its database with
    its own key: two homes never share one). A SQLite file that does not exist yet is
    fine (init creates it); its folder must exist. Returns the tables already there."""
    parsed = check_database_url(url, setting)
    path = sqlite_file(parsed)
    if path is not None and not path.exists():
        if not path.parent.is_dir():
            raise ConfigError(
                f"{setting} names the SQLite file {path}, whose folder does not exist;"
                " create the folder first"
            )
        return frozenset()
    engine = make_engine(url, setting=setting, create=False)
    try:
        with engine.connect() as conn:
            tables = frozenset(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    if "alembic_version" in tables:
        raise ConfigError(
            f"{setting} already holds a troth database; give each home a database of its own"
            " (or use --home with the home that made it)"
        )
    return tables


def _undo_init(made: list[Path], drop_url: str | None, existing: frozenset[str]) -> None:
    """Remove what a failed ``init_home`` made: its files and folders, and the tables it
    created in a database that was already there (never a table that was there before)."""
    if drop_url is not None:
        with contextlib.suppress(Exception):
            from sqlalchemy import MetaData, Table

            import troth.schema  # noqa: F401  (every table on the metadata)
            from troth.db import metadata

            engine = make_engine(drop_url)
            try:
                with engine.begin() as conn:
                    ours = [t for t in metadata.sorted_tables if t.name not in existing]
                    metadata.drop_all(conn, tables=ours, checkfirst=True)
                    Table("alembic_version", MetaData()).drop(conn, checkfirst=True)
            finally:
                engine.dispose()
    for path in reversed(made):
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()  # only when empty: never a folder that held something else
            else:
                path.unlink(missing_ok=True)


def open_context(
    home: Path | str | None = None, *, clock: Clock | None = None, **overrides: Any
) -> Context:
    """Open an existing home: settings, policy in force, key file, database (checked to
    be at this troth's schema version)."""
    settings = _home_settings(home, **overrides)
    policy_path = settings.resolved_policy_file
    text = _read_policy(policy_path)
    index = _index_policy(text, policy_path)
    keys = Keyring.load(settings.resolved_key_file)
    engine = _open_engine(settings)
    ctx = Context(
        settings=settings, engine=engine, policy=index, keys=keys, clock=clock or SystemClock()
    )
    from troth.policy.schedule import follow_versions

    follow_versions(ctx, index)  # a version published to take effect later waits for its date
    return ctx


@dataclass(frozen=True)
class LookupHome:
    """What a lookup through the blind indexes needs (``troth find``): the settings, the
    key file, the database, and from the policy only the region a telephone number without
    a country code is read in. No policy model, no data key."""

    settings: Settings
    engine: Engine
    keys: Keyring
    phone_region: str | None


def open_lookup(home: Path | str | None = None, **overrides: Any) -> LookupHome:
    """Open an existing home for a lookup, refusing what :func:`open_context` refuses (no
    home, a policy that does not validate, a missing or open key file, a database at
    another schema version). The policy is parsed and validated only when the home holds
    no authenticated record that this very text passed (:data:`POLICY_CHECKED_FILE`)."""
    settings = _home_settings(home, **overrides)
    policy_path = settings.resolved_policy_file
    text = _read_policy(policy_path)
    try:
        keys = Keyring.load(settings.resolved_key_file)
    except ConfigError:
        _index_policy(text, policy_path)  # a bad policy is reported first, as open_context does
        raise
    region = _checked_phone_region(settings, keys, text, policy_path)
    return LookupHome(
        settings=settings, engine=_open_engine(settings), keys=keys, phone_region=region
    )


def _home_settings(home: Path | str | None, **overrides: Any) -> Settings:
    settings = Settings.for_home(home, **overrides)
    if not (settings.home / SETTINGS_FILE).exists() and not settings.database_url:
        raise ConfigError(
            f"{settings.home} is not a troth home (no {SETTINGS_FILE}); run `troth init DIR"
            " --example NAME` or pass --home"
        )
    return settings


def _read_policy(policy_path: Path) -> str:
    try:
        return policy_path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the policy {policy_path}: {exc.strerror}") from exc


def _index_policy(text: str, policy_path: Path) -> PolicyIndex:
    from troth.policy.index import PolicyIndex
    from troth.policy.loader import parse_policy

    return PolicyIndex.build(parse_policy(text, str(policy_path), lawful=False), text)


def _open_engine(settings: Settings) -> Engine:
    # A SQLite file that is not there is an error, not a new empty database.
    engine = make_engine(
        settings.resolved_database_url, create=False, pooled=settings.database_pooled
    )
    check_database_version(engine)
    return engine


def _policy_code_stamp() -> str:
    """What changes when the code that validates a policy (or picks a phone region) does."""
    here = Path(__file__).parent
    parts = []
    for path in sorted([*(here / "policy").glob("*.py"), here / "collection" / "phones.py"]):
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    from troth import __version__

    return hashlib.sha256(f"{__version__}|{'|'.join(parts)}".encode()).hexdigest()


def _checked_phone_region(
    settings: Settings, keys: Keyring, text: str, policy_path: Path
) -> str | None:
    """The policy's phone region, from the home's authenticated record that this text
    validated; else the policy is validated now (PolicyError as ever) and recorded."""
    body = {
        "policy_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "policy_file": str(policy_path),
        "code": _policy_code_stamp(),
    }
    record = settings.home / POLICY_CHECKED_FILE
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        found = json.loads(record.read_text())
        facts = found["facts"]
        signed = json.dumps({**body, "facts": facts}, sort_keys=True).encode()
        mac = keys.mac(_POLICY_CHECKED_LABEL, signed).hex()
        if hmac.compare_digest(mac, str(found["mac"])):
            region = facts["phone_region"]
            if region is None or isinstance(region, str):
                return region
    from troth.collection.phones import region_for

    region = region_for(_index_policy(text, policy_path).policy, None)
    facts = {"phone_region": region}
    signed = json.dumps({**body, "facts": facts}, sort_keys=True).encode()
    _write_record(record, {"facts": facts, "mac": keys.mac(_POLICY_CHECKED_LABEL, signed).hex()})
    return region


def _write_record(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically (0600); a home that cannot be written is left as it is
    (the next lookup validates the policy again)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def check_database_version(engine: Any) -> None:
    """Refuse a database from a newer troth, and one that needs `troth db migrate`."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from troth.migrations import head_revision, known_revisions

    with engine.connect() as conn:
        # One query; only when it fails is the schema inspected (to say why).
        try:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            conn.rollback()
            if inspect(conn).has_table("alembic_version"):
                raise
            raise DatabaseVersionError(
                "the database has no troth schema: run `troth db migrate` (or `troth init`)"
            ) from None
    if current == head_revision():
        return
    if current not in known_revisions():
        raise DatabaseVersionError(
            f"the database is at schema {current}, newer than this troth knows; upgrade troth"
        )
    raise DatabaseVersionError(
        f"the database is at schema {current}; run `troth db migrate` to upgrade it"
    )
