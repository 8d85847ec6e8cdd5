"""The record of processing activities (GDPR Art. 30(1)), generated from the policy: one
activity per purpose with (a) the controller, its representative and DPO, (b) the purpose
and its legal basis, (c) the categories of people and of data, (d) the recipients and the
third countries they are in, (e) transfers and their safeguards, (f) when the data is
erased, (g) the security measures troth applies. As JSON, CSV and HTML.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from jinja2 import Environment, select_autoescape

from troth.context import Context
from troth.csvsafe import to_csv
from troth.gate import Actor
from troth.office import authorize
from troth.policy.index import PolicyIndex
from troth.policy.model import Contact, Policy, Power

COLUMNS = (
    "purpose",
    "description",
    "legal_basis",
    "data_subjects",
    "data_categories",
    "recipients",
    "third_countries",
    "transfer_safeguards",
    "erasure",
    "security",
    "staff_access",
)


def _contact(c: Contact | None) -> str:
    if c is None:
        return ""
    return ", ".join(x for x in (c.name, c.email, c.phone, c.address) if x)


def _security(idx: PolicyIndex) -> list[str]:
    """Art. 30(1)(g): the technical and organisational measures troth itself applies."""
    out = []
    sensitive = sorted(c for c, info in idx.categories.items() if info.sensitive)
    if sensitive:
        out.append(
            "encrypted at rest with AES-256-GCM under per-person keys wrapped by a key kept"
            f" apart from the data ({', '.join(sensitive)})"
        )
    out.append("people looked up through keyed blind indexes (HMAC-SHA256), never plaintext")
    out.append("every use checked against the policy; access limited by role and purpose")
    out.append("tamper-evident audit log (RFC 6962 Merkle tree, signed tree heads)")
    if idx.policy.multi_tenant:
        out.append("tenants isolated")
    if idx.policy.support_access.requires_customer_grant:
        out.append("vendor staff see a customer's people only under its time-limited grant")
    if idx.aggregate_purposes:
        dims = "; ".join(
            f"{p}: {', '.join(idx.purposes[p].dimensions) or 'totals only'}"
            for p in sorted(idx.aggregate_purposes)
        )
        out.append(
            f"aggregate-only purposes see groups of at least"
            f" {idx.policy.aggregates.min_group_size} people, grouped only by the"
            f" dimensions the policy declares ({dims}); smaller groups are never shown"
        )
    out.append("retention applied automatically (delete, anonymise or crypto-shred)")
    return out


@dataclass(frozen=True)
class RecordOfProcessing:
    # The fields in the order the JSON document gives them (``to_dict`` is ``asdict``).
    controller: dict[str, str]
    policy_version: str
    activities: list[dict[str, Any]]
    # Role -> the office powers the policy gives it (only roles with powers).
    office_powers: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        name = self.controller["name"]
        return to_csv(
            ["controller", *COLUMNS],
            (
                [name] + ["; ".join(a[c]) if isinstance(a[c], list) else a[c] for c in COLUMNS]
                for a in self.activities
            ),
        )

    def to_html(self) -> str:
        env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
        return env.from_string(_HTML).render(r=self, columns=COLUMNS)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Record of processing activities: {{ r.controller.name }}</title></head><body>
<h1>Record of processing activities</h1>
<p>GDPR Art. 30(1). Generated from policy version {{ r.policy_version }}.</p>
<h2>(a) Controller</h2>
<dl>{% for k, v in r.controller.items() %}<dt>{{ k }}</dt><dd>{{ v or "none" }}</dd>
{% endfor %}</dl>
<h2>Processing activities</h2>
<table><thead><tr>{% for c in columns %}<th>{{ c.replace("_", " ") }}</th>{% endfor %}</tr>
</thead><tbody>
{% for a in r.activities %}<tr>{% for c in columns %}<td>
{%- if a[c] is string %}{{ a[c] }}{% else %}<ul>
{%- for x in a[c] %}<li>{{ x }}</li>{% endfor %}</ul>{% endif -%}
</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<h2>Office powers</h2>
<p>What each staff role may do beyond using its categories for its purposes.</p>
{% if r.office_powers %}<ul>{% for role, powers in r.office_powers.items() %}
<li>{{ role }}: {{ powers | join(", ") }}</li>{% endfor %}</ul>
{% else %}<p>No role holds an office power.</p>{% endif %}
</body></html>
"""


