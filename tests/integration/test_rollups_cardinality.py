"""The stored size of each exact set, and rollups across tenants.

Each cell's cardinality column must equal `count(DISTINCT field)` over the cell's rows in plain
SQL, through a build, appends (a replay included) and upserts. A query whose groups provably
each cover one cell counts with that column and never reads the sets; a query that breaks any
condition of the proof reads the sets; both answer what the rows answer. A rollup declared
across tenants answers only a caller reading every tenant, testing no tenant column.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.rollups.verify import same
from tally.service import Service
from tally.wiring import build_service
from tests.integration.rollup_support import (
    ADMIN,
    APPEND,
    COLUMNS,
    FIRST,
    NO_COMPACTION,
    TENANTS,
    UPSERT,
    ingest_half_compacted,
    make_rows,
    rollup_rows,
)

ROLLUPS = """
rollups:
  - name: daily
    grain: 24 hours
    dimensions: [kind]
    measures: [{op: count}, {op: count_distinct, field: note}, {op: count_distinct, field: amount}]
  - name: daily_all
    grain: 24 hours
    across_tenants: true
    dimensions: [kind]
    measures: [{op: count}, {op: count_distinct, field: note}, {op: count_distinct, field: amount}]
  - name: hourly
    grain: 1 hour
    dimensions: [kind, region]
    measures: [{op: count}, {op: count_distinct, field: amount}, {op: count_distinct, field: note}]
"""
# rollup -> (grain in seconds, its cell's key columns besides the grain, its sets' fields)
CELLS = {
    "daily": (86_400, ("tenant", "kind"), ("note", "amount")),
    "daily_all": (86_400, ("kind",), ("note", "amount")),
    "hourly": (3_600, ("tenant", "kind", "region"), ("amount", "note")),
}
ONE = Principal(subject="one", role="admin", scopes={"tenant": ("t_a",)})
TWO = Principal(subject="two", role="admin", scopes={"tenant": ("t_a", "t_b")})
EVERY = Principal(subject="every", role="admin", scopes={"tenant": TENANTS})


def _open(root: Path, compacting: bool = True) -> Service:
    datasets = root / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    for head in (APPEND, UPSERT):
        (datasets / f"{head.split()[1]}.yaml").write_text(head + COLUMNS + ROLLUPS)
    quiet = {} if compacting else NO_COMPACTION
    settings = Settings.from_env(data_dir=root / "data", datasets_dir=datasets, **quiet)
    return build_service(settings)


@pytest.fixture
def service(tmp_path: Path) -> Service:
    svc = _open(tmp_path)
    yield svc
    svc.engine.close()


@pytest.fixture(scope="module")
def answering(tmp_path_factory: pytest.TempPathFactory) -> Service:
    """Cells half compacted, half pending: a one-cell count reads the stored cardinality of a
    cell with no pending row, and merges the sets of one with pending rows."""
    svc = _open(tmp_path_factory.mktemp("rollup-cards"), compacting=False)
    ingest_half_compacted(svc, make_rows(random.Random(11), 6000), 1500)
    yield svc
    svc.engine.close()


def _ingest(service: Service, dataset: str, rows: list[dict[str, Any]]) -> Any:
    outcome = service.ingestion.ingest(dataset, rows, ADMIN, partial=False)
    assert not outcome.rejected
    return outcome


def _cards_agree(service: Service, dataset: str) -> None:
    """Every rollup's cardinality columns equal count(DISTINCT) per cell in plain SQL, once
    the pending rows are merged in."""
    service.rollups.compact_all()
    for name, (grain, keys, fields) in CELLS.items():
        quoted = ", ".join(keys)
        cards = ", ".join(f'"_card__{f}"' for f in fields)
        table = f"{dataset}__rollup__{name}"
        _, stored = service.engine.execute(f'SELECT {quoted}, ts, {cards} FROM "{table}"', {}, 30)  # noqa: S608
        distinct = ", ".join(f"count(DISTINCT {f})" for f in fields)
        cell = f"to_timestamp(epoch_us(ts) // {grain * 1_000_000} * {grain})"
        sql = f"SELECT {quoted}, {cell}, {distinct} FROM {dataset} GROUP BY ALL"  # noqa: S608
        _, counted = service.engine.execute(sql, {}, 30)
        width = len(keys) + 1
        assert {r[:width]: r[width:] for r in stored} == {r[:width]: r[width:] for r in counted}
        assert len(stored) == len(counted), name


def _agrees_with_rebuild(service: Service, dataset: str) -> None:
    tables = [f"{dataset}__rollup__{name}" for name in CELLS]
    maintained = {t: rollup_rows(service, t) for t in tables}
    service.rollups.build(dataset)
    assert {t: rollup_rows(service, t) for t in tables} == maintained
    _cards_agree(service, dataset)


def test_cardinalities_follow_appends_replays_and_builds(service: Service) -> None:
    rows = make_rows(random.Random(3), 3000)
    _ingest(service, "rollev", rows[:1200])
    _cards_agree(service, "rollev")
    replay = _ingest(service, "rollev", rows[600:2000])
    assert (replay.accepted, replay.duplicates) == (800, 600)
    _cards_agree(service, "rollev")
    _ingest(service, "rollev", rows[2000:])
    _agrees_with_rebuild(service, "rollev")


def test_cardinalities_follow_upserts(service: Service) -> None:
    rng = random.Random(4)
    rows = make_rows(rng, 2000)
    _ingest(service, "rollstate", rows[:1500])
    moved = [
        {**r, "ts": (FIRST + timedelta(days=rng.randrange(40))).isoformat(), "note": "zz"}
        for r in rows[:400]
    ]
    outcome = _ingest(service, "rollstate", moved + rows[1500:])
    assert (outcome.accepted, outcome.updated) == (500, 400)
    _cards_agree(service, "rollstate")
    _agrees_with_rebuild(service, "rollstate")


def _body(
    start: datetime, end: datetime, groups: list[Any], zone: str = "UTC", **extra: Any
) -> dict[str, Any]:
    return {
        "dataset": "rollev",
        "time": {"start": start.isoformat(), "end": end.isoformat()},
        "timezone": zone,
        "measures": [
            {"op": "count"},
            {"op": "count_distinct", "field": "amount"},
            {"op": "count_distinct", "field": "amount", "as": "big",
             "filter": {"field": "kind", "op": "neq", "value": "buy"}},
            # Exact from a set, as over the rows (three values: HyperLogLog is exact there).
            {"op": "count_distinct", "field": "note", "approx": True},
        ],
        "group_by": groups,
        "limit": 10_000,
        "cache": "no-cache",
        **extra,
    }  # fmt: skip


def _answered(service: Service, body: dict[str, Any], principal: Principal) -> tuple[str, str]:
    """Where the answer came from and its SQL, after checking it equals the rows' answer."""
    query = Query.model_validate(body)
    fast = service.answers.answer(query, principal)
    sql = service.answers.explain(query, principal)["sql"]
    rollups, service.answers.rollups = service.answers.rollups, None
    try:
        slow = service.answers.answer(query, principal)
    finally:
        service.answers.rollups = rollups
    assert fast.rows, body
    assert len(fast.rows) == len(slow.rows)
    for got, want in zip(fast.rows, slow.rows, strict=True):
        assert same(got, want), f"{body}\n{got}\n!=\n{want}"
    assert all(fast.meta["exact"].values()) == (fast.meta["served_from"] != "raw")
    return fast.meta["served_from"], sql


