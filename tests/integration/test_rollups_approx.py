"""Approximate answers from a rollup's sketches stay within the bounds their `meta.error` states,
on generated data big enough for the sketches to estimate (thousands of distinct values and
rows per answer), checked against exact values computed in Python from the same rows."""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tally.config import Settings
from tally.query.model import Query
from tally.rollups.verify import Answer, verify
from tally.service import Service
from tally.service.rollup_checks import verify_rollups
from tally.sql.compiled import EXACT_BOUND
from tally.wiring import build_service
from tests.integration.rollup_support import ADMIN, APPEND, COLUMNS

DATASET = (
    APPEND.replace("rollev", "visits")
    + COLUMNS
    + """  - {name: visitor, type: string}
  - {name: latency, type: float}
rollups:
  - name: sketched
    grain: 1 hour
    dimensions: [kind]
    measures:
      - {op: count}
      - {op: count_distinct, field: visitor, approx: true}
      - {op: percentile, field: latency, approx: true}
      - {op: sum, field: latency}
      - {op: min, field: latency}
      - {op: max, field: latency}
"""
)
FIRST = datetime(2025, 5, 1, tzinfo=UTC)
DAYS = 6
ROWS = 120_000
KINDS = ("a", "b", "c")
QS = (0.5, 0.9, 0.99)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Service, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("rollup-approx")
    (root / "datasets").mkdir()
    (root / "datasets" / "visits.yaml").write_text(DATASET)
    service = build_service(
        Settings.from_env(data_dir=root / "data", datasets_dir=root / "datasets")
    )
    rng = random.Random(11)
    rows = [
        {
            "tenant": rng.choice(("t1", "t2")),
            "id": f"v{i}",
            "ts": (FIRST + timedelta(seconds=rng.randrange(DAYS * 86_400))).isoformat(),
            "kind": rng.choice(KINDS),
            "visitor": None if rng.random() < 0.05 else f"u{rng.randrange(40_000)}",
            "latency": None if rng.random() < 0.05 else round(rng.expovariate(1 / 120), 2),
        }
        for i in range(ROWS)
    ]
    for start in range(0, ROWS, 30_000):
        batch = rows[start : start + 30_000]
        assert not service.ingestion.ingest("visits", batch, ADMIN, partial=False).rejected
    yield service, rows
    service.engine.close()


def _ask(service: Service, end: datetime, bucket: bool) -> Any:
    body: dict[str, Any] = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": end.isoformat()},
        "measures": [
            {"op": "count_distinct", "field": "visitor", "approx": True},
            *({"op": "percentile", "field": "latency", "q": q, "approx": True} for q in QS),
        ],
        "group_by": ["kind", *([{"time": "1 day"}] if bucket else [])],
        "cache": "no-cache",
    }
    return service.answers.answer(Query.model_validate(body), ADMIN)


def _groups(rows: list[dict[str, Any]], end: datetime, bucket: bool) -> dict[tuple, list]:
    found: dict[tuple, list] = defaultdict(list)
    for row in rows:
        ts = datetime.fromisoformat(row["ts"])
        if ts < end:
            day = ts.replace(hour=0, minute=0, second=0) if bucket else None
            found[(row["kind"], day)].append(row)
    return found


