"""The people in troth's store: reading a subject, and finding one through the blind
indexes of their e-mail address, phone number or customer id (no plaintext in a query)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, select

from troth.collection.phones import region_for
from troth.context import Context
from troth.errors import NotFound, ValidationError
from troth.store.tables import identities, subjects

if TYPE_CHECKING:
    from troth.keys import Keyring

__all__ = [
    "SUBJECT_COLUMNS",
    "SubjectRow",
    "blind_index_lookup",
    "find_subject",
    "find_subject_id",
    "find_subject_ids",
    "get_subject",
    "lookup_subject",
    "lookup_subject_id",
    "lookup_subject_in",
    "no_such_person",
    "no_such_subject",
]


@dataclass(frozen=True, slots=True)
class SubjectRow:
    id: str
    tenant_id: str | None
    kind: str | None
    jurisdiction: str
    status: str
    created_at: datetime
    relationship_ended_at: datetime | None
    erased_at: datetime | None
    legal_hold: str | None


# The columns of a SubjectRow, in its order.
SUBJECT_COLUMNS = (
    subjects.c.id,
    subjects.c.tenant_id,
    subjects.c.kind,
    subjects.c.jurisdiction,
    subjects.c.status,
    subjects.c.created_at,
    subjects.c.relationship_ended_at,
    subjects.c.erased_at,
    subjects.c.legal_hold,
)


def no_such_subject(subject_id: str) -> NotFound:
    """The error for a subject id that names nobody (the id as asked, cut to 64
    characters: an id is 32, and an error never echoes a caller's megabyte). The one
    answer, too, to a caller bound away from the person (another tenant's): every 404 about
    a person is made here, so that the two can never drift apart (an oracle)."""
    asked = subject_id[:64]
    return NotFound(
        f"no subject {asked!r}: look the person up by e-mail or phone first", subject_id=asked
    )


def no_such_person() -> NotFound:
    """The error for an e-mail address, phone number or customer id that names nobody
    (also what a look-up the gate refuses answers, so that it is no oracle)."""
    return NotFound("no person with that identity is known to troth")


_SUBJECT = select(*SUBJECT_COLUMNS, subjects.c.seal).where(subjects.c.id == bindparam("sid"))


def get_subject(conn: Connection, subject_id: str, keys: Keyring) -> SubjectRow:
    """The person ``subject_id``, their row checked against its seal first
    (:class:`~troth.store.subject_seals.SubjectTampered`: changed outside troth)."""
    from troth.store.subject_seals import check_subject, subject_seal_key

    row = conn.execute(_SUBJECT, {"sid": subject_id}).first()
    if row is None:
        raise no_such_subject(subject_id)
    check_subject(subject_seal_key(keys), row[:-1], row[-1])
    return SubjectRow(*row[:-1])


def lookup_subject(ctx: Context, subject_id: str) -> SubjectRow:
    """:func:`get_subject` in its own (read-only) connection."""
    from troth.db import reading

    with reading(ctx.engine) as conn:
        return get_subject(conn, subject_id, ctx.keys)


def blind_index_lookup(kind: str, hashes: Sequence[str]) -> Any:
    """``(hash, id, tenant_id, erased_at, seal)`` of the people with one of ``hashes``
    among their ``kind`` identities (email, phone, customer_id: any they have given, not
    only the newest). Selected by the blind index alone: callers check tenant and erasure
    on the few rows found, because a tenant condition in the SQL lets SQLite's planner
    walk the tenant index (every tenant-less person) instead of probing the blind index.
    Callers read the rows through :func:`troth.store.identity_seals.live_hits`, which
    leaves out an identity changed outside troth (its seal, the last column)."""
    col = identities.c.bidx
    cond = col == hashes[0] if len(hashes) == 1 else col.in_(list(hashes))
    return (
        select(col, subjects.c.id, subjects.c.tenant_id, subjects.c.erased_at, identities.c.seal)
        .select_from(identities.join(subjects, subjects.c.id == identities.c.subject_id))
        .where(identities.c.kind == kind, cond)
    )


def find_subject_id(
    conn: Connection,
    ctx: Context,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
    oldest: bool = False,
    erased_too: bool = False,
    own_only: bool = False,
) -> str | None:
    """Look a person up through the blind indexes (no plaintext in the query); see
    :func:`lookup_subject_id` when the identifier names several people. ``erased_too``:
    when no living person has the identifier, an erased one whose identities were kept
    beside what a legal minimum keeps (their access to it: :mod:`troth.store.erasure`).
    ``own_only``: among the organisation's own people (no tenant) only: a request to its
    own desk where the customers are their people's controllers.
    An identity changed outside troth finds nobody; the look-up that met it is audited
    once, after ``conn``'s transaction (:func:`~troth.store.identity_seals.audit_tampered`)."""
    tampered: list[str] = []
    try:
        return lookup_subject_id(
            conn,
            ctx.keys,
            email=email,
            phone=phone,
            customer_id=customer_id,
            tenant_id=tenant_id,
            oldest=oldest,
            erased_too=erased_too,
            own_only=own_only,
            # Without a country code, a number is read in the default jurisdiction's
            # region (reading it in every region could find someone else).
            phone_region=region_for(ctx.policy.policy, None) if phone else None,
            tampered=tampered,
        )
    finally:
        if tampered:
            _after(conn, ctx, tampered)


def _after(conn: Connection, ctx: Context, tampered: list[str]) -> None:
    """Audit a look-up that met tampered identities: in ``conn``'s transaction when it
    writes (a second writer would wait for it; the entry stands or falls with what the
    look-up decided), else in a transaction of its own."""
    from troth.audit.log import append_entries
    from troth.store.identity_seals import audit_tampered, tampered_entry

    if not conn.in_transaction() or conn.get_execution_options().get("troth_read_only"):
        audit_tampered(ctx, "identity.lookup", tampered)
    else:
        append_entries(conn, ctx.clock.now(), [tampered_entry("identity.lookup", tampered)])


def find_subject_ids(
    ctx: Context,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
) -> list[str]:
    """Every living person the first identifier given names (one address may be several
    customers' people), the organisation's own first, then by id; among ``tenant_id``'s
    people when it is given. Read like :func:`find_subject_id` (the same blind index, a
    phone number read the same way), in its own read-only connection."""
    from troth.db import reading
    from troth.store.identity_seals import audit_tampered

    region = region_for(ctx.policy.policy, None) if phone else None
    given = (("email", email), ("phone", phone), ("customer_id", customer_id))
    tampered: list[str] = []
    with reading(ctx.engine) as conn:
        named = _first_named(conn, ctx.keys, given, tenant_id, region, tampered)
    audit_tampered(ctx, "identity.lookup", tampered)
    return [sid for _tenanted, sid in named[1]] if named else []


def lookup_subject_id(
    conn: Connection,
    keys: Keyring,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
    phone_region: str | None = None,
    oldest: bool = False,
    erased_too: bool = False,
    own_only: bool = False,
    tampered: list[str] | None = None,
) -> str | None:
    """:func:`find_subject_id` with the keys and the phone region given (``troth find``
    opens only those: see :func:`troth.home.open_lookup`). The first identifier given
    that names someone decides; when it names several people (one address at several
    customers), see :func:`_one_of`. An identity changed outside troth finds nobody (its
    ``kind:person`` added to ``tampered``, for the caller to audit)."""
    given = (("email", email), ("phone", phone), ("customer_id", customer_id))
    named = _first_named(
        conn,
        keys,
        given,
        None if own_only else tenant_id,
        phone_region,
        tampered,
        erased_too=erased_too,
        own_only=own_only,
    )
    return _one_of(named[1], named[0], oldest) if named else None


def _first_named(
    conn: Connection,
    keys: Keyring,
    given: Sequence[tuple[str, str | None]],
    tenant_id: str | None,
    phone_region: str | None,
    tampered: list[str] | None = None,
    *,
    erased_too: bool = False,
    own_only: bool = False,
) -> tuple[str, list[tuple[bool, str]]] | None:
    """The first identifier of ``given`` (field, value; a value None or empty is not
    given) that names a living person, with everyone it names: ``(is tenanted, id)``, the
    organisation's own first, then by id; among ``tenant_id``'s people when it is given,
    among the organisation's own (no tenant) with ``own_only``.
    With ``erased_too``, the erased people it names when it names nobody living. None when
    no identifier names anyone. An identity that does not match its seal names nobody (its
    ``kind:person`` added to ``tampered``)."""
    from troth.store.identity_seals import live_hits

    for field, value in given:
        if not value:
            continue
        region = {"region": phone_region} if field == "phone" else {}
        q = blind_index_lookup(field, [keys.blind_index(field, value, **region)])
        found = [
            (erased is None, (tenant is not None, str(sid)))
            for _h, sid, tenant, erased in live_hits(keys, field, conn.execute(q), tampered)
            if (tenant is None if own_only else tenant_id is None or tenant == tenant_id)
        ]
        live = sorted(who for living, who in found if living)
        if not live and erased_too:
            live = sorted(who for _living, who in found)
        if live:
            return field, live
    return None


def _one_of(live: list[tuple[bool, str]], field: str, oldest: bool) -> str:
    """The one person an identifier names: the organisation's own person (no tenant)
    before a customer's, when exactly one is its own; else the only one. Several and no
    way to choose: a ValidationError (``ambiguous_person``) asking for the tenant, never
    a pick by row order, unless ``oldest`` (the privacy centre's sign-in, which must not
    answer differently for such an address): the organisation's own first, then the
    oldest id."""
    own = [sid for tenanted, sid in live if not tenanted]
    if len(live) == 1 or oldest or len(own) == 1:
        return own[0] if len(own) == 1 else live[0][1]
    whose = "the organisation's own people" if own else "customers' people"
    raise ValidationError(
        f"that {field.replace('_', ' ')} belongs to {len(own) or len(live)} of {whose}:"
        " name the tenant (`--tenant`, `tenant_id`) to say whose, or give another"
        " identifier",
        code="ambiguous_person",
        field=field,
    )


def lookup_subject_in(
    engine: Engine,
    keys: Keyring,
    *,
    email: str | None = None,
    phone: str | None = None,
    phone_region: str | None = None,
    tenant_id: str | None = None,
    tampered: list[str] | None = None,
) -> str | None:
    """:func:`lookup_subject_id` in its own (read-only) connection on ``engine``."""
    from troth.db import reading

    with reading(engine) as conn:
        return lookup_subject_id(
            conn,
            keys,
            email=email,
            phone=phone,
            phone_region=phone_region,
            tenant_id=tenant_id,
            tampered=tampered,
        )


def find_subject(
    ctx: Context,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
) -> str:
    """:func:`find_subject_id` in its own (read-only) connection; raises
    :func:`no_such_person` when nobody has that identifier (among ``tenant_id``'s people
    when it is given)."""
    from troth.db import reading

    with reading(ctx.engine) as conn:
        sid = find_subject_id(
            conn, ctx, email=email, phone=phone, customer_id=customer_id, tenant_id=tenant_id
        )
    if sid is None:
        raise no_such_person()
    return sid
