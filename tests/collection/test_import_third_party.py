"""A purchased list arrives as a file (P03): `troth import FILE --point P --supplier NAME`
stores every row with its supplier and bound to the purpose it was supplied for. Trial 5
found no way to name the supplier of a file, while the refusal pointed to `--supplier`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cli_runner import run
from troth.store.tables import records

ROWS = "name,email,organisation\nAnn,ann@example.com,Acme\nBo,bo@example.com,Bolt\n"


def _stored(t: Any) -> list[tuple[str, str | None, Any]]:
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(records.c.field, records.c.supplier, records.c.purposes))
        return sorted((r[0], r[1], list(r[2])) for r in rows)


def test_a_purchased_list_is_imported_with_its_supplier(home, db_url, tmp_path: Path, capsys):
    t = home("mindlink", db_url)
    file = tmp_path / "list.csv"
    file.write_text(ROWS)
    h = str(t.ctx.home)
    code, _out, err = run(capsys, "--home", h, "import", str(file), "--point", "third_party_supply")
    assert code == 1 and err.count("supplier_required") == 2 and "--supplier" in err
    assert _stored(t) == []
    args = ("--home", h, "import", str(file), "--point", "third_party_supply")
    code, out, err = run(capsys, *args, "--supplier", "BrokerOne", "--state", str(tmp_path / "s"))
    assert code == 0 and "stored 2 row(s), refused 0" in out, (out, err)
    assert {(f, s) for f, s, _p in _stored(t)} == {
        (f, "BrokerOne") for f in ("name", "email", "organisation")
    }
    assert {tuple(p) for _f, _s, p in _stored(t)} == {("prospecting",)}


def test_a_supplier_for_first_party_data_is_refused_row_by_row(home, tmp_path: Path, capsys):
    t = home("mindlink")
    file = tmp_path / "news.csv"
    file.write_text("name,email\nAnn,ann@example.com\n")
    code, _out, err = run(capsys, "--home", str(t.ctx.home), "import", str(file), "--point",
                          "newsletter_signup", "--supplier", "BrokerOne")  # fmt: skip
    assert code == 1 and "supplier_not_third_party" in err
    assert _stored(t) == []
