"""What a policy role is beyond what it reads: the office functions it may exercise
(:class:`Power`) and whose role it is (:class:`RoleFor`: the vendor's staff, or a
customer's members). Re-exported by :mod:`troth.policy.model`."""

from __future__ import annotations

from enum import StrEnum


class Power(StrEnum):
    """What a role may do beyond reading its categories for its purposes: the vendor
    office's functions. A power never lets a role read a category it is not given."""

    manage_requests = "manage_requests"  # the request desk of every tenant
    read_audit = "read_audit"  # everyone's audit entries, verifying the log
    manage_breaches = "manage_breaches"  # the breach register: read, record, notify
    legal_demands = "legal_demands"  # record and list legal demands
    publish_policy = "publish_policy"  # diff, publish, history, the ROPA
    run_retention = "run_retention"  # the retention plan, dry runs and runs
    manage_holds = "manage_holds"  # place and lift legal holds
    manage_tenants = "manage_tenants"  # create and administer any tenant
    run_discovery = "run_discovery"  # scan connected databases for undeclared personal data


POWER_NAMES = ", ".join(p.value for p in Power)


class RoleFor(StrEnum):
    """Whose role it is: the vendor's staff (the default), or a customer's people (the
    members of a tenant, admins included), given to each by an admin of their tenant."""

    staff = "staff"
    tenant_members = "tenant_members"
