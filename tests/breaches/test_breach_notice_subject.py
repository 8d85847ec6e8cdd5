"""A breach notice template may set its subject as a `mail send` template does (trial #14,
F8): a first line ``Subject: ...`` (then an empty line) is the e-mail's subject, rendered
with the notice's variables, and not a line of the body. Given with ``--subject`` too, it
is refused (which one would win?); without it the subject is as before."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_runner import run
from outbox_helpers import outbox_mail
from troth.errors import ValidationError

TEMPLATE = (
    "Subject: {{ organisation }}: about {{ breach.title }}\n\nDear customer,\n{{ breach.title }}.\n"
)


@pytest.fixture
def breach(home: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    t = home("mindlink")
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    point = "contact_form"
    sids = [
        t.collect(point, {"name": n, "email": f"{n}@example.com", "message": "hi"}).subject_id
        for n in ("ann", "bo")
    ]
    clock.advance(days=3)  # held when the window began
    now = t.ctx.clock.now()
    b = t.breaches.record_breach(
        title="Mailbox compromised",
        description="An attacker read the support mailbox.",
        occurred_from=now - timedelta(days=2),
        occurred_until=now - timedelta(days=1),
        discovered_at=now,
        categories=["contact"],
        subject_ids=sids,
        high_risk=True,
    )
    return t, b.id


def _notices(t: Any) -> list[dict[str, Any]]:
    return [m for m in outbox_mail(t, newest_first=True) if m["to_addr"].endswith("@example.com")]


def test_a_subject_line_sets_the_subject_not_the_body(breach: Any) -> None:
    t, bid = breach
    org = t.ctx.policy.policy.organisation.name
    title, body = t.breaches.render_notice(bid, TEMPLATE)
    assert title == f"{org}: about Mailbox compromised"
    assert body == "Dear customer,\nMailbox compromised."
    assert t.breaches.notify_individuals(bid, TEMPLATE) == 2
    mails = _notices(t)
    assert len(mails) == 2
    for m in mails:
        # Before the fix: the fixed subject, and "Subject: ..." as the body's first line.
        assert m["subject"] == f"{org}: about Mailbox compromised"
        assert "Subject:" not in m["body_text"]


def test_both_a_subject_line_and_a_subject_is_refused(breach: Any) -> None:
    t, bid = breach
    with pytest.raises(ValidationError) as exc:
        t.breaches.notify_individuals(bid, TEMPLATE, subject="Another")
    assert "once" in exc.value.message
    assert _notices(t) == []
    # Without a Subject: line, as before: --subject, else the fixed one.
    plain = "Dear customer,\n{{ breach.title }}.\n"
    assert t.breaches.render_notice(bid, plain, subject="Ours")[0] == "Ours"
    assert "security incident" in t.breaches.render_notice(bid, plain)[0]
    # A Subject: line that renders to nothing, or one that injects a header, is not sent.
    with pytest.raises(ValidationError):
        t.breaches.render_notice(bid, "Subject: {{ '' }}\n\nbody\n")
    title, _ = t.breaches.render_notice(bid, "Subject: a {{ '\\nBcc: x@evil.example' }}\n\nb\n")
    assert "\n" not in title


def test_the_cli_dry_run_shows_the_template_s_subject(
    breach: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, bid = breach
    path = tmp_path / "notice.j2"
    path.write_text(TEMPLATE)
    code, out, err = run(capsys, "breaches", "notify", bid, "--template", str(path), "--dry-run")
    assert code == 0, (out, err)
    assert out.startswith("Subject: ") and "about Mailbox compromised" in out.splitlines()[0]
    assert out.count("Subject:") == 1
    code, out, err = run(
        capsys, "breaches", "notify", bid, "--template", str(path), "--subject", "x"
    )
    assert code == 1 and "once" in err, (out, err)
    assert _notices(t) == []
