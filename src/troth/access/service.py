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
