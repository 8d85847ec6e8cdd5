"""``Troth.access``: one object for accounts, sessions, API keys, tenants, invitations
and support grants. Each part is a mixin in its own module."""

from __future__ import annotations

from troth.access.apikeys import ApiKeysMixin
from troth.access.grants import GrantsMixin
from troth.access.records import RecordsMixin
from troth.access.sessions import SessionsMixin


class AccessService(GrantsMixin, RecordsMixin, SessionsMixin, ApiKeysMixin):
    """Who may see the data: ``AccessService(ctx)``, usually reached as ``t.access``."""
