"""schemathesis over the OpenAPI schema: generated requests (valid and not: positive and
negative generation) against a real home, over every operation, must never produce a server
error, and every response must match the schema: its status documented for the operation,
its body and content type as documented, a 405 with ``Allow``. Deterministic and bounded
(a fixed number of examples per operation, derandomised)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    allow_header_conformance,
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from troth.app import create_app  # noqa: E402
from troth.clock import ManualClock  # noqa: E402
from troth.engine import Troth  # noqa: E402
from troth.home import init_home  # noqa: E402

_HOME = Path(tempfile.mkdtemp(prefix="troth-schema-")) / "home"
_CTX = init_home(_HOME, example="mindlink", clock=ManualClock())
_T = Troth(_CTX)
_KEY, _ = _T.access.keys.create_api_key("schemathesis", ["admin"])
_T.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "hi"})
APP = create_app(_CTX)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    allow_header_conformance,
]


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_schema_conformance(case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_KEY}"},
        checks=CHECKS,
    )
