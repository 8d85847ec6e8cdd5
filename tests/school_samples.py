"""The school platform's policy (tests only): a multi-tenant policy whose customers are
schools, with roles for their members (``for: tenant_members``: teacher, SENCO,
safeguarding lead) beside the vendor's privacy office; and a home of two schools with a
member of each kind and a pupil holding every kind of record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _http import PASSWORD
from troth.access import actor_for
from troth.engine import Troth
from troth.gate import Actor

SCHOOL = """\
troth: 1
id: school_platform
multi_tenant: true
version: "1.0"
effective: 2025-01-01
organisation:
  name: Quill Learning Ltd
  contact: {name: Privacy office, email: privacy@quill.example}
  dpo: {name: Dana, email: dpo@quill.example}
  jurisdictions: [uk_gdpr]
subjects:
  - id: pupil
    description: Pupils enrolled by their school.
categories:
  - {id: school_info, description: Year group.}
  - {id: grades, description: Marks.}
  - {id: parent_contact, description: A parent's phone.}
  - {id: sen_notes, description: Special educational needs notes., sensitive: true, special: true}
  - id: safeguarding_records
    description: Child-protection concerns.
    sensitive: true
    special: true
purposes:
  - id: teaching
    description: Teach and report.
    legal_basis: contract
    categories: [identity, school_info, grades, parent_contact]
    retention: {keep_for: 5y}
  - id: sen_support
    description: The school's duty to pupils with special needs.
    legal_basis: legal_obligation
    categories: [identity, sen_notes]
    retention: {keep_for: 5y}
  - id: safeguarding
    description: Keep children safe.
    legal_basis: legal_obligation
    categories: [identity, safeguarding_records]
    retention: {keep_for: 25y}
  - id: legal_requirement
    description: Disclose where the law requires (police, courts).
    legal_basis: legal_obligation
    categories: [identity, safeguarding_records]
collection_points:
  - id: enrolment
    description: The school enrols a pupil.
    subjects: [pupil]
    fields:
      name: {category: identity, required: true}
      year_group: {category: school_info, required: true}
      parent_phone: {category: parent_contact, mask: last4}
    purposes: [teaching, sen_support, safeguarding, legal_requirement]
  - id: grade_entry
    description: A teacher records a grade.
    subjects: [pupil]
    source: observed
    fields:
      grade: {category: grades, required: true}
    purposes: [teaching]
  - id: sen_note
    description: The SENCO records a need.
    subjects: [pupil]
    source: observed
    fields:
      sen_note: {category: sen_notes, type: text, required: true}
    purposes: [sen_support]
  - id: safeguarding_concern
    description: The safeguarding lead records a concern.
    subjects: [pupil]
    source: observed
    fields:
      concern: {category: safeguarding_records, type: text, required: true}
    purposes: [safeguarding, legal_requirement]
recipients:
  - id: police
    name: UK police forces
    kind: authority
    location: GB
    receives:
      - {purpose: legal_requirement, categories: [identity, safeguarding_records]}
locations: {allowed: [GB], default: GB}
roles:
  - id: privacy_office
    description: The vendor's privacy office.
    categories: [identity]
    purposes: [legal_requirement]
    powers: [manage_requests, manage_tenants, legal_demands]
  - id: teacher
    for: tenant_members
    description: Teaches; reads grades, a parent's phone only masked.
    categories: [identity, school_info, grades, parent_contact]
    masked: [parent_contact]
    purposes: [teaching]
  - id: senco
    for: tenant_members
    description: Special educational needs coordinator.
    categories: [identity, sen_notes]
    purposes: [sen_support]
  - id: dsl
    for: tenant_members
    description: Designated safeguarding lead.
    categories: [identity, safeguarding_records]
    purposes: [safeguarding, legal_requirement]
support_access: {requires_customer_grant: true, max_days: 7}
"""


def school_home(
    home: Any, tmp_path: Path, text: str = SCHOOL
) -> tuple[Troth, str, str, dict[str, Actor], str, str]:
    """Two schools (tenants), each with a pupil holding every kind of record; Maple has an
    admin, a member of each role and a member without one; Oak an admin and a lead:
    (troth, maple, oak, people by name, Maple's pupil, Oak's pupil). ``text``: the
    policy (:data:`SCHOOL`, or an edit of it)."""
    policy = tmp_path / "school.yaml"
    policy.write_text(text)
    t: Troth = home(policy=policy)
    acc = t.access
    maple = acc.tenants.create_tenant("Maple PS", "office@maple.example")
    oak = acc.tenants.create_tenant("Oak PS", "office@oak.example")

    def member(tid: str, email: str, trole: str = "member", role: str | None = None) -> Actor:
        tok, _ = acc.tenants.invite(tid, email, role=trole, member_role=role)
        return actor_for(acc.tenants.accept_invitation(tok, PASSWORD))

    people = {
        "head": member(maple, "head@maple.example", "admin"),
        "teacher": member(maple, "teacher@maple.example", role="teacher"),
        "senco": member(maple, "senco@maple.example", role="senco"),
        "dsl": member(maple, "dsl@maple.example", role="dsl"),
        "nobody": member(maple, "new@maple.example"),
        "oak_head": member(oak, "head@oak.example", "admin"),
        "oak_dsl": member(oak, "dsl@oak.example", role="dsl"),
    }

    def pupil(tid: str, name: str) -> str:
        sid = t.collect(
            "enrolment",
            {"name": name, "year_group": "Y5", "parent_phone": "+44 7700 900123"},
            tenant_id=tid,
        ).subject_id
        t.collect("grade_entry", {"grade": "B+"}, subject_id=sid, tenant_id=tid)
        t.collect("sen_note", {"sen_note": "Dyslexia"}, subject_id=sid, tenant_id=tid)
        t.collect("safeguarding_concern", {"concern": "CP concern"}, subject_id=sid, tenant_id=tid)
        return sid

    return t, maple, oak, people, pupil(maple, "Lily"), pupil(oak, "Olly")
