"""The six dashboard queries, each written three ways: Tally's IR, raw DuckDB SQL, PostgreSQL.

The hand-written SQL is what a careful engineer would write against each engine directly (for
DuckDB, UTC buckets as epoch arithmetic, the fastest spelling, so b/a measures Tally's own
overhead rather than a slower bucket function); the harness checks that Tally's answer has the
same number of rows as the raw DuckDB one, so the comparison is between equal work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.data import END

TENANT = "tn_00"


def _window(days: int) -> dict[str, str]:
    return {"start": (END - timedelta(days=days)).isoformat(), "end": END.isoformat()}


@dataclass(frozen=True)
class BenchQuery:
    name: str
    title: str
    days: int
    body: dict[str, Any]
    duckdb: str
    postgres: str
    extra: dict[str, Any]

    def ir(self, scoped: bool) -> dict[str, Any]:
        body = {"dataset": "bench_events", "time": _window(self.days), **self.body}
        if scoped:
            body["scope"] = {"tenant_id": TENANT}
        body["cache"] = "no-cache"
        return body

    def params(self, scoped: bool) -> dict[str, Any]:
        start = END - timedelta(days=self.days)
        values = {"start": start, "end": END, **self.extra}
        if scoped:
            values["tenant"] = TENANT
        return values

    def sql(self, engine: str, scoped: bool) -> str:
        text = self.duckdb if engine == "duckdb" else self.postgres
        tenant = {"duckdb": "tenant_id = $tenant AND", "postgres": "tenant_id = %(tenant)s AND"}
        return text.replace("{tenant}", tenant[engine] if scoped else "")


D_TIME = "ts >= $start AND ts < $end"
P_TIME = "ts >= %(start)s AND ts < %(end)s"
AGENTS = ["agent_00", "agent_01", "agent_02", "agent_03", "agent_04"]
TYPES = ["event_00", "event_01", "event_02"]

QUERIES = [
    BenchQuery(
        "Q1", "count by event_type, 30 days, top 100", 30,
        {"group_by": ["event_type"], "measures": [{"op": "count"}], "limit": 100},
        f"SELECT event_type, count(*) AS c FROM bench_events WHERE {{tenant}} {D_TIME} "
        "GROUP BY event_type ORDER BY c DESC, event_type LIMIT 100",
        f"SELECT event_type, count(*) AS c FROM bench_events WHERE {{tenant}} {P_TIME} "
        "GROUP BY event_type ORDER BY c DESC, event_type LIMIT 100",
        {},
    ),
    BenchQuery(
        "Q2", "hourly count, p50/p99 duration by agent, 7 days", 7,
        {
            "group_by": ["agent_name", {"time": "1 hour"}],
            "measures": [{"op": "count"}, {"op": "p50", "field": "duration_ms"},
                         {"op": "p99", "field": "duration_ms"}],
            "limit": 10000,
        },
        "SELECT agent_name, epoch_ms(ts) // 3600000 * 3600000 AS h, count(*), "
        "quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.99) FROM bench_events "
        f"WHERE {{tenant}} {D_TIME} GROUP BY 1, 2 ORDER BY 2, 1 LIMIT 10000",
        "SELECT agent_name, date_trunc('hour', ts) AS h, count(*), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) FROM bench_events "
        f"WHERE {{tenant}} {P_TIME} GROUP BY 1, 2 ORDER BY 2, 1 LIMIT 10000",
        {},
    ),
    BenchQuery(
        "Q3", "daily distinct sessions, 90 days", 90,
        {"group_by": [{"time": "1 day"}],
         "measures": [{"op": "count_distinct", "field": "session_id"}]},
        "SELECT epoch_ms(ts) // 86400000 * 86400000 AS d, count(DISTINCT session_id) "
        f"FROM bench_events WHERE {{tenant}} {D_TIME} GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('day', ts) AS d, count(DISTINCT session_id) FROM bench_events "
        f"WHERE {{tenant}} {P_TIME} GROUP BY 1 ORDER BY 1",
        {},
    ),
    BenchQuery(
        "Q4", "sum(amount), avg(price) by metadata.channel, 183 days, 3 event types", 183,
        {
            "filter": {"field": "event_type", "op": "in", "value": TYPES},
            "group_by": ["metadata.channel"],
            "measures": [{"op": "sum", "field": "amount"}, {"op": "avg", "field": "price"}],
        },
        "SELECT json_extract_string(metadata, '$.channel') AS channel, sum(amount), avg(price) "
        f"FROM bench_events WHERE {{tenant}} {D_TIME} AND event_type IN ($t1, $t2, $t3) "
        "GROUP BY 1 ORDER BY 2 DESC",
        "SELECT metadata->>'channel' AS channel, sum(amount), avg(price) FROM bench_events "
        f"WHERE {{tenant}} {P_TIME} AND event_type IN (%(t1)s, %(t2)s, %(t3)s) "
        "GROUP BY 1 ORDER BY 2 DESC",
        {"t1": TYPES[0], "t2": TYPES[1], "t3": TYPES[2]},
    ),
    BenchQuery(
        "Q5", "count, agent IN (5), rating BETWEEN, tags has-any, 90 days", 90,
        {
            "filter": {"and": [
                {"field": "agent_name", "op": "in", "value": AGENTS},
                {"field": "rating", "op": "between", "value": [0.2, 0.8]},
                {"field": "tags", "op": "has_any", "value": ["promo", "vip"]},
            ]},
            "measures": [{"op": "count"}],
        },
        f"SELECT count(*) FROM bench_events WHERE {{tenant}} {D_TIME} "
        "AND agent_name IN ($a1, $a2, $a3, $a4, $a5) AND rating BETWEEN 0.2 AND 0.8 "
        "AND list_has_any(tags, ['promo', 'vip'])",
        f"SELECT count(*) FROM bench_events WHERE {{tenant}} {P_TIME} "
        "AND agent_name IN (%(a1)s, %(a2)s, %(a3)s, %(a4)s, %(a5)s) AND rating BETWEEN 0.2 AND 0.8 "
        "AND tags && ARRAY['promo', 'vip']",
        {f"a{i + 1}": a for i, a in enumerate(AGENTS)},
    ),
    BenchQuery(
        "Q6", "daily count, 365 days", 365,
        {"group_by": [{"time": "1 day"}], "measures": [{"op": "count"}]},
        "SELECT epoch_ms(ts) // 86400000 * 86400000 AS d, count(*) FROM bench_events "
        f"WHERE {{tenant}} {D_TIME} GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('day', ts) AS d, count(*) FROM bench_events "
        f"WHERE {{tenant}} {P_TIME} GROUP BY 1 ORDER BY 1",
        {},
    ),
]  # fmt: skip
