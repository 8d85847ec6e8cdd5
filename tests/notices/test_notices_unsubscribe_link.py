"""Every marketing message carries its unsubscribe link in the body, text and HTML, beside
the RFC 8058 headers (trial 19, F13; P10 "a link in every email", CAN-SPAM): where the
template puts ``{{ unsubscribe_url }}``, else in a footer. The link is the header's: the
public URL, ``/u/`` and an opaque token, nothing of the person; it works (its page changes
nothing, its button unsubscribes that person alone). A template with any other
placeholder, or one in its subject line, is refused before anything is queued; mail that
is not marketing is left as written."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from _http import client_for
from outbox_helpers import outbox_mail
from troth.audit.log import transaction
from troth.engine import Troth
from troth.errors import ValidationError
from troth.gate import Actor, ActorKind
from troth.notices.delivery import deliver_due
from troth.notices.lists import send_to_list
from troth.notices.outbox import enqueue, list_outbox
from troth.notices.unsubscribe_link import TEXT_FOOTER

APP = Actor(ActorKind.application, "newsletter", scopes=frozenset({"admin"}))
URL = re.compile(r"http://127\.0\.0\.1:8000/u/[A-Za-z0-9_-]{43}")


@pytest.fixture
def shop(home: Any) -> Troth:
    t: Troth = home("itechno")
    return t


def reader(t: Troth, name: str, mail: str) -> str:
    res = t.collect("newsletter_signup", {"name": name, "email": mail}, consents=["product_news"])
    return str(res.subject_id)


def delivered(t: Troth) -> dict[str, EmailMessage]:
    """Each delivered message by its recipient."""
    deliver_due(t.ctx)
    out: dict[str, EmailMessage] = {}
    for row in list_outbox(t.ctx):
        path = t.ctx.settings.resolved_mail_dir / f"{row['id']}.eml"
        msg = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        out[row["to_addr"]] = msg
    return out


def header_url(msg: EmailMessage) -> str:
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return str(msg["List-Unsubscribe"]).strip("<>")


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_a_list_mail_without_a_placeholder_gets_the_link_in_a_footer(shop: Troth) -> None:
    ann = reader(shop, "Ann Lee", "ann@example.com")
    bo = reader(shop, "Bo Chan", "bo@example.com")
    report = send_to_list(shop, "newsletter", "Subject: Spring\n\nNew widgets.\n", actor=APP)
    assert report.queued == 2
    mails = delivered(shop)
    urls = {}
    for addr, sid, name in (("ann@example.com", ann, "Ann"), ("bo@example.com", bo, "Bo")):
        msg = mails[addr]
        url = urls[addr] = header_url(msg)
        body = text_of(msg)
        assert body.startswith("New widgets.\n")
        assert body.rstrip("\n").endswith(TEXT_FOOTER.format(url=url).rstrip("\n"))
        assert URL.fullmatch(url), url  # an opaque token, nothing else
        for personal in (sid, addr, addr.split("@")[0], name, "newsletter", "product_news"):
            assert personal.lower() not in url.lower(), personal
    assert urls["ann@example.com"] != urls["bo@example.com"]  # each person's own


def test_the_placeholder_puts_the_link_where_the_template_says(shop: Troth) -> None:
    reader(shop, "Ann Lee", "ann@example.com")
    template = (
        "Subject: Spring\n\nNew widgets.\nLeave: {{ unsubscribe_url }}\nOr: {{unsubscribe_url}}\n"
    )
    send_to_list(shop, "newsletter", template, actor=APP)
    msg = delivered(shop)["ann@example.com"]
    url = header_url(msg)
    body = text_of(msg)
    assert body == f"New widgets.\nLeave: {url}\nOr: {url}\n"  # no footer besides
    assert "{{" not in body


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("Subject: Hi\n\nDear {{ name }}, {{ unsubscribe_url }}\n", "{{ name }}"),
        ("Subject: Hi\n\nDear {{email}}\n", "{{ email }}"),
        ("Subject: Leave: {{ unsubscribe_url }}\n\nNews.\n", "subject line"),
    ],
)
def test_a_template_troth_cannot_fill_is_refused_before_anything_is_queued(
    shop: Troth, template: str, says: str
) -> None:
    reader(shop, "Ann Lee", "ann@example.com")
    with pytest.raises(ValidationError, match=re.escape(says)) as err:
        send_to_list(shop, "newsletter", template, actor=APP)
    assert err.value.code == "invalid_template"
    assert list_outbox(shop.ctx) == []


def _marketing(t: Troth, sid: str, key: str, html: str | None) -> None:
    with transaction(t.ctx) as conn:
        enqueue(
            conn,
            t.ctx,
            idempotency_key=key,
            to_addr="ann@example.com",
            subject="Spring",
            body_text="New widgets.",
            body_html=html,
            list_id="newsletter",
            subject_id=sid,
        )


def test_an_html_body_carries_the_link_too(shop: Troth) -> None:
    ann = reader(shop, "Ann Lee", "ann@example.com")
    _marketing(shop, ann, "k1", "<html><body><p>New widgets.</p></BODY></html>")
    _marketing(shop, ann, "k2", "<p>New widgets.</p>")
    _marketing(shop, ann, "k3", '<p><a href="{{ unsubscribe_url }}">Leave</a></p></body>')
    rows = {r["idempotency_key"]: r for r in _rows(shop)}
    url = rows["k1"]["headers"]["List-Unsubscribe"].strip("<>")
    footer = f'<a href="{url}">unsubscribe with one click</a>'
    assert rows["k1"]["body_html"].index(footer) < rows["k1"]["body_html"].index("</BODY>")
    assert rows["k2"]["body_html"].startswith("<p>New widgets.</p>")
    assert footer in rows["k2"]["body_html"]
    assert rows["k3"]["body_html"] == f'<p><a href="{url}">Leave</a></p></body>'
    for row in rows.values():
        assert url in row["body_text"]
    msg = delivered(shop)["ann@example.com"]
    html_part = msg.get_body(("html",))
    assert html_part is not None and url in str(html_part.get_content())


def _rows(t: Troth) -> list[dict[str, Any]]:
    return list(outbox_mail(t))


def test_mail_that_is_not_marketing_is_left_as_written(shop: Troth) -> None:
    with transaction(shop.ctx) as conn:
        enqueue(
            conn,
            shop.ctx,
            idempotency_key="letter",
            to_addr="ann@example.com",
            subject="Your request",
            body_text="Done. {{ unsubscribe_url }}",
        )
    [row] = _rows(shop)
    assert row["body_text"] == "Done. {{ unsubscribe_url }}"
    assert "List-Unsubscribe" not in (row["headers"] or {})


def test_the_link_in_the_body_unsubscribes_its_person_alone(shop: Troth) -> None:
    ann = reader(shop, "Ann Lee", "ann@example.com")
    bo = reader(shop, "Bo Chan", "bo@example.com")
    send_to_list(shop, "newsletter", "Subject: One\n\nIssue one.\n", actor=APP)
    msg = delivered(shop)["ann@example.com"]
    [url] = URL.findall(text_of(msg))
    path = url.removeprefix("http://127.0.0.1:8000")
    with client_for(shop.ctx) as c:
        page = c.get(path)
        assert page.status_code == 200 and "Unsubscribe" in page.text
        assert shop.consent.state(ann)["product_news"].granted  # a GET changes nothing
        done = c.post(path)
        assert done.status_code == 200 and 'id="unsubscribed"' in done.text
    assert shop.consent.state(ann)["product_news"].granted is False
    assert shop.consent.state(bo)["product_news"].granted
    report = send_to_list(shop, "newsletter", "Subject: Two\n\nIssue two.\n", actor=APP)
    assert report.queued == 1  # Bo only