@pytest.mark.parametrize(
    ("end", "bucket"),
    [
        (FIRST + timedelta(days=DAYS), True),
        (FIRST + timedelta(days=DAYS), False),
        # A ragged end: the last rows come from the table, each as a sketch of its own.
        (FIRST + timedelta(days=DAYS - 1, hours=7, minutes=13), False),
    ],
)
def test_approximate_answers_stay_within_their_stated_bounds(
    loaded: tuple[Service, list[dict[str, Any]]], end: datetime, bucket: bool
) -> None:
    service, rows = loaded
    result = _ask(service, end, bucket)
    assert result.meta["served_from"] == "sketched"
    error = result.meta["error"]
    distinct_bound = error["count_distinct_visitor"]
    assert distinct_bound["method"] == "hll" and 0 < distinct_bound["relative_error"] < 0.05
    rank_bound = error["p50_latency"]
    assert rank_bound["method"] == "kll" and 0 < rank_bound["rank_error"] < 0.05
    assert not any(result.meta["exact"].values())

    expected = _groups(rows, end, bucket)
    assert len(result.rows) == len(expected)
    within, checked = 0, 0
    for answer in result.rows:
        day = answer["time"] if bucket else None
        members = expected[(answer["kind"], day)]
        visitors = len({r["visitor"] for r in members if r["visitor"] is not None})
        assert visitors > 3_000  # HyperLogLog estimates here; it is exact below a few hundred
        off = abs(answer["count_distinct_visitor"] - visitors) / visitors
        checks = [off <= distinct_bound["relative_error"]]
        assert off <= 2 * distinct_bound["relative_error"], (answer, visitors)
        latencies = sorted(r["latency"] for r in members if r["latency"] is not None)
        for q in QS:
            value = answer[f"p{round(q * 100)}_latency"]
            # The value's rank among the rows: any share between those below it and those up
            # to it; the bound holds when that range comes within rank_error of q.
            low = bisect.bisect_left(latencies, value) / len(latencies)
            high = bisect.bisect_right(latencies, value) / len(latencies)
            distance = max(low - q, q - high, 0.0)
            checks.append(distance <= rank_bound["rank_error"])
            assert distance <= 2 * rank_bound["rank_error"], (answer, q, low, high)
        within += sum(checks)
        checked += len(checks)
    # Each bound holds for one value at its confidence (95.4 %, 99 %): nearly all hold.
    print(f"\n{within} of {checked} values within their bound")
    assert within >= 0.9 * checked, (within, checked)


def test_an_exact_count_is_never_taken_from_a_sketch(
    loaded: tuple[Service, list[dict[str, Any]]],
) -> None:
    """No rollup keeps an exact set of visitors here: an exact count comes from the rows."""
    service, _ = loaded
    body = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": (FIRST + timedelta(days=1)).isoformat()},
        "measures": [{"op": "count_distinct", "field": "visitor"}],
        "cache": "no-cache",
    }
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    assert result.meta["served_from"] == "raw"
    assert result.meta["exact"] == {"count_distinct_visitor": True}
    assert "error" not in result.meta


def _both_ways(service: Service) -> tuple[Answer, Answer]:
    """Answering with the service's rollups, and from the rows (its rollups switched off)."""
    rollups = service.answers.rollups

    def raw(query: Query) -> Any:
        service.answers.rollups = None
        try:
            return service.answers.answer(query, ADMIN)
        finally:
            service.answers.rollups = rollups

    def fast(query: Query) -> Any:
        return service.answers.answer(query, ADMIN)

    return fast, raw


def test_verify_compares_the_exact_measures_of_an_approximate_answer(
    loaded: tuple[Service, list[dict[str, Any]]],
) -> None:
    """A sketch's value differs from the engine's approximation by design: verify compares the
    exact measures beside it and leaves the approximate ones to their bounds."""
    service, _ = loaded
    body = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": (FIRST + timedelta(days=3)).isoformat()},
        "measures": [{"op": "count"}, {"op": "p90", "field": "latency", "approx": True}],
        "group_by": ["kind"],
        "compare": "previous_period",
    }
    fast, raw = _both_ways(service)

    report = verify([("visits", body)], fast, raw)
    assert report.served_from == {"sketched": 1} and report.differences == []

    def off_by_one(query: Query) -> Any:
        found = fast(query)
        found.rows[0]["count"] += 1
        return found

    assert len(verify([("visits", body)], off_by_one, raw).differences) == 1


