"""Checks on values arriving from outside: one strict JSON decoder for request bodies,
one shape check for a collected payload, one date parser, and the per-field check of a
collection point. Messages never repeat the value: they are shown to callers and written
to the audit log.

What every input must be, wherever it arrives (HTTP, CLI, Python):

- JSON as RFC 8259 writes it: no ``NaN``/``Infinity``, no number that overflows a double
  (``1e400``), no integer longer than :data:`MAX_INT_DIGITS` digits;
- text that is Unicode: no lone surrogate (``"\\ud800"``), which no database can store;
- nested at most :data:`MAX_DEPTH` levels deep;
- a collected payload is an object of field name (text) -> value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from troth.collection.phones import to_e164
from troth.errors import MalformedInput, ValidationError
from troth.policy.model import (
    CollectedField,
    CollectionPoint,
    FieldType,
    Organisation,
    Regime,
    SourceKind,
)

if TYPE_CHECKING:
    from troth.policy.index import PolicyIndex

# An address: a local part (no space, no @) and a domain of dot-separated labels, each of
# letters, digits and inner hyphens (any script), the last of 2 or more characters: so no
# empty label (``example..com``), no leading or trailing dot (``example.com.``); the last
# is letters or an IDN's ``xn--`` form.
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_TOP = r"(?:[^\W\d_]{2,63}|(?i:xn--[a-z0-9-]{1,59}))"
_EMAIL = re.compile(rf"^[^@\s]{{1,64}}@(?=.{{1,253}}$)(?:{_LABEL}\.)+{_TOP}$")
# Control characters (Unicode Cc: C0, DEL, C1, NUL among them): never in a value; a
# free-text field keeps tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
# reorder what a reader sees ("Ann\u202egnp.exe"), in any text field. The marks U+200E
# and U+200F, which only hint a direction, stay (right-to-left names use them).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,32}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in any JSON body or collected value."""
MAX_INT_DIGITS = 30
"""Longest integer accepted (digits): beyond a 64-bit or decimal(30) column anyway."""
_INT_LIMIT = 10**MAX_INT_DIGITS


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send a number or null")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer has more than {MAX_INT_DIGITS} digits; send it as text")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is too large for a double; send it as text")
    return value


def decode_json(raw: bytes | str, what: str = "the request body") -> Any:
    """Decode a request body (or ``what`` else: ``--data``) strictly; raises
    :class:`MalformedInput` saying what to fix."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise MalformedInput(f"{what} is not UTF-8; send JSON in UTF-8") from None
    try:
        value = json.loads(
            text,
            parse_constant=_bad_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise MalformedInput(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column"
            f" {exc.colno}); send a JSON object",
        ) from None
    except RecursionError:
        raise MalformedInput(
            f"{what} is refused: nested more than {MAX_DEPTH} levels deep",
        ) from None
    except ValueError as exc:
        raise MalformedInput(f"{what} is refused: {exc}") from None
    problem = shape_problem(value)
    if problem:
        raise MalformedInput(f"{what} is refused: {problem}")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: with a key given twice, which value
    was meant is unknown (most parsers keep the last, some the first), so it is refused."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:64]!r} appears twice in one object; send it once")
        out[key] = value
    return out


def shape_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``value`` (decoded JSON or Python data) unfit to store, or None:
    over-deep nesting, a lone surrogate, a non-finite or overlong number, a non-text key."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "text contains a lone surrogate (not Unicode); send valid UTF-8 text"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) >= _INT_LIMIT:
                return f"an integer has more than {MAX_INT_DIGITS} digits; send it as text"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a number is NaN or infinite; send a finite number"
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                return f"nested more than {max_depth} levels deep"
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        return f"a key is {type(key).__name__}; keys are text"
                    stack.append((key, depth))
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)
    return None


def check_payload(data: Any) -> str | None:
    """None when ``data`` may be a collected row: an object of text keys with storable
    values; otherwise what is wrong, in words."""
    if not isinstance(data, Mapping):
        kind = "null" if data is None else type(data).__name__
        return f"data must be an object of field -> value, not {kind}"
    return shape_problem(data)


def parse_date(value: Any) -> date:
    """The one date parser: a ``date`` or text ``YYYY-MM-DD`` (a number, a date-time or
    any other shape is not a date); raises ValueError."""
    if isinstance(value, datetime):
        raise ValueError("not a date (YYYY-MM-DD): a date-time was given")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a date (YYYY-MM-DD): no such day") from None


def parse_datetime(value: Any) -> datetime:
    """A ``datetime`` or ISO 8601 text; raises ValueError."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > 64 or not value[:4].isdigit():
        raise ValueError("not a date-time (ISO 8601)")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not a date-time (ISO 8601)") from None


def control_problem(value: str, *, free_text: bool = False) -> str | None:
    """None when ``value`` holds no control character nor bidirectional override; a
    ``free_text`` value may hold tab, line feed and carriage return (a message typed over
    several lines). Otherwise what is wrong, in words (never the value)."""
    if _BIDI.search(value) is not None:
        return (
            "contains a bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069),"
            " which reorders what is shown: send plain text"
        )
    if (_CONTROL_IN_TEXT if free_text else _CONTROL).search(value) is None:
        return None
    allowed = "; only tab and line breaks are allowed" if free_text else ""
    return f"contains a control character (NUL, escape...){allowed}: send plain text"


def email_problem(value: str) -> str | None:
    """The one e-mail address check (collected fields, accounts, tenants, requests, the
    privacy centre's sign-in, mail read for requests): None when ``value`` is an address
    (name@example.com); otherwise what is wrong, in words (never the value)."""
    problem = control_problem(value)
    if problem:
        return problem
    if not _EMAIL.match(value):
        return (
            "not an e-mail address (name@example.com: a domain of dot-separated labels,"
            " no trailing dot)"
        )
    return None


def check_email(value: object, what: str = "email", *, code: str | None = None) -> str:
    """``value``, trimmed, when it is an e-mail address (:func:`email_problem`); raises
    :class:`ValidationError` naming ``what`` otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    problem = email_problem(text) if text else "not an e-mail address (name@example.com)"
    if problem:
        raise ValidationError(f"{what}: {problem}", code=code, field=what)
    return text


def check_value(spec: CollectedField, value: Any, max_bytes: int) -> str | None:
    """None when ``value`` fits the declared field; otherwise what is wrong, in words."""
    t = spec.type
    if t in (FieldType.string, FieldType.text, FieldType.email, FieldType.phone):
        if not isinstance(value, str):
            return f"expected text, got {type(value).__name__}"
        if len(value) > spec.max_length:
            return f"too long ({len(value)} characters; at most {spec.max_length})"
        if _SURROGATE.search(value):
            return "text contains a lone surrogate (not Unicode); send valid UTF-8 text"
        if len(value.encode()) > max_bytes:
            return f"too large ({len(value.encode())} bytes; at most {max_bytes})"
        problem = control_problem(value, free_text=t is FieldType.text)
        if problem:
            return problem
        if t is FieldType.email:
            return email_problem(value)
        if t is FieldType.phone and not _PHONE.match(value):
            return "not a telephone number (digits, spaces, + ( ) - . / only)"
        return None
    if t is FieldType.integer:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number, got {type(value).__name__}"
        return shape_problem(value)
    if t is FieldType.number:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        return shape_problem(value)
    if t is FieldType.boolean:
        return (
            None if isinstance(value, bool) else f"expected true/false, got {type(value).__name__}"
        )
    if t in (FieldType.date, FieldType.datetime):
        try:
            (parse_date if t is FieldType.date else parse_datetime)(value)
        except ValueError as exc:
            return str(exc)
        return None
    return None  # pragma: no cover


def parse_regime(value: str, what: str = "regime") -> Regime:
    """A legal regime by its id (``gdpr``, ``ccpa``...); raises :class:`ValidationError`
    naming the ones troth knows."""
    try:
        return Regime(value)
    except ValueError:
        known = ", ".join(r.value for r in Regime)
        raise ValidationError(f"unknown {what} {value[:40]!r}: use one of {known}") from None


_LOCATION = re.compile(r"^[A-Z]{2}$")


def parse_location(value: object, what: str = "location") -> str | None:
    """A data location as the policy writes it (an ISO 3166-1 alpha-2 code, or EU), from
    what a caller typed: surrounding spaces dropped and upper-cased, so ``" nz"`` is
    ``NZ``; None (or blank) means not given. Raises :class:`ValidationError` naming
    ``what`` and the expected form (a subdivision such as ``US-CA`` is not a location)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text: a 2-letter code like NZ, CA, EU", field=what)
    code = value.strip().upper()
    if not code:
        return None
    if not _LOCATION.match(code):
        raise ValidationError(
            f"{what} is not a location code: use a 2-letter ISO 3166-1 code like NZ, CA, EU"
            " (a subdivision such as US-CA is not one)",
            field=what,
        )
    return code


def parse_number(text: str, what: str, low: float, high: float) -> float:
    """A number typed into a form: finite and within [low, high]; raises
    :class:`ValidationError` saying the range (``nan``, ``inf`` and ``1e400`` are not
    numbers here)."""
    try:
        value = float(text.strip()) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(f"{what} must be a number from {low:g} to {high:g}")
    return value


MAX_AGE = 150


def person_zone(org: Organisation, regime: str | None) -> ZoneInfo:
    """The time zone of a person under ``regime``: the policy's zone for that regime
    (``organisation.time_zones``), else the organisation's own (``time_zone``); an
    unknown regime is the organisation's too."""
    try:
        return org.zone(regime)
    except ValueError:
        return org.zone()


