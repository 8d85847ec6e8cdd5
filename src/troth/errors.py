"""Every error troth raises, in one tree.

    TrothError                      base: code, status, message that says what to do
    ├── ConfigError                 settings, home directory, key file (500 / exit 1)
    ├── PolicyError                 a policy file that does not validate (carries every issue)
    ├── ValidationError             bad input from a caller: wrong type, oversized, malformed (422)
    │   └── MalformedInput          not strict JSON, not Unicode, nested too deep (400)
    ├── NotFound                    unknown subject, request, grant, recipient... (404)
    ├── Conflict                    state does not allow it: already done, replayed token (409)
    ├── Refused                     the gate said no; carries the reason code (403)
    ├── AuthenticationError         wrong password, bad/expired session or key (401)
    ├── PermissionDenied            authenticated but not allowed (403)
    ├── RateLimited                 too many attempts, locked out for a while (429)
    ├── CryptoError                 key missing, ciphertext does not authenticate (500)
    ├── IntegrityError              audit log or ledger does not verify (500)
    │   └── TamperedValue           a stored value troth never writes: changed outside it (409)
    ├── ConnectorError              a connected database is down or does not match (502)
    └── DatabaseVersionError        the database is newer/older than this troth (500)

Constructors never print or exit: each edge (CLI, HTTP) translates in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from troth.gate import Reason


class TrothError(Exception):
    """Base of every troth error: a stable ``code``, an HTTP-ish ``status`` and a message
    that tells the user what to do."""

    code = "troth_error"
    status = 500
    # What every edge (HTTP, pages, CLI) answers instead, when the caller is bound away from
    # what was refused (another tenant's person): the very error an id naming nobody gets
    # (troth.store.subjects.no_such_subject), so the answer is no oracle. The audit log keeps
    # the real reason. (troth's own services now raise that very error to the Python caller
    # too, trial 19 F11; an edge still honours one set here.)
    shown_as: TrothError | None = None

    def __init_subclass__(
        cls, *, code: str | None = None, status: int | None = None, **kwargs: Any
    ) -> None:
        """Each error declares its code and status on its class line
        (``class NotFound(TrothError, code="not_found", status=404)``), the one place they
        are written; one left out is inherited from the parent."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def shown(self) -> TrothError:
        """The error an edge shows: :attr:`shown_as` when set, else this one."""
        return self.shown_as if self.shown_as is not None else self

    def to_dict(self) -> dict[str, Any]:
        """The problem as plain data (used by the HTTP problem document and ``--json``)."""
        return {"code": self.code, "status": self.status, "message": self.message, **self.details}


class ConfigError(TrothError, code="config_error", status=500):
    """Settings, home directory or key file are wrong (500; the CLI exits 1)."""


class PolicyError(TrothError, code="policy_invalid", status=422):
    """A policy file that does not validate; ``issues`` lists every problem found."""

    def __init__(self, message: str, issues: list[Any] | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["issues"] = [str(i) for i in self.issues]
        return out


class ValidationError(TrothError, code="invalid_input", status=422):
    """Bad input from a caller: wrong type, oversized, malformed."""


class MalformedInput(ValidationError, code="malformed_json", status=400):
    """Input that is not even well-formed: not strict JSON, not Unicode, nested too deep."""


class NotFound(TrothError, code="not_found", status=404):
    """An unknown subject, request, grant, recipient..."""


class Conflict(TrothError, code="conflict", status=409):
    """The state does not allow it: already done, a replayed token."""


class Refused(TrothError, code="refused", status=403):
    """The gate refused an operation; ``reason`` is a :class:`troth.gate.Reason` (raised by
    :func:`troth.audit.refusals.refuse`, which audits it first)."""

    def __init__(self, message: str, *, reason: Reason, **details: Any) -> None:
        super().__init__(message, reason=reason.value, **details)
        self.reason: str = reason.value


class AuthenticationError(TrothError, code="unauthenticated", status=401):
    """A wrong password, a bad or expired session or key."""


class PermissionDenied(TrothError, code="forbidden", status=403):
    """Authenticated, but not allowed."""


class RateLimited(TrothError, code="rate_limited", status=429):
    """Too many attempts: locked out for a while."""


class CryptoError(TrothError, code="crypto_error", status=500):
    """A key is missing, or a ciphertext does not authenticate."""


class IntegrityError(TrothError, code="integrity_error", status=500):
    """The audit log or a ledger does not verify."""


class TamperedValue(IntegrityError, code="record_tampered", status=409):
    """A value in troth's own database that troth never writes (an empty or garbled time, a
    number where a date belongs, text that is not JSON, a state no troth knows): its row
    was changed outside troth, so what reads it is refused (``table`` and ``column`` name
    it, never the value; troth.stored)."""


class ConnectorError(TrothError, code="connector_error", status=502):
    """A connected database is down or does not match its declaration."""


class DatabaseVersionError(TrothError, code="database_version", status=500):
    """The database is newer or older than this troth."""


__all__ = [
    "AuthenticationError",
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "CryptoError",
    "DatabaseVersionError",
    "IntegrityError",
    "NotFound",
    "PermissionDenied",
    "PolicyError",
    "RateLimited",
    "Refused",
    "TamperedValue",
    "TrothError",
    "ValidationError",
]
