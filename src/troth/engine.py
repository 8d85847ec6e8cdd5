"""The Python API: ``t = troth.open(home)``; ``t.collect(...)``; ``t.use(...)``.

Collection and use are troth's two core paths (DESIGN.md, data flow); every other concept
hangs off :class:`Troth` as an attribute so applications have one object to hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypedDict, TypeVar, overload

from troth.access.records import bound_away, foreign_use, unnamed_use_denial
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.group import append_committed, close_group, group_commit
from troth.audit.heads import close_heads
from troth.audit.refusals import denial
from troth.clock import Clock
from troth.collection.service import CollectionService, CollectRequest, CollectResult
from troth.context import Context
from troth.db import reading
from troth.dialects import dialect_for
from troth.driver import Prepared
from troth.errors import NotFound, Refused, TrothError
from troth.gate import (
    SYSTEM,
    Actor,
    Ask,
    Decision,
    Facts,
    Operation,
    Reason,
    decide,
)
from troth.gate import facts as facts_mod
from troth.gate.masks import (
    as_held,
    nothing_revealed,
    person_ask,
    person_refusal,
    shown_to,
    sort_values,
)
from troth.store.seals import RecordTampered
from troth.store.subjects import find_subject
from troth.store.values import StoredValue, decode_subject_rows

if TYPE_CHECKING:
    from troth.access import AccessService
    from troth.aggregates.query import AggregateResult
    from troth.audit.service import AuditService
    from troth.breaches.register import BreachRegister
    from troth.collection.minors import Minors
    from troth.consent import ConsentLedger
    from troth.disclosures import DisclosureService
    from troth.discovery.service import DiscoveryService
    from troth.policy.service import PolicyService
    from troth.requests.service import RequestService
    from troth.retention.service import RetentionService
    from troth.store.keystore import KeyService
    from troth.subjects import SubjectService

__all__ = ["CollectResult", "JSONValue", "MinorErasure", "Troth", "View"]

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
"""A stored value as read back: what JSON holds."""


class MinorErasure(TypedDict):
    """What :meth:`Troth.report_minor` erased: totals, and the report per system."""

    found: int
    deleted: int
    masked: int
    kept: int
    systems: list[dict[str, object]]
    summary: list[str]


@dataclass(frozen=True)
class View:
    """What a use returned: the values that may be revealed, and what was masked and why."""

    subject_id: str
    purpose: str
    values: list[StoredValue]
    masked: dict[str, str]
    """Field -> reason code, for each field held none of whose values may be revealed and
    that may be named (:func:`troth.gate.masks.named_masks`: never one of a category the
    actor could not see for the purpose): a field is in ``values``, here or neither, never
    both. (A field name can hold several
    values: the same field at two collection points, with other categories or other
    purposes, or collected again later; the gate decides each value, so some may serve
    the purpose and some not. Then the field is returned, with the values that may be
    revealed alone, and the others are neither returned nor named here.)"""
    decision: Decision

    def get(self, field_name: str) -> JSONValue:
        """The latest value of a field, or None."""
        found = [v for v in self.values if v.field == field_name]
        value: JSONValue = found[-1].value if found else None
        return value

    def as_dict(self) -> dict[str, JSONValue]:
        """Field -> latest value (masked fields absent)."""
        return {v.field: v.value for v in self.values}


_T = TypeVar("_T")


class _Part(Generic[_T]):
    """One concept's service on :class:`Troth`: its module imported, and the service made
    with the troth's context, on first use; kept on the instance after (like
    ``functools.cached_property``)."""

    def __init__(self, module: str, name: str, doc: str | None = None) -> None:
        self.module = module
        self.name = name
        self.__doc__ = doc

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Part[_T]: ...
    @overload
    def __get__(self, obj: Troth, owner: type | None = None) -> _T: ...
    def __get__(self, obj: Troth | None, owner: type | None = None) -> _Part[_T] | _T:
        if obj is None:
            return self
        made: _T = getattr(import_module(self.module), self.name)(obj.ctx)
        # Two threads that both got here keep the same one.
        service: _T = obj.__dict__.setdefault(self.attr, made)
        return service


class Troth:
    """One organisation's troth: the policy in force, the store, the audit log."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._collection = CollectionService(ctx)

    # -- life cycle ------------------------------------------------------------------
    @classmethod
    def open(
        cls, home: Path | str | None = None, *, clock: Clock | None = None, **settings: object
    ) -> Troth:
        """Open the home at ``home`` (default: ``TROTH_HOME`` or the current directory);
        ``settings`` override the home's settings (``database_url=...``)."""
        from troth.home import open_context

        return cls(open_context(home, clock=clock, **settings))

    def close(self) -> None:
        """Sign the pending audit tree head, close the heads file, release the database."""
        from troth.requests.connected import close_connector

        try:
            close_group(self.ctx)
            close_heads(self.ctx)
        finally:
            close_connector(self.ctx)
            self.ctx.engine.dispose()

    def __enter__(self) -> Troth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the other concepts, one attribute each (imported lazily) ----------------------
    policy: _Part[PolicyService] = _Part(
        "troth.policy.service",
        "PolicyService",
        """The policy: ``current`` (the model in force), ``version``, ``versions()``,
        ``diff()``, ``preview()``, ``publish()``, ``ropa()``.""",
    )
    audit: _Part[AuditService] = _Part(
        "troth.audit.service",
        "AuditService",
        "The audit log: ``verify()``, ``head()``, ``entries()``, proofs.",
    )
    keys: _Part[KeyService] = _Part(
        "troth.store.keystore", "KeyService", "The encryption keys: ``rotate()``."
    )
    consent: _Part[ConsentLedger] = _Part("troth.consent", "ConsentLedger")
    access: _Part[AccessService] = _Part("troth.access", "AccessService")
    requests: _Part[RequestService] = _Part("troth.requests.service", "RequestService")
    retention: _Part[RetentionService] = _Part("troth.retention.service", "RetentionService")
    disclosures: _Part[DisclosureService] = _Part("troth.disclosures", "DisclosureService")
    breaches: _Part[BreachRegister] = _Part("troth.breaches.register", "BreachRegister")
    discovery: _Part[DiscoveryService] = _Part(
        "troth.discovery.service",
        "DiscoveryService",
        "What the connected databases really hold: ``scan()``, ``report()``, ``drift()``.",
    )
    subjects: _Part[SubjectService] = _Part("troth.subjects", "SubjectService")
    _minors: _Part[Minors] = _Part("troth.collection.minors", "Minors")

    # -- collection ----------------------------------------------------------------------
    def collect(
        self,
        point: str,
        data: Mapping[str, object],
        *,
        actor: Actor = SYSTEM,
        subject_id: str | None = None,
        tenant_id: str | None = None,
        jurisdiction: str | None = None,
        location: str | None = None,
        supplier: str | None = None,
        consents: Iterable[str] = (),
        purposes: Iterable[str] | None = None,
        consent_method: str = "api",
    ) -> CollectResult:
        """Store ``data`` arriving through collection point ``point``.

        Every field must be declared by the point (P01); the values are bound to the
        point's purposes (P02) or, for third-party data, to the one purpose supplied for
        (P03); a minor is refused (P04); consent purposes need ``consents`` or an existing
        grant (P07); ``consent_method`` is how those consents reached troth, as the ledger
        records it (``api``; ``staff`` for `troth collect`, ``import`` for `troth import`).
        ``purposes`` narrows the point's purposes (third-party data: the one it was
        supplied for). ``jurisdiction`` is a new person's regime (default: the policy's
        ``default_jurisdiction``, else the first of its ``jurisdictions``; a person already
        known keeps theirs); the result's ``jurisdiction`` is the one recorded. Refusals are
        audited and nothing is stored."""
        results = self.collect_many(
            point,
            [data],
            actor=actor,
            subject_ids=[subject_id] if subject_id else None,
            tenant_id=tenant_id,
            jurisdiction=jurisdiction,
            location=location,
            supplier=supplier,
            consents=consents,
            purposes=purposes,
            consent_method=consent_method,
        )
        return results[0]

    def collect_many(
        self,
        point: str,
        rows: Sequence[Mapping[str, object]],
        *,
        actor: Actor = SYSTEM,
        subject_ids: Sequence[str] | None = None,
        tenant_id: str | None = None,
        jurisdiction: str | None = None,
        location: str | None = None,
        supplier: str | None = None,
        consents: Iterable[str] = (),
        purposes: Iterable[str] | None = None,
        consent_method: str = "api",
    ) -> list[CollectResult]:
        """Bulk collection: validated as a whole, stored in one transaction with batched
        inserts (all or nothing)."""
        return self._collection.collect(
            CollectRequest(
                point,
                rows,
                actor,
                subject_ids,
                tenant_id,
                jurisdiction,
                location,
                supplier,
                tuple(consents),
                None if purposes is None else tuple(purposes),
                consent_method,
            )
        )

    # -- use -----------------------------------------------------------------------------
    def use(
        self,
        subject_id: str,
        *,
        purpose: str,
        actor: Actor,
        categories: Iterable[str] | None = None,
    ) -> View:
        """Read a person's data for a purpose. The gate decides per category; each value
        must also have been collected for that purpose (P02, P03, P08). Allowed or refused,
        the use is audited. Raises Refused when nothing may be revealed, NotFound (also
        audited) for an unknown subject."""
        at, entry, result = self._judge_use(subject_id, purpose, actor, categories)
        # Concurrent uses share one transaction, one commit and one signed head (group
        # commit); each returns only once its own entry is committed.
        append_committed(self.ctx, at, entry)
        return _delivered(result)

    async def use_async(
        self,
        subject_id: str,
        *,
        purpose: str,
        actor: Actor,
        categories: Iterable[str] | None = None,
    ) -> View:
        """:meth:`use` for an event loop (the HTTP API's read). On SQLite the read and the
        decision run on the loop (a WAL snapshot read never waits for a lock) and the
        entry is committed with the others of this turn of the loop, on the loop if the
        write lock is free at once, else by the group-commit writer thread. Other
        backends read in a worker thread, since their reads cross the network, and
        commit through the writer thread. Either way the values are returned only once
        the entry is committed."""
        if dialect_for(self.ctx.engine).in_process:
            at, entry, result = self._judge_use(subject_id, purpose, actor, categories)
        else:
            from anyio.to_thread import run_sync

            at, entry, result = await run_sync(
                self._judge_use, subject_id, purpose, actor, categories
            )
        await group_commit(self.ctx).append_async(at, entry)
        return _delivered(result)

    def _judge_use(
        self,
        subject_id: str,
        purpose: str,
        actor: Actor,
        categories: Iterable[str] | None,
    ) -> tuple[datetime, AuditEntry, View | TrothError]:
        """Read and decide a use without writing: (time, its audit entry, the view to
        return or the error to raise once the entry is committed). A use is the hot path:
        its entry, allowed or denied, is committed by the group committer
        (:func:`troth.audit.group.group_commit`), not by :func:`troth.audit.refusals.refuse`."""
        try:
            return self._use(subject_id, purpose, actor, categories)
        except NotFound as exc:
            entry = unnamed_use_denial(actor, Reason.not_found, purpose, unknown_subject=subject_id)
            return self.ctx.clock.now(), entry, exc
        except RecordTampered as exc:
            entry = denial(
                "use",
                actor,
                Reason.record_tampered,
                subject_id=subject_id,
                purpose=purpose[:100],
                details={"record": exc.details["record_id"]},
            )
            return self.ctx.clock.now(), entry, exc

    def _use(
        self,
        subject_id: str,
        purpose: str,
        actor: Actor,
        categories: Iterable[str] | None,
    ) -> tuple[datetime, AuditEntry, View | TrothError]:
        ctx = self.ctx
        idx = ctx.policy
        now = ctx.clock.now()
        # Read and decide on a snapshot without the write lock; the caller appends the
        # entry (group commit) and returns the values only once it is committed, so the
        # lock every audited write queues on is held for the append alone.
        with reading(ctx.engine) as conn, conn.begin():
            wanted = tuple(sorted(set(categories))) if categories is not None else None
            params: dict[str, Any] = {"sid": subject_id}
            if wanted is not None:
                params["cats"] = list(wanted)
            if wanted is None:
                rows: Sequence[Any] = _USE_ALL.all(conn, params)
            else:
                rows = conn.execute(_USE_SOME, params).all()
            subj, stored = decode_subject_rows(ctx, subject_id, rows)
            if bound_away(actor, subj.tenant_id):
                return now, *foreign_use(actor, subject_id, purpose)
            facts = facts_mod.facts_from_row(conn, ctx, actor, subj, rows[0])
            actor = as_held(actor, facts)  # a member's role now, not at sign-in
            held = {v.category for v in stored}
            # Asked for none, the gate is asked what the actor could ever see of what the
            # person holds (troth.gate.masks): what it may not never shapes the answer.
            asked, theirs = (wanted, False) if wanted else person_ask(idx, actor, purpose, held)
            decision = decide(idx, Ask(actor, Operation.use, purpose, asked, now), facts)
            if theirs:
                decision = person_refusal(idx, actor, purpose, decision)
            visible, masked, hidden = sort_values(idx, actor, purpose, decision, facts, now, stored)
            if decision.allowed and stored and not visible:
                # The policy allows the categories, but no stored value was collected
                # for this purpose (or its notice is still running), or none is held:
                # refuse, for the values the actor could see for it, whatever else the
                # person holds (troth.gate.masks.nothing_revealed).
                decision = nothing_revealed(idx, purpose, asked, decision, hidden)
            entry = AuditEntry(
                action="use",
                actor=actor.label,
                outcome=Outcome.allow if decision.allowed else Outcome.deny,
                subject_id=subject_id,
                tenant_id=subj.tenant_id,
                purpose=purpose,
                categories=tuple(sorted({v.category for v in visible}))
                if decision.allowed
                else asked,
                reason=decision.reason.value if decision.reason else None,
                details=_use_details(decision, facts, purpose),
            )
        if not decision.allowed:
            assert decision.reason is not None
            refused = Refused(decision.detail, reason=decision.reason, subject_id=subject_id)
            return now, entry, refused
        # A card number as the actor may read it: masked for a role that reads it masked
        # and for everyone at a customer no member role lets read it whole.
        visible = shown_to(idx, actor, visible)
        return now, entry, View(subject_id, purpose, visible, masked, decision)

    def find(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """The subject id of a person, looked up through the blind indexes."""
        return find_subject(
            self.ctx, email=email, phone=phone, customer_id=customer_id, tenant_id=tenant_id
        )

    # -- aggregate-only purposes (P09) -----------------------------------------------------
    def aggregate(
        self,
        purpose: str,
        category: str,
        field: str,
        *,
        group_by: Sequence[str] | str | None = (),
        measure: str = "count",
        actor: Actor = SYSTEM,
    ) -> AggregateResult:
        """Counts, sums or averages per group for an aggregate-only purpose, with groups
        smaller than the policy's ``aggregates.min_group_size`` suppressed (P09)."""
        from troth.aggregates.query import aggregate

        return aggregate(
            self.ctx,
            purpose,
            category,
            field,
            group_by=group_by,
            measure=measure,
            actor=actor,
        )

    # -- minors (P04) ----------------------------------------------------------------------
    def report_minor(
        self, subject_id: str, *, evidence: str, actor: Actor = SYSTEM
    ) -> MinorErasure:
        """A person turned out to be a minor: delete their data in troth and in every
        connected dataset (the deletion request's erasure, a resumable job ``minor-ID``),
        audited as ``minor.erase`` with the evidence, in troth's transaction (P04).

        The law's retention duties still apply: what it requires to keep (invoices) is
        kept, restricted to its legal purpose until the minimum ends, and reported. A
        connected database that is down raises ConnectorError, troth's part untouched;
        report again to resume. Returns the totals and the report per system."""
        return self._minors.report(subject_id, evidence=evidence, actor=actor)

    def find_minors(self) -> list[str]:
        """Subjects whose stored age field shows them under the minimum age today."""
        return self._minors.find()

    def purge_minors(self, *, dry_run: bool = False, actor: Actor = SYSTEM) -> list[str]:
        """Find minors' data held against the policy and delete it everywhere, as
        :meth:`report_minor` does (P04). Every minor found is tried; a connected database
        that is down raises ConnectorError at the end naming those left waiting."""
        return self._minors.purge(dry_run=dry_run, actor=actor)


def _delivered(result: View | TrothError) -> View:
    """A judged use's outcome, once its entry is committed: the view, or its error."""
    if isinstance(result, View):
        return result
    raise result


def _use_details(decision: Decision, facts: Facts, purpose: str) -> dict[str, Any]:
    """A use's audit details: the grant that let the vendor see it; whether a legal hold
    kept the purpose open (never which hold: the person and their tenant read these)."""
    details: dict[str, Any] = {"grant": decision.grant_id} if decision.grant_id else {}
    if purpose in facts.held_for:
        details["under_legal_hold"] = True
    return details


# A use reads the subject, their values and keys, consents and restrictions in one
# statement: for all categories (the common case) compiled once and run on the driver, for
# some categories (an IN list) through Core.
_USE_ALL = Prepared(facts_mod.subject_and_facts_stmt(False))
_USE_SOME = facts_mod.subject_and_facts_stmt(True)
