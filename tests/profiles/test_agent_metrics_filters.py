"""Profile 001 filters and request validation: the operator table of spec 001, value shapes,
the interval grammar, and the 400 envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.profiles.agent_metrics_support import Env, api_value, body, open_env, select

OPERATORS = (
    "IN", "NOT_IN", "STRING_CONTAINS", "STRING_STARTS_WITH", "STRING_ENDS_WITH", "EQUAL",
    "NOT_EQUAL", "STRING_NOT_CONTAINS", "STRING_NOT_STARTS_WITH", "STRING_NOT_ENDS_WITH",
    "GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "BETWEEN", "IS_NULL",
    "IS_NOT_NULL", "ARRAY_HAS_ANY", "ARRAY_HAS_NONE",
)  # fmt: skip
AGENT = {"IN", "NOT_IN", "STRING_CONTAINS", "STRING_STARTS_WITH", "STRING_ENDS_WITH"}
TEXT = {
    "EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "STRING_CONTAINS", "STRING_NOT_CONTAINS",
    "STRING_STARTS_WITH", "STRING_NOT_STARTS_WITH", "STRING_ENDS_WITH", "STRING_NOT_ENDS_WITH",
}  # fmt: skip
STATUS = {
    "EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL",
    "LESS_THAN_EQUAL", "IS_NULL",
}  # fmt: skip
RANGE = {"GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "BETWEEN"}
# The product's documented table (Agent Metrics: Filtering): field -> the operators it allows.
# inputTokens, outputTokens and costUsd are not in it; they take latencyMs's set (decided).
TABLE: dict[str, set[str]] = {
    "agentName": AGENT,
    "agentFramework": AGENT,
    "agentServerType": AGENT,
    "userEmail": TEXT,
    "virtualAccount": TEXT,
    "conversationID": TEXT,
    "isFailure": {"EQUAL"},
    "httpStatusCode": STATUS,
    "latencyMs": RANGE,
    "inputTokens": RANGE,
    "outputTokens": RANGE,
    "costUsd": RANGE,
    "team": {"ARRAY_HAS_ANY", "ARRAY_HAS_NONE"},
    "metadata.model": TEXT,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from open_env(tmp_path_factory)


def samples(env: Env, field: str) -> tuple[Any, Any]:
    """Two distinct values the field really holds, so most filters select some rows."""
    values = [api_value(r, field) for r in env.rows]
    flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
    present = sorted({v for v in flat if v is not None}, key=repr)
    return present[len(present) // 3], present[2 * len(present) // 3]


def sample_value(operator: str, one: Any, other: Any) -> Any:
    if operator in ("IN", "NOT_IN", "ARRAY_HAS_ANY", "ARRAY_HAS_NONE"):
        return [one, other]
    if operator == "BETWEEN":
        return sorted([one, other])
    if operator in ("IS_NULL", "IS_NOT_NULL"):
        return None
    text = str(one)
    if operator.endswith("STARTS_WITH"):
        return text[:3]
    if operator.endswith("ENDS_WITH"):
        return text[-3:]
    if operator.endswith("CONTAINS"):
        return text[1:-1]
    return one


def filter_item(field: str, operator: str, value: Any) -> dict[str, Any]:
    target = {"metadataKey": field[9:]} if field.startswith("metadata.") else {"fieldName": field}
    item = {**target, "operator": operator}
    if value is not None:
        item["value"] = value
    return item


@pytest.mark.parametrize("field", list(TABLE))
def test_every_operator_is_accepted_or_refused_as_the_table_says(env: Env, field: str) -> None:
    allowed = TABLE[field]
    one, other = samples(env, field)
    for operator in OPERATORS:
        item = filter_item(field, operator, sample_value(operator, one, other))
        request = body(filters=[item])
        response = env.post(request)
        if operator in allowed:
            assert response.status_code == 200, (field, operator, response.text)
            wanted = len(select(env.rows, request))
            points = response.json()["data"]["dataPoints"]
            assert points == [{"total": wanted}], (field, operator)
        else:
            assert response.status_code == 400, (field, operator, response.text)
            assert response.json() == {
                "statusCode": 400,
                "message": "Invalid query",
                "details": [f'Field "{field}" does not support operator "{operator}"'],
            }


def test_the_documented_error_text(env: Env) -> None:
    response = env.post(body(filters=[{"fieldName": "agentName", "operator": "IS_NULL"}]))
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "Invalid query",
        "details": ['Field "agentName" does not support operator "IS_NULL"'],
    }


def test_negated_string_operators_keep_sql_null_semantics(env: Env) -> None:
    """STRING_NOT_CONTAINS on conversationID leaves out rows without a conversation."""
    item = filter_item("conversationID", "STRING_NOT_CONTAINS", "conv_1")
    (point,) = env.points(body(filters=[item]))
    with_conversation = [r for r in env.rows if r["conversation_id"] is not None]
    assert point["total"] == len(select(env.rows, body(filters=[item])))
    assert point["total"] < len(select(with_conversation, body()))


def test_between_is_inclusive(env: Env) -> None:
    latency = sorted(r["latency_ms"] for r in select(env.rows, body()))[100]
    band = {"fieldName": "latencyMs", "operator": "BETWEEN", "value": [latency, latency]}
    (point,) = env.points(body(filters=[band]))
    assert point["total"] == sum(1 for r in select(env.rows, body()) if r["latency_ms"] == latency)


REFUSED = [
    ("httpStatusCode", "BETWEEN", [200, 299]),
    ("httpStatusCode", "IS_NOT_NULL", None),
    ("latencyMs", "EQUAL", 100),
    ("latencyMs", "NOT_EQUAL", 100),
    ("latencyMs", "IN", [100, 200]),
    ("latencyMs", "NOT_IN", [100, 200]),
    ("latencyMs", "IS_NULL", None),
    ("latencyMs", "IS_NOT_NULL", None),
]


@pytest.mark.parametrize(("field", "operator", "value"), REFUSED)
def test_operators_the_documented_table_leaves_out_are_400(
    env: Env, field: str, operator: str, value: Any
) -> None:
    response = env.post(body(filters=[filter_item(field, operator, value)]))
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "Invalid query",
        "details": [f'Field "{field}" does not support operator "{operator}"'],
    }


def test_filters_are_and_combined(env: Env) -> None:
    filters = [
        {"fieldName": "agentName", "operator": "STRING_STARTS_WITH", "value": "support"},
        {"fieldName": "isFailure", "operator": "EQUAL", "value": False},
        {"metadataKey": "region", "operator": "IN", "value": ["us-east-1"]},
    ]
    request = body(filters=filters)
    wanted = select(env.rows, request)
    assert 0 < len(wanted) < len(select(env.rows, body(filters=filters[:2])))
    assert env.points(request) == [{"total": len(wanted)}]


def details(env: Env, request: dict[str, Any]) -> list[str]:
    response = env.post(request)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert set(payload) == {"statusCode", "message", "details"}
    assert (payload["statusCode"], payload["message"]) == (400, "Invalid query")
    return payload["details"]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"fieldName": "agentName", "operator": "IN", "value": "support-bot"}, "non-empty array"),
        ({"fieldName": "agentName", "operator": "IN", "value": []}, "non-empty array"),
        ({"fieldName": "team", "operator": "ARRAY_HAS_ANY", "value": "support"}, "non-empty array"),
        ({"fieldName": "latencyMs", "operator": "BETWEEN", "value": 5}, "[min, max]"),
        ({"fieldName": "latencyMs", "operator": "BETWEEN", "value": [1, 2, 3]}, "[min, max]"),
        ({"fieldName": "latencyMs", "operator": "BETWEEN", "value": [9, 1]}, "min <= max"),
        ({"fieldName": "httpStatusCode", "operator": "IS_NULL", "value": 1}, "takes no value"),
        ({"fieldName": "userEmail", "operator": "EQUAL"}, "needs a value"),
        ({"fieldName": "userEmail", "operator": "EQUAL", "value": None}, "needs a value"),
        ({"fieldName": "userEmail", "operator": "EQUAL", "value": ["a"]}, "single value"),
        ({"fieldName": "httpStatusCode", "operator": "EQUAL", "value": "200"}, "integer"),
        ({"fieldName": "httpStatusCode", "operator": "GREATER_THAN", "value": 2.5}, "integer"),
        ({"fieldName": "latencyMs", "operator": "LESS_THAN", "value": True}, "number"),
        ({"fieldName": "isFailure", "operator": "EQUAL", "value": "true"}, "boolean"),
        ({"fieldName": "costUsd", "operator": "GREATER_THAN", "value": 1e-7}, "6 digits after"),
        ({"metadataKey": "model", "operator": "EQUAL", "value": 4}, "string"),
        ({"fieldName": "cost", "operator": "EQUAL", "value": 1}, 'Unknown field "cost"'),
        ({"metadataKey": "bad key!", "operator": "EQUAL", "value": "x"}, "Invalid metadata key"),
    ],
)
def test_ill_shaped_filters_are_400_naming_the_field(
    env: Env, item: dict[str, Any], reason: str
) -> None:
    (detail,) = details(env, body(filters=[item]))
    assert reason in detail
    assert (item.get("fieldName") or item["metadataKey"]) in detail


def test_structural_problems_name_their_place(env: Env) -> None:
    request = body(
        filters=[
            {"fieldName": "agentName", "metadataKey": "model", "operator": "IN", "value": ["a"]},
            {"fieldName": "agentName", "operator": "LIKE", "value": "a"},
        ],
        aggregations=[{"type": "median", "column": "latencyMs"}],
        colour="blue",
    )
    found = details(env, request)
    assert any(d.startswith("filters[0]: ") and "exactly one" in d for d in found)
    assert any(d.startswith("filters[1].operator: ") for d in found)
    assert any(d.startswith("aggregations[0].type: ") for d in found)
    assert "colour: unknown field" in found


def test_every_problem_is_reported_at_once(env: Env) -> None:
    request = body(
        "timeseries",
        interval="1 fortnight",
        filters=[{"fieldName": "agentName", "operator": "EQUAL", "value": "x"}],
        groupBy=["nope"],
        aggregations=[{"type": "sum", "column": "agentName"}],
    )
    assert details(env, request) == [
        'Invalid interval "1 fortnight": unknown unit "fortnight" (use second, minute, hour, '
        "day, week)",
        'Field "agentName" does not support operator "EQUAL"',
        'Unknown field "nope" for datasource "agentMetrics"',
        'Aggregation "sum" is not supported on field "agentName"',
    ]


@pytest.mark.parametrize(
    "interval",
    ["1 hour 30 minute", "1 month", "1 fortnight", "0 hour", "-1 hour", "1.5 hour", "hour", "1h"],
)
def test_bad_intervals_are_400(env: Env, interval: str) -> None:
    (detail,) = details(env, body("timeseries", interval=interval))
    assert detail.startswith(f'Invalid interval "{interval}"')


@pytest.mark.parametrize("seconds", [0, -60, 1.5, "60", True])
def test_bad_interval_in_seconds_is_400(env: Env, seconds: Any) -> None:
    (detail,) = details(env, body("timeseries", intervalInSeconds=seconds))
    assert detail.startswith("intervalInSeconds: ")


def test_interval_problems_beyond_the_grammar(env: Env) -> None:
    assert details(env, body("timeseries")) == ["A timeseries query needs an interval"]
    both = body("timeseries", interval="1 hour", intervalInSeconds=3600)
    assert details(env, both) == ["Give either interval or intervalInSeconds, not both"]
    huge = body("timeseries", intervalInSeconds=1_000_001)
    assert "longer than supported" in details(env, huge)[0]
    fine = details(env, body("timeseries", interval="1 second"))
    assert fine == ["more than 10000 buckets: use a coarser interval"]


def test_plural_and_case_are_accepted(env: Env) -> None:
    plural = env.points(body("timeseries", interval="12 Hours"))
    assert plural == env.points(body("timeseries", interval="12 hour"))
    assert len(plural) == 28


def test_other_request_problems(env: Env) -> None:
    assert details(env, body(datasource="agentEvents")) == [
        'Unknown datasource "agentEvents" (known: agentMetrics)'
    ]
    assert details(env, body(endTs=body()["startTs"])) == ["endTs must be after startTs"]
    assert details(env, body(startTs=1_776_000_000)) == [
        "startTs: expected an ISO 8601 timestamp string"
    ]
    # An offset that carries an instant before year 1 in UTC (found by the API fuzzer: a 500).
    assert details(
        env, body(startTs="1823-11-05T15:11:00Z", endTs="0001-01-01T00:00:04+22:22")
    ) == ["endTs: the timestamp is outside years 1 to 9999 in UTC"]
    assert details(env, body(endTs="9999-12-31T23:59:04-05:00")) == [
        "endTs: the timestamp is outside years 1 to 9999 in UTC"
    ]
    assert details(env, body(groupBy=["userEmail", "virtualaccount"])) == [
        'groupBy "virtualaccount" repeats "userEmail": both come back as "createdBySubjectSlug"'
    ]
    response = env.client.post(
        "/api/svc/v1/llm-gateway/metrics/query", content=b"{not json", headers=env.admin
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid query"
    assert response.json()["details"][0].startswith("the body is not valid JSON")
