"""The exports: a tenant's complete data, and the download behind a code (a person's
export, made by an access request, or a tenant's), bound to whom it was made for."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import select, update

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entry, transaction
from troth.audit.refusals import refuse
from troth.columns import ACTOR_LENGTH
from troth.errors import NotFound, PermissionDenied, TrothError
from troth.gate import SYSTEM, Actor, ActorKind, Facts, Reason
from troth.gate.exports import export_head, export_scope
from troth.gate.members import customer_side, member_role_refusal
from troth.office import Power, authorize
from troth.policy.masking import whole_for_the_person
from troth.policy.parties import customers_control
from troth.requests import _contact, holdings, package
from troth.requests.receipt import local_stamp
from troth.requests.record import ExportLink, RequestRecord
from troth.requests.steps import RequestSteps
from troth.requests.tables import request_exports
from troth.store.seals import RecordTampered, refuse_tampered

ORPHAN_AGE_S = 86_400


class Exports:
    """``export_tenant``, ``download``, ``purge_exports``."""

    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.ctx = steps.ctx

    def export_tenant(self, tenant_id: str, *, actor: Actor = SYSTEM) -> ExportLink:
        """A tenant's data (P29) as the same ZIP, holding only what ``actor`` may read
        (:func:`troth.gate.exports.export_scope`: an admin with a member role, what the
        role reads; never what only the vendor's own purposes use); for the tenant's own
        active admins, the vendor's staff whose role has the office power
        ``manage_tenants`` and troth itself. Anyone else is refused, audited."""
        role = self._exporter_role(tenant_id, actor)
        return self.tenant_export(tenant_id, actor, role=role)

    def _exporter_role(
        self, tenant_id: str, actor: Actor, action: str = "tenant.export"
    ) -> str | None:
        """The member role ``actor`` exports as (None: none, or the vendor's side), read
        with their membership now; a refusal (``action``, audited under the caller's own
        tenant, if they have one) for anyone else."""
        ctx = self.ctx

        def no(reason: Reason, message: str = "", error: TrothError | None = None) -> NoReturn:
            refuse(
                ctx,
                action,
                actor,
                reason,
                message,
                error=error,
                tenant_id=actor.tenant_id or tenant_id,
                details={"tenant": tenant_id},
            )

        if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
            from troth.access.accounts import TenantRole, UserKind, signed_in_as

            # Their account now decides, not the actor they signed in as: an admin
            # revoked and invited back as a member is no admin.
            with ctx.engine.connect() as conn:
                row = signed_in_as(conn, actor, ctx.keys, kind=UserKind.tenant_member)
            member = row is not None and row.tenant_id == tenant_id
            role = row.role if member else None
            admin = member and row.tenant_role == TenantRole.admin.value
            if not admin or actor.kind is not ActorKind.tenant_admin:
                why = "only an active admin of this tenant may export its data"
                denied = PermissionDenied(why, code="not_tenant_admin")
                no(Reason.not_tenant_admin if member else Reason.not_a_member, error=denied)
            refused = member_role_refusal(ctx.policy, actor, Facts(member_role=role))
            if refused is not None and refused.reason is not None:
                no(refused.reason, refused.detail)
            return role
        if actor.kind is ActorKind.staff:
            # The vendor's side takes a customer's whole data only as the office that
            # offboards it: a staff role without the power is refused (audited there).
            authorize(
                ctx,
                actor,
                Power.manage_tenants,
                tenant_id=tenant_id,
                details={"for": "tenant.export"},
            )
        elif actor.kind is not ActorKind.system:
            why = "tenant exports are for the tenant's admins"
            no(Reason.not_tenant_admin, error=PermissionDenied(why, code="forbidden"))
        return None

    def offboarding_export(self, tenant_id: str, actor: Actor) -> ExportLink:
        """The customer's data handed back before it is erased when it leaves: whole where
        the customer is its people's controller (GDPR Art. 28(3)(g): a masked card or
        account number would be lost to it), masked as the policy shows it where the
        organisation is."""
        whole = customers_control(self.ctx.policy.policy)
        return self.tenant_export(tenant_id, actor, whole=whole)

    def tenant_export(
        self, tenant_id: str, actor: Actor, *, role: str | None = None, whole: bool = False
    ) -> ExportLink:
        """The export itself, made as member role ``role`` (None: none), for a caller
        that has decided ``actor`` may have it (the offboarding does, with ``whole``:
        masked fields as stored, :func:`troth.requests.holdings.tenant_holdings`). What it
        leaves out is said in ``data.json`` (``complete``, ``left_out``), ``left_out.csv``
        and the summary, and in the audit entry."""
        ctx = self.ctx
        scope = export_scope(ctx.policy, role)
        try:
            body = holdings.tenant_holdings(ctx, tenant_id, scope, whole=whole)
        except RecordTampered as exc:
            refuse_tampered(ctx, "tenant.export", actor, exc, tenant_id=tenant_id)
        head = export_head(ctx.policy, actor.label, scope) | {"masked": not whole}
        doc = package.document(ctx, body, tenant_id=tenant_id, **head)
        data = package.build_zip(doc, f"Data of tenant {body['tenant']['name']}")
        with transaction(ctx) as conn:
            link = self.steps.store_export(
                conn,
                data,
                request_id=None,
                tenant_id=tenant_id,
                made_by=_maker(actor),
                made_as=role,
            )
            append_entry(
                conn,
                ctx.clock.now(),
                AuditEntry(
                    action="tenant.export",
                    actor=actor.label,
                    tenant_id=tenant_id,
                    details={
                        "subjects": len(body["subjects"]),
                        "bytes": len(data),
                        "role": role,
                        "complete": scope.complete,
                        "left_out": sorted(scope.left_out),
                        "masked": not whole,
                    },
                ),
            )
        return link

    def download(
        self, token: str, *, actor: Actor, sink: Callable[[bytes], None] | None = None
    ) -> bytes:
        """The ZIP behind a download code, once. The export is bound to what it was made
        for: a person's only to that person (signed in), to an admin of the person's
        tenant, or to the vendor's office; a tenant's only to whoever made it, as they still
        are (:meth:`_its_maker`), or troth itself. Another's export, or a code already
        used, expired or purged, is NotFound
        (the refusal is audited); the file is deleted once it has been downloaded. A
        person's export holds everything of theirs: a customer's side (its admin, its key)
        that may not read all of it, an admin with a member role or any customer where the
        policy has ``vendor_only`` purposes, is refused (audited; the person downloads it
        with the code they were mailed). ``sink``, when given, receives the ZIP before the
        code is spent (a CLI writes it to a file): should it raise, nothing is spent, the
        export stays to download again, and its error is raised."""
        gone = no_export()
        row, owner = self.find(token)
        if row is None:
            raise gone
        subject_id = owner.subject_id if owner is not None else None
        tenant_id = owner.tenant_id if owner is not None else row.tenant_id

        def no(reason: Reason, message: str = "", error: TrothError | None = None) -> NoReturn:
            refuse(
                self.ctx,
                "request.download",
                actor,
                reason,
                message,
                error=error,
                subject_id=subject_id,
                tenant_id=tenant_id,
                details={"request": row.request_id},
            )

        why = _not_yours(actor, subject_id, tenant_id)
        if why is not None:
            no(why, error=gone)
        if row.request_id is None and tenant_id is not None:
            self._its_maker(row, actor, tenant_id, no)
        held = self._held_back(actor, tenant_id) if subject_id is not None else None
        if held is not None:
            no(*held)
        regime = owner.regime if owner is not None else None
        return self.hand_over(
            token, row, actor.label, subject_id, tenant_id, regime=regime, sink=sink
        )

    def _its_maker(
        self, row: Any, actor: Actor, tenant_id: str, no: Callable[..., NoReturn]
    ) -> None:
        """Return when ``actor`` may take tenant export ``row``: troth itself (the
        operator, who holds the key file), or whoever made it, still allowed to make it
        (:meth:`_exporter_role`, decided again now) and holding the member role it was
        made as. Anyone else is told the code names no export (``not_the_owner``); the
        maker whose role changed is told to make a new export (``role_not_allowed``)."""
        if actor.kind is ActorKind.system:
            return
        if row.made_by is None or row.made_by != _maker(actor):
            no(Reason.not_the_owner, error=no_export())
        role = self._exporter_role(tenant_id, actor, action="request.download")
        if role != row.made_as:
            no(
                Reason.role_not_allowed,
                f"this export was made as {_as(row.made_as)} and you now read as {_as(role)}:"
                " it may hold what you no longer read; make a new export",
            )

    def _held_back(self, actor: Actor, tenant_id: str | None) -> tuple[Reason, str] | None:
        """Why ``actor`` may not take a person's whole export, or None: a customer's side
        (its admin, its key) when it holds what the vendor keeps for its own
        (``vendor_only``) purposes, or more than the member role the admin holds now reads
        (``role_not_allowed``); anyone who reads masked (or not at all) a field the policy
        gives the person whole (``person_copy_whole``)."""
        idx = self.ctx.policy
        after = "; the person downloads it with the code they were mailed"
        whole = _whole_but_masked(idx, actor)
        if whole:
            return Reason.person_copy_whole, (
                f"a person's export holds their own {', '.join(whole)} whole (the policy's"
                " `person_copy: whole`: their copy of their data), which you read masked or"
                f" not at all{after}"
            )
        if not customer_side(actor):
            return None
        if idx.vendor_purposes:
            org = idx.policy.organisation.name
            return Reason.vendor_only, (
                f"a person's export holds what {org} keeps for its own purposes"
                f" ({', '.join(sorted(idx.vendor_purposes))}), never a customer's{after}"
            )
        if actor.kind is ActorKind.tenant_admin and tenant_id is not None:
            from troth.access import actor_facts

            with self.ctx.engine.connect() as conn:
                _, _, role = actor_facts(conn, self.ctx, actor, tenant_id)
            if role is not None:
                return Reason.role_not_allowed, (
                    f"your role {role!r} does not read everything a person's export holds{after}"
                )
        return None

    def find(self, token: str) -> tuple[Any, RequestRecord | None]:
        """The export behind the download code ``token`` (None: no such code) and the
        request it was made by (None: a tenant's export)."""
        h = _contact.hash_token(self.ctx.keys, token or "")
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                select(request_exports).where(request_exports.c.token_hash == h)
            ).first()
            owner = None
            if row is not None and row.request_id is not None:
                owner = self.steps.load(conn, row.request_id)
        return row, owner

    def hand_over(
        self,
        token: str,
        row: Any,
        label: str,
        subject_id: str | None,
        tenant_id: str | None,
        *,
        regime: str | None = None,
        sink: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """The ZIP of export ``row`` (its code ``token``) to ``label``, whom the caller has
        decided may have it: once, before it expires; audited, the file then deleted. Its
        times are told in ``regime``'s zone (the request's; None: the organisation's).
        ``sink`` gets the ZIP inside the transaction that spends the code: its error rolls
        the spending back."""
        now = self.ctx.clock.now()
        h = row.token_hash
        zone = self.steps.zone(regime)
        if row.downloaded_at is not None:
            raise NotFound(
                f"this download was already used on {local_stamp(row.downloaded_at, zone)};"
                " a download works once: make a new request for your data",
                code="export_used",
            )
        if row.purged_at is not None:
            raise no_export()
        if row.expires_at <= now:
            raise NotFound(
                f"this download expired on {local_stamp(row.expires_at, zone)}: make a"
                " new request for your data",
                code="export_expired",
            )
        path = Path(row.path)
        with transaction(self.ctx) as conn:
            taken = conn.execute(
                update(request_exports)
                .where(request_exports.c.token_hash == h, request_exports.c.downloaded_at.is_(None))
                .values(downloaded_at=now, purged_at=now)
            ).rowcount
            if taken != 1:  # a concurrent download of the same code won
                raise NotFound("this download was already used", code="export_used")
            data = _contact.open_file(token, path.read_bytes())
            if sink is not None:
                sink(data)  # raises: nothing spent, the export file kept
            append_entry(
                conn,
                now,
                AuditEntry(
                    action="request.download",
                    actor=label,
                    subject_id=subject_id,
                    tenant_id=tenant_id,
                    details={"request": row.request_id, "bytes": len(data)},
                ),
            )
        path.unlink(missing_ok=True)
        return data

    def purge_exports(self) -> int:
        """Delete the files of expired links (the worker runs this), and those a killed
        process left behind uncommitted; returns how many links were purged."""
        from troth.requests.bulk_export import sweep_pending

        sweep_pending(self.ctx)
        self._sweep_orphans()
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            rows = conn.execute(
                select(request_exports.c.token_hash, request_exports.c.path).where(
                    request_exports.c.expires_at <= now, request_exports.c.purged_at.is_(None)
                )
            ).all()
            for _, path in rows:
                Path(path).unlink(missing_ok=True)
            if rows:
                conn.execute(
                    update(request_exports)
                    .where(request_exports.c.token_hash.in_([h for h, _ in rows]))
                    .values(purged_at=now)
                )
        return len(rows)

    def _sweep_orphans(self) -> None:
        """Remove export files no link names (a process killed between writing one and
        committing its link) once a day old: an export being made now is never touched.
        Files are matched to links by name (a file's name is its own random code's), not by
        the whole path, which another process may spell otherwise (a moved home, a mount)."""
        cutoff = time.time() - ORPHAN_AGE_S
        old = [
            p for p in package.exports_dir(self.ctx).glob("*.zip.enc") if p.stat().st_mtime < cutoff
        ]
        if not old:
            return
        with self.ctx.engine.connect() as conn:
            live = conn.execute(
                select(request_exports.c.path).where(request_exports.c.purged_at.is_(None))
            ).scalars()
            named = {Path(str(path)).name for path in live}
        for p in old:
            if p.name not in named:
                p.unlink(missing_ok=True)


def no_export() -> NotFound:
    """The answer to a download code that names no export (unknown, removed or not the
    asker's: they are told alike)."""
    return NotFound("no such download: the code is wrong or was removed", code="no_export")


def _maker(actor: Actor) -> str:
    """Whom a tenant's export is bound to: the actor as the audit log names it."""
    return actor.label[:ACTOR_LENGTH]


def _as(role: str | None) -> str:
    return f"member role {role!r}" if role is not None else "an admin without a member role"


def _whole_but_masked(index: Any, actor: Actor) -> list[str]:
    """The fields a person's export holds whole (``person_copy: whole``) that ``actor``
    reads masked or not at all: a customer's side always (its admins and keys read every
    mask), a staff member those whose category their role does not read unmasked; the
    vendor's own keys, admins and troth itself read them whole."""
    whole = whole_for_the_person(index)
    if not whole:
        return []
    if actor.kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        reads = set(role.categories) - set(role.masked) if role is not None else set()
        return sorted(f"{name} ({cat})" for name, cat in whole.items() if cat not in reads)
    if customer_side(actor):
        return sorted(f"{name} ({cat})" for name, cat in whole.items())
    return []


def _not_yours(actor: Actor, subject_id: str | None, tenant_id: str | None) -> Reason | None:
    """Why ``actor`` may not download an export made for this person/tenant, or None.
    Whether the actor may manage requests at all is the edge's check (office, scope)."""
    if actor.kind is ActorKind.system:
        return None  # troth itself: the CLI on the home, with its key file
    if actor.kind is ActorKind.subject:
        return None if subject_id is not None and actor.id == subject_id else Reason.not_the_owner
    if actor.tenant_id is not None:
        if actor.kind is ActorKind.tenant_member:
            return Reason.role_not_allowed
        return None if tenant_id == actor.tenant_id else Reason.not_a_member
    if actor.kind in (ActorKind.staff, ActorKind.application, ActorKind.vendor_admin):
        return None
    return Reason.role_not_allowed
