"""An over-long id in a path is answered as an unknown id is, on every route of the API
that takes an id in its path (a person's, a request's, a breach's, a tenant's...): the
same status, code and detail, never a 422 "String should have at most 64 characters"
that tells the length rule apart from the README's one 404 (trial 18, F6). The answer
echoes at most the id's first 64 characters and an ellipsis, never the caller's
megabyte."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from _http import api_key, client_for
from troth.app import create_app
from troth.engine import Troth

LONG = "A" * 5000
SCOPES = ["admin", "use", "collect", "disclose", "requests", "requests:admin", "breaches"]


def _id_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for path, ops in app.openapi()["paths"].items():
        if re.search(r"{\w*id}", path):
            found += [(method, path) for method in ops]
    return found


def _url(path: str, sid: str) -> str:
    url = re.sub(r"{\w*id}", sid, path).replace("{purpose}", "support")
    return url + ("?purpose=support" if re.fullmatch(r"/api/v1/subjects/[^/]+", url) else "")


def _shape(r: Any, asked: str) -> tuple[int, str]:
    text = r.text
    if len(asked) > 64:
        text = text.replace(asked[:64] + "\u2026", "{id}").replace(asked[:64], "{id}")
    else:
        text = text.replace(asked, "{id}")
    return r.status_code, re.sub(r'"(instance|trace_id|request_id)":"[^"]*"', "-", text)


def test_the_api_has_routes_with_ids_in_their_paths(lite: Any) -> None:
    assert len(_id_routes(create_app(lite))) >= 25


@pytest.mark.parametrize("bound", [False, True], ids=["office key", "tenant-bound key"])
def test_an_over_long_id_in_a_path_is_answered_as_an_unknown_id(lite: Any, bound: bool) -> None:
    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    with client_for(lite) as c:
        key = api_key(c, SCOPES, tenant_id=acme if bound else None)
        wrong = []
        for method, path in _id_routes(c.app):
            answers = []
            for sid in (uuid.uuid4().hex, LONG):
                r = c.request(method, _url(path, sid), headers=key, json={})
                answers.append(_shape(r, sid))
                assert LONG[:65] not in r.text  # never the caller's megabyte echoed
            if answers[0] != answers[1] or (answers[1][0] == 422 and "64 characters" in r.text):
                wrong.append(f"{method.upper()} {path}: {answers}")
    assert not wrong, "\n".join(wrong)
