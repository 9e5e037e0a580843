"""The parts of `tally datasets infer` that need no source: type mapping per type system,
Tally names, secrets kept out of the file, and YAML/TOML that read back as written."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tally.authoring import typemap
from tally.authoring.ch_schema import location
from tally.authoring.described import SourceColumn, SourceError
from tally.authoring.draft import draft, tally_name
from tally.authoring.emit import to_toml, to_yaml
from tally.authoring.target import Target, TargetError, target
from tally.catalog.model import ColumnType as T
from tally.catalog.sources import Source
from tally.engines.clickhouse import parse_url

NAIVE = "timestamp without time zone"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("TenantId", "tenant_id"),
        ("createdAt", "created_at"),
        ("Order Status", "order_status"),
        ("amount (EUR)", "amount_eur"),
        ("2024 total", "_2024_total"),
        ("a.b", "a_b"),
        ("___", "column"),
    ],
)
def test_tally_names(source: str, expected: str) -> None:
    assert tally_name(source) == expected


@pytest.mark.parametrize(
    ("mapped", "expected"),
    [
        (typemap.postgres("numeric", "numeric", 12, 2, None), (T.DECIMAL, 2)),
        (typemap.postgres("numeric", "numeric", 12, 12, None), (T.FLOAT, None)),
        (typemap.postgres("numeric", "numeric", 12, None, None), (T.FLOAT, None)),
        (typemap.postgres("ARRAY", "_varchar", 12, None, None), (T.STRING_ARRAY, None)),
        (typemap.postgres("ARRAY", "_int4", 12, None, None), (None, None)),
        (typemap.postgres("USER-DEFINED", "citext", 12, None, None), (T.STRING, None)),
        (
            typemap.postgres("timestamp without time zone", "timestamp", 12, None, None),
            (T.TIMESTAMP, None),
        ),
        (typemap.postgres("jsonb", "jsonb", 12, None, None), (T.JSON, None)),
        (typemap.postgres("bytea", "bytea", 12, None, None), (None, None)),
        (typemap.duckdb("DECIMAL(18,4)"), (T.DECIMAL, 4)),
        (typemap.duckdb("TIMESTAMP_NS"), (T.TIMESTAMP, None)),
        (typemap.duckdb("MAP(VARCHAR, DOUBLE)"), (T.FLOAT_MAP, None)),
        (typemap.duckdb("UBIGINT"), (T.INT, None)),
        (typemap.duckdb("STRUCT(a INTEGER)"), (None, None)),
        (typemap.clickhouse("Decimal64(4)"), (T.DECIMAL, 4)),
        (typemap.clickhouse("Decimal(38, 10)"), (T.FLOAT, None)),
        (typemap.clickhouse("DateTime64(3, 'UTC')"), (T.TIMESTAMP, None)),
        (typemap.clickhouse("Array(LowCardinality(String))"), (T.STRING_ARRAY, None)),
        (typemap.clickhouse("FixedString(16)"), (T.STRING, None)),
        (typemap.clickhouse("Tuple(a Int8)"), (None, None)),
    ],
)
def test_types_are_mapped_faithfully_or_left_out(mapped: typemap.Mapped, expected) -> None:
    assert (mapped.type, mapped.scale) == expected
    inexact = mapped.type is None or (mapped.type is T.FLOAT and "ecimal" in str(mapped.note))
    assert (mapped.note is not None) >= inexact


def test_enum_labels_and_clickhouse_wrappers() -> None:
    assert typemap.duckdb("ENUM('a', 'it''s')").enum == ("a", "it's")
    assert typemap.clickhouse("Enum8('new' = 1, 'old' = 2)").enum == ("new", "old")
    assert typemap.unwrap_clickhouse("LowCardinality(Nullable(String))") == ("String", True)
    assert typemap.unwrap_clickhouse("LowCardinality(String)") == ("String", False)


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:${SHOP_PASSWORD}@h:5432/db"),
        ("postgresql://u@h/db?password=pw&sslmode=require",
         "postgresql://u@h/db?password=${SHOP_PASSWORD}&sslmode=require"),
        ("postgresql://u:${PG_PW}@h/db", "postgresql://u:${PG_PW}@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("clickhouse://u:pw@ch:8123", "http://u:${SHOP_PASSWORD}@ch:8123"),
        ("https://u:pw@ch:8443/?database=a", "https://u:${SHOP_PASSWORD}@ch:8443/?database=a"),
    ],
)  # fmt: skip
def test_a_password_is_replaced_by_a_variable(url: str, written: str) -> None:
    found = target(url, "public.events", "shop")
    assert found.source.spec.url == written  # type: ignore[union-attr]
    assert found.secret_variables == (["SHOP_PASSWORD"] if "SHOP" in written else [])
    assert found.reading.spec.url == (  # type: ignore[union-attr]
        url.replace("clickhouse://", "http://")
    ), "the schema is read with the password as given"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("postgresql://u:Hunter2@h/db?sslmode=require", "postgres"),
        ("postgres://u@h/db?password=Hunter2", "postgres"),
        ("https://u:Hunter2@ch:8443/?database=a", "clickhouse"),
        ("chdb:///tmp/store", "clickhouse"),
    ],
)
def test_a_source_given_as_a_variable_is_written_as_that_variable(
    value: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kind comes from the value; the file, its description and its header name only
    `${SHOP_URL}` (the reader expands it when it connects)."""
    monkeypatch.setenv("SHOP_URL", value)
    found = target("${SHOP_URL}", "public.events", "shop")
    assert found.source.kind == kind
    assert found.source.spec.url == "${SHOP_URL}"  # type: ignore[union-attr]
    assert found.reading == found.source and found.secret_variables == []
    column = SourceColumn("tenant", "text", typemap.Mapped(T.STRING))
    drafted = draft("shop", found, [column], ["tenant"], None)
    for text in (to_yaml(drafted, found.label), to_toml(drafted, found.label)):
        assert "Hunter2" not in text and value not in text and "${SHOP_URL}" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "environment variable SHOP_URL is not set"),
        ("clickhouse://u:Hunter2@ch:8123", "must hold a postgresql://"),
        ("mysql://u:Hunter2@h/db", "must hold a postgresql://"),
        ("/data/events/*.parquet", "write the variable inside the path"),
    ],
)
def test_a_variable_that_holds_no_database_url_is_refused_without_its_value(
    value: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("SHOP_URL", raising=False)
    else:
        monkeypatch.setenv("SHOP_URL", value)
    with pytest.raises(TargetError) as refused:
        target("${SHOP_URL}", "public.events", "shop")
    assert expected in str(refused.value) and "Hunter2" not in str(refused.value)


def test_a_clickhouse_url_of_another_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(SourceError) as refused:
        location("clickhouse://u:Hunter2@ch:8123")
    assert "not clickhouse://" in str(refused.value) and "Hunter2" not in str(refused.value)
    with pytest.raises(ValueError) as bad_setting:
        parse_url("ftp://u:Hunter2@ch")
    assert "not ftp://" in str(bad_setting.value) and "Hunter2" not in str(bad_setting.value)


@pytest.mark.parametrize(
    ("argument", "table", "expected"),
    [
        ("mysql://h/db", "t", "SOURCE must be one of"),
        ("postgresql://h/db", None, "a postgres source needs --table"),
        ("postgresql://h/db", "bad-name", "table: 'bad-name' does not match"),
        ("csv:/tmp", "t", "--table is for databases"),
    ],
)
def test_a_source_argument_that_names_no_source(argument, table, expected) -> None:
    with pytest.raises(TargetError, match=expected.replace("(", r"\(")):
        target(argument, table, "shop")


def test_drafts_read_back_as_written_in_yaml_and_toml() -> None:
    awkward = 'a "quoted" \\ back#slash, ünïcode: [x]'
    source = Source.model_validate({"duckdb": {"path": f"/d/{awkward}.duckdb", "table": "t"}})
    columns = [
        SourceColumn("Tenant #1", "VARCHAR", typemap.duckdb("VARCHAR"), False, None),
        SourceColumn("ts", "TIMESTAMP", typemap.duckdb("TIMESTAMP")),
        SourceColumn("big", "DECIMAL(30,12)", typemap.duckdb("DECIMAL(30,12)")),
        SourceColumn("kind", "ENUM", typemap.duckdb("ENUM('a\"b', 'c: d')")),
    ]
    drafted = draft("shop", Target(source, source), columns, ["Tenant #1"], "ts")
    assert drafted.fields["key_columns"] == ["tenant_1"] and drafted.notes
    for text, parse in ((to_yaml(drafted, awkward), yaml.safe_load),
                        (to_toml(drafted, awkward), tomllib.loads)):  # fmt: skip
        assert parse(text) == drafted.fields
        assert "scale 12 is above 9" in text, "the note sits beside its column"
