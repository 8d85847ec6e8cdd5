"""Cross-reference checks over a policy, each problem an :class:`Issue` with file and line.
They read plain data (the YAML as loaded, or ``Policy.model_dump()``) defensively, so they
run even when the model itself does not validate and every problem is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from troth.policy.consent_by import consent_by_rules
from troth.policy.issues import Issue, Path, format_path
from troth.policy.lawful import check_lawfulness
from troth.policy.model import AGE_FLOORS, LegalBasis, Policy, Regime
from troth.policy.taxonomy import BUILTIN_BY_ID
from troth.policy.validate_duties import statutory_duties
from troth.policy.validate_points import one_identity_each, person_copy_needs_mask
from troth.policy.validate_retention import legal_minimums

Locate = Callable[[Path], int]


def validate_policy(
    policy: Policy, file: str = "<policy>", locate: Locate | None = None
) -> list[Issue]:
    """Every cross-reference problem of a model-valid policy (empty list: consistent)."""
    return check_references(policy.model_dump(mode="json"), file, locate)


def check_references(
    data: Any, file: str = "<policy>", locate: Locate | None = None, *, lawful: bool = True
) -> list[Issue]:
    """Cross-reference problems in policy data shaped like the YAML file; with ``lawful``,
    what no law of its jurisdictions allows too (:mod:`troth.policy.lawful`)."""
    if not isinstance(data, Mapping):
        return []
    return _Checker(data, file, locate or (lambda _p: 1)).run(lawful=lawful)


# -- defensive accessors: the data may be half-valid -------------------------------------
def _items(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    value = data.get(key)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                yield i, item


def _strs(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield i, item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _field_category(spec: Any) -> str | None:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return _str(spec.get("category"))
    return None


_ID_LISTS = (
    "categories",
    "subjects",
    "purposes",
    "collection_points",
    "recipients",
    "roles",
    "lists",
)


def fields_by_category(
    data: Mapping[str, Any], keep: Callable[[Any], bool] = lambda spec: True
) -> dict[str, set[str]]:
    """Category -> its fields' names, at any collection point, whose spec ``keep`` takes."""
    found: dict[str, set[str]] = {}
    for _, cp in _items(data, "collection_points"):
        fields = cp.get("fields")
        if isinstance(fields, Mapping):
            for name, spec in fields.items():
                cat = _field_category(spec)
                if cat and keep(spec):
                    found.setdefault(cat, set()).add(str(name))
    return found


