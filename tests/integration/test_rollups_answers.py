"""Random queries answered with rollups equal the answers from the rows, and say which was used.

Filters on rollup and other fields at random depths, groups, buckets from 7 minutes to a month,
timezones with DST changes inside the data and :30/:45 offsets, windows with aligned and ragged
edges, scopes of one tenant or all. The answer from the rows is the same service with its
rollups switched off: the compiler every other test checks against plain SQL and Python.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tally.auth.principal import Principal
from tally.query.model import Query
from tally.query.scope import Scope
from tally.rollups.match import read_fields
from tally.rollups.verify import same
from tally.service import Service
from tests.integration.rollup_support import (
    ADMIN,
    CHANNEL_VALUES,
    FIRST,
    KINDS,
    NOTES,
    REGIONS,
    TENANTS,
    ingest_half_compacted,
    make_rows,
    open_service,
)

ZONES = (
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "America/St_Johns",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
)
FINE_BUCKETS = ("15 minutes", "30 minutes", "45 minutes", "7 minutes", "1 hour", "2 hours")
COARSE_BUCKETS = ("1 day", "2 days", "1 week", "1 month")
MEASURES: tuple[dict[str, Any], ...] = (
    {"op": "count"},
    {"op": "count", "field": "amount"},
    {"op": "sum", "field": "amount"},
    {"op": "avg", "field": "amount"},
    {"op": "min", "field": "amount"},
    {"op": "max", "field": "amount"},
    {"op": "sum", "field": "score"},
    {"op": "avg", "field": "score"},
    {"op": "min", "field": "score"},
    {"op": "max", "field": "score"},
    {"op": "count_distinct", "field": "note"},
    {"op": "count_distinct", "field": "amount"},
    {"op": "count_distinct", "field": "score"},
    {"op": "count_distinct", "field": "region"},
    # An approximate count a rollup's exact set answers exactly (a few values: DuckDB's
    # HyperLogLog over the rows is exact too).
    {"op": "count_distinct", "field": "note", "approx": True, "as": "notes_approx"},
)
RAW_ONLY: tuple[dict[str, Any], ...] = (
    {"op": "count_distinct", "field": "kind"},
    {"op": "p90", "field": "amount"},
    {
        "op": "sum",
        "field": "amount",
        "as": "noted",
        "filter": {"field": "note", "op": "eq", "value": "x"},
    },
)
# Per state of the rollups (half compacted, compacted): each runs them all.
QUERIES = 250
FIELDS = ("kind", "kind", "region", "region", "tenant", "note", "amount")
FIELDS += ("meta.channel", "meta.channel", "meta.plan")
GROUPS = {"kind": 0.4, "region": 0.4, "meta.channel": 0.4, "note": 0.1}
# The dimensions of the `channels` rollup only, so that many such queries fit it.
CHANNEL_FIELDS = ("kind", "tenant", "meta.channel", "meta.channel")
CHANNEL_GROUPS = {"kind": 0.4, "meta.channel": 0.6}
CHANNEL_QUERIES = 120
# The dimension of the `regions_all` rollup (across tenants) only.
REGION_FIELDS = ("region",)
REGION_GROUPS = {"region": 0.6}
REGION_QUERIES = 80


@pytest.fixture(scope="module", params=["half compacted", "compacted"])
def service(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Service:
    """Rollups whose cells are half compacted and half pending (queries read both), or all
    compacted."""
    svc = open_service(tmp_path_factory.mktemp("rollup-answers"), compacting=False)
    ingest_half_compacted(svc, make_rows(random.Random(7), 6000), 1000)
    if request.param == "compacted":
        svc.rollups.compact_all()
    yield svc
    svc.engine.close()


def _channel_leaf(rng: random.Random) -> dict[str, Any]:
    """A test of the JSON key `meta.channel` with any operator a query may apply to it: text
    and number values, numeric and text comparisons, text matches, missing or null."""
    op = rng.choice(
        ("eq", "neq", "in", "nin", "gt", "lte", "between", "contains", "starts_with")
        + ("ends_with", "like", "regex", "is_null", "not_null")
    )
    # A list mixing text and numbers is left out: over the rows too, the engine cannot run it
    # (it compares the text as a number).
    texts = rng.random() < 0.5
    alike = [v for v in CHANNEL_VALUES if isinstance(v, str) == texts]
    value: Any = {
        "in": rng.sample(alike, 2),
        "nin": rng.sample(alike, 1),
        "between": rng.choice(([-20, 3], [2.5, 5], ["5", "web"])),
        "gt": rng.choice((0, 2.5, "W", "5")),
        "lte": rng.choice((5, -12, "web")),
        "contains": rng.choice(("we", "5", " ", "eb")),
        "starts_with": rng.choice(("w", "W", "5", "2.")),
        "ends_with": rng.choice(("b", "shop", ".5")),
        "like": rng.choice(("w%", "_", "%5%")),
        "regex": rng.choice(("^w", "^-?[0-9]+$", "^$")),
        "is_null": None,
        "not_null": None,
    }.get(op, rng.choice(CHANNEL_VALUES))
    leaf: dict[str, Any] = {"field": "meta.channel", "op": op}
    if value is not None:
        leaf["value"] = value
    return leaf


def _leaf(rng: random.Random, fields: tuple[str, ...]) -> dict[str, Any]:
    field = rng.choice(fields)
    if field == "meta.channel":
        return _channel_leaf(rng)
    if field == "meta.plan":
        return {"field": field, "op": "eq", "value": "pro"}
    if field == "amount":
        op = rng.choice(("gt", "lte", "between", "is_null", "in"))
        value = {"between": [100, 600], "in": [5, 7, 900], "is_null": None}.get(op, 300)
    else:
        values = {"kind": KINDS, "region": REGIONS, "tenant": TENANTS, "note": NOTES}[field]
        present = [v for v in values if v is not None]
        op = rng.choice(("eq", "neq", "in", "nin", "is_null", "not_null", "contains", "gt"))
        value = {
            "in": rng.sample(present, 2),
            "nin": rng.sample(present, 1),
            "is_null": None,
            "not_null": None,
            "contains": rng.choice(present)[:2],
        }.get(op, rng.choice(present))
    leaf: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        leaf["value"] = value
    return leaf


def _filter(rng: random.Random, fields: tuple[str, ...], depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth >= 3 or roll < 0.5:
        return _leaf(rng, fields)
    if roll < 0.6:
        return {"not": _filter(rng, fields, depth + 1)}
    children = [_filter(rng, fields, depth + 1) for _ in range(rng.randint(1, 3))]
    return {"and" if roll < 0.8 else "or": children}


def _edge(rng: random.Random, instant: datetime) -> datetime:
    """Aligned on a quarter hour, on the hour, or anywhere."""
    kind = rng.choice(("as_is", "quarter", "ragged"))
    if kind == "quarter":
        return instant + timedelta(minutes=15 * rng.randrange(96))
    if kind == "ragged":
        return instant + timedelta(seconds=rng.randrange(86_400), microseconds=7)
    return instant


def random_query(
    rng: random.Random, fields: tuple[str, ...] = FIELDS, groups_by: dict[str, float] = GROUPS
) -> dict[str, Any]:
    """A query filtering on `fields` (drawn with repeats as weights) and grouping by each of
    `groups_by` with its probability."""
    tz = rng.choice(ZONES)
    bucket = rng.choice((None, None, *FINE_BUCKETS, *COARSE_BUCKETS, *COARSE_BUCKETS))
    days = rng.randint(1, 2) if bucket in FINE_BUCKETS else rng.randint(3, 36)
    first_day = (FIRST + timedelta(days=rng.randrange(40 - days))).date()
    midnight = datetime.combine(first_day, datetime.min.time(), ZoneInfo(tz))
    start = _edge(rng, midnight)
    end = _edge(rng, midnight + timedelta(days=days))
    measures = rng.sample(MEASURES, rng.randint(1, 3))
    if rng.random() < 0.15:
        measures.append(rng.choice(RAW_ONLY))
    if rng.random() < 0.15:
        filtered = dict(rng.choice(MEASURES))
        filtered["filter"] = _filter(rng, fields, 2)
        measures.append({**filtered, "as": "filtered"})
    groups: list[Any] = [g for g, chance in groups_by.items() if rng.random() < chance]
    if bucket is not None:
        groups.append({"time": bucket})
    query: dict[str, Any] = {
        "dataset": "rollev",
        "time": {"start": start.isoformat(), "end": end.isoformat()},
        "timezone": tz,
        "measures": measures,
        "group_by": groups,
        "limit": 10_000,
        "cache": "no-cache",
    }
    if rng.random() < 0.6:
        query["filter"] = _filter(rng, fields)
    if rng.random() < 0.1 and end - start < timedelta(days=20):
        query["compare"] = "previous_period"
    if rng.random() < 0.1 and bucket is not None:
        query["fill"] = "zero"
    if rng.random() < 0.1:
        query["having"] = {"field": _label(measures[0]), "op": "not_null"}
    field_groups = [g for g in groups if isinstance(g, str)]
    if field_groups and measures[0] == {"op": "count"} and rng.random() < 0.5:
        # Ranked by an exact count, so equal answers rank alike.
        query["top"] = {"n": 2, "other": rng.random() < 0.5}
    return query


def _label(measure: dict[str, Any]) -> str:
    if "as" in measure:
        return measure["as"]
    return "count" if "field" not in measure else f"{measure['op']}_{measure['field']}"


def _principal(rng: random.Random) -> Principal:
    if rng.random() < 0.5:
        return ADMIN
    tenants = tuple(rng.sample(TENANTS, rng.randint(1, 2)))
    return Principal(subject="viewer", role="viewer", scopes={"tenant": tenants})


def _compare(
    service: Service, rng: random.Random, count: int, make: Callable[[], dict[str, Any]]
) -> Counter[str]:
    """Ask `count` queries with rollups and from the rows, assert equal answers, and count
    where they were served from (`with_distinct`: from rollups with exact distinct counts;
    `channel`, `channel_served`: reading meta.channel, and of those from rollups)."""
    served: Counter[str] = Counter()
    rollups = service.answers.rollups
    dataset = rollups.catalog.require("rollev")
    across = {lay.label for lay in rollups.layouts(dataset) if lay.rollup.across_tenants}
    try:
        for n in range(count):
            body = make()
            principal = _principal(rng)
            query = Query.model_validate(body)
            service.answers.rollups = rollups
            fast = service.answers.answer(query, principal)
            service.answers.rollups = None
            slow = service.answers.answer(query, principal)
            assert slow.meta["served_from"] == "raw"
            served[fast.meta["served_from"]] += 1
            # A rollup across tenants answers callers of every tenant only.
            assert fast.meta["served_from"] not in across or principal.all_tenants
            reads_channel = "meta.channel" in read_fields(query, Scope.everything())
            served["channel"] += reads_channel
            if fast.meta["served_from"] != "raw":
                served["channel_served"] += reads_channel
                distinct = [m for m in body["measures"] if m["op"] == "count_distinct"]
                served["with_distinct"] += bool(distinct)
                assert all(fast.meta["exact"].values())
            context = f"query {n}: {body} served from {fast.meta['served_from']}"
            assert len(fast.rows) == len(slow.rows), context
            for got, want in zip(fast.rows, slow.rows, strict=True):
                assert same(got, want), f"{context}\n{got}\n!=\n{want}"
    finally:
        service.answers.rollups = rollups
    return served


def test_answers_from_rollups_equal_answers_from_rows(service: Service) -> None:
    rng = random.Random(20261202)
    served = _compare(service, rng, QUERIES, lambda: random_query(rng))
    from_rollups = QUERIES - served["raw"]
    print(f"\n{from_rollups} of {QUERIES} random queries answered from rollups: {dict(served)}")
    assert from_rollups >= QUERIES // 5
    assert served["with_distinct"] >= QUERIES // 20
    assert served["fine"] and served["hourly"] and served["channels"]
    assert served["raw"] >= QUERIES // 5


def test_answers_by_a_json_key_from_rollups_equal_answers_from_rows(service: Service) -> None:
    """Queries grouping and filtering by `meta.channel` (missing, null, text, numbers, with
    every operator a query may apply to a JSON key) and the other `channels` dimensions."""
    rng = random.Random(20261203)

    def make() -> dict[str, Any]:
        return random_query(rng, CHANNEL_FIELDS, CHANNEL_GROUPS)

    served = _compare(service, rng, CHANNEL_QUERIES, make)
    print(f"\n{served['channel_served']} of {served['channel']} queries reading meta.channel")
    print(f"answered from rollups: {dict(served)}")
    # About one in five: the others read an hour's part (the rollup's grain), or measure what
    # it does not keep.
    assert served["channels"] >= CHANNEL_QUERIES // 8
    assert served["channel_served"] >= CHANNEL_QUERIES // 8


def test_answers_from_a_rollup_across_tenants_equal_answers_from_rows(service: Service) -> None:
    """Queries reading `region` only: over every tenant `regions_all` (cells of every tenant)
    answers many; a caller restricted to tenants is answered by another rollup or the rows."""
    rng = random.Random(20261204)
    served = _compare(
        service, rng, REGION_QUERIES, lambda: random_query(rng, REGION_FIELDS, REGION_GROUPS)
    )
    print(f"\nanswered from rollups: {dict(served)}")
    assert served["regions_all"] >= REGION_QUERIES // 8
    assert served["fine"] + served["hourly"] >= REGION_QUERIES // 20


@pytest.mark.parametrize(
    ("zone", "bucket", "grain_fits"),
    [
        ("Asia/Kathmandu", "1 day", {"fine"}),  # days start at 18:15 UTC: quarter hours only
        ("Asia/Kolkata", "1 day", {"fine"}),  # 18:30 UTC
        ("America/St_Johns", "1 week", {"fine"}),  # 03:30 UTC, 02:30 after 9 March
        ("Europe/Berlin", "1 day", {"fine", "hourly"}),
        ("UTC", "1 month", {"fine", "hourly"}),
    ],
)
def test_the_smallest_fitting_rollup_answers(
    service: Service, zone: str, bucket: str, grain_fits: set[str]
) -> None:
    """Every fitting rollup gives the same answer; the one with fewer rows is chosen."""
    tz = ZoneInfo(zone)
    body = {
        "dataset": "rollev",
        "time": {
            "start": datetime(2025, 3, 3, tzinfo=tz).isoformat(),
            "end": datetime(2025, 4, 7, tzinfo=tz).isoformat(),
        },
        "timezone": zone,
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
        "group_by": ["kind", {"time": bucket}],
        "cache": "no-cache",
    }
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    expected = "hourly" if "hourly" in grain_fits else "fine"
    assert result.meta["served_from"] == expected


def test_an_exact_set_answers_an_approximate_count_exactly(service: Service) -> None:
    """`approx` allows a sketch; a rollup's exact set gives the exact count, with bound 0, equal
    to count(DISTINCT) in plain SQL over the same rows."""
    start, end = datetime(2025, 3, 4, tzinfo=ZoneInfo("UTC")), datetime(2025, 3, 9, 5, 7, 3)
    end = end.replace(tzinfo=ZoneInfo("UTC"))
    body = {
        "dataset": "rollev",
        "time": {"start": start.isoformat(), "end": end.isoformat()},
        "measures": [{"op": "count_distinct", "field": "amount", "approx": True}],
        "group_by": ["kind"],
        "cache": "no-cache",
    }
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    assert result.meta["served_from"] == "fine"
    assert result.meta["exact"] == {"count_distinct_amount": True}
    bound = {"method": "exact", "relative_error": 0.0, "confidence": 1.0}
    assert result.meta["error"] == {"count_distinct_amount": bound}
    sql = (
        "SELECT kind, count(DISTINCT amount) FROM rollev WHERE ts >= $start AND ts < $end "
        "GROUP BY kind"
    )
    _, rows = service.engine.execute(sql, {"start": start, "end": end}, 30)
    assert {r["kind"]: r["count_distinct_amount"] for r in result.rows} == dict(rows)
