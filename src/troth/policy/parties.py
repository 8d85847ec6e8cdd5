"""The parties a policy names besides the organisation itself: its contact points (the
privacy contact, the data protection officer, the representative) and who tells a
customer's people of a breach (the customer, as controller, or the organisation)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_NAME = 200  # an organisation's name goes in every page, letter and mail subject


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


__all__ = ["MAX_NAME", "BreachNotices", "Contact"]
