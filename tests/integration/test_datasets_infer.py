"""`tally datasets infer` on each kind of source a test made itself: the drafted file is
accepted by `tally datasets check --connect`, loads into the catalog, and maps the types."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from tally.catalog import Catalog
from tests.engines_support import PG_URL
from tests.integration.datasets_support import (
    chdb_orders,
    csv_orders,
    duckdb_orders,
    parquet_orders,
    postgres_orders,
    tally,
)

# What every kind holds, as the Tally types the draft must give them.
COMMON = {
    "tenant_id": ("string", None),
    "id": ("int", None),
    "created_at": ("timestamp", None),
    "amount": ("decimal", 2),
    "qty": ("int", None),
    "paid": ("bool", None),
    "day": ("date", None),
    "payload": ("json", None),
}


def _infer_and_check(tmp_path: Path, source: str, *args: str, out: str, **env: str):
    """infer into a datasets folder, check it (reading the source again), load the catalog."""
    folder = tmp_path / "datasets"
    folder.mkdir(exist_ok=True)
    target = folder / out
    made = tally(
        "datasets", "infer", source, "--name", "orders", "--tenant", "TenantId",
        "--time", "created_at", "--out", str(target), *args, cwd=tmp_path, **env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = target.read_text()
    parsed = tomllib.loads(text) if out.endswith(".toml") else yaml.safe_load(text)
    assert parsed["name"] == "orders"
    checked = tally("datasets", "check", str(folder), "--connect", cwd=tmp_path, **env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok: 1 dataset file(s)" in checked.stderr
    dataset = Catalog.load(folder).require("orders")
    types = {c.name: (c.type.value, c.scale) for c in dataset.columns}
    return dataset, types, made, text


def _expect(types: dict, extra: dict) -> None:
    for name, expected in {**COMMON, **extra}.items():
        assert types.get(name) == expected, (name, types)


def test_postgres_table_with_a_password_in_the_url(tmp_path: Path) -> None:
    with postgres_orders() as schema:
        # The server trusts local connections, so any password connects; none may be written.
        scheme, rest = PG_URL.split("://", 1)
        user, _, host = rest.rpartition("@")
        url = f"{scheme}://{user or 'postgres'}:s3cr%40t@{host}"
        env = {"ORDERS_PASSWORD": "s3cr%40t"}
        dataset, types, made, text = _infer_and_check(
            tmp_path, url, "--table", f"{schema}.orders", out="orders.yaml", **env
        )
        assert "s3cr" not in text and "${ORDERS_PASSWORD}" in text
        assert "set ORDERS_PASSWORD" in made.stderr
        unset = tally("datasets", "check", str(tmp_path / "datasets"), cwd=tmp_path)
        assert unset.returncode == 1
        assert (
            "orders.yaml: source.postgres.url: environment variable ORDERS_PASSWORD is not set"
            in unset.stdout
        )
    _expect(
        types,
        {
            "huge": ("float", None),
            "ratio": ("float", None),
            "tags": ("string[]", None),
            "status": ("string", None),
        },
    )
    assert "spot" not in types and "spot: point has no Tally type" in made.stderr
    assert dataset.column("status").enum == ("new", "paid", "sent")
    assert dataset.column("tenant_id").from_ == "TenantId"
    assert not dataset.column("tenant_id").nullable and dataset.column("amount").nullable
    assert dataset.key_columns == ("tenant_id", "id"), "the primary key, in its order"
    assert dataset.source is not None and dataset.source.postgres is not None
    assert dataset.source.postgres.table == f"{schema}.orders"


def test_postgres_url_given_as_a_variable(tmp_path: Path) -> None:
    """`infer '${ORDERS_URL}'` reads the schema through the variable's value (with a password)
    and writes the reference: the file serves as long as the variable is set where Tally
    runs, and holds neither the password nor the URL."""
    with postgres_orders() as schema:
        scheme, rest = PG_URL.split("://", 1)
        user, _, host = rest.rpartition("@")
        url = f"{scheme}://{user or 'postgres'}:Hunter2pw@{host}"
        dataset, types, made, text = _infer_and_check(
            tmp_path, "${ORDERS_URL}", "--table", f"{schema}.orders", out="orders.yaml",
            ORDERS_URL=url,
        )  # fmt: skip
        assert "Hunter2pw" not in text + made.stderr and host not in text
        assert yaml.safe_load(text)["source"]["postgres"]["url"] == "${ORDERS_URL}"
    assert dataset.source is not None and dataset.source.postgres is not None
    assert dataset.source.postgres.url == "${ORDERS_URL}"
    assert types["amount"] == COMMON["amount"]


def test_parquet_folder_with_hive_partitions(tmp_path: Path) -> None:
    folder = parquet_orders(tmp_path)
    dataset, types, _, _ = _infer_and_check(
        tmp_path, f"parquet:{folder}/**/*.parquet", out="orders.yaml"
    )
    _expect(types, {"ratio": ("float", None), "tags": ("string[]", None)})
    assert types["order_status"] == ("string", None)
    assert dataset.column("order_status").from_ == "Order Status"
    assert dataset.source is not None and dataset.source.parquet is not None
    assert dataset.source.parquet.hive_partitioning, "TenantId=... folders are partitions"
    assert dataset.source.parquet.path == f"{folder}/**/*.parquet"


def test_csv_file_with_its_delimiter(tmp_path: Path) -> None:
    path = csv_orders(tmp_path)
    dataset, types, _, _ = _infer_and_check(tmp_path, f"csv:{path}", out="orders.toml")
    # A CSV holds no declared types: DuckDB reads 12.34 as a double, which the draft keeps.
    _expect(types, {"amount": ("float", None)})
    assert dataset.source is not None and dataset.source.csv is not None
    assert dataset.source.csv.delimiter == ";"


def test_duckdb_table(tmp_path: Path) -> None:
    path = duckdb_orders(tmp_path)
    dataset, types, _, _ = _infer_and_check(
        tmp_path, f"duckdb:{path}", "--table", "sales.orders", out="orders.toml"
    )
    _expect(types, {"ratio": ("float", None), "tags": ("string[]", None)})
    assert dataset.column("order_status").enum == ("new", "paid", "sent")
    assert dataset.key_columns == ("id",)


def test_chdb_table(tmp_path: Path) -> None:
    path = chdb_orders(tmp_path)
    dataset, types, _, _ = _infer_and_check(
        tmp_path, f"chdb://{path}", "--table", "shop.orders", out="orders.yaml"
    )
    _expect(types, {"ratio": ("float", None), "tags": ("string[]", None)})
    assert dataset.column("status").enum == ("new", "paid", "sent")
    assert dataset.column("qty").nullable and not dataset.column("ratio").nullable
    # ClickHouse's primary key is its sorting key: the draft says so and keeps it.
    assert dataset.key_columns == ("tenant_id", "created_at")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ftp://x", "--table", "t"], "SOURCE must be one of"),
        (
            ["duckdb:{db}", "--table", "sales.orders", "--name", "Shop-Orders"],
            "--name 'Shop-Orders'",
        ),
        (["duckdb:/nowhere.duckdb"], "a duckdb source needs --table"),
        (["parquet:/nowhere/*.parquet"], "no file matches /nowhere/*.parquet"),
        (["duckdb:{db}", "--table", "sales.nope"], "has no table sales.nope"),
        (["duckdb:{db}", "--table", "sales.orders", "--tenant", "nope"], "tenant column 'nope'"),
        (["duckdb:{db}", "--table", "sales.orders", "--time", "qty"], "not a timestamp or a date"),
    ],
)
def test_infer_says_what_is_wrong(tmp_path: Path, args: list[str], expected: str) -> None:
    db = duckdb_orders(tmp_path)
    args = [a.replace("{db}", str(db)) for a in args]
    tenant = [] if "--tenant" in args else ["--tenant", "TenantId"]
    name = [] if "--name" in args else ["--name", "orders"]
    out = tally("datasets", "infer", *args, *name, *tenant, cwd=tmp_path)
    assert out.returncode == 1, out.stdout
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr
