"""The published list of sub-processors (P21): who processes data for the organisation,
what each receives, for what, and where; generated from the policy, as data and HTML."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

from troth.policy.index import PolicyIndex
from troth.policy.model import RecipientKind

PROCESSOR_KINDS = frozenset({RecipientKind.processor, RecipientKind.sub_processor})

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ org }}: sub-processors</title></head>
<body>
<h1>Sub-processors of {{ org }}</h1>
<p>Policy version {{ version }}. These organisations process personal data on our behalf.</p>
<table>
<thead><tr><th>Sub-processor</th><th>Role</th><th>Location</th><th>Receives</th>
<th>Transfer safeguard</th></tr></thead>
<tbody>
{% for s in items %}<tr id="{{ s.id }}">
<td>{% if s.url %}<a href="{{ s.url }}">{{ s.name }}</a>{% else %}{{ s.name }}{% endif %}</td>
<td>{{ s.role or "" }}</td>
<td>{{ s.location }}</td>
<td><ul>{% for r in s.receives %}<li>{{ r.purpose }}: {{ r.categories | join(", ") }}
{%- if r.fields %} (only {{ r.fields | join(", ") }}){% endif %}</li>{% endfor %}</ul></td>
<td>{{ s.transfer_safeguard or "" }}</td>
</tr>
{% endfor %}</tbody></table>
</body></html>
"""


def subprocessors(idx: PolicyIndex) -> list[dict[str, Any]]:
    """Every processor and sub-processor of the policy: what it receives and where."""
    out = []
    for rc in idx.policy.recipients:
        if rc.kind not in PROCESSOR_KINDS:
            continue
        transfer = None
        if rc.location not in idx.allowed_locations:
            transfer = idx.transfer_locations.get(rc.location) or rc.safeguard
        out.append(
            {
                "id": rc.id,
                "name": rc.name,
                "kind": rc.kind.value,
                "role": rc.role,
                "location": rc.location,
                "url": rc.url,
                "receives": [
                    {
                        "purpose": d.purpose,
                        "categories": list(d.categories),
                        "fields": list(d.fields),
                    }
                    for d in rc.receives
                ],
                "individual_transactions": rc.individual_transactions,
                "transfer_safeguard": transfer,
            }
        )
    return out


def subprocessors_html(idx: PolicyIndex) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(
        org=idx.policy.organisation.name, version=idx.version, items=subprocessors(idx)
    )
