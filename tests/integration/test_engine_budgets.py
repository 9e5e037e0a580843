"""Each engine gets its share of TALLY_ENGINE_MEMORY_LIMIT, and a query beyond it is a 503 with
Retry-After (the budget is shared with the queries of the moment), never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally.errors import TallyError
from tally.wiring import open_engine
from tests.engines_support import isolated_settings

SLOTS = 4
MB = 1 << 20


@pytest.mark.parametrize(
    ("engine", "limit", "setting", "expected"),
    [
        # DuckDB: one budget for every query of the process.
        ("duckdb", "64MB", "SELECT current_setting('memory_limit')", "64.0 MiB"),
        # ClickHouse: the budget over the query slots, for each query.
        ("clickhouse", "64MB", "SELECT getSetting('max_memory_usage')", 64 * MB // SLOTS),
        # PostgreSQL: a quarter of a slot's share for each sort or hash of a session.
        pytest.param(
            "postgres", "1GB", "SELECT current_setting('work_mem')", f"{1024 // SLOTS // 4}MB",
            marks=pytest.mark.postgres,
        ),
    ],
)  # fmt: skip
def test_the_engine_runs_within_its_share_of_the_memory_limit(
    tmp_path: Path, engine: str, limit: str, setting: str, expected: object
) -> None:
    with isolated_settings(engine, tmp_path) as settings:
        budget = {"engine_memory_limit": limit, "max_concurrent_queries": SLOTS}
        opened, _ = open_engine(settings.model_copy(update=budget))
        try:
            _, rows = opened.execute(setting, {}, 10)
        finally:
            opened.close()
    assert rows[0][0] == expected


@pytest.mark.parametrize(
    ("engine", "greedy"),
    [
        ("duckdb", "SELECT max(len(l)) FROM (SELECT list(i) AS l FROM range(20000000) t(i))"),
        ("clickhouse", "SELECT length(groupArray(number)) FROM numbers(20000000)"),
    ],
)
def test_a_query_beyond_the_budget_is_a_503_with_retry_after(
    tmp_path: Path, engine: str, greedy: str
) -> None:
    with isolated_settings(engine, tmp_path) as settings:
        budget = {"engine_memory_limit": "32MB", "max_concurrent_queries": 1}
        opened, _ = open_engine(settings.model_copy(update=budget))
        try:
            with pytest.raises(TallyError) as refused:
                opened.execute(greedy, {}, 30)
        finally:
            opened.close()
    assert refused.value.status == 503 and refused.value.retry_after, refused.value
    assert "memory" in refused.value.message