DAYS = (datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 3, 28, tzinfo=UTC))
DAY = {"time": "1 day"}
LONDON = ZoneInfo("Europe/London")  # UTC+0 until 30 March 2025


@pytest.mark.parametrize(
    ("body", "principal", "served_from"),
    [
        (_body(*DAYS, ["kind", DAY]), ONE, "daily"),
        (_body(*DAYS, ["kind", DAY]), ADMIN, "daily_all"),
        (_body(*DAYS, [DAY], filter={"field": "kind", "op": "eq", "value": "view"}), ADMIN,
         "daily_all"),
        (_body(*DAYS, [DAY], filter={"and": [{"field": "kind", "op": "in", "value": ["buy"]},
                                             {"field": "tenant", "op": "eq", "value": "t_b"}]}),
         ADMIN, "daily"),
        (_body(*DAYS, ["kind", DAY], compare={"start": datetime(2025, 3, 3, tzinfo=UTC),
                                               "end": datetime(2025, 3, 20, tzinfo=UTC)}),
         ONE, "daily"),
        (_body(datetime(2025, 3, 3, tzinfo=LONDON), datetime(2025, 3, 29, tzinfo=LONDON),
               ["kind", DAY], "Europe/London"), ONE, "daily"),
        (_body(datetime(2025, 3, 5, 7, tzinfo=UTC), datetime(2025, 3, 6, 9, tzinfo=UTC),
               ["kind", "region", {"time": "1 hour"}], "Asia/Kolkata"), ONE, "hourly"),
    ],
)  # fmt: skip
def test_a_group_of_one_cell_counts_with_the_stored_cardinality(
    answering: Service, body: dict[str, Any], principal: Principal, served_from: str
) -> None:
    served, sql = _answered(answering, body, principal)
    assert served == served_from
    assert '"_card__amount"' in sql
    assert "tally_ids_count" not in sql.lower()


