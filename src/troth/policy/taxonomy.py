"""The built-in data-category taxonomy.

A policy may use these ids without declaring them, override their flags, or add its own.
Each entry is (id, description, sensitive by default).
"""

from __future__ import annotations

from typing import NamedTuple


class BuiltinCategory(NamedTuple):
    id: str
    description: str
    sensitive: bool = False
    business_contact: bool = False


BUILTIN_CATEGORIES: tuple[BuiltinCategory, ...] = (
    BuiltinCategory(
        "identity", "Name and other identifiers of a person (name, username, customer number)."
    ),
    BuiltinCategory(
        "contact", "How to reach a person: e-mail address, telephone number, postal address."
    ),
    BuiltinCategory(
        "business_contact",
        "Name, title and work contact details used to reach a person at their organisation.",
        business_contact=True,
    ),
    BuiltinCategory("billing", "Invoices, billing address, amounts, payment status."),
    BuiltinCategory(
        "payment_card", "Payment card number, expiry date and security data.", sensitive=True
    ),
    BuiltinCategory("financial", "Bank accounts and other financial information.", sensitive=True),
    BuiltinCategory("shipping_address", "Where orders are delivered."),
    BuiltinCategory("purchases", "Orders, products bought, renewals, licences."),
    BuiltinCategory(
        "account_history",
        "Account events: sign-ups, renewals, expiries, requests and how they were answered.",
    ),
    BuiltinCategory(
        "credentials", "Usernames, password hashes, authentication identifiers.", sensitive=True
    ),
    BuiltinCategory(
        "technical",
        "Device and connection data: IP address, browser, operating system, pages viewed.",
    ),
    BuiltinCategory(
        "location", "Where a person or their device is: IP-derived or precise geolocation."
    ),
    BuiltinCategory(
        "cookies", "Cookie and similar identifiers, browsing behaviour, analytics events."
    ),
    BuiltinCategory(
        "communications", "Records of e-mails, calls, chats and support tickets with the person."
    ),
    BuiltinCategory("support", "Content of support requests and feedback."),
    BuiltinCategory(
        "call_records", "Telephone call detail records: time, duration, caller, destination number."
    ),
    BuiltinCategory("job_application", "CV, employment history and other job application data."),
    BuiltinCategory("survey", "Answers to surveys and contest entries."),
    BuiltinCategory("preferences", "Communication and product preferences."),
    BuiltinCategory("demographic", "Age, date of birth, gender and similar."),
    BuiltinCategory("organisation", "The person's organisation, job title, company size."),
    BuiltinCategory("health", "Health data (special category).", sensitive=True),
    BuiltinCategory(
        "government_id", "Passport, national ID, tax or social insurance numbers.", sensitive=True
    ),
)

BUILTIN_BY_ID: dict[str, BuiltinCategory] = {c.id: c for c in BUILTIN_CATEGORIES}
