"""The consent ledger: record grants, withdrawals, GPC opt-outs, unsubscribes, cookie
choices and imports as append-only events; keep the derived state in step, in the same
transaction, with an audit entry for each event."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, column, func, insert, select, table
from sqlalchemy import exc as sa_exc

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.consent import state as _state
from troth.consent._bulk import ImportRows
from troth.consent.events import (
    ConsentKind,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    ImportedEvent,
    Mismatch,
    clip,
    cookie_purpose,
    notice_hash,
    truncate_origin,
)
from troth.consent.receipt import build_receipt, sign_receipt
from troth.consent.tables import consent_events, consent_receipts
from troth.context import Context
from troth.errors import NotFound, ValidationError
from troth.gate import Reason
from troth.policy.model import CookieCategory, LegalBasis

# Only what the ledger needs from the store's subjects table.
subjects = table("subjects", column("id"), column("jurisdiction"), column("erased_at"))

IMPORT_BATCH = 5000


class ConsentLedger:
    """Consent for one troth (a :class:`Context`): one call to give, one to take back."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
    ) -> ConsentRecord:
        """Record a grant and sign its Kantara receipt. ``notice_text`` is the exact text
        shown (default: :meth:`notice_for` the purpose); its SHA-256 is kept. ``channel``
        says how staff took it (phone, paper, in_person...): kept in the audit entry."""
        self._refuse_if_erased(subject_id, purpose, actor)
        text = notice_text if notice_text is not None else self.notice_for(purpose)
        item = (purpose, ConsentKind.grant, True, notice_hash(text))
        return self._record(
            subject_id,
            [item],
            _method(method),
            origin,
            user_agent,
            url,
            jurisdiction,
            actor,
            language,
            _channel(channel),
        )[0]

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
        return self._record(
            subject_id,
            [item],
            _method(method),
            origin,
            user_agent,
            url,
            jurisdiction,
            actor,
            "en",
            _channel(channel),
        )[0]

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
        not already opted out. No signal (None, False, another value) changes nothing."""
        if not gpc_present(signal):
            return []
        policy = self.ctx.policy.policy
        targets = [p.id for p in policy.purposes if p.sale_or_sharing]
        # Cookie categories serving such a purpose go dark too (no tracking after GPC).
        targets += sorted(
            {cookie_purpose(c.category.value) for c in policy.cookies if c.purpose in targets}
            - {cookie_purpose("strictly_necessary")}
        )
        if not targets:
            return []
        with self.ctx.engine.connect() as conn:
            current = _state.read_state(conn, subject_id)
        already = {k for k, v in current.items() if not v.granted}
        items = [(p, ConsentKind.gpc_opt_out, False, None) for p in targets if p not in already]
        if not items:
            self._subject_jurisdiction_check(subject_id)
            return []
        return self._record(
            subject_id,
            items,
            ConsentMethod.gpc,
            origin,
            user_agent,
            url,
            jurisdiction,
            None,
            "en",
        )

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
    ) -> list[ConsentRecord]:
        """Store a yes/no per cookie category of the policy (key ``cookie:<category>``).
        Strictly necessary cookies need no consent and cannot be refused."""
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
        return self._record(
            subject_id,
            items,
            _method(method),
            origin,
            user_agent,
            url,
            jurisdiction,
            None,
            "en",
        )

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
        return self._insert(
            conn,
            subject_id,
            [(purpose, kind, False, None)],
            method,
            None,
            None,
            None,
            None,
            actor,
            "en",
            at,
            details or {},
        )[0]

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
        how = _method(method)
        now = self.ctx.clock.now()
        details = {"collection_point": point} if point else {}
        out: list[ConsentRecord] = []
        for sid in subject_ids:
            items = [(p, ConsentKind.grant, True, texts[p]) for p in purposes]
            out += self._insert(
                conn, sid, items, how, None, None, None, None, actor, "en", now, details
            )
        return out

    def bulk_import(
        self, events: Iterable[ImportedEvent], *, actor: str = "system", source: str = "import"
    ) -> int:
        """Import events from a previous system in one transaction: batched inserts, then
        one set-based state update. Every event is checked first; one bad event stores
        nothing. Returns the number imported; one audit entry sums up the import."""
        now = self.ctx.clock.now()
        count = 0
        try:
            with transaction(self.ctx) as conn:
                after = int(
                    conn.execute(
                        select(func.coalesce(func.max(consent_events.c.id), 0))
                    ).scalar_one()
                )
                rows = ImportRows(self.ctx, conn)
                batch: list[tuple[Any, ...]] = []
                for ev in events:
                    batch.append(rows.build(ev))
                    if len(batch) >= IMPORT_BATCH:
                        rows.insert(batch)
                        count += len(batch)
                        batch = []
                if batch:
                    rows.insert(batch)
                    count += len(batch)
                if count:
                    _state.apply_since(conn, after)
                    entry = AuditEntry(
                        action="consent.import",
                        actor=actor,
                        outcome=Outcome.info,
                        details={"events": count, "after_event_id": after, "source": source},
                    )
                    append_entries(conn, now, [entry])
        except sa_exc.IntegrityError:
            # The subjects foreign key refused a row: name the first unknown subject.
            raise self._unknown_subjects(rows.subject_ids) from None
        return count

    def _unknown_subjects(self, wanted: set[str]) -> NotFound:
        with self.ctx.engine.connect() as conn:
            found = set(
                conn.execute(select(subjects.c.id).where(subjects.c.id.in_(wanted))).scalars()
            )
        missing = sorted(wanted - found) or ["?"]
        return NotFound(
            f"imported events name {len(missing)} unknown subject(s), e.g. "
            f"{missing[0]!r}; import the people first, then their consent",
            code="unknown_subject",
        )

    # -- reading -----------------------------------------------------------------------
    def state(self, subject_id: str) -> dict[str, ConsentStatus]:
        """Current state per purpose (and ``cookie:<category>``) for one subject."""
        with self.ctx.engine.connect() as conn:
            self._require_subject(conn, subject_id)
            return _state.read_state(conn, subject_id)

    def history(self, subject_id: str) -> list[dict[str, Any]]:
        """Every event of one subject in replay order (for access requests)."""
        e = consent_events.c
        with self.ctx.engine.connect() as conn:
            self._require_subject(conn, subject_id)
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
        idx = self.ctx.policy
        return frozenset(
            purpose
            for (point, purpose, _category), (_at, needs, _v) in notices.new_uses.items()
            if needs and purpose in idx.point_purposes.get(point, frozenset())
        )

    # -- internals ---------------------------------------------------------------------
    def _consentable(self, purpose: str) -> Any:
        p = self.ctx.policy.purposes.get(purpose)
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
        items: Sequence[tuple[str, ConsentKind, bool, str | None]],
        method: ConsentMethod,
        origin: str | None,
        user_agent: str | None,
        url: str | None,
        jurisdiction: str | None,
        actor: str | None,
        language: str,
        details: Mapping[str, Any] | None = None,
    ) -> list[ConsentRecord]:
        truncated = truncate_origin(origin)
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            return self._insert(
                conn,
                subject_id,
                items,
                method,
                truncated,
                user_agent,
                url,
                jurisdiction,
                actor or f"subject:{subject_id}",
                language,
                now,
                details or {},
            )

    def _insert(
        self,
        conn: Connection,
        subject_id: str,
        items: Sequence[tuple[str, ConsentKind, bool, str | None]],
        method: ConsentMethod,
        origin: str | None,
        user_agent: str | None,
        url: str | None,
        jurisdiction: str | None,
        actor: str,
        language: str,
        now: datetime,
        details: Mapping[str, Any],
    ) -> list[ConsentRecord]:
        where = jurisdiction or self._require_subject(conn, subject_id)
        rows: list[dict[str, Any]] = []
        receipts: list[tuple[str, str]] = []
        for purpose, kind, granted, nhash in items:
            receipt_id = str(uuid.uuid4()) if kind is ConsentKind.grant else None
            rows.append(
                {
                    "subject_id": subject_id,
                    "purpose": purpose,
                    "kind": kind.value,
                    "granted": granted,
                    "policy_version": self.ctx.policy.version,
                    "notice_hash": nhash,
                    "method": method.value,
                    "at": now,
                    "origin": origin,
                    "user_agent": clip(user_agent, 512),
                    "url": clip(url, 2048),
                    "jurisdiction": where,
                    "receipt_id": receipt_id,
                }
            )
            if receipt_id is not None:
                receipt = build_receipt(
                    self.ctx.policy,
                    receipt_id=receipt_id,
                    subject_id=subject_id,
                    purpose=purpose,
                    at=now,
                    method=method.value,
                    jurisdiction=where,
                    public_key_b64=self.ctx.keys.public_key_b64(),
                    public_url=self.ctx.settings.public_url,
                    language=language,
                )
                receipts.append((receipt_id, sign_receipt(receipt, self.ctx.keys.signing_key)))
        ids = (
            conn.execute(
                insert(consent_events).returning(consent_events.c.id, sort_by_parameter_order=True),
                rows,
            )
            .scalars()
            .all()
        )
        for row, event_id in zip(rows, ids, strict=True):
            row["id"] = int(event_id)
        _state.apply_events(conn, rows)
        jws_by_id = dict(receipts)
        if receipts:
            conn.execute(
                insert(consent_receipts),
                [
                    {
                        "receipt_id": r["receipt_id"],
                        "event_id": r["id"],
                        "subject_id": subject_id,
                        "jws": jws_by_id[r["receipt_id"]],
                        "created_at": now,
                    }
                    for r in rows
                    if r["receipt_id"] is not None
                ],
            )
        append_entries(
            conn,
            now,
            [
                AuditEntry(
                    action=f"consent.{r['kind']}",
                    actor=actor,
                    outcome=Outcome.info,
                    subject_id=subject_id,
                    purpose=r["purpose"],
                    details={
                        "event_id": r["id"],
                        "granted": r["granted"],
                        "method": r["method"],
                        "policy_version": r["policy_version"],
                        "receipt_id": r["receipt_id"],
                        **details,
                    },
                )
                for r in rows
            ],
        )
        return [
            ConsentRecord(
                event_id=r["id"],
                subject_id=subject_id,
                purpose=r["purpose"],
                kind=ConsentKind(r["kind"]),
                granted=r["granted"],
                at=now,
                receipt_id=r["receipt_id"],
                receipt_jws=jws_by_id.get(r["receipt_id"]) if r["receipt_id"] else None,
            )
            for r in rows
        ]

    def _require_subject(self, conn: Connection, subject_id: str) -> str:
        """The subject's jurisdiction; NotFound when there is no such subject."""
        found = conn.execute(
            select(subjects.c.jurisdiction).where(subjects.c.id == subject_id)
        ).first()
        if found is None:
            raise NotFound(
                f"no subject {subject_id!r}; record the person first (store) and use the id "
                "troth returned",
                code="unknown_subject",
            )
        return str(found[0] or self.ctx.policy.default_jurisdiction)

    def _refuse_if_erased(self, subject_id: str, purpose: str, actor: str | None) -> None:
        """A consent given for an erased person (closed account) would restart what the
        erasure ended: refused ``subject_erased``, and the refusal audited."""
        with self.ctx.engine.connect() as conn:
            erased = conn.execute(
                select(subjects.c.erased_at).where(subjects.c.id == subject_id)
            ).scalar_one_or_none()
        if erased is None:
            return
        refuse(
            self.ctx,
            "consent.refused",
            actor or "system",
            Reason.subject_erased,
            "this person's data was erased or their account closed: no consent can be "
            "recorded for them (a new sign-up starts a new record)",
            subject_id=subject_id,
            purpose=purpose,
            shown={"purpose": purpose},
        )

    def _subject_jurisdiction_check(self, subject_id: str) -> None:
        with self.ctx.engine.connect() as conn:
            self._require_subject(conn, subject_id)


CHANNELS = ("phone", "paper", "in_person", "letter", "email", "chat", "video")


def _channel(channel: str | None) -> dict[str, str]:
    """The audit details naming how staff took a consent or a withdrawal."""
    if channel is None:
        return {}
    if channel not in CHANNELS:
        raise ValidationError(
            f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})",
            code="unknown_channel",
        )
    return {"channel": channel}


def _method(method: ConsentMethod | str) -> ConsentMethod:
    try:
        return ConsentMethod(method)
    except ValueError:
        raise ValidationError(
            f"unknown consent method {method!r} "
            f"(methods: {', '.join(m.value for m in ConsentMethod)})",
            code="unknown_method",
        ) from None


def gpc_present(signal: bool | str | None) -> bool:
    """Whether a Sec-GPC value is the opt-out signal: only ``1`` (or True) counts."""
    if isinstance(signal, bool):
        return signal
    return isinstance(signal, str) and signal.strip() == "1"
