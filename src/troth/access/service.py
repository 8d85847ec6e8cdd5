"""``Troth.access``: one object whose parts are accounts, sessions, API keys, tenants (with
their invitations), support grants and the reads of records about a person; each part is
a class of its own module, given what it needs."""

from __future__ import annotations

from troth.access.accounts import Accounts
from troth.access.apikeys import ApiKeys
from troth.access.grants import Grants
from troth.access.records import Records
from troth.access.sessions import Sessions
from troth.access.tenants import Tenants
from troth.context import Context
from troth.errors import NotFound, PermissionDenied
from troth.gate import Actor, ActorKind, Reason


class AccessService:
    """Who may see the data: ``AccessService(ctx)``, usually reached as ``t.access``.

    ``accounts`` (staff, vendor admins, customers' members; logins and TOTP),
    ``sessions`` (the console's login sessions), ``keys`` (API keys and their scopes),
    ``tenants`` (customers, members, invitations, a tenant's export), ``grants`` (the
    vendor's support grants and what the vendor saw) and ``records`` (reads of records
    about a person, decided by the gate)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.accounts = Accounts(ctx)
        self.sessions = Sessions(ctx)
        self.keys = ApiKeys(ctx)
        self.tenants = Tenants(ctx)
        self.grants = Grants(ctx, self.tenants)
        self.records = Records(ctx)

    def acting_for_tenant(self, actor: Actor, tenant_id: str, action: str) -> Actor:
        """Check ``actor`` may manage tenant ``tenant_id`` through ``action`` and return
        the actor the tenant's services should act as: a tenant's admin as themselves; a
        key bound to that tenant (scope ``admin``) or the vendor's office (power
        ``manage_tenants``) as troth, recorded under the caller's label. A person or key
        bound to another tenant gets the answer to an unknown id (the id reveals nothing),
        refused ``tenant_bound`` and audited under their own tenant."""
        from troth.audit.refusals import refuse
        from troth.office import Power, authorize

        bound = actor.tenant_id is not None and actor.kind in (
            ActorKind.tenant_admin,
            ActorKind.application,
        )
        if actor.kind is ActorKind.application and bound:
            self.keys.require_scope(actor)
        if bound and actor.tenant_id != tenant_id:
            refuse(
                self.ctx,
                action,
                actor,
                Reason.tenant_bound,
                error=NotFound(f"no tenant {tenant_id!r}"),
                tenant_id=actor.tenant_id,
                details={"tenant_named": tenant_id[:64]},
            )
        if actor.kind is ActorKind.tenant_admin:
            return actor
        if not bound:
            authorize(self.ctx, actor, Power.manage_tenants)
        self.tenants.get_tenant(tenant_id)
        return Actor(ActorKind.system, f"api:{actor.label}")

    def giving_roles(self, actor: Actor, tenant_id: str, action: str) -> Actor:
        """:meth:`acting_for_tenant` for giving a member a role (``for: tenant_members``),
        which says what they may read: an admin of the customer, signed in, or the
        vendor's office; never a key bound to the customer, whatever its scopes (refused
        ``not_tenant_admin``, audited under its tenant)."""
        from troth.audit.refusals import refuse

        if actor.kind is ActorKind.application and actor.tenant_id == tenant_id:
            refuse(
                self.ctx,
                action,
                actor,
                Reason.not_tenant_admin,
                error=PermissionDenied(
                    "a customer's API key may not give its members roles: an admin of the"
                    " customer does, signed in",
                    code="not_tenant_admin",
                ),
                tenant_id=tenant_id,
            )
        return self.acting_for_tenant(actor, tenant_id, action)
