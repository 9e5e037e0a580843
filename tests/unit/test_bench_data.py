"""The benchmark's event table has the shape the benchmark issue asks for, and is the same
table on every run (the figures of two runs must be about the same rows)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.data import END, START, chunks, generate, generate_chunk, share_of_year

ROWS = 50_000


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(ROWS).to_pylist()


def test_the_table_is_deterministic() -> None:
    assert generate(2_000).equals(generate(2_000))
    assert not generate(2_000).equals(generate(2_000, seed=7))


def test_tenants_are_about_twenty_and_skewed(rows: list[dict]) -> None:
    tenants = Counter(r["tenant_id"] for r in rows)
    assert 18 <= len(tenants) <= 20
    counts = sorted(tenants.values(), reverse=True)
    assert counts[0] > 5 * counts[-1]


def test_thirty_event_types_zipf_like(rows: list[dict]) -> None:
    types = Counter(r["event_type"] for r in rows)
    assert len(types) == 30
    ranked = [n for _, n in types.most_common()]
    assert ranked[0] > 2 * ranked[4] > 2 * ranked[-1]


def test_a_year_of_timestamps(rows: list[dict]) -> None:
    stamps = [r["ts"] for r in rows]
    assert max(stamps) - min(stamps) > timedelta(days=360)
    assert max(stamps) <= datetime(2026, 11, 1, tzinfo=UTC)


def test_cardinalities_scale_with_the_rows(rows: list[dict]) -> None:
    sessions = len({r["session_id"] for r in rows})
    customers = len({r["customer_id"] for r in rows})
    # ~2M sessions and ~500k customers at 10M rows: one per 5 and per 20 rows
    assert ROWS / 5 * 0.8 <= sessions <= ROWS / 5 * 1.05
    assert ROWS / 20 * 0.8 <= customers <= ROWS / 20 * 1.05
    assert len({r["product_id"] for r in rows}) > 9_000


def test_agents_tags_ratings_and_metadata(rows: list[dict]) -> None:
    agents = [r["agent_name"] for r in rows]
    assert len({a for a in agents if a is not None}) == 50
    assert 0.04 <= agents.count(None) / ROWS <= 0.06
    assert {len(r["tags"]) for r in rows} == {0, 1, 2, 3}
    assert all(0 <= r["rating"] <= 1 for r in rows)
    durations = sorted(r["duration_ms"] for r in rows)
    assert durations[int(ROWS * 0.99)] > 5 * durations[ROWS // 2], "heavy tail"
    amounts = [r["amount"] for r in rows if r["amount"] is not None]
    assert 0.2 * ROWS < len(amounts) < ROWS and min(amounts) > 0
    assert all(r["price"] is None or r["price"] > 0 for r in rows)
    assert {tuple(sorted(json.loads(r["metadata"]))) for r in rows} == {
        ("channel", "country", "plan")
    }


def test_chunks_make_one_table_of_the_total() -> None:
    """Chunks in order: ids unique across them, timestamps in each chunk's share of the year
    (the chunks are the events as they arrived), sessions drawn over the total's range, and each
    chunk the same whichever chunks were made before it."""
    total, size = 40_000, 10_000
    parts = list(chunks(total, size))
    assert [p.num_rows for p in parts] == [size] * 4
    ids = [i for p in parts for i in p.column("event_id").to_pylist()]
    assert len(set(ids)) == total
    for k, part in enumerate(parts):
        first, last = share_of_year(total, k * size, size)
        stamps = part.column("ts").to_pylist()
        assert first <= min(stamps) and max(stamps) < last
        assert last - first == (END - START) / 4
    sessions = {s for p in parts for s in p.column("session_id").to_pylist()}
    assert max(int(s[2:]) for s in sessions) > total // 5 * 0.99
    assert generate_chunk(total, 2 * size, size).equals(parts[2])


def test_a_chunk_can_cover_a_period_of_its_own() -> None:
    first = END - timedelta(days=1)
    part = generate_chunk(1_000, 1_000, 500, period=(first, END))
    stamps = part.column("ts").to_pylist()
    assert first <= min(stamps) and max(stamps) < END
    assert part.column("event_id")[0].as_py() == "ev_1000"
