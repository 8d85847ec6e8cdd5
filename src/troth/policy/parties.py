"""The parties a policy names besides the organisation itself: its contact points (the
privacy contact, the data protection officer, the representative), its customers (who
decides about a customer's people, :data:`TenantController`; the vendor's staff's access to
a customer's data, :class:`SupportAccess`) and who tells a customer's people of a breach
(the customer, as controller, or the organisation)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_NAME = 200  # an organisation's name goes in every page, letter and mail subject
# The form of every id a policy gives (re-exported by troth.policy.model).
ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

TenantController = Literal["customer", "organisation"]
"""The policy's ``tenant_controller``: who decides about a customer's (a tenant's) people's
data. ``customer`` (the default): the customer is their controller and the organisation its
processor (GDPR Art. 28; PIPEDA Sch. 1 cl. 4.1.3): a request to the organisation's own desk
reaches only the organisation's own people, and names (and tells) the customers who hold
the same address instead (:mod:`troth.requests.elsewhere`); a policy change is told to the
customers, who tell their people; an export names the customer as controller and the
organisation as processor. ``organisation``: the organisation decides about them too (a
request to its desk may reach a customer's person, its notices go to them directly).
Left out, it follows ``breach_notices.tenant_people`` (``organisation`` there means
``organisation`` here), and that key, left out, follows this one."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Contact(_Strict):
    """A contact point: the organisation's privacy contact, its data protection officer
    (``organisation.dpo``: named in breach notices, GDPR Art. 33(3)(b), 34(2)), its
    representative. An ``email`` must be an e-mail address: it is written into letters."""

    name: str | None = Field(default=None, max_length=MAX_NAME)
    email: str | None = None
    phone: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        from troth.collection.validation import email_problem

        if value is None:
            return None
        problem = email_problem(value.strip()) if value.strip() else "empty"
        if problem:
            raise ValueError(f"{value!r} is {problem}")
        return value.strip()


class BreachNotices(_Strict):
    """Who tells a customer's (a tenant's) people of a breach of their data (P33).

    A tenant's people are the customer's (as for support access, P14): the organisation
    holds their data for the customer, as its processor, and tells the customer, the
    controller, without undue delay (GDPR Art. 33(2); ``troth breaches notify-controllers``).
    ``controller`` (the default): the customer tells its own people, and ``troth breaches
    notify`` leaves them to it. ``organisation``: the customers have asked the organisation
    to tell their people itself, and ``notify`` mails them as it mails its own people."""

    tenant_people: Literal["controller", "organisation"] = "controller"


class SupportAccess(_Strict):
    """Vendor staff access to a customer's data, only with the customer's grant (P14)."""

    requires_customer_grant: bool = True
    max_days: int = Field(default=7, ge=1, le=365)
    emergency_access: bool = False
    # Categories that are a customer's own data (ilign: the customer's database), whatever
    # the person's tenant: collecting them names the customer (the tenant), and the
    # vendor's staff see them only under that customer's grant.
    customer_categories: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=list, max_length=200
    )


def with_tenant_controller(data: Any) -> Any:
    """A policy's raw mapping with ``tenant_controller`` and ``breach_notices.tenant_people``
    each following the other where only one is given (:data:`TenantController`); anything
    else as it is (the model reports what is wrong)."""
    if not isinstance(data, dict):
        return data
    notices = data.get("breach_notices")
    if isinstance(notices, BreachNotices):
        given = notices.model_dump(exclude_unset=True)
    elif notices is None or isinstance(notices, dict):
        given = dict(notices or {})
    else:
        return data
    told, top = given.get("tenant_people"), data.get("tenant_controller")
    if top is None and told is not None:
        return {
            **data,
            "tenant_controller": "organisation" if told == "organisation" else "customer",
        }
    if told is None and top in ("customer", "organisation"):
        given["tenant_people"] = "organisation" if top == "organisation" else "controller"
        return {**data, "breach_notices": given}
    return data


def customers_control(policy: Any) -> bool:
    """Whether ``policy`` makes each customer the controller of its people
    (``tenant_controller: customer``, the default)."""
    return bool(policy.tenant_controller == "customer")


__all__ = [
    "ID_PATTERN",
    "MAX_NAME",
    "BreachNotices",
    "Contact",
    "SupportAccess",
    "TenantController",
    "customers_control",
    "with_tenant_controller",
]