def test_a_compacted_cell_is_counted_without_its_set_and_a_pending_one_with(
    tmp_path: Path,
) -> None:
    """Cells merged in answer from their stored cardinality alone: with every compacted set
    emptied, the one-cell counts still equal the rows'. A cell with pending rows is counted
    from the union of its sets: with its compacted set emptied, that is the distinct values of
    the pending batch alone."""
    service = _open(tmp_path, compacting=False)
    rows = make_rows(random.Random(5), 3000)
    ingest_half_compacted(service, rows[:2000], 1000)
    service.rollups.compact_all()
    table = '"rollev__rollup__daily"'
    service.engine.transaction([(f'UPDATE {table} SET "_ids__amount" = NULL', ())])  # noqa: S608
    body = _body(*DAYS, ["kind", DAY])
    assert _answered(service, body, ONE)[0] == "daily"  # asked (and compiled) once compacted
    _ingest(service, "rollev", rows[2000:])
    pending = 'SELECT count(*) FROM "rollev__rollup__daily__pending"'
    assert service.engine.execute(pending, {}, 30)[1][0][0] > 0
    query = Query.model_validate(body)
    fast = service.answers.answer(query, ONE)
    assert fast.meta["served_from"] == "daily"
    rollups, service.answers.rollups = service.answers.rollups, None
    slow = service.answers.answer(query, ONE)
    service.answers.rollups = rollups
    batch: dict[tuple, set] = {}
    for row in rows[2000:]:
        if row["tenant"] in ONE.scopes["tenant"]:
            day = datetime.fromisoformat(row["ts"]).astimezone(UTC).date()
            amounts = batch.setdefault((row["kind"], day), set())
            amounts.update([row["amount"]] if row["amount"] is not None else [])
    assert len(fast.rows) == len(slow.rows)
    for got, want in zip(fast.rows, slow.rows, strict=True):
        assert got["count"] == want["count"]
        cell = (got["kind"], got["time"].date())
        if cell in batch:
            assert got["count_distinct_amount"] == len(batch[cell]), cell
        else:
            assert same(got, want)
    service.engine.close()


@pytest.mark.parametrize(
    ("body", "principal"),
    [
        # A ragged edge: the rows up to the first whole day join as cells of their own.
        (_body(DAYS[0] + timedelta(hours=3), DAYS[1], ["kind", DAY]), ONE),
        # Two days per bucket.
        (_body(*DAYS, ["kind", {"time": "2 days"}]), ONE),
        # Days of 23 and 25 hours around Berlin's clock changes, on an hourly grain.
        (_body(datetime(2025, 3, 27, tzinfo=ZoneInfo("Europe/Berlin")),
               datetime(2025, 4, 2, tzinfo=ZoneInfo("Europe/Berlin")),
               ["kind", "region", DAY], "Europe/Berlin"), ONE),
        # Kinds not grouped: each day gathers every kind's cell.
        (_body(*DAYS, [DAY]), ONE),
        # Two tenants per group.
        (_body(*DAYS, ["kind", DAY]), TWO),
        # A top n ranks groups over every day.
        (_body(*DAYS, ["kind", DAY], top={"n": 2, "other": True}), ONE),
    ],
)  # fmt: skip
def test_a_group_of_several_cells_counts_the_union_of_their_sets(
    answering: Service, body: dict[str, Any], principal: Principal
) -> None:
    served, sql = _answered(answering, body, principal)
    assert served != "raw"
    assert '"_ids__amount"' in sql
    assert sql.lower().count("tally_ids_count(") == 3  # each distinct count, as a union


@pytest.mark.parametrize(
    ("body", "principal"),
    [
        (_body(*DAYS, ["kind", DAY]), ONE),
        (_body(*DAYS, ["kind", DAY]), TWO),
        (_body(*DAYS, ["kind", DAY]), EVERY),  # every tenant, but listed
        (_body(*DAYS, ["kind", DAY], filter={"field": "tenant", "op": "neq", "value": "t_c"}),
         ADMIN),
        (_body(*DAYS, ["tenant", DAY]), ADMIN),
    ],
)  # fmt: skip
def test_a_rollup_across_tenants_answers_only_for_every_tenant(
    answering: Service, body: dict[str, Any], principal: Principal
) -> None:
    served, _ = _answered(answering, body, principal)
    assert served == "daily"
