"""A file drafted by `tally datasets infer` answers queries over the rows where they are: the
answers equal a computation over the very rows the test wrote, and a key scoped to one tenant
sees only that tenant's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from tests.engines_support import PG_URL
from tests.helpers import bearer, live_app
from tests.integration.datasets_support import (
    TENANTS,
    chdb_orders,
    csv_orders,
    duckdb_orders,
    parquet_orders,
    postgres_orders,
    rows,
    tally,
)

QUERY = {
    "dataset": "orders",
    "time": {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
    "group_by": ["tenant_id"],
    "measures": [
        {"op": "count"},
        {"op": "sum", "field": "qty"},
        {"op": "sum", "field": "amount", "as": "revenue"},
    ],
}


@contextmanager
def _source(kind: str, root: Path) -> Iterator[list[str]]:
    """The `infer` arguments naming a source of `kind` that holds `rows()`."""
    if kind == "postgres":
        with postgres_orders() as schema:
            yield [PG_URL, "--table", f"{schema}.orders"]
    elif kind == "parquet":
        yield [f"parquet:{parquet_orders(root)}/**/*.parquet"]
    elif kind == "csv":
        yield [f"csv:{csv_orders(root)}"]
    elif kind == "duckdb":
        yield [f"duckdb:{duckdb_orders(root)}", "--table", "sales.orders"]
    else:
        yield [f"chdb://{chdb_orders(root)}", "--table", "shop.orders"]


def _expected() -> dict[str, tuple[int, int, Decimal]]:
    """Per tenant: rows, total quantity, total amount, from the rows the test wrote."""
    found: dict[str, tuple[int, int, Decimal]] = {}
    for row in rows():
        count, qty, amount = found.get(row["TenantId"], (0, 0, Decimal(0)))
        found[row["TenantId"]] = (count + 1, qty + row["qty"], amount + row["amount"])
    return found


@pytest.mark.parametrize("kind", ["postgres", "parquet", "csv", "duckdb", "chdb"])
def test_an_inferred_file_answers_queries_scoped_to_a_tenant(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "datasets"
    folder.mkdir()
    with _source(kind, tmp_path) as args:
        made = tally(
            "datasets", "infer", *args, "--name", "orders", "--tenant", "TenantId",
            "--time", "created_at", "--out", str(folder / "orders.yaml"), cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        expected = _expected()
        with live_app(tmp_path, datasets_dir=folder) as app:
            answer = app.client.post("/v1/query", json=QUERY, headers=app.admin)
            assert answer.status_code == 200, answer.text
            got = {r["tenant_id"]: r for r in answer.json()["rows"]}
            assert set(got) == set(TENANTS)
            for tenant, (count, qty, amount) in expected.items():
                assert (got[tenant]["count"], got[tenant]["sum_qty"]) == (count, qty)
                if kind == "csv":  # a CSV declares no types: its amounts are read as floats
                    assert got[tenant]["revenue"] == pytest.approx(float(amount))
                else:
                    assert Decimal(str(got[tenant]["revenue"])) == amount, "exact, no float noise"
            _, token = app.keys.create("viewer", {"tenant_id": ("acme",)}, name="acme")
            scoped = app.client.post("/v1/query", json=QUERY, headers=bearer(token))
            assert scoped.status_code == 200, scoped.text
            assert [r["tenant_id"] for r in scoped.json()["rows"]] == ["acme"]
            assert scoped.json()["rows"][0]["count"] == expected["acme"][0]
