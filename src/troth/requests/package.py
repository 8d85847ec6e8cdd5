"""The download a person (or a tenant) gets: a ZIP with ``data.json`` (machine-readable,
schema ``troth-export/1``), one CSV per category, list and connected table, and a readable
``summary.html``; stored encrypted under HOME/exports behind an expiring link.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment
from sqlalchemy import select

from troth.context import Context
from troth.csvsafe import to_csv
from troth.db import dumps

FORMAT = "troth-export"
FORMAT_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# Lists of rows in data.json that get their own CSV, by their path in the document.
_LISTS = (
    ("communications", "messages"),
    ("account_history", "requests"),
    ("consents", "events"),
    ("consents", "state"),
    ("restrictions",),
    ("disclosures",),
    ("access_log",),
    ("call_records",),
)

_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}</style>
</head><body>
<h1>{{ title }}</h1>
<p>Made {{ doc.generated_at }} by {{ (doc.processor or doc.controller).name }}
{%- if doc.processor %}, which holds this data for {{ doc.controller.name }}, who decides about it
{%- endif %}.
The same data is in <code>data.json</code> (machine-readable) and in the CSV files.</p>
{% if doc.left_out %}<h2>Left out of this export</h2>
<p>This export does not hold everything {{ doc.controller.name }} holds about these people
(the same list is in <code>left_out.csv</code>):</p><ul>
{% for w in doc.left_out %}<li>{{ w.description }}{% if w.category %} ({{ w.category }}){% endif %}:
{{ w.why }} ({{ w.reason }})</li>
{% endfor %}</ul>{% endif %}
{% for person in people %}
<h2>Person {{ person.subject.id }}</h2>
{% for cat, section in person.categories.items() %}
<h3>{{ section.description }} <small>({{ cat }})</small></h3>
<table><tr><th>field</th><th>value</th><th>collected</th><th>purposes</th><th>source</th></tr>
{% for v in section["values"] %}
<tr><td>{{ v.field }}</td><td>{{ v.value }}</td><td>{{ v.collected_at }}</td>
<td>{{ v.purposes|join(", ") }}</td><td>{{ v.source }}</td></tr>
{% endfor %}</table>
{% endfor %}
{% if person.withheld %}<h3>What we hold but do not give you here</h3><ul>
{% for w in person.withheld %}<li>{{ w.description }} ({{ w["values"] }} value(s)): {{ w.why }}</li>
{% endfor %}
</ul>{% endif %}
{% if person.communications %}<h3>Messages we sent you</h3><ul>
{% for m in person.communications.messages %}
<li>{{ m.created_at }}: {{ m.subject }} ({{ m.status }})</li>
{% endfor %}</ul>{% endif %}
{% if person.consents %}<h3>Consents</h3><ul>
{% for c in person.consents.events %}<li>{{ c.at }}: {{ c.kind }} {{ c.purpose }}
{%- if c.recorded_by %} (recorded by: {{ c.recorded_by }}){% endif %}</li>{% endfor %}
</ul>{% endif %}
{% if person.disclosures %}<h3>Who we gave your data to</h3><ul>
{% for d in person.disclosures %}<li>{{ d.at }}: {{ d.recipient_name }} for {{ d.purpose }}
({{ d.categories|join(", ") }})</li>{% endfor %}</ul>{% endif %}
{% if person.access_log %}<h3>Who used your data, and why</h3>
<table><tr><th>when</th><th>who</th><th>what</th><th>purpose</th><th>outcome</th></tr>
{% for a in person.access_log %}<tr><td>{{ a.at }}</td><td>{{ a.who }}</td>
<td>{{ a.action }}</td><td>{{ a.purpose or "" }}</td><td>{{ a.outcome }}</td></tr>
{% endfor %}</table>{% endif %}
{% endfor %}
{% for ds in doc.datasets %}
<h2>In our system "{{ ds.dataset }}"</h2>
{% for name, table in ds.tables.items() %}
<h3>{{ name }}</h3><table><tr>{% for c in table.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for c in table.columns %}<td>{{ row[c] }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endfor %}{% endfor %}
</body></html>
"""
)