def record_of_processing(idx: PolicyIndex) -> RecordOfProcessing:
    """Build the record from the compiled policy."""
    pol = idx.policy
    org = pol.organisation
    controller = {
        "name": org.name,
        "contact": _contact(org.contact),
        "representative": _contact(org.representative),
        "dpo": _contact(org.dpo),
        "website": org.website or "",
    }
    security = _security(idx)
    subjects_of: dict[str, set[str]] = {}
    for cp in pol.collection_points:
        for pid in cp.purposes:
            subjects_of.setdefault(pid, set()).update(cp.subjects)
    activities = []
    for p in pol.purposes:
        recipients, countries, safeguards = [], set(), set()
        for rc in pol.recipients:
            grant = idx.recipient_grants.get((rc.id, p.id))
            if grant is None:
                continue
            recipients.append(
                f"{rc.name} ({rc.kind.value.replace('_', ' ')}, {rc.location}):"
                f" {', '.join(sorted(grant.categories))}"
            )
            if rc.location not in idx.allowed_locations:
                countries.add(rc.location)
                safeguard = idx.transfer_locations.get(rc.location) or rc.safeguard
                safeguards.add(f"{rc.location}: {safeguard or 'none recorded'}")
        ret = p.retention
        if ret is None:
            erasure = "no time limit set in the policy"
        else:
            clock = (
                "collection" if ret.after.value == "collection" else "the end of the relationship"
            )
            erasure = f"{ret.keep_for} after {clock}, then {ret.then.value.replace('_', '-')}"
            if ret.legal_minimum is not None:
                erasure += f" (legal minimum {ret.legal_minimum})"
        activities.append(
            {
                "purpose": p.id,
                "description": p.description,
                "legal_basis": p.legal_basis.value.replace("_", " "),
                "data_subjects": sorted(subjects_of.get(p.id, set())),
                "data_categories": sorted(p.categories),
                "recipients": recipients,
                "third_countries": sorted(countries),
                "transfer_safeguards": sorted(safeguards),
                "erasure": erasure,
                "security": security,
                "staff_access": _staff_access(pol, p.id, set(p.categories)),
            }
        )
    powers = {r.id: [w.value for w in r.powers] for r in pol.roles if r.powers}
    return RecordOfProcessing(controller, idx.version, activities, powers)


def _staff_access(pol: Policy, purpose: str, categories: set[str]) -> list[str]:
    """Art. 30(1)(g) and P12: each role that may act for ``purpose``, with the categories
    of it that the role sees, and the office powers it holds; a role of a customer's
    members says so."""
    out = []
    for r in pol.roles:
        if purpose not in r.purposes:
            continue
        seen = sorted(categories & set(r.categories))
        powers = f" (office powers: {', '.join(r.powers)})" if r.powers else ""
        whose = " (customer members)" if r.for_members else ""
        out.append(f"{r.id}{whose}{powers}: {', '.join(seen) or 'no categories'}")
    return out


def office_record(ctx: Context, actor: Actor) -> RecordOfProcessing:
    """The record for an actor with the power ``publish_policy`` (troth.office)."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "ropa"})
    return record_of_processing(ctx.policy)


__all__ = ["COLUMNS", "RecordOfProcessing", "office_record", "record_of_processing"]


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def html_to_pdf(html: str, *, timeout: float = 90.0) -> bytes:
    """Print HTML to PDF with a headless Chromium (Debian's ``chromium`` package), so the
    record is the same document in both formats. ConfigError, saying what to install, when
    no Chromium is on the PATH."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from troth.errors import ConfigError

    binary = next((b for b in map(shutil.which, CHROMIUM_NAMES) if b), None)
    if binary is None:
        raise ConfigError(
            "PDF output needs Chromium: install it (Debian: `apt-get install chromium`), or"
            " use --format html and print that"
        )
    with tempfile.TemporaryDirectory(prefix="troth-pdf-") as tmp:
        page = Path(tmp) / "record.html"
        out = Path(tmp) / "record.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            raise ConfigError(f"Chromium did not print the PDF within {timeout:.0f} s") from None
        data = out.read_bytes() if out.exists() else b""
    if not data.startswith(b"%PDF"):
        raise ConfigError("Chromium did not produce a PDF; use --format html and print that")
    return data
