"""The privacy centre, for the people the data is about: sign in with an e-mail code, see
what is held and who accessed it and why, download it, change consents, unsubscribe, ask
for correction/deletion/restriction; and, for anyone, the published policy with its
versions, change notices, sub-processors and cookie settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access import signin
from troth.access.centre import held_values, zone_of
from troth.access.who import acting_in
from troth.api.auth import client_ip
from troth.consent import ConsentMethod
from troth.consent.optin import cookie_waits, in_wait
from troth.disclosures.told import person_disclosures
from troth.errors import AuthenticationError, NotFound, RateLimited, ValidationError
from troth.notices.policy_mail import changes_in_words
from troth.policy.describe import describe_policy
from troth.policy.masking import for_the_person
from troth.policy.model import LegalBasis
from troth.policy.versions import posted_notices, published_versions
from troth.store.values import StoredValue
from troth.web import csrf
from troth.web.cookies import honour_signal
from troth.web.forms import FormDep, PresessionFormDep
from troth.web.lists import file_download
from troth.web.privacy_words import Narrator, records
from troth.web.render import ctx_of, render

router = APIRouter(include_in_schema=False)

PRIVACY_COOKIE = "troth_privacy"


@dataclass(frozen=True)
class Person:
    subject_id: str
    token: str
    csrf_token: str
    session: signin.Session


def person(request: Request) -> Person | None:
    token = request.cookies.get(PRIVACY_COOKIE)
    if not token:
        return None
    ctx = ctx_of(request)
    found = signin.resolve(ctx, token)
    if found is None:
        return None
    honour_signal(request, ctx, found)  # Sec-GPC: 1 from a known person (P11)
    return Person(found.subject_id, token, csrf.derive(ctx, "privacy", found.csrf_secret), found)


def require_person(request: Request, form: dict[str, str] | None = None) -> Person:
    """The signed-in person; for a POST, the form's CSRF token must be theirs."""
    p = person(request)
    if p is None:
        raise AuthenticationError("sign in to the privacy centre first", code="login_required")
    if form is not None:
        csrf.check_token(form.get(csrf.FIELD), p.csrf_token)
    return p


def record_cookie_choices(
    request: Request, choices: dict[str, bool], *, confirmed: bool = False
) -> dict[str, date]:
    """Banner choices of a signed-in person also go to the consent ledger. A category
    serving a sale/sharing purpose they opted out of less than 12 months ago is turned
    back on only once they confirm it on a page of its own (two steps, 11 CCR 7026(k),
    7028; ``confirmed``): until then it is held back, left off and out of the ledger
    (its opt-out stands, its day unchanged), and returned (category -> that day)."""
    p = person(request)
    if p is None or not choices:
        return {}
    on = [c for c, allowed in choices.items() if allowed]
    held = {} if confirmed else cookie_waits(ctx_of(request), p.subject_id, on)
    asked = {c: allowed for c, allowed in choices.items() if c not in held}
    if asked:
        request.app.state.troth.consent.record_cookie_choices(
            p.subject_id,
            asked,
            method=ConsentMethod.web_form,
            origin=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            two_step=confirmed and bool(on),
        )
    return held


# -- public ------------------------------------------------------------------------------
@router.get("/privacy")
def centre(request: Request) -> Response:
    ctx = ctx_of(request)
    pol = ctx.policy.policy
    versions = published_versions(ctx)
    notices = posted_notices(ctx)
    noticed = {n.version for n in notices}
    newest = ctx.newest_policy.policy  # names a version waiting for its date introduces
    # A material change that starts no new use (a new recipient, a longer retention...) is
    # a change notice too: each such version's changes, in words.
    changed = [
        (v, changes_in_words(newest, [c for c in v.changes if c.get("severity") == "material"]))
        for v in versions
        if v.material and v.version not in noticed
    ]
    return render(
        request,
        "privacy/centre.html",
        person=person(request),
        words=describe_policy(pol),
        versions=versions,
        notices=notices,
        changed=changed,
        subprocessors=request.app.state.troth.disclosures.subprocessors_json(),
        purposes=ctx.policy.purposes,
    )