ESTIMATES = [
    ({"op": "count_distinct", "field": "visitor", "approx": True}, "count_distinct_visitor", "hll"),
    ({"op": "p90", "field": "latency", "approx": True}, "p90_latency", "kll"),
    ({"op": "percentile", "field": "latency", "q": 0.25, "approx": True}, "p25_latency", "kll"),
]
DAY = timedelta(days=1)
# (window, more of the question, whether a value a third off must be found): a few rows per
# group (in the 90 seconds of the last hour's bucket) leave a percentile only its group's
# range to be checked in.
SHAPES = {
    "by kind": ((FIRST, FIRST + 3 * DAY), {}, True),
    "compared": ((FIRST + 3 * DAY, FIRST + 6 * DAY), {"compare": "previous_period"}, True),
    "top 2 by it": ((FIRST, FIRST + 3 * DAY), {"top": {"n": 2}}, True),
    "few rows": (
        (FIRST + DAY, FIRST + DAY + timedelta(hours=1, seconds=90)),
        {"group_by": ["kind", {"time": "1 hour"}]},
        False,
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize(("measure", "label", "method"), ESTIMATES, ids=["hll", "kll p90", "kll q"])
def test_verify_checks_each_estimate_against_the_exact_value(
    loaded: tuple[Service, list[dict[str, Any]]], measure: dict, label: str, method: str, shape: str
) -> None:
    """An estimate within its bound passes, over few rows or many, compared with another
    window, or deciding which groups are answered; one a broken sketch gave (a value a third
    off, or none) is a difference."""
    service, _ = loaded
    (start, end), more, far_is_found = SHAPES[shape]
    body = {
        "dataset": "visits",
        "time": {"start": start.isoformat(), "end": end.isoformat()},
        "measures": [measure, {"op": "count"}],
        "group_by": ["kind"],
        **more,
    }
    fast, raw = _both_ways(service)
    report = verify([("visits", body)], fast, raw)
    assert report.served_from == {"sketched": 1} and report.estimates == 1
    assert report.differences == []
    broken = {
        "none": lambda v: None,
        **({"a third off": lambda v: v * 4 / 3} if far_is_found else {}),
    }
    for change in broken.values():

        def off(query: Query, change: Any = change) -> Any:
            found = fast(query)
            found.rows[0][label] = change(found.rows[0][label])
            return found

        (difference,) = verify([("visits", body)], off, raw).differences
        assert f"{label} " in difference.detail and method in difference.detail


APPROXIMABLE = ("count_distinct_visitor", "p50_latency")


@pytest.mark.parametrize("rollups", [True, False], ids=["from the rollup", "from the rows"])
def test_only_estimated_values_are_labelled_approximate(
    loaded: tuple[Service, list[dict[str, Any]]], rollups: bool
) -> None:
    """`approx` on a count, sum, average, minimum or maximum changes nothing: the value is
    computed exactly from a rollup's aggregates or the rows, and says so (exact, and the exact
    bound). A distinct count and a percentile are estimated by the sketches, or by DuckDB's own
    approximate functions over the rows, and say that."""
    service, rows = loaded
    end = FIRST + timedelta(days=2)
    exactly = [
        {"op": op, "field": "latency", "approx": True} for op in ("sum", "avg", "min", "max")
    ]
    body = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": end.isoformat()},
        "measures": [
            {"op": "count", "approx": True},
            *exactly,
            {"op": "count_distinct", "field": "visitor", "approx": True},
            {"op": "p50", "field": "latency", "approx": True},
        ],
        "group_by": ["kind"],
        "cache": "no-cache",
    }
    kept = service.answers.rollups
    if not rollups:
        service.answers.rollups = None
    try:
        result = service.answers.answer(Query.model_validate(body), ADMIN)
    finally:
        service.answers.rollups = kept
    assert result.meta["served_from"] == ("sketched" if rollups else "raw")
    estimated = {"hll", "kll"} if rollups else {"engine"}
    for label, exact in result.meta["exact"].items():
        method = result.meta["error"][label]["method"]
        assert exact == (label not in APPROXIMABLE), label
        assert (method in estimated) == (label in APPROXIMABLE), (label, method)
        if exact:
            assert result.meta["error"][label] == EXACT_BOUND
    counts = defaultdict(int)
    for row in rows:
        if datetime.fromisoformat(row["ts"]) < end:
            counts[row["kind"]] += 1
    assert {r["kind"]: r["count"] for r in result.rows} == counts


def test_verify_asks_recorded_shapes_of_estimates_again_as_estimates(
    loaded: tuple[Service, list[dict[str, Any]]],
) -> None:
    """The query log keeps a shape's `approx` and percentile `q` (never a value): asked again,
    the shape is served by the sketches as it was, and each estimate is checked."""
    service, _ = loaded
    body = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": (FIRST + timedelta(days=2)).isoformat()},
        "measures": [
            {"op": "count_distinct", "field": "visitor", "approx": True},
            {"op": "percentile", "field": "latency", "q": 0.75, "approx": True},
        ],
        "group_by": ["kind"],
    }
    assert (
        service.answers.answer(Query.model_validate(body), ADMIN).meta["served_from"] == "sketched"
    )
    verified = verify_rollups(service, ["visits"], 50)
    assert verified.questions.source == "shapes"
    report = verified.report
    assert report.unanswered == [] and report.differences == []
    assert report.served_from["sketched"] >= 1 and report.estimates >= 2