def document(ctx: Context, body: Mapping[str, Any], **head: Any) -> dict[str, Any]:
    """``data.json``: a header (format, version, when, who decides about the data and who
    holds it) and the body. The controller is the organisation, or, for a customer's
    person or a customer's export where the customers decide about their people
    (``tenant_controller: customer``), that customer (its name and primary address), with
    the organisation named as ``processor`` (GDPR Art. 13(1)(a), 15(1)), and, for the
    categories its own purposes (``vendor_only``) use, as ``controller_of_own_purposes``."""
    org = ctx.policy.policy.organisation
    ours = {"name": org.name, "contact": org.contact.email}
    parties: dict[str, Any] = {"controller": ours}
    customer = _customer_of(ctx, body)
    if customer is not None:
        parties = {"controller": customer, "processor": ours}
        own = _own_categories(ctx, body)
        if own:  # what the organisation keeps for its own purposes: it decides about it
            parties["controller_of_own_purposes"] = {
                **ours,
                "purposes": sorted(ctx.policy.vendor_purposes),
                "categories": own,
            }
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generated_at": ctx.clock.now().isoformat(),
        **parties,
        "policy_version": ctx.policy.version,
        **head,
    }
    doc.update(body)
    doc.setdefault("datasets", [])
    return doc


def _own_categories(ctx: Context, body: Mapping[str, Any]) -> list[str]:
    """The categories of a person's export (``body["categories"]``) that the
    organisation's own purposes (``vendor_only``) use: of those it is the controller,
    whoever is the customer's people's (trial #18 F4)."""
    idx = ctx.policy
    used = {c for p in idx.vendor_purposes for c in idx.purpose_categories.get(p, ())}
    held = body.get("categories")
    return sorted(used & set(held)) if isinstance(held, Mapping) else []


def title_of(doc: Mapping[str, Any]) -> str:
    """A person's export's title: who holds their data (and for whom)."""
    if "processor" in doc:
        return f"Your data held by {doc['processor']['name']} for {doc['controller']['name']}"
    return f"Your data held by {doc['controller']['name']}"


def _customer_of(ctx: Context, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The customer who decides about the data of ``body`` (a tenant's export, or one of
    its people's), when the policy makes the customers their people's controllers: its
    name, and its primary address unless its row was changed outside troth."""
    from troth.access.seals import tenant_rows
    from troth.policy.parties import customers_control
    from troth.store.tables import tenants

    tenant = body.get("tenant")
    subject = body.get("subject")
    tid = (tenant or {}).get("id") or (subject or {}).get("tenant_id")
    if not tid or not customers_control(ctx.policy.policy):
        return None
    with ctx.engine.connect() as conn:
        good, _bad = tenant_rows(conn, ctx.keys, [tid])
        if tid in good:
            return {"name": good[tid].name, "contact": good[tid].primary_email}
        name = conn.execute(select(tenants.c.name).where(tenants.c.id == tid)).scalar()
    return {"name": name, "contact": None}


def _csv(rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    """The rows as CSV that a spreadsheet opens safely (troth.csvsafe: a text beginning
    ``=``, ``+``, ``-`` or ``@`` is no formula); values that are not text as JSON."""
    rows = list(rows)
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    return to_csv(cols, ([_cell(r.get(c)) for c in cols] for r in rows))


def _cell(value: Any) -> Any:
    """Text or None as it is (made safe by to_csv), a number as a number (``-5`` is no
    formula), anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return dumps(value)


def _person_files(prefix: str, person: Mapping[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    for cat, section in person.get("categories", {}).items():
        files[f"{prefix}categories/{_SAFE.sub('_', cat)}.csv"] = _csv(section["values"])
    for path in _LISTS:
        node: Any = person
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, list) and node:
            files[f"{prefix}{'_'.join(path)}.csv"] = _csv(node)
    return files


def build_zip(doc: Mapping[str, Any], title: str) -> bytes:
    """The ZIP: data.json, CSVs, summary.html (deterministic order)."""
    people: list[Mapping[str, Any]] = (
        list(doc["subjects"]) if "subjects" in doc else ([doc] if "categories" in doc else [])
    )
    files: dict[str, str] = {
        "data.json": json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    }
    for person in people:
        prefix = ""
        if "subjects" in doc:
            prefix = f"people/{_SAFE.sub('_', str(person['subject']['id']))}/"
        files.update(_person_files(prefix, person))
    if doc.get("left_out"):  # a tenant export that is not complete says what it lacks
        files["left_out.csv"] = _csv(doc["left_out"], ["category", "description", "reason", "why"])
    for ds in doc.get("datasets", []):
        for name, table in ds["tables"].items():
            path = f"datasets/{_SAFE.sub('_', ds['dataset'])}/{_SAFE.sub('_', name)}.csv"
            files[path] = _csv(table["rows"], list(table["columns"]))
    files["summary.html"] = _HTML.render(title=title, doc=doc, people=people)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return buf.getvalue()


def exports_dir(ctx: Context) -> Path:
    """The home's folder of export files, readable by troth's user only (0700)."""
    path = ctx.home / "exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only troth's user can read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)


def link_expiry(ctx: Context, now: datetime) -> datetime:
    return now + timedelta(hours=ctx.settings.export_link_hours)
