"""The route table of :mod:`troth.access.routes` as markdown (a section of
docs/authorization-matrix.md)."""

from __future__ import annotations

from troth.access.commands import COMMANDS
from troth.access.routes import ROUTES, WHO, Door

# Doors no API key passes: no scopes to list.
_KEYLESS = (Door.public, Door.token, Door.person, Door.session, Door.console,
            Door.console_office, Door.tenant_pages)  # fmt: skip


def render_routes() -> str:
    """The route table as markdown (a section of docs/authorization-matrix.md)."""
    lines = [
        "## Every route",
        "",
        "From `troth.access.routes.ROUTES`; `tests/access/test_authz_matrix.py` fails when the app"
        " has a route this table lacks, and probes each route with every kind of credential"
        " against ids of the caller's own tenant, another tenant, unknown and malformed ones.",
        "",
        "| route | door | API-key scopes | who may |",
        "|---|---|---|---|",
    ]
    for route, rule in ROUTES.items():
        keyless = rule.door in _KEYLESS
        scopes = "-" if keyless else ", ".join(f"`{s}`" for s in ("admin", *rule.scopes))
        who = WHO[rule.door] + (f" ({rule.note})" if rule.note else "")
        lines.append(f"| `{route}` | {rule.door.value} | {scopes} | {who} |")
    lines += [
        "",
        "## Every CLI command",
        "",
        "The CLI acts with the home's key file: whoever can read it is the operator. An"
        " `--actor` is a claim the operator makes, not a proof; `--as EMAIL` asks for that"
        " account's password.",
        "",
        "| command | acts as |",
        "|---|---|",
    ]
    lines += [f"| `troth {c}` | {who} |" for c, who in COMMANDS.items()]
    lines.append("")
    return "\n".join(lines)