class _Checker:
    def __init__(self, data: Mapping[str, Any], file: str, locate: Locate) -> None:
        self.data = data
        self.file = file
        self.locate = locate
        self.issues: list[Issue] = []
        declared = {c.get("id") for _, c in _items(data, "categories")}
        self.categories = sorted({*BUILTIN_BY_ID, *(c for c in declared if isinstance(c, str))})
        self.category_set = set(self.categories)
        self.purposes = {
            p["id"]: p for _, p in _items(data, "purposes") if isinstance(p.get("id"), str)
        }
        self.subjects = sorted(
            s["id"] for _, s in _items(data, "subjects") if isinstance(s.get("id"), str)
        )
        locations = data.get("locations")
        self.locations: Mapping[str, Any] = locations if isinstance(locations, Mapping) else {}
        self.allowed_locations = sorted(x for _, x in _strs(self.locations.get("allowed")))
        self.transfer_to = {
            t.get("to"): t.get("safeguard") for _, t in _items(self.locations, "transfers")
        }

    def add(self, path: Path, message: str, allowed: Sequence[str] = ()) -> None:
        at = Issue(self.file, self.locate(path), format_path(path), message, tuple(allowed))
        self.issues.append(at)

    def run(self, *, lawful: bool = True) -> list[Issue]:
        self.duplicates()
        self.purpose_rules()
        self.point_rules()
        self.point_field_rules()
        self.recipient_rules()
        statutory_duties(self.data, self.add)
        consent_by_rules(self.data, self.add)
        legal_minimums(self.data, self.add)
        self.role_rules()
        self.support_access_rules()
        self.list_and_cookie_rules()
        self.location_rules()
        self.organisation_rules()
        self.dimension_rules()
        if lawful:  # bind where a policy is written, never on one troth already holds
            check_lawfulness(self.data, self.add)
            one_identity_each(self.data, self.add)
        person_copy_needs_mask(self.data, self.add)
        return self.issues

    # -- references -------------------------------------------------------------------
    def category_ref(self, path: Path, value: str) -> None:
        if value not in self.category_set:
            self.add(
                path,
                f"unknown category {value!r}: declare it under `categories` or use a built-in one",
                self.categories,
            )

    def purpose_ref(self, path: Path, value: str) -> None:
        if value not in self.purposes:
            why = f"unknown purpose {value!r}: declare it under `purposes`"
            self.add(path, why, sorted(self.purposes))

    def duplicates(self) -> None:
        for key in _ID_LISTS:
            seen: dict[str, int] = {}
            for i, item in _items(self.data, key):
                ident = item.get("id")
                if not isinstance(ident, str):
                    continue
                if ident in seen:
                    self.add(
                        (key, i, "id"),
                        f"duplicate id {ident!r}: already used by {key}[{seen[ident]}]",
                    )
                else:
                    seen[ident] = i

    def purpose_rules(self) -> None:
        for i, p in _items(self.data, "purposes"):
            for j, cat in _strs(p.get("categories")):
                self.category_ref(("purposes", i, "categories", j), cat)
            if p.get("legal_basis") == LegalBasis.consent.value and not _str(p.get("withdraw")):
                self.add(
                    ("purposes", i, "legal_basis"),
                    f"purpose {p.get('id')!r} rests on consent but says no way to withdraw it: "
                    "add `withdraw:` text (withdrawing must be as easy as giving, GDPR Art. 7(3))",
                )

    def point_rules(self) -> None:
        for i, cp in _items(self.data, "collection_points"):
            fields = cp.get("fields")
            fields = fields if isinstance(fields, Mapping) else {}
            point_cats: set[str] = set()
            for name, spec in fields.items():
                cat = _field_category(spec)
                if cat is None:
                    continue
                point_cats.add(cat)
                self.category_ref(("collection_points", i, "fields", name, "category"), cat)
            for j, pid in _strs(cp.get("purposes")):
                path: Path = ("collection_points", i, "purposes", j)
                if pid not in self.purposes:
                    self.purpose_ref(path, pid)
                    continue
                allowed = {c for _, c in _strs(self.purposes[pid].get("categories"))}
                if point_cats and not point_cats & allowed:
                    self.add(
                        path,
                        f"purpose {pid!r} may use none of this point's field categories "
                        f"({', '.join(sorted(point_cats))}): add one to the purpose or "
                        "drop the purpose here",
                    )
            if self.subjects:
                for j, sid in _strs(cp.get("subjects")):
                    if sid not in self.subjects:
                        self.add(
                            ("collection_points", i, "subjects", j),
                            f"unknown subject kind {sid!r}: declare it under `subjects`",
                            self.subjects,
                        )
            age_field = _str(cp.get("age_field"))
            if age_field is not None and age_field not in fields:
                self.add(
                    ("collection_points", i, "age_field"),
                    f"age_field {age_field!r} is not one of this point's fields",
                    sorted(fields),
                )
            if cp.get("source") == "third_party" and not _str(cp.get("supplier")):
                self.add(
                    ("collection_points", i, "source"),
                    "third-party data must say who supplies it: add `supplier:` (P03)",
                )
            loc = _str(cp.get("location"))
            if loc and self.allowed_locations and loc not in self.allowed_locations:
                self.add(
                    ("collection_points", i, "location"),
                    f"location {loc!r} is not an allowed data location",
                    self.allowed_locations,
                )

    def point_field_rules(self) -> None:
        """A required field of a point must be in a category one of the point's purposes
        uses: collection refuses a value that would serve no purpose, so the point would
        refuse everything. An optional one (every form that fills it in is refused) is a
        warning (:mod:`troth.policy.warnings`): a policy that opened before still opens.
        The age field is exempt, as collection exempts it (it is read for the minimum
        age)."""
        for i, cp in _items(self.data, "collection_points"):
            pids = [p for _, p in _strs(cp.get("purposes"))]
            fields = cp.get("fields")
            fields = fields if isinstance(fields, Mapping) else {}
            age = cp.get("age_field")
            if not pids or any(p not in self.purposes for p in pids) or age not in (None, *fields):
                continue  # no purposes, an unknown one or age field (reported as such)
            used = {c for p in pids for _, c in _strs(self.purposes[p].get("categories"))}
            for name, spec in fields.items():
                cat = _field_category(spec)
                if cat is None or cat not in self.category_set or cat in used or name == age:
                    continue
                if not (isinstance(spec, Mapping) and spec.get("required") is True):
                    continue  # optional: a warning (policy_warnings), not fatal
                self.add(
                    ("collection_points", i, "fields", name, "category"),
                    f"collection point {cp.get('id')!r}: field {name!r} is in category"
                    f" {cat!r}, which none of its purposes ({', '.join(pids)}) uses, so"
                    " every collection through the point is refused (the field is required)"
                    f": add {cat!r} to the categories of one of those purposes, or remove"
                    " the field",
                    sorted(used),
                )

    def recipient_rules(self) -> None:
        field_names = fields_by_category(self.data)
        for i, rc in _items(self.data, "recipients"):
            loc = _str(rc.get("location"))
            if (
                loc
                and self.allowed_locations
                and loc not in self.allowed_locations
                and not _str(rc.get("safeguard"))
                and not _str(self.transfer_to.get(loc))
            ):
                self.add(
                    ("recipients", i, "location"),
                    f"recipient is in {loc!r}, outside the allowed locations, with no transfer "
                    "safeguard: add `safeguard:` here or a `locations.transfers` entry",
                    self.allowed_locations,
                )
            for j, d in _items(rc, "receives"):
                pid = _str(d.get("purpose"))
                if pid is not None and pid not in self.purposes:
                    self.purpose_ref(("recipients", i, "receives", j, "purpose"), pid)
                    pid = None
                purpose_cats = (
                    {c for _, c in _strs(self.purposes[pid].get("categories"))} if pid else None
                )
                cats: set[str] = set()
                for k, cat in _strs(d.get("categories")):
                    path: Path = ("recipients", i, "receives", j, "categories", k)
                    cats.add(cat)
                    if cat not in self.category_set:
                        self.category_ref(path, cat)
                    elif purpose_cats is not None and cat not in purpose_cats:
                        self.add(
                            path,
                            f"purpose {pid!r} does not use category {cat!r}, so no recipient "
                            "may receive it for that purpose",
                            sorted(purpose_cats),
                        )
                known = sorted(set().union(*(field_names.get(c, set()) for c in cats)))
                for k, fname in _strs(d.get("fields")):
                    if field_names and fname not in known:
                        self.add(
                            ("recipients", i, "receives", j, "fields", k),
                            f"no collection point has a field {fname!r} in these categories",
                            known,
                        )

    def support_access_rules(self) -> None:
        sa = self.data.get("support_access")
        if not isinstance(sa, Mapping):
            return
        for j, cat in _strs(sa.get("customer_categories")):
            self.category_ref(("support_access", "customer_categories", j), cat)
        if sa.get("customer_categories") and sa.get("requires_customer_grant") is False:
            self.add(
                ("support_access", "customer_categories"),
                "customer categories are seen only under a customer's grant: set"
                " `requires_customer_grant: true` or remove `customer_categories`",
            )

    def role_rules(self) -> None:
        from troth.policy.validate_roles import role_rules

        role_rules(self)

    def list_and_cookie_rules(self) -> None:
        for i, lst in _items(self.data, "lists"):
            pid = _str(lst.get("purpose"))
            if pid is not None:
                self.purpose_ref(("lists", i, "purpose"), pid)
        for i, cookie in _items(self.data, "cookies"):
            pid = _str(cookie.get("purpose"))
            if pid is not None:
                self.purpose_ref(("cookies", i, "purpose"), pid)

    def location_rules(self) -> None:
        default = _str(self.locations.get("default"))
        if default and self.allowed_locations and default not in self.allowed_locations:
            self.add(
                ("locations", "default"),
                f"default location {default!r} is not among the allowed locations",
                self.allowed_locations,
            )
        seen: set[str] = set()
        for j, loc in _strs(self.locations.get("allowed")):
            if loc in seen:
                self.add(("locations", "allowed", j), f"location {loc!r} is listed twice")
            seen.add(loc)

    def organisation_rules(self) -> None:
        org = self.data.get("organisation")
        if not isinstance(org, Mapping):
            return
        regimes = sorted(x for _, x in _strs(org.get("jurisdictions")))
        default = _str(org.get("default_jurisdiction"))
        if default and regimes and default not in regimes:
            self.add(
                ("organisation", "default_jurisdiction"),
                f"default jurisdiction {default!r} is not one of the organisation's jurisdictions",
                regimes,
            )
        self.age_floors(regimes)
        zones = org.get("time_zones")
        for regime in zones if isinstance(zones, Mapping) else ():
            if regimes and regime not in regimes:
                self.add(
                    ("organisation", "time_zones", str(regime)),
                    f"time zone for {regime!r}, which is not one of the organisation's "
                    "jurisdictions",
                    regimes,
                )

    def age_floors(self, regimes: Sequence[str]) -> None:
        """A minimum age under the law's floor in one of the organisation's jurisdictions
        (troth has no parental consent to stand in for it)."""
        minors = self.data.get("minors")
        minors = minors if isinstance(minors, Mapping) else {}
        default = minors.get("minimum_age", 18)
        overrides = minors.get("by_jurisdiction")
        overrides = overrides if isinstance(overrides, Mapping) else {}
        for regime in regimes:
            floor = AGE_FLOORS.get(Regime(regime)) if regime in Regime.__members__ else None
            given = overrides.get(regime, default)
            if floor is None or not isinstance(given, int) or given >= floor:
                continue
            path: Path = ("minors", "by_jurisdiction", regime)
            if regime not in overrides:
                path = ("minors", "minimum_age")
            self.add(
                path,
                f"minimum age {given} in {regime} is under the law's floor there ({floor}:"
                f" below it a parent must consent, which troth does not record); use {floor}"
                " or more",
            )

    def dimension_rules(self) -> None:
        """An aggregate-only purpose's dimensions (P09): fields collected for it in its
        categories that many people share, never one that identifies a person."""
        declared = {c.get("id"): c for _, c in _items(self.data, "categories")}
        for i, p in _items(self.data, "purposes"):
            dims = list(_strs(p.get("dimensions")))
            if not dims:
                continue
            pid = p.get("id")
            if p.get("aggregate_only") is not True:
                self.add(
                    ("purposes", i, "dimensions"),
                    f"purpose {pid!r} is not aggregate_only: only an aggregate-only purpose"
                    " groups people by dimensions; remove `dimensions` or add"
                    " `aggregate_only: true`",
                )
                continue
            cats = {c for _, c in _strs(p.get("categories"))}
            offered: dict[str, list[Any]] = {}
            for _, cp in _items(self.data, "collection_points"):
                if pid not in {x for _, x in _strs(cp.get("purposes"))}:
                    continue
                fields = cp.get("fields")
                for name, spec in (fields if isinstance(fields, Mapping) else {}).items():
                    if _field_category(spec) in cats:
                        offered.setdefault(name, []).append(spec)
            seen: set[str] = set()
            for j, name in dims:
                path: Path = ("purposes", i, "dimensions", j)
                if name in seen:
                    self.add(path, f"dimension {name!r} is listed twice")
                    continue
                seen.add(name)
                if name not in offered:
                    self.add(
                        path,
                        f"dimension {name!r} is not a field any collection point collects for"
                        f" purpose {pid!r} in its categories ({', '.join(sorted(cats))})",
                        sorted(offered),
                    )
                    continue
                why = self._identifying(offered[name], declared)
                if why:
                    self.add(
                        path,
                        f"dimension {name!r} {why}: grouping by it would list people one by"
                        " one; group by a field many people share",
                    )

    @staticmethod
    def _identifying(specs: list[Any], declared: Mapping[Any, Any]) -> str | None:
        for spec in specs:
            if not isinstance(spec, Mapping):
                spec = {"category": spec}
            if spec.get("identifies"):
                return f"identifies a person ({spec.get('identifies')})"
            if spec.get("type") in ("email", "phone"):
                return f"is a {spec.get('type')} address or number"
            if spec.get("type") in ("datetime", "text"):
                return f"is a {spec.get('type')} field: nearly every value names one record"
            cat = _field_category(spec)
            decl = declared.get(cat)
            builtin = BUILTIN_BY_ID.get(cat or "")
            sensitive = decl.get("sensitive") if isinstance(decl, Mapping) else None
            if sensitive is None:
                sensitive = bool(builtin and builtin.sensitive)
            if sensitive:
                return f"is in the sensitive category {cat!r} (encrypted: never grouped)"
        return None
