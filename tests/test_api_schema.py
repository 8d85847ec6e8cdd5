"""schemathesis over the OpenAPI schema: generated requests (valid and not) against a real
home must never produce a server error, and responses must match the schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

from troth.app import create_app  # noqa: E402
from troth.clock import ManualClock  # noqa: E402
from troth.engine import Troth  # noqa: E402
from troth.home import init_home  # noqa: E402

_HOME = Path(tempfile.mkdtemp(prefix="troth-schema-")) / "home"
_CTX = init_home(_HOME, example="mindlink", clock=ManualClock())
_T = Troth(_CTX)
_KEY, _ = _T.access.create_api_key("schemathesis", ["admin"])
_T.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "hi"})
APP = create_app(_CTX)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_schema_conformance(case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_KEY}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
