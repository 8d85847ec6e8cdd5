"""Load a policy YAML file into a validated :class:`Policy` (safe YAML only)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError as PydanticValidationError

from troth.errors import PolicyError
from troth.policy.model import Policy

MAX_POLICY_BYTES = 2_000_000


def parse_policy(text: str, filename: str = "<policy>") -> Policy:
    """Parse and validate policy YAML; raises PolicyError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{filename}: not valid YAML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except PydanticValidationError as exc:
        raise PolicyError(f"{filename}: invalid policy", [str(e) for e in exc.errors()]) from exc


def load_policy(path: Path | str) -> Policy:
    path = Path(path)
    return parse_policy(path.read_text(), str(path))