@router.get("/privacy/signin")
def signin_form(request: Request) -> Response:
    return render(request, "privacy/signin.html")


@router.post("/privacy/signin")
def signin_send(request: Request, form: PresessionFormDep) -> Response:
    """Send a code; the page that asks for it carries the challenge in its form (never
    in an address, where access logs would keep it)."""
    ctx = ctx_of(request)
    try:
        challenge = signin.start_signin(ctx, form.get("email", ""), client=client_ip(request))
    except (RateLimited, ValidationError) as exc:
        # Said on the form itself, with the address kept, so the person knows what to do.
        page = render(
            request,
            "privacy/signin.html",
            status=exc.status,
            error=exc.message,
            email=form.get("email", "")[:320],
        )
        if isinstance(exc.details.get("retry_after"), int):
            page.headers["Retry-After"] = str(exc.details["retry_after"])
        return page
    return render(request, "privacy/code.html", challenge=challenge)


@router.get("/privacy/code")
def code_form(request: Request) -> Response:
    """Reached without a challenge (a bookmark, the back button): start again."""
    return RedirectResponse("/privacy/signin", status_code=303)


@router.post("/privacy/code")
def code_check(request: Request, form: PresessionFormDep) -> Response:
    ctx = ctx_of(request)
    token, _sid = signin.finish_signin(ctx, form.get("challenge", ""), form.get("code", ""))
    return _to_own_page(request, token)


def _to_own_page(request: Request, token: str) -> Response:
    """To the person's own page, holding the session ``token`` as their cookie (a sign-in
    just finished, or another of their records chosen)."""
    response = RedirectResponse("/privacy/me", status_code=303)
    csrf.set_cookie(request, response, PRIVACY_COOKIE, token)
    return response


@router.post("/privacy/signout")
def signout(request: Request, form: FormDep) -> Response:
    p = require_person(request, form)
    signin.end(ctx_of(request), p.token)
    response = RedirectResponse("/privacy", status_code=303)
    response.delete_cookie(PRIVACY_COOKIE, path="/")
    return response


@router.get("/privacy/cookies")
def cookie_settings(request: Request) -> Response:
    return render(request, "privacy/cookies.html")


# -- signed in ---------------------------------------------------------------------------
def _held(request: Request, p: Person) -> tuple[list[StoredValue], list[dict[str, Any]]]:
    """Everything stored about the person, read for their own access (audited), and what
    the policy withholds from it, with why."""
    return held_values(ctx_of(request), p.subject_id)


# Confirmations after an action: the redirect names which (no personal data in it).
DONE = {
    "consent-given": "Thank you: your consent is recorded. You can withdraw it here at any time.",
    "consent-withdrawn": "Your consent is withdrawn: we have stopped that use of your data.",
    "unsubscribed": "You are unsubscribed: we will send you no more of that e-mail.",
    "request": "Your request is sent. We answer by the date shown below, and e-mail you when"
    " it is done.",
    "request-open": "You have already asked for this, and we are working on it: it is listed"
    " below with the date we answer by. We did not open it twice.",
}


@router.get("/privacy/me")
def me(request: Request) -> Response:
    p = require_person(request)
    ctx = ctx_of(request)
    t = request.app.state.troth
    held, withheld = _held(request, p)
    # Who used my data: without what a live non-disclosure order covers (P20), in words.
    narrator = Narrator(ctx.policy, p.subject_id, acting_in(ctx))
    accesses = narrator.accesses(t.disclosures.person_entries(p.subject_id, limit=200))
    done = request.query_params.get("done", "")
    state = t.consent.state(p.subject_id)
    pol = ctx.policy.policy
    # Consent purposes, and new uses of data already held that wait for fresh consent (P07).
    fresh = t.consent.fresh_consent_purposes()
    consentable = [x for x in pol.purposes if x.legal_basis is LegalBasis.consent or x.id in fresh]
    return render(
        request,
        "privacy/me.html",
        csrf_token=p.csrf_token,
        person=p,
        records=records(ctx.policy, held),
        withheld=withheld,
        accesses=accesses,
        done=DONE.get(done),
        purposes=ctx.policy.purposes,
        consentable=consentable,
        state=state,
        lists=pol.lists,
        requests=_my_requests(request, p),
        disclosures=person_disclosures(ctx, [p.subject_id])[p.subject_id],
        held_at=signin.records_of_address(ctx, p.session),
        organisation=pol.organisation.name,
        zone=zone_of(ctx, p.subject_id),
    )


