"""The demo data is the data every profile is shown and benchmarked with: it must match the catalog
exactly, be reproducible, and look like real data (tenants, history, nulls)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tally.catalog import Catalog
from tally.catalog.arrow import arrow_type
from tally.demo.generate import (
    BUILTIN_SHARES,
    generate,
    generate_all,
    split_rows,
)

NOW = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
TOTAL = 60_000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate_all(TOTAL, NOW)


def test_every_builtin_dataset_has_a_generator(catalog: Catalog) -> None:
    assert set(BUILTIN_SHARES) == set(catalog.names())
    assert sum(BUILTIN_SHARES.values()) == pytest.approx(1.0)


def test_same_arguments_give_equal_tables(tables: dict[str, pa.Table]) -> None:
    again = generate_all(TOTAL, NOW)
    for name, table in tables.items():
        assert again[name].equals(table), name


def test_generate_alone_matches_generate_all(tables: dict[str, pa.Table]) -> None:
    rows = split_rows(TOTAL)
    for name in ("agent_events", "agent_metrics", "feedback", "invoices"):
        assert generate(name, rows[name], NOW).equals(tables[name]), name


def test_seed_and_now_change_the_data() -> None:
    base = generate("agent_metrics", 2000, NOW)
    assert not generate("agent_metrics", 2000, NOW, seed=8).equals(base)
    assert not generate("agent_metrics", 2000, NOW + timedelta(days=1)).equals(base)


def test_row_counts_follow_shares(tables: dict[str, pa.Table]) -> None:
    assert sum(t.num_rows for t in tables.values()) == TOTAL
    for name, share in BUILTIN_SHARES.items():
        assert tables[name].num_rows == pytest.approx(TOTAL * share, rel=0.01, abs=2), name
    assert tables["agent_events"].num_rows > tables["agent_metrics"].num_rows


def test_columns_names_order_and_types_follow_the_catalog(
    catalog: Catalog, tables: dict[str, pa.Table]
) -> None:
    for dataset in catalog:
        table = tables[dataset.name]
        assert table.column_names == [c.physical for c in dataset.stored_columns], dataset.name
        for col in dataset.stored_columns:
            assert table.schema.field(col.physical).type == arrow_type(col), col.name
            if not col.nullable:
                assert table.column(col.physical).null_count == 0, (dataset.name, col.name)


def test_key_columns_are_unique(catalog: Catalog, tables: dict[str, pa.Table]) -> None:
    for dataset in catalog:
        table = tables[dataset.name]
        keys = table.group_by(list(dataset.key_columns)).aggregate([])
        assert keys.num_rows == table.num_rows, dataset.name


def test_times_cover_the_last_year_and_stay_before_now(
    catalog: Catalog, tables: dict[str, pa.Table]
) -> None:
    low = NOW - timedelta(days=366)
    for dataset in catalog:
        table = tables[dataset.name]
        for col in dataset.stored_columns:
            if col.type.value != "timestamp" or table.column(col.physical).null_count == len(table):
                continue
            times = table.column(col.physical)
            assert pc.max(times).as_py() < NOW, (dataset.name, col.name)
            assert pc.min(times).as_py() >= low, (dataset.name, col.name)
        if dataset.time_column is None:  # entities (upsert datasets) without a time axis
            continue
        time_col = table.column(dataset.time_column.replace(".", "__"))
        first, last = pc.min(time_col).as_py(), pc.max(time_col).as_py()
        if isinstance(first, datetime):
            assert (last - first).days >= 300, dataset.name
        else:
            assert first >= low.date() and last <= NOW.date(), dataset.name
            assert (last - first).days >= 300, dataset.name


def _null_share(table: pa.Table, column: str) -> float:
    return table.column(column).null_count / table.num_rows


@pytest.mark.parametrize(
    ("dataset", "column"),
    [
        ("agent_events", "catalog_id"),
        ("agent_events", "product_id"),
        ("agent_events", "agent_id"),
        ("agent_events", "amount"),
        ("agent_events", "price"),
        ("agent_metrics", "agent_name"),
        ("agent_metrics", "http_status_code"),
        ("agent_metrics", "conversation_id"),
        ("invoices", "paid_at"),
        ("invoices", "due_date"),
        ("transactions", "category"),
        ("contacts", "company_id"),
        ("documents", "pages"),
        ("feedback", "trigger_ref"),
        ("feedback", "runnable_ref"),
        ("feedback", "ratings"),
    ],
)
def test_nulls_where_real_data_has_them(
    tables: dict[str, pa.Table], dataset: str, column: str
) -> None:
    assert 0 < _null_share(tables[dataset], column) < 1


def test_events_nulls_follow_the_event_type(tables: dict[str, pa.Table]) -> None:
    events = tables["agent_events"]
    purchases = events.filter(pc.equal(events.column("event_type"), "purchase"))
    assert purchases.column("amount").null_count == 0
    assert purchases.column("product_id").null_count == 0
    views = events.filter(pc.equal(events.column("event_type"), "page_view"))
    assert views.column("amount").null_count == views.num_rows
    assert views.column("product_id").null_count == views.num_rows
    assert _null_share(events, "agent_id") > 0.5


def test_tenants_are_skewed(tables: dict[str, pa.Table]) -> None:
    counts = tables["agent_events"].column("workspace_id").value_counts().to_pylist()
    by_ws = {c["values"]: c["counts"] for c in counts}
    assert set(by_ws) == {"ws_acme", "ws_globex", "ws_initech", "ws_umbrella"}
    assert by_ws["ws_acme"] > 2 * by_ws["ws_umbrella"]


def test_records_currencies(tables: dict[str, pa.Table]) -> None:
    inv = tables["invoices"]
    pairs = inv.group_by(["workspace_id", "grand_total__currency"]).aggregate([]).to_pylist()
    acme = {p["grand_total__currency"] for p in pairs if p["workspace_id"] == "ws_acme"}
    globex = {p["grand_total__currency"] for p in pairs if p["workspace_id"] == "ws_globex"}
    assert acme == {"USD", "EUR", "GBP"}
    assert globex == {"EUR"}


def test_contacts_point_at_companies_of_their_workspace(tables: dict[str, pa.Table]) -> None:
    companies = tables["companies"].select(["id", "workspace_id"]).rename_columns(["cid", "cws"])
    contacts = tables["contacts"].filter(pc.is_valid(tables["contacts"].column("company_id")))
    joined = contacts.join(companies, "company_id", "cid")
    assert joined.num_rows == contacts.num_rows
    assert pc.all(pc.equal(joined.column("workspace_id"), joined.column("cws"))).as_py()


def test_feedback_refs_and_ratings(tables: dict[str, pa.Table]) -> None:
    fb = tables["feedback"]
    span_types = pc.extract_regex(fb.column("weave_ref"), r"/call/(?P<t>[a-z_]+)/[0-9a-f]{32}$")
    assert set(pc.struct_field(span_types, "t").to_pylist()) == {
        "agent_turn",
        "agent_conversation",
    }
    ratings = [r for r in fb.column("ratings").to_pylist() if r]
    assert all(0.0 <= v <= 1.0 for r in ratings for k, v in r if k == "_rating_")
    assert any(len(r) > 1 for r in ratings)
    rows = zip(fb.column("scorer_tags").to_pylist(), fb.column("ratings").to_pylist(), strict=True)
    assert any(tags and ratings is None for tags, ratings in rows)


def test_empty_and_unknown() -> None:
    assert generate("feedback", 0, NOW).num_rows == 0
    with pytest.raises(KeyError):
        generate("nope", 10, NOW)


def test_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert generate("documents", 500, naive).equals(generate("documents", 500, NOW))