def local_today(org: Organisation, regime: str | None, now: datetime) -> date:
    """The calendar date where a person under ``regime`` is at ``now`` (P04: an age is
    counted on the person's own date, never the UTC date)."""
    return now.astimezone(person_zone(org, regime)).date()


def age_of(
    spec: CollectedField, value: Any, today: date, zone: ZoneInfo | None = None
) -> int | None:
    """The age in whole years on ``today`` (the person's local date, :func:`local_today`)
    that the age field gives (None when it is empty). A birthday on 29 February comes on
    1 March in other years. A date-time of birth with an offset is dated in ``zone``
    (the person's); one without, as written. A date of birth in the future or more than
    :data:`MAX_AGE` years ago is not a date of birth: the collection is refused as bad
    input, never waved through or taken for a minor."""
    if value is None or value == "":
        return None
    if spec.type in (FieldType.integer, FieldType.number):
        age = int(value)  # check_value made it a finite number
        if not 0 <= age <= MAX_AGE:
            raise ValidationError(f"the age field: not an age (0 to {MAX_AGE} years)")
        return age
    try:
        if spec.type is FieldType.datetime:
            at = parse_datetime(value)
            born = (at.astimezone(zone) if zone and at.tzinfo else at).date()
        else:
            born = parse_date(value)
    except ValueError as exc:
        raise ValidationError(f"the age field: {exc}; the minimum age cannot be checked") from None
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if born > today or age > MAX_AGE:
        raise ValidationError(
            f"the age field: not a date of birth (in the future, or more than {MAX_AGE} years ago)"
        )
    return age


def named_supplier(cp: CollectionPoint, supplier: str | None) -> str | None:
    """Who supplied this data (P03): required, by name, for a third-party point (the
    policy's ``supplier`` describes the kind of source, it names no one); refused for data
    that does not come from a third party."""
    name = " ".join(supplier.split()) if isinstance(supplier, str) else None
    if cp.source is not SourceKind.third_party:
        if name:
            raise ValidationError(
                f"collection point {cp.id!r} collects {cp.source.value} data, not third-party"
                " data: leave out the supplier",
                code="supplier_not_third_party",
                field="supplier",
            )
        return None
    if not name:
        described = f" (the policy describes them as: {cp.supplier})" if cp.supplier else ""
        raise ValidationError(
            f"collection point {cp.id!r} takes third-party data: name the third party that"
            f' supplied it (supplier=..., --supplier, or "supplier" in the request body)'
            f"{described}",
            code="supplier_required",
            field="supplier",
        )
    if len(name) > 200:
        raise ValidationError(
            "supplier: at most 200 characters", code="supplier_too_long", field="supplier"
        )
    problem = control_problem(supplier or "")
    if problem:
        raise ValidationError(f"supplier: {problem}", field="supplier")
    return name


def check_ids(subject_ids: Sequence[object] | None, tenant_id: object) -> None:
    """The ids a caller names are non-empty text: a number or an empty id names nobody
    (and a number would reach the database as one)."""
    if tenant_id is not None and not (isinstance(tenant_id, str) and tenant_id):
        raise ValidationError("tenant_id must be a tenant's id (non-empty text)", field="tenant_id")
    ids = list(subject_ids or ())
    for i, sid in enumerate(ids):
        if not (isinstance(sid, str) and sid):
            where = f" (row {i})" if len(ids) > 1 else ""
            raise ValidationError(
                f"a subject id must be a person's id (non-empty text){where}", field="subject_id"
            )


def check_customer_tenant(
    idx: PolicyIndex,
    cp: CollectionPoint,
    data: Mapping[str, Any],
    tenant_id: str | None,
    row: int | None,
) -> None:
    """A customer's own data (``support_access.customer_categories``) is filed under that
    customer: without the tenant, no grant of the customer could ever cover it."""
    if tenant_id is not None:
        return
    own = set(idx.policy.support_access.customer_categories)
    held = sorted({spec.category for f, spec in cp.fields.items() if f in data} & own)
    if held:
        where = f" (row {row})" if row is not None else ""
        raise ValidationError(
            f"collection point {cp.id!r} holds {', '.join(held)}, a customer's own data:"
            f" name the customer it belongs to (tenant_id, --tenant){where}",
            field="tenant_id",
        )


def check_phones(
    cp: CollectionPoint, data: Mapping[str, Any], region: str | None, row: int | None
) -> None:
    """A number that identifies the person must be one (it is indexed in E.164)."""
    for fname, spec in cp.fields.items():
        value = data.get(fname)
        if spec.identifies == "phone" and value not in (None, ""):
            try:
                to_e164(str(value), region)
            except ValidationError as exc:
                where = f" (row {row})" if row is not None else ""
                raise ValidationError(
                    f"field {fname!r}{where}: {exc.message}", code="invalid_phone", field=fname
                ) from None