@router.post("/privacy/me/record")
def switch_record(request: Request, form: FormDep) -> Response:
    """Show another record of the same e-mail address (one address on file with several
    of our customers): the session moves to it, with a new cookie."""
    p = require_person(request, form)
    token = signin.switch_record(ctx_of(request), p.token, form.get("record", ""))
    return _to_own_page(request, token)


@router.get("/privacy/me/export.json")
def export_json(request: Request) -> Response:
    """The person's own copy of what is stored about them: a masked field is masked, but
    for one the policy gives the person whole (``person_copy: whole``)."""
    p = require_person(request)
    values, withheld = _held(request, p)
    index = ctx_of(request).policy
    own = [
        {**v.to_dict(), "value": for_the_person(index, v.collection_point, v.field, v.value)}
        for v in values
    ]
    doc: dict[str, Any] = {"subject_id": p.subject_id, "values": own}
    if withheld:
        doc["withheld"] = withheld
    body = json.dumps(doc, indent=2, default=str)
    return file_download(body, "my-data.json", "application/json")


@router.post("/privacy/me/consents")
def change_consent(request: Request, form: FormDep) -> Response:
    p = require_person(request, form)
    t = request.app.state.troth
    purpose = form.get("purpose", "")
    how: dict[str, Any] = {
        "method": ConsentMethod.web_form,
        "origin": client_ip(request),
        "user_agent": request.headers.get("user-agent"),
        "actor": f"subject:{p.subject_id}",
    }
    if form.get("action") == "grant":
        # After an opt-out of sale or sharing, opting back in takes two steps: this page
        # asks, the person confirms (troth.consent.optin).
        confirmed = form.get("confirm") == "two-step"
        since = in_wait(ctx_of(request), p.subject_id, purpose)
        if since is not None and not confirmed:
            return render(
                request,
                "privacy/opt_in.html",
                csrf_token=p.csrf_token,
                since=since,
                purpose=ctx_of(request).policy.purposes[purpose],
            )
        t.consent.grant(p.subject_id, purpose, two_step=confirmed, **how)
        done = "consent-given"
    else:
        t.consent.withdraw(p.subject_id, purpose, **how)
        done = "consent-withdrawn"
    return RedirectResponse(f"/privacy/me?done={done}#consents", status_code=303)


@router.post("/privacy/me/unsubscribe")
def unsubscribe_list(request: Request, form: FormDep) -> Response:
    p = require_person(request, form)
    from troth.consent.unsubscribe import unsubscribe_subject

    unsubscribe_subject(
        ctx_of(request), p.subject_id, form.get("list_id", ""), method=ConsentMethod.web_form
    )
    return RedirectResponse("/privacy/me?done=unsubscribed#lists", status_code=303)