def test_verify_checks_what_fits_and_every_group_the_default_limit_cut(tmp_path: Path) -> None:
    """Asked of the rows, the exact twin holds every group (a question ranked by an estimate
    is cut at the default limit by it), no more measures than a query may hold (each percentile
    estimate adds five), and no label of the question's own: an estimate with no room or no
    free label is left unchecked, never a question refused."""
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "visits.yaml").write_text(DATASET)
    settings = Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets", default_limit=50
    )
    service = build_service(settings)
    rng = random.Random(12)
    rows = [
        {
            "tenant": "t1",
            "id": f"v{i}",
            "ts": (FIRST - DAY + timedelta(seconds=rng.randrange(2 * 86_400))).isoformat(),
            "kind": f"k{rng.randrange(200)}",
            "visitor": f"u{rng.randrange(3_000)}",
            "latency": round(rng.expovariate(1 / 120), 2),
        }
        for i in range(6_000)
    ]
    try:
        assert not service.ingestion.ingest("visits", rows, ADMIN, partial=False).rejected
        fast, raw = _both_ways(service)
        window = {"start": FIRST.isoformat(), "end": (FIRST + DAY).isoformat()}
        distinct = {"op": "count_distinct", "field": "visitor", "approx": True}
        ranked = {"dataset": "visits", "time": window, "measures": [distinct], "group_by": ["kind"]}
        quantiles = [
            {"op": "percentile", "field": "latency", "q": q / 10, "approx": True}
            for q in range(1, 8)
        ]
        crowded = {**ranked, "measures": quantiles}
        named = {"op": "max", "field": "latency", "as": "p50_latency__max"}
        clashing = {
            **ranked,
            "measures": [{"op": "p50", "field": "latency", "approx": True}, named],
        }
        # Compared with the day before, cut at its own 50 groups ranked by the estimate: the
        # compared window's values are not the twin's (cut at another limit), so not checked.
        compared = {**ranked, "compare": "previous_period"}
        report = verify(
            [("visits", ranked), ("visits", crowded), ("visits", clashing), ("visits", compared)],
            fast,
            raw,
            settings.limits,
        )
        assert report.unanswered == [] and report.differences == []
        assert report.served_from == {"sketched": 4}
        # 1 distinct count; 5 of 7 percentiles (7 + 5 x 5 = 32 measures); the clashing one none;
        # 1 distinct count in its window.
        assert report.estimates == 1 + 5 + 1
    finally:
        service.engine.close()


def test_verify_finds_a_group_missing_from_an_approximate_answer(
    loaded: tuple[Service, list[dict[str, Any]]],
) -> None:
    """Rows of an approximate answer are matched by group; one that should hold every group
    (no top, having or offset, under its limit) and misses one is a difference."""
    service, _ = loaded
    fast, raw = _both_ways(service)
    body = {
        "dataset": "visits",
        "time": {"start": FIRST.isoformat(), "end": (FIRST + DAY).isoformat()},
        "measures": [{"op": "count_distinct", "field": "visitor", "approx": True}],
        "group_by": ["kind"],
    }

    def missing(query: Query) -> Any:
        found = fast(query)
        found.rows.pop()
        return found

    assert verify([("visits", body)], fast, raw).differences == []
    (difference,) = verify([("visits", body)], missing, raw).differences
    assert (
        difference.detail == f"{len(KINDS) - 1} groups from the rollup, {len(KINDS)} from the rows"
    )
