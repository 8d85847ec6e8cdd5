"""The privacy office's registers in the console: the record of processing (HTML and CSV
downloads), a new policy version (pasted or uploaded YAML, diffed in words, then published
with its notices) and legal demands. The breach register is in :mod:`console_breaches`."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile
from starlette.responses import Response

from troth.disclosures.demands import LegalInstrument, list_demands
from troth.errors import PolicyError, TrothError, ValidationError
from troth.notices.preview import preview_publish
from troth.notices.publish import publish_policy
from troth.policy.model import Power, RecipientKind
from troth.policy.ropa import office_record
from troth.policy.versions import policy_history
from troth.web.console import page, staff
from troth.web.forms import MAX_FIELDS, FormDep
from troth.web.lists import day_end, day_start, file_download
from troth.web.render import ctx_of, noted

router = APIRouter(include_in_schema=False)

MAX_POLICY_BYTES = 512 * 1024


# -- record of processing ----------------------------------------------------------------
@router.get("/console/ropa.html")
def ropa_html(request: Request) -> Response:
    s = staff(request)
    body = office_record(ctx_of(request), s.actor).to_html()
    return file_download(body, "record-of-processing.html", "text/html; charset=utf-8")


@router.get("/console/ropa.csv")
def ropa_csv(request: Request) -> Response:
    s = staff(request)
    body = office_record(ctx_of(request), s.actor).to_csv()
    return file_download(body, "record-of-processing.csv", "text/csv; charset=utf-8")


# -- a new policy version ----------------------------------------------------------------
async def policy_form(request: Request) -> dict[str, str]:
    """The publish form: pasted YAML (``yaml``) or one uploaded file (``file``)."""
    try:
        form = await request.form(max_files=1, max_fields=MAX_FIELDS)
    except Exception as exc:  # malformed multipart bodies
        raise ValidationError("the form could not be read; send it again from the page") from exc
    out = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_POLICY_BYTES + 1)
        if len(data) > MAX_POLICY_BYTES:
            raise ValidationError(f"the policy file is larger than {MAX_POLICY_BYTES:,} bytes")
        try:
            out["yaml"] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("the policy file is not UTF-8 text (YAML)") from None
        out["filename"] = Path(upload.filename).name[:100]
    return out


PolicyForm = Annotated[dict[str, str], Depends(policy_form)]


def _publish_page(request: Request, status: int = 200, **values: Any) -> Response:
    s = staff(request, power=Power.publish_policy)
    ctx = ctx_of(request)
    defaults: dict[str, Any] = {
        "yaml": "",
        "filename": "policy.yaml",
        "issues": None,
        "error": None,
        "diff": None,
        "preview": None,
        "effective": "",
        "result": None,
    }
    defaults.update(values)
    return page(
        request,
        s,
        "console/publish.html",
        status=status,
        current=ctx.policy.version,
        history=policy_history(ctx, actor=s.actor),
        **defaults,
    )


def _refused_page(request: Request, exc: TrothError, keep: dict[str, Any]) -> Response:
    """The page again with the draft as sent (``keep``) and why it was refused: an invalid
    policy's issues one by one (422), any other refusal's message (noted in the log)."""
    if isinstance(exc, PolicyError):
        issues = [str(i) for i in exc.issues] or [exc.message]
        return _publish_page(request, 422, issues=issues, **keep)
    noted(request, exc)
    return _publish_page(request, exc.status, error=exc.message, **keep)


@router.get("/console/policy/publish")
def publish_form(request: Request) -> Response:
    return _publish_page(request)


@router.post("/console/policy/diff")
def policy_diff(request: Request, form: PolicyForm) -> Response:
    """Validate the new version and show, before anything is done, what changes (in
    words), from when, and who would be told: how many people and customers, with the
    notice itself. Publishing needs the confirmation this page carries, bound to the
    exact text and effective date shown."""
    s = staff(request, form, power=Power.publish_policy)
    text = _lines(form.get("yaml", ""))
    name = form.get("filename") or "policy.yaml"
    effective_text = (form.get("effective") or "").strip()[:10]
    keep: dict[str, Any] = {"yaml": text, "filename": name, "effective": effective_text}
    if not text.strip():
        return _publish_page(request, 422, error="paste the new policy's YAML or upload its file")
    try:
        effective = _day_field(effective_text, "effective")
        preview = preview_publish(ctx_of(request), text, name, effective=effective, actor=s.actor)
    except TrothError as exc:
        return _refused_page(request, exc, keep)
    return _publish_page(
        request, diff=preview.diff, preview=preview, new_version=preview.version, **keep
    )


@router.post("/console/policy/publish")
def policy_publish(request: Request, form: PolicyForm) -> Response:
    """Publish what was previewed, once confirmed: the form's ``preview`` digest must be
    the one of this text and effective date (a changed draft needs a new preview)."""
    s = staff(request, form, power=Power.publish_policy)
    text = _lines(form.get("yaml", ""))
    name = Path(form.get("filename") or "policy.yaml").name or "policy.yaml"
    effective_text = (form.get("effective") or "").strip()[:10]
    keep: dict[str, Any] = {"yaml": text, "filename": name, "effective": effective_text}
    digest = (form.get("preview") or "").strip()
    if not digest:
        return _publish_page(
            request, 422, error="show the changes first: nothing is published unseen", **keep
        )
    if form.get("confirm") != "yes":
        return _publish_page(
            request,
            422,
            error="tick the confirmation under the preview to publish (nothing was queued)",
            **keep,
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        try:
            effective = _day_field(effective_text, "effective")
            result = publish_policy(
                ctx_of(request), path, effective=effective, actor=s.actor, expect_digest=digest
            )
        except TrothError as exc:
            return _refused_page(request, exc, keep)
    return _publish_page(request, result=result)


def _lines(text: str) -> str:
    """Text from a form with the browser's CRLF line ends made LF (what the file holds,
    and what a preview's digest is bound to)."""
    return text.replace("\r\n", "\n")


