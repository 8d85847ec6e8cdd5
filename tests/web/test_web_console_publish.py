"""Publishing with care from the console: the preview names what changed (the purpose,
not only the category), the effective date can be set on the page, the page says how many
people and customers the notice goes to and shows it, and nothing is queued until the
officer confirms that exact preview. A publish without a preview, without the tick, with
a draft changed since the preview or with a forged CSRF token changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from _http import PASSWORD, client_for, console_login
from troth.engine import Troth
from troth.notices.outbox import outbox

OFFICER = "officer@example.com"


def login(c: Any, email: str = OFFICER) -> str:
    return console_login(c, email)


def draft(ctx: Any) -> str:
    """Version 1.1: notices e-mailed, and account management now uses the support
    category (a new use of support requests already held: material)."""
    text = ctx.settings.resolved_policy_file.read_text()
    text = text.replace('version: "1.0"', 'version: "1.1"', 1)
    text = text.replace("email_customers: false", "email_customers: true", 1)
    return text.replace(
        "categories: [identity, contact, purchases, account_history]\n",
        "categories: [identity, contact, purchases, account_history, support]\n",
        1,
    )


def queued(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def preview_of(html: str) -> str:
    m = re.search(r'name="preview" value="([0-9a-f]{64})"', html)
    assert m, "no confirmation form on the page"
    return m.group(1)


def test_preview_counts_names_and_confirms_before_anything_is_queued(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.tenants.create_tenant("Acme", primary_email="dpo@acme.example")
    t.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "Hi"})
    t.collect("support_request", {"name": "Bob", "email": "bob@example.com", "message": "Yo"})
    new = draft(mindlink)
    assert "support]" in new and "email_customers: true" in new
    before = queued(mindlink)
    with client_for(mindlink) as c:
        token = login(c)
        r = c.post(
            "/console/policy/diff",
            data={"yaml": new, "effective": "2026-03-01", "csrf_token": token},
        )
        assert r.status_code == 200, r.text[:2000]
        diff = r.text.split('id="diff"')[1].split("</section>")[0]
        # The change names the purpose it is about, not only the category.
        assert (
            "purpose &#39;account_management&#39;: categories used now includes &#39;support&#39;"
            in diff
        )
        count = r.text.split('id="preview-count"')[1].split("</dd>")[0]
        assert "3 e-mails: 2 people and 1 customer" in count, count
        effective = r.text.split('id="preview-effective"')[1].split("</dd>")[0]
        assert "2026-03-01" in effective
        notice = r.text.split('id="notice"')[1].split("</pre>")[0]
        assert "version 1.1, effective 2026-03-01" in notice
        # The notice the people read names the purpose by its description, never its id
        # (the officer's diff above keeps the ids).
        assert "Keep account history" in notice and "account_management" not in notice
        assert (
            queued(mindlink) == before and mindlink.policy.version == "1.0"
        )  # a preview sends nothing
        digest = preview_of(r.text)
        base = {"yaml": new, "effective": "2026-03-01", "csrf_token": token, "preview": digest}

        # Not ticked: nothing happens.
        r = c.post("/console/policy/publish", data=base)
        assert r.status_code == 422 and "tick the confirmation" in r.text
        # No preview at all (the old one-click form): refused.
        r = c.post("/console/policy/publish", data={**base, "preview": "", "confirm": "yes"})
        assert r.status_code == 422 and "show the changes first" in r.text
        # The draft changed after the preview: a new preview is needed.
        changed = new.replace("keep_for: 1y", "keep_for: 2y", 1)
        assert changed != new
        r = c.post("/console/policy/publish", data={**base, "yaml": changed, "confirm": "yes"})
        assert r.status_code == 409 and "changed since the preview" in r.text
        # So did the effective date.
        r = c.post(
            "/console/policy/publish", data={**base, "effective": "2026-04-01", "confirm": "yes"}
        )
        assert r.status_code == 409
        # A forged CSRF token.
        r = c.post("/console/policy/publish", data={**base, "csrf_token": "x", "confirm": "yes"})
        assert r.status_code == 403
        assert queued(mindlink) == before and mindlink.policy.version == "1.0"

        r = c.post("/console/policy/publish", data={**base, "confirm": "yes"})
        assert r.status_code == 200 and 'id="published"' in r.text, r.text[:2000]
        assert "3 notice e-mail(s) queued" in r.text
        assert "Effective 2026-03-01" in r.text
    # Published on 5 Jan: 1.0 rules until 1 Mar 00:00 (London), then 1.1.
    assert mindlink.policy.version == "1.0" and mindlink.newest_policy.version == "1.1"
    mindlink.clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    assert mindlink.policy.version == "1.1"
    assert queued(mindlink) == before + 3


def test_an_effective_date_too_early_is_explained_and_offers_no_publish_button(
    mindlink: Any,
) -> None:
    Troth(mindlink).access.accounts.add_user(
        OFFICER, kind="staff", role="privacy_office", password=PASSWORD
    )
    with client_for(mindlink) as c:
        token = login(c)
        for effective, why in (
            ("2024-06-01", "notice period"),
            ("1999-01-01", "before the version in force"),
        ):
            r = c.post(
                "/console/policy/diff",
                data={"yaml": draft(mindlink), "effective": effective, "csrf_token": token},
            )
            problem = r.text.split('id="problem"')[1].split("</p>")[0]
            assert why in problem and 'id="publish"' not in r.text, problem
        r = c.post(
            "/console/policy/diff",
            data={"yaml": draft(mindlink), "effective": "next week", "csrf_token": token},
        )
        assert r.status_code == 422 and "YYYY-MM-DD" in r.text
        # Staff without publish_policy see no preview (refused, audited).
        Troth(mindlink).access.accounts.add_user(
            "agent@example.com", kind="staff", role="support", password=PASSWORD
        )
        token = login(c, "agent@example.com")
        r = c.post("/console/policy/diff", data={"yaml": draft(mindlink), "csrf_token": token})
        assert r.status_code == 403 and 'id="preview"' not in r.text
    assert mindlink.policy.version == "1.0"
