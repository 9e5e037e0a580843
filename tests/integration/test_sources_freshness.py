"""Freshness over a source Tally does not see arriving rows in (a PostgreSQL table the test
writes to behind Tally's back): the refresh call makes the next answer recompute and the
watermark be read again; without it, answers and watermark follow within their intervals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.engines_support import PG_URL
from tests.helpers import bearer, live_app
from tests.integration.sources_support import (
    WINDOW,
    create_pg_table,
    dataset_file,
    insert_pg_rows,
    make_rows,
    pg_runner,
    pg_schema,
)

TOTALS = {"time": WINDOW, "measures": [{"op": "count", "as": "n"}]}


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def _later_row(schema: str, rows: list[dict[str, Any]], minutes: int) -> dict[str, Any]:
    """A row newer than every row of the table, as an ETL job would land it."""
    newest = max(r["created_at"] for r in rows)
    return {
        "tenant": "t_north",
        "id": 100_000 + minutes,
        "created_at": newest + timedelta(minutes=minutes),
        "kind": "purchase",
        "amount_cents": 1,
        "user_id": "u_new",
        "payload": json.dumps({"plan": "pro", "geo": {"country": "fr"}}),
    }


def _served(
    tmp_path: Path, schema: str, count: int, refresh: float, watermark: float
) -> list[dict[str, Any]]:
    """`count` rows in a PostgreSQL table served in place with these intervals (seconds)."""
    rows = make_rows(count)
    create_pg_table(schema, rows)
    source = {
        "postgres": {"url": PG_URL, "table": f"{schema}.events"},
        "refresh_interval_seconds": refresh,
        "watermark_interval_seconds": watermark,
    }
    dataset_file(tmp_path / "datasets", schema, source)
    return rows


def _ask(live, dataset: str) -> dict[str, Any]:
    response = live.client.post(
        "/v1/query", json={"dataset": dataset, **TOTALS}, headers=live.admin
    )
    assert response.status_code == 200, response.text
    return response.json()


def _newest(schema: str) -> str:
    (value,) = pg_runner(schema)("SELECT max(created_at) FROM {rel}")[0]
    return value


def _same_instant(shown: str, expected: datetime) -> bool:
    return datetime.fromisoformat(shown) == expected


def test_refresh_recomputes_the_answer_and_rereads_the_watermark(
    tmp_path: Path, schema: str
) -> None:
    rows = _served(tmp_path, schema, 120, refresh=3600, watermark=3600)
    with live_app(tmp_path, profiles="none") as live:
        first = _ask(live, schema)
        assert first["rows"][0]["n"] == len(rows)
        assert _same_instant(first["meta"]["watermark"], _newest(schema))

        landed = _later_row(schema, rows, 30)
        insert_pg_rows(schema, [landed])
        cached = _ask(live, schema)
        assert cached["meta"]["cache"]["hit"] is True
        assert cached["rows"][0]["n"] == len(rows)  # Tally cannot know yet

        _, editor = live.keys.create("editor", {}, all_tenants=True, name="etl")
        done = live.client.post(f"/v1/datasets/{schema}/refresh", headers=bearer(editor))
        assert done.status_code == 200
        assert done.json() == {"dataset": schema, "source": "postgres", "tenants": None}

        fresh = _ask(live, schema)
        assert fresh["meta"]["cache"]["hit"] is False
        assert fresh["rows"][0]["n"] == len(rows) + 1
        assert _same_instant(fresh["meta"]["watermark"], landed["created_at"])

        _, viewer = live.keys.create("viewer", {}, all_tenants=True, name="reader")
        denied = live.client.post(f"/v1/datasets/{schema}/refresh", headers=bearer(viewer))
        assert denied.status_code == 403
        unknown = live.client.post("/v1/datasets/no_such_set/refresh", headers=live.admin)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def _count_as(live, dataset: str, token: str) -> dict[str, Any]:
    response = live.client.post(
        "/v1/query", json={"dataset": dataset, **TOTALS}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_tenant_scoped_key_refreshes_only_its_tenants(tmp_path: Path, schema: str) -> None:
    """An ETL job scoped to t_north says its rows landed: t_north's answer and watermark are
    recomputed, while t_south's cached answer (a row landed there too, unannounced) is still
    served; a key with no tenant of the dataset may not refresh it at all."""
    rows = _served(tmp_path, schema, 120, refresh=3600, watermark=3600)
    with live_app(tmp_path, profiles="none") as live:
        readers = {
            t: live.keys.create("viewer", {"tenant_id": (t,)}, name=f"read-{t}")[1]
            for t in ("t_north", "t_south")
        }
        before = {t: _count_as(live, schema, token) for t, token in readers.items()}
        north = _later_row(schema, rows, 30)
        south = {**_later_row(schema, rows, 40), "id": 200_000, "tenant": "t_south"}
        insert_pg_rows(schema, [north, south])

        _, etl = live.keys.create("editor", {"tenant_id": ("t_north",)}, name="etl-north")
        done = live.client.post(f"/v1/datasets/{schema}/refresh", headers=bearer(etl))
        assert done.status_code == 200, done.text
        assert done.json() == {"dataset": schema, "source": "postgres", "tenants": ["t_north"]}

        fresh = _count_as(live, schema, readers["t_north"])
        assert fresh["meta"]["cache"]["hit"] is False
        expected = sum(r["tenant"] == "t_north" for r in rows) + 1
        assert fresh["rows"][0]["n"] == expected
        assert _same_instant(fresh["meta"]["watermark"], north["created_at"])

        untouched = _count_as(live, schema, readers["t_south"])
        assert untouched["meta"]["cache"]["hit"] is True
        assert untouched["rows"][0]["n"] == before["t_south"]["rows"][0]["n"]
        assert untouched["meta"]["watermark"] == before["t_south"]["meta"]["watermark"]

        _, stranger = live.keys.create("editor", {"workspace_id": ("ws_a",)}, name="other")
        denied = live.client.post(f"/v1/datasets/{schema}/refresh", headers=bearer(stranger))
        assert denied.status_code == 403
        assert _count_as(live, schema, readers["t_south"])["meta"]["cache"]["hit"] is True


def test_answers_and_watermark_follow_the_source_within_their_intervals(
    tmp_path: Path, schema: str
) -> None:
    rows = _served(tmp_path, schema, 90, refresh=1, watermark=1)
    with live_app(tmp_path, profiles="none", cache_ttl_s=600, cache_stale_s=600) as live:
        assert _ask(live, schema)["rows"][0]["n"] == len(rows)
        landed = _later_row(schema, rows, 45)
        insert_pg_rows(schema, [landed])
        time.sleep(1.2)
        # Asked as stale-while-revalidate: with a 600 s TTL and a 600 s stale window the old
        # count would come back at once; the refresh interval (1 s) bounds them both.
        later = live.client.post(
            "/v1/query",
            json={"dataset": schema, **TOTALS, "cache": "stale-while-revalidate"},
            headers=live.admin,
        ).json()
        assert later["meta"]["cache"]["stale"] is False
        assert later["rows"][0]["n"] == len(rows) + 1
        assert _same_instant(later["meta"]["watermark"], landed["created_at"])


def test_a_refresh_interval_of_zero_never_caches(tmp_path: Path, schema: str) -> None:
    rows = make_rows(40)
    create_pg_table(schema, rows)
    source = {
        "postgres": {"url": PG_URL, "table": f"{schema}.events"},
        "refresh_interval_seconds": 0,
    }
    dataset_file(tmp_path / "datasets", schema, source)
    with live_app(tmp_path, profiles="none") as live:
        _ask(live, schema)
        insert_pg_rows(schema, [_later_row(schema, rows, 5)])
        again = _ask(live, schema)
        assert again["meta"]["cache"]["hit"] is False
        assert again["rows"][0]["n"] == len(rows) + 1


def test_refreshing_an_owned_dataset_is_allowed(tmp_path: Path) -> None:
    dataset_file(tmp_path / "datasets", "owned_events", None)
    with live_app(tmp_path, profiles="none") as live:
        done = live.client.post("/v1/datasets/owned_events/refresh", headers=live.admin)
        assert done.status_code == 200 and done.json()["source"] == "owned"


def test_the_watermark_is_not_remembered_past_the_refresh_interval(
    tmp_path: Path, schema: str
) -> None:
    """With refresh 0 every answer is recomputed, so a watermark remembered for its own (long)
    interval would be older than the rows the answer counts."""
    rows = _served(tmp_path, schema, 60, refresh=0, watermark=3600)
    with live_app(tmp_path, profiles="none") as live:
        first = _ask(live, schema)
        assert _same_instant(first["meta"]["watermark"], _newest(schema))
        landed = _later_row(schema, rows, 5)
        insert_pg_rows(schema, [landed])
        again = _ask(live, schema)
    assert again["rows"][0]["n"] == len(rows) + 1
    assert _same_instant(again["meta"]["watermark"], landed["created_at"])