@router.post("/privacy/me/requests")
def make_request(request: Request, form: FormDep) -> Response:
    """Ask for access, correction, deletion or restriction; the request gets its legal
    deadline and is followed below."""
    p = require_person(request, form)
    t = request.app.state.troth
    from troth.gate import Actor, ActorKind

    details = {"text": form["details"][:5000]} if form.get("details") else None
    if _already_asked(t, p.subject_id, form.get("kind", ""), details):
        # The same request again (a second click, a reload): not a second request, not a
        # second letter; the one open is listed on the page.
        return RedirectResponse("/privacy/me?done=request-open#req-h", status_code=303)
    req = t.requests.open(
        form.get("kind", ""),
        subject_id=p.subject_id,
        channel="self_service",
        details=details,
        actor=Actor(ActorKind.subject, p.subject_id),
    )
    # Signing in proved control of the address: no second code is asked (an opt-out of
    # sale/sharing needs none at all: verified as it opened, troth.requests.opt_out).
    if req.verified_at is None:
        t.requests.verify_by_signin(req.id, p.subject_id)
    return RedirectResponse("/privacy/me?done=request#req-h", status_code=303)


@router.post("/privacy/me/export")
def export_zip(request: Request, form: FormDep) -> Response:
    """Download my data: an access request, verified by the sign-in and carried out at
    once by the requests engine (troth and every connected system), answered with its ZIP."""
    p = require_person(request, form)
    t = request.app.state.troth
    from troth.gate import Actor, ActorKind

    me = Actor(ActorKind.subject, p.subject_id)
    req = t.requests.open("access", subject_id=p.subject_id, channel="self_service", actor=me)
    t.requests.verify_by_signin(req.id, p.subject_id)
    done = t.requests.execute(req.id, actor=me)
    return _zip(t.requests.download(done.download_token or "", actor=me))


@router.get("/privacy/download")
def download_form(request: Request) -> Response:
    """The page the e-mailed link opens: the code rides after ``#`` (never sent to the
    server); the page posts it, with the person's session."""
    p = person(request)
    return render(
        request,
        "privacy/download.html",
        person=p,
        csrf_token=p.csrf_token if p is not None else None,
    )


@router.post("/privacy/download")
def download(request: Request, form: FormDep) -> Response:
    """The export, once, to the person it was made for (signed in); or, not signed in, to
    the agent who made the request on someone's behalf: a confirmation code is mailed to
    them first (:mod:`troth.requests.agent_download`)."""
    if person(request) is None and form.get("code"):
        try:
            return _agent_download(request, form)
        except NotFound as exc:
            if exc.code != "no_export":
                raise
            # Not an agent's export: the person's own, which needs their sign-in (401).
    p = require_person(request, form)
    from troth.gate import Actor, ActorKind

    code = form.get("code", "").strip()
    me = Actor(ActorKind.subject, p.subject_id)
    return _zip(request.app.state.troth.requests.download(code, actor=me))


def _agent_download(request: Request, form: dict[str, str]) -> Response:
    """The agent's two steps: the link's code mails a confirmation code; both together
    download. Nothing says whether a code belongs to an agent's export but the mail."""
    t = request.app.state.troth
    code = form.get("code", "").strip()
    confirm = form.get("confirm", "").strip()
    if confirm:
        return _zip(t.requests.download_as_agent(code, confirm))
    t.requests.send_agent_code(code)
    return render(request, "privacy/download.html", person=None, agent_code=code)


@router.get("/privacy/download/{rest:path}")
def download_in_url(request: Request, rest: str) -> Response:
    """The old link shape carried the code in the path, where access logs keep it."""
    raise ValidationError(
        "download codes are no longer accepted in the address; open the link from the"
        " e-mail (the code travels after #) and sign in, or paste the code at"
        " /privacy/download",
        code="secret_in_url",
    )


def _zip(data: bytes) -> Response:
    return file_download(data, "my-data.zip", "application/zip")


def _already_asked(t: Any, subject_id: str, kind: str, details: Any) -> bool:
    """Has the person a request of this kind still open, with the same words?"""
    from troth.requests.states import OPEN_STATES

    return any(
        str(r.kind) == kind and r.state in OPEN_STATES and (r.details or None) == details
        for r in t.requests.of_subject(subject_id)
    )


def _my_requests(request: Request, p: Person) -> list[Any]:
    """The person's requests (open and closed), in the order they were received."""
    return request.app.state.troth.requests.of_subject(p.subject_id)  # type: ignore[no-any-return]
