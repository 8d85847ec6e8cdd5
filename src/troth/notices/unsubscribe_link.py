"""The unsubscribe link in the body of every marketing message (P10: "a link in every
email"; CAN-SPAM 15 U.S.C. 7704(a)(5); GDPR Art. 21(4)), beside the RFC 8058
``List-Unsubscribe`` headers, which many mail clients never show.

A template places the link with the placeholder ``{{ unsubscribe_url }}`` (in the text,
and in the HTML if it has one); a part without it gets a short footer with the link. The
URL is the one of the headers: the public URL, ``/u/`` and the opaque token
(:mod:`troth.consent.unsubscribe`), nothing else about the person. The link opens the
confirmation page (a GET changes nothing, as link scanners follow GETs); its button
unsubscribes.
"""

from __future__ import annotations

import html
import re

from troth.errors import ValidationError

PLACEHOLDER = "{{ unsubscribe_url }}"
# The placeholders a list's template may use, by name (spaces inside the braces optional).
PLACEHOLDERS = ("unsubscribe_url",)
_ANY = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_UNSUBSCRIBE = re.compile(r"\{\{\s*unsubscribe_url\s*\}\}")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

TEXT_FOOTER = "\n\n-- \nTo stop these e-mails, unsubscribe with one click: {url}\n"
HTML_FOOTER = (
    '<p style="font-size:small">To stop these e-mails,'
    ' <a href="{url}">unsubscribe with one click</a>.</p>'
)


def check_template(subject: str, body: str) -> None:
    """Refuse a template that uses a placeholder troth does not fill (it would be mailed
    as typed) or puts the link in the subject line (shown in listings and banners)."""
    if _ANY.search(subject):
        raise ValidationError(
            "the template's subject line takes no placeholder (the unsubscribe link goes in"
            f" the body: {PLACEHOLDER})",
            code="invalid_template",
        )
    unknown = sorted({m.group(1) for m in _ANY.finditer(body)} - set(PLACEHOLDERS))
    if unknown:
        raise ValidationError(
            f"the template uses {', '.join('{{ ' + n + ' }}' for n in unknown)}: a list's"
            f" template takes only {PLACEHOLDER} (the link is added at the end when it is"
            " left out)",
            code="invalid_template",
        )


def with_link(body_text: str, body_html: str | None, url: str) -> tuple[str, str | None]:
    """The text and HTML bodies of a marketing message, each carrying ``url``: where the
    placeholder stands, else in a footer (in HTML, before ``</body>``)."""
    if _UNSUBSCRIBE.search(body_text):
        text = _UNSUBSCRIBE.sub(lambda _: url, body_text)
    else:
        text = body_text.rstrip("\n") + TEXT_FOOTER.format(url=url)
    if body_html is None:
        return text, None
    quoted = html.escape(url, quote=True)
    if _UNSUBSCRIBE.search(body_html):
        return text, _UNSUBSCRIBE.sub(lambda _: quoted, body_html)
    footer = HTML_FOOTER.format(url=quoted)
    ends = list(_BODY_END.finditer(body_html))
    if not ends:
        return text, body_html + footer
    at = ends[-1].start()
    return text, body_html[:at] + footer + body_html[at:]
