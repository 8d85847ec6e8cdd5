"""What the console calls the actors, keys and tenants it shows: names, not ids.

An audit entry says ``staff:3f9a…`` or ``application:ab12…``; a person reads "Olive
Officer" or "API key 'shop backend'". :func:`names_for` reads the accounts, API keys and
tenants once (small tables) and answers every look-up of a page from memory; an id it does
not know (an account since deleted, an actor from elsewhere) is shown as itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from troth.access.accounts import User, UserKind, actor_for

if TYPE_CHECKING:
    from troth.access.apikeys import ApiKey
    from troth.access.service import AccessService
    from troth.access.tenants import Tenant

_KINDS = {
    "staff": "staff",
    "vendor_admin": "vendor staff",
    "tenant_admin": "customer admin",
    "tenant_member": "customer staff",
}


@dataclass
class Names:
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)

    def user(self, user_id: str | None) -> str:
        u = self.users.get(user_id or "")
        if u is None:
            return user_id or ""
        return u.display_name or u.email

    def tenant(self, tenant_id: str | None) -> str:
        if not tenant_id:
            return ""
        t = self.tenants.get(tenant_id)
        return t.name if t is not None else tenant_id

    def actor(self, label: str | None) -> str:
        """``kind:id`` (an audit entry's actor) in words."""
        if not label:
            return ""
        kind, _, ident = label.partition(":")
        if kind == "system":
            return f"troth ({ident})" if ident and ident != "troth" else "troth (automatic)"
        if kind == "subject":
            return "the person themself"
        if kind == "application":
            key = self.keys.get(ident)
            if key is None:
                return f"API key {ident[:8]}"
            owner = f", {self.tenant(key.tenant_id)}" if key.tenant_id else ""
            return f"API key '{key.name}'{owner}"
        if kind in _KINDS:
            u = self.users.get(ident)
            if u is None:
                return f"{_KINDS[kind]} {ident[:8]}"
            name = u.display_name or u.email
            if u.kind is UserKind.vendor_admin:
                return f"{name} (vendor staff)"
            if u.tenant_id:
                return f"{name} ({self.tenant(u.tenant_id)})"
            return name
        return label

    def actor_choices(self) -> list[tuple[str, str]]:
        """(label, name) of every account and key, by name: the audit filter's list."""
        labels = [actor_for(u).label for u in self.users.values()]
        labels += [f"application:{k.id}" for k in self.keys.values()]
        return sorted(((lb, self.actor(lb)) for lb in labels), key=lambda c: c[1].lower())


def names_for(access: AccessService) -> Names:
    """The names of every account, API key and tenant, for one page."""
    return Names(
        users={u.id: u for u in access.accounts.list_users()},
        keys={k.id: k for k in access.keys.list_api_keys(include_revoked=True)},
        tenants={t.id: t for t in access.tenants.list_tenants()},
    )
