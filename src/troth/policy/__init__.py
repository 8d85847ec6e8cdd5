"""The policy as code: load, validate, index, diff, describe."""

from troth.policy.index import PolicyIndex
from troth.policy.loader import load_policy, parse_policy
from troth.policy.model import Policy

__all__ = ["Policy", "PolicyIndex", "load_policy", "parse_policy"]
