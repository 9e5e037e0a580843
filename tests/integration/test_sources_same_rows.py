"""The same rows owned (ingested), in a PostgreSQL table and in a Parquet folder give the same
answers, through the native API and through a profile (000, over a user's `agent_events` file
that replaces the built-in one and reads the rows in place)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest
import yaml
from psycopg import sql

from tests.engines_support import PG_URL
from tests.helpers import live_app
from tests.integration.sources_support import (
    QUESTIONS,
    answer_rows,
    create_pg_table,
    dataset_file,
    make_rows,
    owned_rows,
    pg_runner,
    pg_schema,
    same_rows,
    sql_rows,
    write_parquet_folder,
)

PROFILE_PATH = "/api/workspace/ws_a/dashboards/aggregate"
PROFILE_BODIES = [
    {
        "event_types": ["purchase", "add_to_cart"],
        "group_by": "day",
        "aggregation": "sum",
        "value_field": "amount",
        "time_window_days": 7,
    },
    {"event_types": ["purchase"], "aggregation": "count", "time_window_days": 7},
]
EVENT_COLUMNS = [
    {"name": "workspace_id", "type": "string", "from": "workspace", "nullable": False},
    {"name": "brand_id", "type": "string", "nullable": False},
    {"name": "catalog_id", "type": "string"},
    {"name": "event_id", "type": "string", "nullable": False},
    {"name": "event_type", "type": "string", "nullable": False},
    {"name": "ts", "type": "timestamp", "nullable": False},
    {"name": "amount", "type": "float"},
    {"name": "metadata", "type": "json"},
]


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def agent_events(now: datetime, count: int = 400) -> list[dict[str, Any]]:
    """Rows of the source (its workspace column is `workspace`), all within the last 6 days."""
    rng = random.Random(3)
    return [
        {
            "workspace": rng.choice(["ws_a", "ws_b"]),
            "brand_id": rng.choice(["br_1", "br_2"]),
            "catalog_id": "c1",
            "event_id": f"e{i}",
            "event_type": rng.choice(["purchase", "add_to_cart", "view"]),
            "ts": now - timedelta(minutes=rng.randrange(6 * 24 * 60)),
            "amount": None if i % 17 == 0 else round(rng.uniform(1, 300), 2),
            "metadata": json.dumps({"channel": rng.choice(["web", "app"])}),
        }
        for i in range(count)
    ]


def events_file(folder: Path, source: dict[str, Any]) -> None:
    """A user `agent_events.yaml`: it replaces the built-in dataset of the same name."""
    body = {
        "name": "agent_events",
        "tenant_columns": ["workspace_id", "brand_id", "catalog_id"],
        "time_column": "ts",
        "key_columns": ["event_id"],
        "columns": EVENT_COLUMNS,
        "source": source,
    }
    (folder / "agent_events.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")


def _events_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("workspace", pa.string()),
                ("brand_id", pa.string()),
                ("catalog_id", pa.string()),
                ("event_id", pa.string()),
                ("event_type", pa.string()),
                ("ts", pa.timestamp("us", tz="UTC")),
                ("amount", pa.float64()),
                ("metadata", pa.string()),
            ]
        ),
    )


def _pg_events(schema: str, rows: list[dict[str, Any]]) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.cursor() as cursor:
        table = sql.Identifier(schema, "agent_events")
        cursor.execute(
            sql.SQL(
                "CREATE TABLE {} (workspace TEXT, brand_id TEXT, catalog_id TEXT, event_id TEXT, "
                "event_type TEXT, ts TIMESTAMPTZ, amount DOUBLE PRECISION, metadata JSONB)"
            ).format(table)
        )
        cursor.executemany(
            sql.SQL(
                "INSERT INTO {} VALUES (%(workspace)s, %(brand_id)s, %(catalog_id)s, "
                "%(event_id)s, %(event_type)s, %(ts)s, %(amount)s, %(metadata)s)"
            ).format(table),
            rows,
        )


def _answers(live, shop: str) -> dict[str, Any]:
    """Every native question over `shop` and every profile request, as comparable values."""
    found: dict[str, Any] = {
        q.name: answer_rows(live.client, live.admin, shop, q) for q in QUESTIONS
    }
    for i, body in enumerate(PROFILE_BODIES):
        response = live.client.post(
            PROFILE_PATH, json=body, headers={**live.admin, "X-Active-Brand": "br_1"}
        )
        assert response.status_code == 200, response.text
        found[f"profile{i}"] = response.json()
    return found


def test_owned_postgres_and_parquet_give_the_same_answers(tmp_path: Path, schema: str) -> None:
    rows = make_rows()
    now = datetime.now(UTC).replace(microsecond=0)
    events = agent_events(now)
    frozen = lambda: now  # noqa: E731 - the profile's "last 7 days" must be the same window

    owned_root = tmp_path / "owned"
    dataset_file(owned_root / "datasets", "shop", None)
    with live_app(owned_root, clock=frozen, profiles="dashboards_aggregate") as live:
        stored = live.client.post(
            "/v1/datasets/shop/rows", json=owned_rows(rows), headers=live.admin
        )
        assert stored.json()["accepted"] == len(rows)
        ingested = [
            {**{k: v for k, v in e.items() if k != "workspace"}, "workspace_id": e["workspace"],
             "ts": e["ts"].isoformat(), "metadata": json.loads(e["metadata"])}
            for e in events
        ]  # fmt: skip
        stored = live.client.post(
            "/v1/datasets/agent_events/rows", json=ingested, headers=live.admin
        )
        assert stored.json()["accepted"] == len(events)
        owned = _answers(live, "shop")

    create_pg_table(schema, rows)
    _pg_events(schema, events)
    pg_root = tmp_path / "pg"
    dataset_file(
        pg_root / "datasets", "shop", {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    )
    events_file(
        pg_root / "datasets", {"postgres": {"url": PG_URL, "table": f"{schema}.agent_events"}}
    )
    with live_app(pg_root, clock=frozen, profiles="dashboards_aggregate") as live:
        in_postgres = _answers(live, "shop")

    files = tmp_path / "files"
    shop_glob = write_parquet_folder(files / "shop", rows)
    events_glob = files / "events"
    with duckdb.connect() as conn:
        conn.register("batch", _events_arrow(events))
        conn.execute(f"COPY batch TO '{events_glob}' (FORMAT parquet, PARTITION_BY (workspace))")
    pq_root = tmp_path / "pq"
    dataset_file(
        pq_root / "datasets", "shop", {"parquet": {"path": shop_glob, "hive_partitioning": True}}
    )
    events_file(
        pq_root / "datasets",
        {"parquet": {"path": f"{events_glob}/**/*.parquet", "hive_partitioning": True}},
    )
    with live_app(pq_root, clock=frozen, profiles="dashboards_aggregate") as live:
        in_parquet = _answers(live, "shop")

    spelled = {
        "country": "payload->'geo'->>'country'",
        "plan": "payload->>'plan'",
        "rel": f'"{schema}".events',
    }
    for question in QUESTIONS:
        want = sql_rows(pg_runner(schema), question, spelled)
        groups = len(question.group_by)
        for answers in (owned, in_postgres, in_parquet):
            same_rows(answers[question.name], want, groups)
    chosen = [e for e in events if e["workspace"] == "ws_a" and e["brand_id"] == "br_1"]
    per_day: dict[str, float] = {}
    for e in chosen:
        if e["event_type"] in ("purchase", "add_to_cart") and e["amount"] is not None:
            day = e["ts"].date().isoformat()
            per_day[day] = per_day.get(day, 0.0) + e["amount"]
    purchases = sum(1 for e in chosen if e["event_type"] == "purchase")
    for answers in (owned, in_postgres, in_parquet):
        daily = {row["key"]: row for row in answers["profile0"]["rows"]}
        assert {k for k, row in daily.items() if row["value"]} == set(per_day)
        for day, total in per_day.items():
            assert daily[day]["value"] == pytest.approx(total, rel=1e-9)
        assert [row["value"] for row in answers["profile1"]["rows"]] == [purchases]
        assert [row["secondary"] for row in answers["profile0"]["rows"]] == [
            row["secondary"] for row in owned["profile0"]["rows"]
        ]
