"""The consent ledger: record grants, withdrawals, GPC opt-outs, unsubscribes, cookie
choices and imports as append-only events; keep the derived state in step, in the same
transaction, with an audit entry for each event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.consent import state as _state
from troth.consent._bulk import import_events
from troth.consent.append import (
    Item,
    Provenance,
    append_events,
    erased_refusal,
    require_subject,
    subjects,
)
from troth.consent.events import (
    ConsentKind,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    ImportedEvent,
    Mismatch,
    cookie_purpose,
    gpc_present,
    notice_hash,
    parse_method,
    staff_channel,
    truncate_origin,
)
from troth.consent.optin import refuse_cookies_unless_two_step, refuse_unless_two_step
from troth.consent.tables import consent_events, consent_receipts
from troth.context import Context
from troth.errors import NotFound, ValidationError
from troth.policy.model import CookieCategory, LegalBasis


@dataclass(eq=False)
class ConsentLedger:
    """Consent for one troth (a :class:`Context`): one call to give, one to take back."""

    ctx: Context

    # -- recording ---------------------------------------------------------------------
    def grant(
        self,
        subject_id: str,
        purpose: str,
        *,
        method: ConsentMethod | str = ConsentMethod.web_form,
        notice_text: str | None = None,
        origin: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
        jurisdiction: str | None = None,
        actor: str | None = None,
        language: str = "en",
        channel: str | None = None,
        two_step: bool = False,
    ) -> ConsentRecord:
        """Record a grant and sign its Kantara receipt. ``notice_text`` is the exact text
        shown (default: :meth:`notice_for` the purpose); its SHA-256 is kept. ``channel``
        says how staff took it (phone, paper, in_person...): kept in the audit entry.
        ``two_step``: the person asked to opt in, then confirmed it; needed for a
        sale/sharing purpose they opted out of less than 12 months ago
        (:mod:`troth.consent.optin`), refused ``opted_out_recently`` otherwise."""
        refuse_unless_two_step(self.ctx, subject_id, purpose, actor, two_step=two_step)
        text = notice_text if notice_text is not None else self.notice_for(purpose)
        item = (purpose, ConsentKind.grant, True, notice_hash(text))
        how = Provenance(
            parse_method(method),
            actor,
            origin,
            user_agent,
            url,
            jurisdiction,
            language,
            {**staff_channel(channel), **({"two_step_opt_in": True} if two_step else {})},
        )
        return self._record(subject_id, [item], how)[0]

    def notice_for(self, purpose: str) -> str:
        """The notice text of a consent purpose, as it is shown (and hashed) by default."""
        p = self._consentable(purpose)
        return str(p.notice or p.description)

    def withdraw(
        self,
        subject_id: str,
        purpose: str,
        *,
        method: ConsentMethod | str = ConsentMethod.web_form,
        origin: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
        jurisdiction: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
    ) -> ConsentRecord:
        """Record a withdrawal; it holds from the very next decision. No more asked of
        the caller than :meth:`grant` asks."""
        self._consentable(purpose)
        item = (purpose, ConsentKind.withdraw, False, None)
        how = Provenance(
            parse_method(method),
            actor,
            origin,
            user_agent,
            url,
            jurisdiction,
            details=staff_channel(channel),
        )
        return self._record(subject_id, [item], how)[0]

    def record_gpc(
        self,
        subject_id: str,
        *,
        signal: bool | str | None = True,
        origin: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
        jurisdiction: str | None = None,
    ) -> list[ConsentRecord]:
        """A Global Privacy Control signal (``Sec-GPC: 1``): opt out of every purpose the
        policy marks ``sale_or_sharing`` (and of the cookie categories serving them) that is
        not already opted out. No signal (None, False, another value) changes nothing, but
        the person must exist all the same (NotFound). A signal for an erased person is
        refused ``subject_erased`` (audited), like every consent write for them."""
        if not gpc_present(signal):
            self._subject_jurisdiction_check(subject_id)
            return []
        how = Provenance(ConsentMethod.gpc, None, origin, user_agent, url, jurisdiction)
        # A signal for an erased person is refused even when it would record nothing new.
        return self._record(subject_id, [], how, gpc=self._gpc_targets())

    def honour_gpc(
        self,
        subject_id: str,
        *,
        signal: bool | str | None,
        origin: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
    ) -> list[ConsentRecord]:
        """The signal of a request that identifies the person (the privacy centre, the
        cookie banner, any page they are signed in to): recorded as :meth:`record_gpc`
        records it, once per person and purpose. A purpose their signal already opted out
        of is not opted out again, so a page view writes nothing new, and their own opt-in
        after it (two steps, CCPA 11 CCR 7025(c)(3)) stands. No signal, an unknown or
        erased person: nothing is recorded, nothing refused (they only viewed a page)."""
        if not gpc_present(signal):
            return []
        with self.ctx.engine.connect() as conn:
            known = conn.execute(
                select(subjects.c.erased_at).where(subjects.c.id == subject_id)
            ).first()
            if known is None or known[0] is not None:
                return []
            signalled = set(
                conn.execute(
                    select(consent_events.c.purpose).where(
                        consent_events.c.subject_id == subject_id,
                        consent_events.c.kind == ConsentKind.gpc_opt_out.value,
                    )
                ).scalars()
            )
        targets = [p for p in self._gpc_targets() if p not in signalled]
        if not targets:
            return []
        how = Provenance(ConsentMethod.gpc, None, origin, user_agent, url, None)
        return self._record(subject_id, [], how, gpc=targets)

    def _gpc_targets(self) -> list[str]:
        """What a GPC signal opts out of: every purpose marked ``sale_or_sharing``, and
        the cookie categories serving one (no tracking after GPC)."""
        policy = self.ctx.policy.policy
        targets = [p.id for p in policy.purposes if p.sale_or_sharing]
        targets += sorted(
            {cookie_purpose(c.category.value) for c in policy.cookies if c.purpose in targets}
            - {cookie_purpose("strictly_necessary")}
        )
        return targets

    def record_cookie_choices(
        self,
        subject_id: str,
        choices: Mapping[str, bool],
        *,
        method: ConsentMethod | str = ConsentMethod.web_form,
        origin: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
        jurisdiction: str | None = None,
        two_step: bool = False,
    ) -> list[ConsentRecord]:
        """Store a yes/no per cookie category of the policy (key ``cookie:<category>``).
        Strictly necessary cookies need no consent and cannot be refused. Turning on a
        category that serves a sale/sharing purpose the person opted out of less than 12
        months ago is taken only as their two-step opt-in (``two_step``), as :meth:`grant`
        takes it; else all is refused ``opted_out_recently`` (:mod:`.optin`)."""
        offered = {c.category.value for c in self.ctx.policy.policy.cookies}
        items: list[tuple[str, ConsentKind, bool, str | None]] = []
        for category, allowed in choices.items():
            if category not in offered:
                raise ValidationError(
                    f"cookie category {category!r} is not in the policy "
                    f"(categories: {', '.join(sorted(offered)) or 'none declared'})",
                    code="unknown_cookie_category",
                )
            if not isinstance(allowed, bool):
                raise ValidationError(
                    f"cookie choice for {category!r} must be true or false",
                    code="invalid_cookie_choice",
                )
            if category == CookieCategory.strictly_necessary:
                if not allowed:
                    raise ValidationError(
                        "strictly necessary cookies cannot be refused: the site does not "
                        "work without them; leave the category out",
                        code="strictly_necessary",
                    )
                continue
            items.append((cookie_purpose(category), ConsentKind.cookie_choice, allowed, None))
        if not items:
            return []
        on = [i[0].removeprefix(cookie_purpose("")) for i in items if i[2]]
        refuse_cookies_unless_two_step(self.ctx, subject_id, on, two_step=two_step)
        extra = {"two_step_opt_in": True} if two_step and on else {}
        how = Provenance(
            parse_method(method), None, origin, user_agent, url, jurisdiction, "en", extra
        )
        return self._record(subject_id, items, how)

    def record_opt_out(
        self,
        conn: Connection,
        subject_id: str,
        purpose: str,
        *,
        kind: ConsentKind,
        method: ConsentMethod,
        actor: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> ConsentRecord:
        """Append an opt-out (unsubscribe...) inside the caller's transaction, whatever the
        purpose's legal basis (objecting to direct marketing is always possible)."""
        if purpose not in self.ctx.policy.purposes:
            raise ValidationError(f"unknown purpose {purpose!r}", code="unknown_purpose")
        how = Provenance(method, actor, details=details or {})
        return append_events(conn, self.ctx, subject_id, [(purpose, kind, False, None)], how, at)[0]

    def end_all(
        self,
        conn: Connection,
        subject_id: str,
        *,
        method: ConsentMethod,
        actor: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Erasure or closure ends every consent the person has given (P25, P28): one
        ``erasure`` event per purpose still granted, in the caller's transaction, so list
        mail stops and no consent purpose may use what is left. Returns the purposes."""
        ended = sorted(
            p for p in _state.active_purposes(conn, subject_id) if p in self.ctx.policy.purposes
        )
        for purpose in ended:
            self.record_opt_out(
                conn,
                subject_id,
                purpose,
                kind=ConsentKind.erasure,
                method=method,
                actor=actor,
                at=at,
                details=details,
            )
        return ended

    def record_grants(
        self,
        conn: Connection,
        subject_ids: Sequence[str],
        purposes: Sequence[str],
        *,
        actor: str,
        method: ConsentMethod | str = ConsentMethod.api,
        point: str | None = None,
    ) -> list[ConsentRecord]:
        """Grants for several subjects and purposes inside the caller's transaction (consent
        ticked on a collection point's form), each with its receipt and audit entry."""
        texts = {}
        for purpose in purposes:
            p = self._consentable(purpose)
            texts[purpose] = notice_hash(p.notice or p.description)
        how = Provenance(
            parse_method(method), actor, details={"collection_point": point} if point else {}
        )
        now = self.ctx.clock.now()
        out: list[ConsentRecord] = []
        for sid in subject_ids:
            items = [(p, ConsentKind.grant, True, texts[p]) for p in purposes]
            out += append_events(conn, self.ctx, sid, items, how, now)
        return out

    def bulk_import(
        self, events: Iterable[ImportedEvent], *, actor: str = "system", source: str = "import"
    ) -> int:
        """Import events from a previous system in one transaction: batched inserts, then
        one set-based state update. Every event is checked first; one bad event stores
        nothing. Returns the number imported; one audit entry sums up the import."""
        return import_events(self.ctx, events, actor, source)

    # -- reading -----------------------------------------------------------------------
    def state(self, subject_id: str) -> dict[str, ConsentStatus]:
        """Current state per purpose (and ``cookie:<category>``) for one subject."""
        with self.ctx.engine.connect() as conn:
            require_subject(conn, self.ctx, subject_id)
            return _state.read_state(conn, subject_id)

    def history(self, subject_id: str) -> list[dict[str, Any]]:
        """Every event of one subject in replay order (for access requests)."""
        e = consent_events.c
        with self.ctx.engine.connect() as conn:
            require_subject(conn, self.ctx, subject_id)
            rows = conn.execute(
                select(consent_events).where(e.subject_id == subject_id).order_by(e.at, e.id)
            )
            return [dict(m) for m in rows.mappings()]

    @staticmethod
    def active_purposes(conn: Connection, subject_id: str) -> frozenset[str]:
        """Purposes with an active grant (what the gate reads, in its own transaction)."""
        return _state.active_purposes(conn, subject_id)

    @staticmethod
    def opted_out_purposes(conn: Connection, subject_id: str) -> frozenset[str]:
        return _state.opted_out_purposes(conn, subject_id)

    @staticmethod
    def granted_subjects(conn: Connection, purpose: str) -> frozenset[str]:
        return _state.granted_subjects(conn, purpose)

    def receipt(self, receipt_id: str) -> str:
        """The signed receipt (compact JWS) with this id."""
        with self.ctx.engine.connect() as conn:
            jws = conn.execute(
                select(consent_receipts.c.jws).where(consent_receipts.c.receipt_id == receipt_id)
            ).scalar()
        if jws is None:
            raise NotFound(f"no consent receipt {receipt_id!r}; check the id on the receipt")
        return str(jws)

    # -- maintenance -------------------------------------------------------------------
    def rebuild_state(self, *, actor: str = "system") -> int:
        """Recompute the whole materialised state from the ledger (set-based)."""
        with transaction(self.ctx) as conn:
            rows = _state.rebuild(conn)
            append_entries(
                conn,
                self.ctx.clock.now(),
                [
                    AuditEntry(
                        action="consent.rebuild",
                        actor=actor,
                        outcome=Outcome.info,
                        details={"state_rows": rows},
                    )
                ],
            )
        return rows

    def check_state(self, limit: int = 1000) -> list[Mismatch]:
        """Where the materialised state differs from a replay of the ledger (empty: none)."""
        with self.ctx.engine.connect() as conn:
            return _state.mismatches(conn, limit)

    def fresh_consent_purposes(self) -> frozenset[str]:
        """Purposes of the policy in force that a published change added as a new use of
        data already held and that wait for the person's fresh consent (P07,
        ``notices.new_purpose_needs_consent``), whatever their legal basis."""
        from troth.gate.facts import notices_of

        with self.ctx.engine.connect() as conn:
            notices = notices_of(conn, self.ctx)
        idx = self.ctx.newest_policy  # a consent may be given before the change takes effect
        return frozenset(
            purpose
            for (point, purpose, _category), (_at, needs, _v) in notices.new_uses.items()
            if needs and purpose in idx.point_purposes.get(point, frozenset())
        )

    # -- internals ---------------------------------------------------------------------
    def _consentable(self, purpose: str) -> Any:
        p = self.ctx.policy.purposes.get(purpose)
        later = self.ctx.policy
        while p is None and later.coming is not None:
            # A purpose of a version waiting for its effective date: consent may be given
            # ahead; the purpose serves nothing before that date.
            later = later.coming
            p = later.purposes.get(purpose)
        if p is None:
            known = sorted(self.ctx.policy.consent_purposes)
            raise ValidationError(
                f"unknown purpose {purpose!r}: the policy asks consent for "
                f"{', '.join(known) or 'no purpose'}",
                code="unknown_purpose",
            )
        # Opt-out rights (sale/sharing, direct marketing) exist whatever the basis; a new
        # use a published change made wait for fresh consent (P07) is consented to whatever
        # the purpose's basis.
        if (
            p.legal_basis is not LegalBasis.consent
            and not (p.sale_or_sharing or p.marketing)
            and purpose not in self.fresh_consent_purposes()
        ):
            raise ValidationError(
                f"purpose {purpose!r} rests on {p.legal_basis.value}, not consent: there is "
                "no consent to give or withdraw",
                code="not_consent_based",
            )
        return p

    def _record(
        self,
        subject_id: str,
        items: Sequence[Item],
        how: Provenance,
        *,
        gpc: Sequence[str] = (),
    ) -> list[ConsentRecord]:
        """Record ``items`` in a transaction of their own (the origin truncated), with a
        GPC opt-out of each of ``gpc`` not already opted out. For an erased person
        (:func:`erased_refusal`) nothing is written and the refusal is audited; an
        unknown person is NotFound, even when there is nothing to record."""
        how = replace(how, origin=truncate_origin(how.origin))
        now = self.ctx.clock.now()
        purposes = [i[0] for i in items] or list(gpc)
        with transaction(self.ctx) as conn:
            require_subject(conn, self.ctx, subject_id)
            refusal = erased_refusal(conn, subject_id, purposes)
            if refusal is None:
                if gpc:
                    state = _state.read_state(conn, subject_id)
                    already = {k for k, v in state.items() if not v.granted}
                    items = [(p, ConsentKind.gpc_opt_out, False, None) for p in gpc]
                    items = [i for i in items if i[0] not in already]
                return append_events(conn, self.ctx, subject_id, items, how, now) if items else []
        refuse(
            self.ctx,
            "consent.refused",
            how.actor or f"subject:{subject_id}",
            refusal.reason,
            refusal.message,
            subject_id=subject_id,
            purpose=purposes[0] if len(purposes) == 1 else None,
            details=refusal.details,
            shown={"purpose": purposes[0]} if len(purposes) == 1 else None,
        )

    def _subject_jurisdiction_check(self, subject_id: str) -> None:
        with self.ctx.engine.connect() as conn:
            require_subject(conn, self.ctx, subject_id)
