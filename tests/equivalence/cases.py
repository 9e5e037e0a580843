"""The request matrix of the engine equivalence suite: one `Case` per request.

Every measure (percentiles and exact distinct counts included), every filter operator on every
kind of field, grouping by column / JSON key / array fan-out / map fan-out / derived column,
calendar and fixed buckets in Paris and New York across DST, fill, compare, top + other, having,
order and limit. A profile endpoint is added with `Case(name, body, path="/v1/...")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    body: Any
    path: str = "/v1/query"
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()


SPRING = {"start": "2026-02-26T00:00:00Z", "end": "2026-04-12T00:00:00Z"}
FALL = {"start": "2026-10-17T00:00:00Z", "end": "2026-11-10T00:00:00Z"}
YEAR_PARIS = {"start": "2026-01-01T00:00:00+01:00", "end": "2027-01-01T00:00:00+01:00"}
YEAR_NY = {"start": "2026-01-01T00:00:00-05:00", "end": "2027-01-01T00:00:00-05:00"}
TWO_MEASURES = [{"op": "count"}, {"op": "sum", "field": "amount"}]
BUY = {"field": "kind", "op": "eq", "value": "buy"}

NUMBER_MEASURES = [
    {"op": "count"},
    {"op": "count", "field": "amount", "as": "n_amount"},
    {"op": "count_distinct", "field": "user_id"},
    {"op": "count_distinct", "field": "kind"},
    {"op": "count_distinct", "field": "flag"},
    {"op": "sum", "field": "amount"},
    {"op": "avg", "field": "amount"},
    {"op": "min", "field": "amount"},
    {"op": "max", "field": "amount"},
    {"op": "sum", "field": "qty"},
    {"op": "avg", "field": "qty"},
    {"op": "min", "field": "qty"},
    {"op": "percentile", "field": "amount", "q": 0.5},
    {"op": "p90", "field": "amount"},
    {"op": "percentile", "field": "amount", "q": 0.975},
    {"op": "p99", "field": "qty"},
    {"op": "percentile", "field": "qty", "q": 0.333},
    {"op": "min", "field": "kind"},
    {"op": "max", "field": "user_id"},
    {"op": "min", "field": "ts"},
    {"op": "max", "field": "ts"},
]
KEY_MEASURES = [
    {"op": "count"},
    {"op": "count", "field": "tags", "as": "tagged"},
    {"op": "count", "field": "labels", "as": "labelled"},
    {"op": "sum", "field": "metadata.discount"},
    {"op": "avg", "field": "metadata.discount"},
    {"op": "max", "field": "metadata.discount"},
    {"op": "p50", "field": "metadata.discount"},
    {"op": "count", "field": "metadata.coupon", "as": "with_coupon"},
    {"op": "count_distinct", "field": "metadata.channel"},
    {"op": "avg", "field": "ratings.quality"},
    {"op": "max", "field": "ratings.speed"},
    {"op": "percentile", "field": "ratings._rating_", "q": 0.25},
    {"op": "count", "filter": BUY, "as": "buys"},
    {"op": "sum", "field": "amount", "filter": BUY, "as": "buy_amount"},
    {
        "op": "p50",
        "field": "amount",
        "filter": {"field": "flag", "op": "eq", "value": True},
        "as": "p50_flagged",
    },
    {
        "op": "count_distinct",
        "field": "user_id",
        "filter": {"field": "tags", "op": "has_any", "value": ["red"]},
        "as": "red_users",
    },
    {
        "op": "avg",
        "field": "amount",
        "filter": {"field": "kind", "op": "eq", "value": "nothing-matches"},
        "as": "avg_of_none",
    },
]


def _events(**body: Any) -> dict[str, Any]:
    return {"dataset": "eq_events", "time": SPRING, **body}


def _filter(name: str, condition: dict[str, Any], window: dict[str, str] = SPRING) -> Case:
    body = _events(filter=condition, group_by=["tenant"], measures=TWO_MEASURES, time=window)
    return Case(f"filter_{name}", body)


FILTERS = [
    _filter("eq", BUY),
    _filter("neq", {"field": "kind", "op": "neq", "value": "buy"}),
    _filter("in", {"field": "kind", "op": "in", "value": ["buy", "view"]}),
    _filter("nin", {"field": "user_id", "op": "nin", "value": ["u1", "u2", "u3"]}),
    _filter("gt_float", {"field": "amount", "op": "gt", "value": 100}),
    _filter("gte_int", {"field": "qty", "op": "gte", "value": 10}),
    _filter("lt_negative", {"field": "amount", "op": "lt", "value": 0}),
    _filter("lte_int", {"field": "qty", "op": "lte", "value": 3}),
    _filter("between_float", {"field": "amount", "op": "between", "value": [10, 200.5]}),
    _filter("between_strings", {"field": "kind", "op": "between", "value": ["Refund", "search"]}),
    _filter("gt_string", {"field": "user_id", "op": "gt", "value": "u3"}),
    _filter("gte_time", {"field": "ts", "op": "gte", "value": "2026-03-29T03:00:00+02:00"}),
    _filter(
        "between_time",
        {
            "field": "ts",
            "op": "between",
            "value": ["2026-03-08T00:00:00-05:00", "2026-03-20T00:00:00Z"],
        },
    ),
    _filter("contains", {"field": "user_id", "op": "contains", "value": "1"}),
    _filter("not_contains", {"field": "user_id", "op": "not_contains", "value": "2"}),
    _filter("starts_with", {"field": "kind", "op": "starts_with", "value": "R"}),
    _filter("ends_with", {"field": "kind", "op": "ends_with", "value": "w"}),
    _filter("like", {"field": "kind", "op": "like", "value": "%e%"}),
    _filter("like_underscore", {"field": "kind", "op": "like", "value": "_uy"}),
    _filter("regex", {"field": "user_id", "op": "regex", "value": "^u[1-3]\\d?$"}),
    _filter("regex_alternation", {"field": "kind", "op": "regex", "value": "(buy|sell)$"}),
    _filter(
        "regex_ci_unicode",
        {"field": "kind", "op": "regex", "value": "^éch", "case_insensitive": True},
    ),
    _filter("regex_classes", {"field": "user_id", "op": "regex", "value": "[[:digit:]]{2}"}),
    _filter(
        "contains_unicode_ci",
        {"field": "kind", "op": "contains", "value": "échange", "case_insensitive": True},
    ),
    _filter(
        "starts_with_ci",
        {"field": "kind", "op": "starts_with", "value": "re", "case_insensitive": True},
    ),
    _filter("is_null_float", {"field": "amount", "op": "is_null"}),
    _filter("not_null_string", {"field": "user_id", "op": "not_null"}),
    _filter("is_null_bool", {"field": "flag", "op": "is_null"}),
    _filter("eq_bool", {"field": "flag", "op": "eq", "value": True}),
    _filter("neq_bool", {"field": "flag", "op": "neq", "value": True}),
    _filter("has_any", {"field": "tags", "op": "has_any", "value": ["red", "gold"]}),
    _filter("has_all", {"field": "tags", "op": "has_all", "value": ["red", "green"]}),
    _filter("has_none", {"field": "tags", "op": "has_none", "value": ["blue"]}),
    _filter("array_is_empty", {"field": "tags", "op": "is_empty"}),
    _filter("array_not_empty", {"field": "tags", "op": "not_empty"}),
    _filter("nullable_array_has_none", {"field": "labels", "op": "has_none", "value": ["x"]}),
    _filter("nullable_array_has_all", {"field": "labels", "op": "has_all", "value": ["x", "y"]}),
    _filter("nullable_array_is_null", {"field": "labels", "op": "is_null"}),
    _filter("nullable_array_is_empty", {"field": "labels", "op": "is_empty"}),
    _filter("map_is_empty", {"field": "ratings", "op": "is_empty"}),
    _filter("map_not_empty", {"field": "ratings", "op": "not_empty"}),
    _filter("map_is_null", {"field": "ratings", "op": "is_null"}),
    _filter("map_not_null", {"field": "ratings", "op": "not_null"}),
    _filter("map_key_gte", {"field": "ratings.quality", "op": "gte", "value": 0.5}),
    _filter("map_key_between", {"field": "ratings._rating_", "op": "between", "value": [0.2, 0.7]}),
    _filter("map_key_is_null", {"field": "ratings.speed", "op": "is_null"}),
    _filter("json_eq", {"field": "metadata.channel", "op": "eq", "value": "email"}),
    _filter("json_in", {"field": "metadata.channel", "op": "in", "value": ["ads", "Email"]}),
    _filter("json_number_gt", {"field": "metadata.discount", "op": "gt", "value": 20}),
    _filter("json_number_eq", {"field": "metadata.discount", "op": "eq", "value": 5}),
    _filter(
        "json_number_between", {"field": "metadata.discount", "op": "between", "value": [5, 15.5]}
    ),
    _filter("json_bool_text", {"field": "metadata.vip", "op": "eq", "value": "true"}),
    _filter("json_is_null", {"field": "metadata.coupon", "op": "is_null"}),
    _filter("json_null_value", {"field": "metadata.note", "op": "is_null"}),
    _filter(
        "json_starts_with_ci",
        {
            "field": "metadata.coupon",
            "op": "starts_with",
            "value": "FREE",
            "case_insensitive": True,
        },
    ),
    _filter("derived_ref", {"field": "scorer", "op": "eq", "value": "toxicity"}),
    _filter("derived_ref_empty", {"field": "scorer", "op": "eq", "value": ""}),
    _filter("derived_segment", {"field": "segment", "op": "in", "value": ["agent_turn", "tool"]}),
    _filter(
        "nested",
        {
            "or": [
                {"and": [BUY, {"not": {"field": "amount", "op": "lt", "value": 50}}]},
                {"not": {"or": [{"field": "flag", "op": "eq", "value": False}, BUY]}},
            ]
        },
    ),
    _filter("fall_window", {"field": "kind", "op": "nin", "value": ["search"]}, FALL),
]

GROUPS = [
    Case("measures_all_numbers", _events(measures=NUMBER_MEASURES)),
    Case("measures_numbers_by_kind", _events(group_by=["kind"], measures=NUMBER_MEASURES)),
    Case("measures_keys_by_tenant", _events(group_by=["tenant"], measures=KEY_MEASURES)),
    Case("group_two_columns", _events(group_by=["tenant", "kind"], measures=TWO_MEASURES)),
    Case("group_json_key", _events(group_by=["metadata.channel"], measures=TWO_MEASURES)),
    Case("group_json_number_key", _events(group_by=["metadata.discount"], measures=TWO_MEASURES)),
    Case("group_array_fan_out", _events(group_by=["tags"], measures=NUMBER_MEASURES[:8])),
    Case("group_nullable_array_fan_out", _events(group_by=["labels"], measures=TWO_MEASURES)),
    Case(
        "group_map_fan_out",
        _events(
            group_by=["ratings"],
            measures=[
                {"op": "count"},
                {"op": "avg", "field": "ratings"},
                {"op": "p50", "field": "ratings"},
                {"op": "sum", "field": "amount"},
            ],
        ),
    ),
    Case("group_derived", _events(group_by=["scorer", "segment"], measures=TWO_MEASURES)),
    Case("group_bool", _events(group_by=["flag"], measures=TWO_MEASURES)),
    Case("group_timestamp_column", _events(group_by=["ts"], measures=TWO_MEASURES, limit=40)),
    Case(
        "scope_narrowed",
        _events(scope={"tenant": "t2"}, group_by=["kind"], measures=NUMBER_MEASURES[:10]),
    ),
]


def _buckets(name: str, interval: str, tz: str, window: dict[str, str], **extra: Any) -> Case:
    group: dict[str, Any] = {"time": interval}
    if "origin" in extra:
        group["origin"] = extra.pop("origin")
    measures = [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "p50", "field": "qty"}]
    body = _events(time=window, timezone=tz, group_by=[group], measures=measures, **extra)
    return Case(f"bucket_{name}", body)


PARIS_DST = {"start": "2026-03-27T00:00:00Z", "end": "2026-03-31T00:00:00Z"}
NY_DST = {"start": "2026-03-06T00:00:00Z", "end": "2026-03-10T00:00:00Z"}
BUCKETS = [
    _buckets("hour_paris", "1 hour", "Europe/Paris", PARIS_DST),
    _buckets("hour_new_york", "1 hour", "America/New_York", NY_DST),
    _buckets("day_paris", "1 day", "Europe/Paris", SPRING),
    _buckets("day_new_york", "1 day", "America/New_York", SPRING),
    _buckets("day_paris_fall", "1 day", "Europe/Paris", FALL),
    _buckets("day_new_york_fall", "1 day", "America/New_York", FALL),
    _buckets("week_paris", "1 week", "Europe/Paris", SPRING),
    _buckets("week_new_york", "1 week", "America/New_York", FALL),
    _buckets("month_paris", "1 month", "Europe/Paris", YEAR_PARIS),
    _buckets("month_new_york", "1 month", "America/New_York", YEAR_NY),
    _buckets("day_utc", "1 day", "UTC", SPRING),
    _buckets(
        "two_days_origin", "2 days", "Europe/Paris", SPRING, origin="2026-03-27T00:00:00+01:00"
    ),
    _buckets(
        "quarter_origin",
        "3 months",
        "America/New_York",
        YEAR_NY,
        origin="2026-02-01T00:00:00-05:00",
    ),
    _buckets(
        "fifteen_minutes_origin", "15 minutes", "UTC", PARIS_DST, origin="2026-03-28T00:05:00Z"
    ),
    _buckets("ninety_minutes", "90 minutes", "Asia/Kolkata", PARIS_DST),
    _buckets("auto", "auto", "Europe/Paris", SPRING),
    _buckets("fill_zero", "1 day", "Europe/Paris", SPRING, fill="zero"),
    _buckets("fill_null_week", "1 week", "America/New_York", FALL, fill="null"),
    Case(
        "bucket_fill_groups",
        _events(
            timezone="Europe/Paris",
            group_by=["tenant", {"time": "1 week"}],
            measures=TWO_MEASURES,
            fill="zero",
        ),
    ),
    _buckets(
        "compare_previous_period", "1 day", "Europe/Paris", PARIS_DST, compare="previous_period"
    ),
    Case(
        "bucket_compare_range",
        _events(
            time=FALL,
            timezone="America/New_York",
            group_by=["kind", {"time": "1 week"}],
            measures=TWO_MEASURES,
            compare={"start": "2026-03-01T00:00:00Z", "end": "2026-03-25T00:00:00Z"},
        ),
    ),
    Case(
        "records_week_upserted",
        {
            "dataset": "eq_records",
            "time": {"start": "2026-02-16T00:00:00+01:00", "end": "2026-04-27T00:00:00+02:00"},
            "timezone": "Europe/Paris",
            "group_by": ["status", {"time": "1 week"}],
            "measures": [{"op": "count"}, {"op": "sum", "field": "total"}],
        },
    ),
    Case(
        "records_day_filter",
        {
            "dataset": "eq_records",
            "time": {"start": "2026-03-01T00:00:00-05:00", "end": "2026-03-20T00:00:00-04:00"},
            "timezone": "America/New_York",
            "filter": {"field": "day", "op": "between", "value": ["2026-03-05", "2026-03-12"]},
            "group_by": [{"time": "1 day"}],
            "measures": [{"op": "count"}, {"op": "p50", "field": "total"}],
        },
    ),
    Case(
        "records_group_date",
        {
            "dataset": "eq_records",
            "group_by": ["day"],
            "measures": [{"op": "count"}, {"op": "max", "field": "total"}],
            "order_by": [{"field": "count", "dir": "desc"}],
            "limit": 10,
        },
    ),
]

SHAPES = [
    Case(
        "top_other",
        _events(
            group_by=["user_id"],
            measures=[{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}],
            order_by=[{"field": "revenue", "dir": "desc"}],
            top={"n": 5, "other": True},
        ),
    ),
    Case(
        "top_without_other",
        _events(group_by=["kind"], measures=TWO_MEASURES, top={"n": 3, "other": False}),
    ),
    Case(
        "top_fan_out_with_time",
        _events(
            timezone="Europe/Paris",
            group_by=["tags", {"time": "1 week"}],
            measures=TWO_MEASURES,
            top={"n": 2, "other": True},
        ),
    ),
    Case(
        "having",
        _events(
            group_by=["user_id"],
            measures=[{"op": "count"}, {"op": "avg", "field": "amount", "as": "avg_amount"}],
            having={
                "and": [
                    {"field": "count", "op": "gte", "value": 8},
                    {
                        "or": [
                            {"field": "avg_amount", "op": "between", "value": [150, 400]},
                            {"not": {"field": "avg_amount", "op": "not_null"}},
                        ]
                    },
                ]
            },
        ),
    ),
    Case(
        "order_limit_offset",
        _events(
            group_by=["user_id"],
            measures=[{"op": "count"}, {"op": "max", "field": "amount"}],
            order_by=[{"field": "max_amount", "dir": "asc"}, {"field": "user_id", "dir": "desc"}],
            limit=7,
            offset=3,
        ),
    ),
]

# Profile endpoints over the built-in datasets, loaded from the demo generator at PROFILE_NOW.
PROFILE_NOW = "2026-11-01T12:00:00+00:00"
PROFILES = [
    Case(
        "p000_sum_by_day",
        {
            "group_by": "day",
            "aggregation": "sum",
            "value_field": "amount",
            "time_window_days": 60,
            "event_types": ["purchase", "add_to_cart"],
        },
        path="/api/workspace/ws_acme/dashboards/aggregate",
    ),
    Case(
        "p000_distinct_by_channel",
        {"group_by": "metadata.channel", "aggregation": "count_distinct", "time_window_days": 365},
        path="/api/workspace/ws_acme/dashboards/aggregate",
    ),
    Case(
        "p001_distribution_by_team",
        {
            "startTs": "2026-08-01T00:00:00Z",
            "endTs": "2026-11-01T00:00:00Z",
            "datasource": "agentMetrics",
            "type": "distribution",
            "groupBy": ["team", "agentName"],
            "aggregations": [
                {"type": "p99", "column": "latencyMs"},
                {"type": "p50", "column": "latencyMs"},
                {"type": "countDistinct", "column": "conversationID"},
                {"type": "sum", "column": "costUsd"},
            ],
        },
        path="/api/svc/v1/llm-gateway/metrics/query",
    ),
    Case(
        "p001_weekly_timeseries",
        {
            "startTs": "2026-06-01T00:00:00Z",
            "endTs": "2026-11-01T00:00:00Z",
            "datasource": "agentMetrics",
            "type": "timeseries",
            "interval": "1 week",
            "groupBy": ["agentFramework"],
            "aggregations": [{"type": "avg", "column": "latencyMs"}],
            "filters": [{"fieldName": "isFailure", "operator": "EQUAL", "value": False}],
        },
        path="/api/svc/v1/llm-gateway/metrics/query",
    ),
    Case(
        "p002_invoices_by_status_and_currency",
        {
            "root": "invoices",
            "group_by": ["status", "grand_total.currency"],
            "aggregations": [
                {"op": "count", "field": "*"},
                {"op": "sum", "field": "grand_total.amount"},
                {"op": "avg", "field": "tax_total.amount"},
            ],
            "whereClause": {
                "_or": [
                    {"status": {"_in": ["paid", "issued"]}},
                    {"customer": {"name": {"_ilike": "%a%"}}},
                    {"customer": {"name": {"_similar": "(Acme|Blue)%", "_niregex": "ltd$"}}},
                    {"issuer": {"name": {"_iregex": "^acme [a-z]{3,4}$"}}},
                ]
            },
        },
        path="/v1/records/statistics",
    ),
    Case(
        "p003_daily_scorers",
        {
            "project_id": "proj_alpha",
            "after_ms": 1_790_000_000_000,
            "before_ms": 1_792_000_000_000,
            "time_bucket_seconds": 86_400,
            "group_by": ["scorer_id"],
            "feedback_types": ["wandb.*"],
        },
        path="/feedback/aggregate",
    ),
]

DECISIONING_TYPES = [
    "summary", "offer_performance", "acceptance_rate", "daily_trend&days=14", "latency_trend",
    "offer_performance_grouped&groupBy=segment", "score_distribution&groupBy=channel",
    "selection_frequency", "anomaly_candidates", "why_not_ranked&offerId=off_0000&days=30",
    "decision_traces_summary", "budget_burn", "model_metrics_trend",
]  # fmt: skip
PROFILES += [
    Case(
        f"p004_{kind.split('&')[0]}",
        None,
        path=f"/api/v1/dashboard-data?type={kind}",
        method="GET",
        headers=(("X-Tenant-Id", "tn_acme"),),
    )
    for kind in DECISIONING_TYPES
]

CASES: list[Case] = [*FILTERS, *GROUPS, *BUCKETS, *SHAPES, *PROFILES]