def _day_field(value: str, name: str) -> date | None:
    """A date field (YYYY-MM-DD); empty: None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name}: give a date as YYYY-MM-DD", field=name) from None


# -- legal demands -----------------------------------------------------------------------
def _demands_page(request: Request, status: int = 200, **values: Any) -> Response:
    s = staff(request, power=Power.legal_demands)
    ctx = ctx_of(request)
    rows = list_demands(ctx, actor=s.actor, limit=200)
    return page(
        request,
        s,
        "console/demands.html",
        status=status,
        demands=rows,
        instruments=[i.value for i in LegalInstrument],
        # A legal demand comes from an authority: only those are offered.
        recipients=[r for r in ctx.policy.policy.recipients if r.kind is RecipientKind.authority],
        categories=sorted(ctx.policy.categories),
        now=ctx.clock.now(),
        error=values.get("error"),
        form=values.get("form", {}),
        form_categories=values.get("form_categories", []),
    )


@router.get("/console/demands")
def demands_page(request: Request) -> Response:
    return _demands_page(request)


@router.post("/console/demands")
def record_demand(request: Request, form: FormDep) -> Response:
    s = staff(request, form, power=Power.legal_demands)
    t = request.app.state.troth
    ticked = request.scope.get("troth.form_multi", {}).get("categories", [])
    try:
        gag = day_start(form.get("gag_until", ""), "gag_until")
        t.disclosures.record_demand(
            authority=form.get("authority", ""),
            instrument=form.get("instrument") or None,
            reference=form.get("reference", ""),
            scope=form.get("scope", ""),
            categories=[c for c in ticked if c][:100],
            period_from=day_start(form.get("period_from", ""), "period_from"),
            period_until=day_end(form.get("period_until", ""), "period_until"),
            gag_until=gag,
            recipient=form.get("recipient") or None,
            actor=s.actor,
        )
    except TrothError as exc:
        noted(request, exc)
        return _demands_page(
            request, exc.status, error=exc.message, form=form, form_categories=ticked
        )
    return RedirectResponse("/console/demands", status_code=303)
