"""The five seed policies as troth policy files, shipped inside the package.

``troth init --example NAME`` copies one of these; ``example_path(name)`` finds it.
"""

from __future__ import annotations

from pathlib import Path

from troth.errors import NotFound

_HERE = Path(__file__).resolve().parent

EXAMPLES: list[str] = ["ilign", "mindlink", "ixanet", "itechno", "phone-service"]


def example_path(name: str) -> Path:
    """The YAML file of example ``name`` (``ilign``, ``phone-service``...); NotFound if none."""
    key = name.removesuffix(".yaml").replace("_", "-")
    if key not in EXAMPLES:
        raise NotFound(f"no example policy {name!r}: choose one of {', '.join(EXAMPLES)}")
    return _HERE / f"{key}.yaml"


__all__ = ["EXAMPLES", "example_path"]
