"""API keys for applications: shown once, stored as a SHA-256 of their secret, scoped
(``collect``, ``use:billing``, ``requests:admin``, ``admin``), revocable, last use recorded
(to the minute)."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, bindparam, literal, select, update

from troth.access._base import audit
from troth.access.offboarded import ensure_open
from troth.access.seals import KEY_COLUMNS, TAMPERED, access_matches, seal_new, write_sealed
from troth.access.tables import api_keys
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.context import Context
from troth.db import reading
from troth.driver import Prepared
from troth.errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    TamperedValue,
    ValidationError,
)
from troth.gate import SYSTEM, Actor, ActorKind, Operation, Reason
from troth.policy.model import POWER_NAMES, Power
from troth.store.ids import new_id, token_hash
from troth.store.tables import tenants
from troth.stored import tolerating, unreadable_in

if TYPE_CHECKING:
    from troth.keys import Keyring

KEY_PREFIX = "trk_"
_KEY = re.compile(r"^trk_[A-Za-z0-9_-]{43}$")
# Operations a scope may name, besides the gate's: the requests desk and the vendor
# office's powers (``office:<power>``, troth.gate.decide_power), reading the
# operational metrics (``/metrics``), and, for a key bound to a customer, reading the
# breaches that affect the customer's people (``breaches``, troth.breaches.controllers).
_EXTRA_SCOPES = frozenset({"requests", "office", "metrics", "breaches"})
# How stale ``last_used_at`` may be: recorded true to the minute, written at most this often.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    prefix: str  # the first characters of the key, safe to show in lists
    name: str
    scopes: tuple[str, ...]
    tenant_id: str | None
    user_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class _KeyRow(NamedTuple):
    id: str
    tenant_id: str | None
    scopes: list[str] | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    key_hash: str
    user_id: str | None
    seal: bytes | None

    def sealed(self, keys: Keyring) -> bool:
        """Whether the row matches its seal (troth.access.seals)."""
        cols = [getattr(self, n) for n in KEY_COLUMNS]
        return access_matches(keys, api_keys, cols, self.seal)


# Every API request looks its key up: compiled once and run on the driver (troth.db).
_BY_HASH = Prepared(
    select(*(api_keys.c[name] for name in _KeyRow._fields)).where(
        api_keys.c.key_hash == bindparam("h")
    )
)


def _actor(row: _KeyRow) -> Actor:
    return Actor(
        ActorKind.application, row.id, tenant_id=row.tenant_id, scopes=frozenset(row.scopes or ())
    )


def _key_hash(key: str) -> str:
    raw = base64.urlsafe_b64decode(key[len(KEY_PREFIX) :] + "=")
    return token_hash(raw)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.prefix,
        row.name,
        tuple(row.scopes or ()),
        row.tenant_id,
        row.user_id,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


def has_scope(actor: Actor, *accepted: str) -> bool:
    """Whether ``actor`` passes the scope check (anyone but an application key does; a key
    needs one of ``accepted`` or ``admin``). Pure: for a hot path to decide whether the
    audited refusal is needed at all."""
    return (
        actor.kind is not ActorKind.application
        or "admin" in actor.scopes
        or any(s in actor.scopes for s in accepted)
    )


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """``t.access.keys``: API keys made, resolved, revoked; scopes checked."""

    ctx: Context

    def require_scope(self, actor: Actor, *accepted: str, action: str = "api.scope") -> None:
        """An application key needs one of ``accepted`` (or ``admin``); other actors are
        decided by the gate through their role, tenant or grant. A key without the scope
        is refused and the refusal audited (``scope_missing``) before anything else runs."""
        if has_scope(actor, *accepted):
            return
        refuse(
            self.ctx,
            action,
            actor.label,
            error=PermissionDenied(
                f"this API key lacks the scope for that: one of {', '.join(accepted) or 'admin'}",
                code="scope_missing",
                reason=Reason.scope_missing.value,
            ),
            tenant_id=actor.tenant_id,
            reason=Reason.scope_missing,
            details={"needed": list(accepted) or ["admin"]},
        )

    def require_vendor_key(self, actor: Actor, scope: str, *, action: str) -> None:
        """Only an API key bound to no tenant, with ``scope`` (or ``admin``), passes: for
        the vendor's own machinery (``/metrics``), which no person's session and no
        customer's key may read. Anything else is refused and the refusal audited."""
        if actor.kind is ActorKind.application and not actor.tenant_id:
            if has_scope(actor, scope):
                return
            why, code = f"this API key lacks the {scope} scope (or admin)", Reason.scope_missing
        elif actor.kind is ActorKind.application:
            why = "a key bound to a tenant cannot read the vendor's metrics"
            code = Reason.tenant_bound
        else:
            why, code = f"use an API key with the {scope} scope, not a session", Reason.key_required
        refuse(
            self.ctx,
            action,
            actor.label,
            error=PermissionDenied(why, code=code.value, reason=code.value),
            tenant_id=actor.tenant_id,
            reason=code,
            details={"needed": [scope]},
        )

    def check_scopes(self, scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Refuse a scope that names an unknown operation, purpose or category."""
        idx = self.ctx.policy
        ops = {o.value for o in Operation} | _EXTRA_SCOPES
        out: list[str] = []
        for scope in scopes:
            scope = scope.strip()
            op, _, what = scope.partition(":")
            if op == "office":
                if what not in Power.__members__:
                    raise ValidationError(
                        f"scope {scope!r}: name one office power after office: (one of"
                        f" {POWER_NAMES})"
                    )
                out.append(scope)
                continue
            if scope == "admin" or (op in ops and not what):
                out.append(scope)
                continue
            if op not in ops:
                raise ValidationError(
                    f"scope {scope!r}: {op!r} is not an operation (one of admin,"
                    f" {', '.join(sorted(ops))}; e.g. use:billing)"
                )
            if op == "requests" and re.fullmatch(r"[a-z_]{1,40}", what):
                out.append(scope)
                continue
            if what not in idx.purposes and what not in idx.categories:
                raise ValidationError(
                    f"scope {scope!r}: {what!r} is neither a purpose nor a category of the"
                    f" policy (purposes: {', '.join(sorted(idx.purposes))})"
                )
            out.append(scope)
        if not out:
            raise ValidationError("give the key at least one scope (e.g. collect, use:billing)")
        return tuple(dict.fromkeys(out))

    def create_api_key(
        self,
        name: str,
        scopes: list[str] | tuple[str, ...],
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        by: Actor = SYSTEM,
    ) -> tuple[str, ApiKey]:
        """A new key: (the full key, shown this once; its record)."""
        if not name or len(name) > 200:
            raise ValidationError("give the key a name of 1 to 200 characters")
        checked = self.check_scopes(scopes)
        if tenant_id is not None and any(c.startswith("office:") for c in checked):
            raise ValidationError(
                "a key bound to a tenant never acts as the vendor's privacy office: drop the"
                " office: scopes, or make a key bound to no tenant"
            )
        ensure_open(self.ctx, tenant_id, "api_key_create", by)
        raw = secrets.token_bytes(32)
        key = KEY_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        now = self.ctx.clock.now()
        kid = new_id()
        with transaction(self.ctx) as conn:
            if (
                tenant_id is not None
                and conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
                is None
            ):
                raise NotFound(f"no tenant {tenant_id!r}")
            conn.execute(
                api_keys.insert().values(
                    id=kid,
                    prefix=key[:12],
                    key_hash=token_hash(raw),
                    name=name,
                    scopes=list(checked),
                    tenant_id=tenant_id,
                    user_id=user_id,
                    created_at=now,
                )
            )
            seal_new(conn, self.ctx.keys, api_keys, [kid])
            audit(
                self.ctx,
                conn,
                "api_key_create",
                by.label,
                tenant_id=tenant_id,
                details={"key": kid, "name": name, "scopes": list(checked)},
            )
        return key, ApiKey(kid, key[:12], name, checked, tenant_id, user_id, now, None, None)

    def peek_api_key(self, key: str) -> Actor | None:
        """The actor for a valid key whose last use is already recorded, from one indexed
        read that never waits for a writer; None when anything must be written first (a
        refusal to audit, a last use to record): then call :meth:`resolve_api_key`. The
        HTTP API authenticates with this on its event loop, without a thread hop."""
        if not isinstance(key, str) or not _KEY.match(key):
            return None
        try:
            with reading(self.ctx.engine) as conn:
                found = _BY_HASH.all(conn, {"h": _key_hash(key)})
        except TamperedValue:  # changed outside troth: resolve_api_key refuses it, audited
            return None
        if not found:
            return None
        row = _KeyRow(*found[0])
        if row.revoked_at is not None or row.last_used_at is None:
            return None
        if not row.sealed(self.ctx.keys):
            return None
        if self.ctx.clock.now() - row.last_used_at >= LAST_USED_EVERY:
            return None
        return _actor(row)

    def resolve_api_key(self, key: str) -> Actor:
        """The application actor for a key, recording its use. An unknown, malformed or
        revoked key raises AuthenticationError (audited)."""
        now = self.ctx.clock.now()
        problem: Reason | None = None
        row = None
        if not isinstance(key, str) or not _KEY.match(key):
            problem = Reason.malformed_key
        else:
            # A read, not a write transaction: the last use is written at most once per
            # LAST_USED_EVERY per key (a hot key would otherwise serialise every request).
            # A value of the row troth never writes reads as no value (troth.stored): the
            # row then matches no seal, a refusal like any key changed outside troth.
            with reading(self.ctx.engine) as conn, tolerating():
                found = _BY_HASH.all(conn, {"h": _key_hash(key)})
            row = _KeyRow(*found[0]) if found else None
            if row is None:
                problem = Reason.unknown_key
            elif unreadable_in(row):
                problem = Reason.record_tampered
            elif row.revoked_at is not None:
                problem = Reason.revoked_key
            elif not row.sealed(self.ctx.keys):
                problem = Reason.record_tampered
            elif row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
                stale = now - LAST_USED_EVERY
                with self.ctx.engine.begin() as conn:
                    conn.execute(
                        update(api_keys)
                        .where(
                            api_keys.c.id == row.id,
                            (api_keys.c.last_used_at.is_(None))
                            | (api_keys.c.last_used_at <= stale),
                        )
                        .values(last_used_at=now)
                    )
        if problem is not None:
            messages = {
                Reason.malformed_key: "that is not a troth API key (they start with trk_)",
                Reason.unknown_key: (
                    "this API key is not known; create one with `troth keys api create`"
                ),
                Reason.revoked_key: "this API key was revoked; create a new one",
                Reason.record_tampered: TAMPERED,
            }
            refuse(
                self.ctx,
                "api_key",
                f"application:{row.id}" if row is not None else "anonymous",
                error=AuthenticationError(messages[problem], code=problem.value),
                reason=problem,
            )
        assert row is not None
        return _actor(row)

    def revoke_api_key(self, key_id: str, *, by: Actor = SYSTEM) -> ApiKey:
        """Revoke by id or by the shown prefix; the key stops working at once."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            rows = conn.execute(
                select(api_keys).where((api_keys.c.id == key_id) | (api_keys.c.prefix == key_id))
            ).all()
            if len(rows) != 1:
                raise NotFound(
                    f"no single API key {key_id!r}; list them with `troth keys api list`"
                )
            row = rows[0]
            if row.revoked_at is None:
                write_sealed(conn, self.ctx.keys, api_keys, api_keys.c.id == row.id, revoked_at=now)
            audit(
                self.ctx,
                conn,
                "api_key_revoke",
                by.label,
                tenant_id=row.tenant_id,
                details={"key": row.id},
            )
            return _api_key(conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one())

    def list_api_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        with self.ctx.engine.connect() as conn:
            return [_api_key(r) for r in conn.execute(stmt)]


def vendor_key_actors() -> Select[str]:
    """The actor labels (``application:ID``) of the API keys bound to no tenant: the
    vendor's own systems, whose looks at a customer's people the customer is shown."""
    return select(literal("application:") + api_keys.c.id).where(api_keys.c.tenant_id.is_(None))
