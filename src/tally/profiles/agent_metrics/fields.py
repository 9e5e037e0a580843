"""The datasources of the metrics API: each API field, the column it reads, and its operators.

The operator lists are the public contract of the API: the per-field table of the product's
documentation (Agent Metrics: Filtering), kept here as data rather than derived from the
catalog: the API refuses operators the engine could run (EQUAL or IS_NULL on agentName,
BETWEEN on httpStatusCode, EQUAL on latencyMs) and the table, not the storage, decides.
inputTokens, outputTokens and costUsd are not in the agent table (decided): they take the range
set the table gives latencyMs, which is what the product's sibling model-metrics table gives
those same fields. Everything else about a field (its value type, whether it can be null, which
aggregations fit it) comes from the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBJECT_SLUG_KEY = "createdBySubjectSlug"

# API operator -> (IR op, negated). The negated string operators become `not` nodes, so a null
# value stays unknown (and its row excluded) exactly as the positive test would leave it.
OPERATORS: dict[str, tuple[str, bool]] = {
    "IN": ("in", False),
    "NOT_IN": ("nin", False),
    "EQUAL": ("eq", False),
    "NOT_EQUAL": ("neq", False),
    "STRING_CONTAINS": ("contains", False),
    "STRING_NOT_CONTAINS": ("contains", True),
    "STRING_STARTS_WITH": ("starts_with", False),
    "STRING_NOT_STARTS_WITH": ("starts_with", True),
    "STRING_ENDS_WITH": ("ends_with", False),
    "STRING_NOT_ENDS_WITH": ("ends_with", True),
    "GREATER_THAN": ("gt", False),
    "LESS_THAN": ("lt", False),
    "GREATER_THAN_EQUAL": ("gte", False),
    "LESS_THAN_EQUAL": ("lte", False),
    "BETWEEN": ("between", False),
    "IS_NULL": ("is_null", False),
    "IS_NOT_NULL": ("not_null", False),
    "ARRAY_HAS_ANY": ("has_any", False),
    "ARRAY_HAS_NONE": ("has_none", False),
}
LIST_OPERATORS = frozenset({"IN", "NOT_IN", "ARRAY_HAS_ANY", "ARRAY_HAS_NONE"})
NO_VALUE_OPERATORS = frozenset({"IS_NULL", "IS_NOT_NULL"})

AGENT_OPS = ("IN", "NOT_IN", "STRING_CONTAINS", "STRING_STARTS_WITH", "STRING_ENDS_WITH")
TEXT_OPS = (
    "EQUAL", "NOT_EQUAL", "IN", "NOT_IN",
    "STRING_CONTAINS", "STRING_NOT_CONTAINS", "STRING_STARTS_WITH", "STRING_NOT_STARTS_WITH",
    "STRING_ENDS_WITH", "STRING_NOT_ENDS_WITH",
)  # fmt: skip
STATUS_OPS = (
    "EQUAL", "NOT_EQUAL", "IN", "NOT_IN", "GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL",
    "LESS_THAN_EQUAL", "IS_NULL",
)  # fmt: skip
RANGE_OPS = ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_EQUAL", "LESS_THAN_EQUAL", "BETWEEN")
BOOLEAN_OPS = ("EQUAL",)
ARRAY_OPS = ("ARRAY_HAS_ANY", "ARRAY_HAS_NONE")


@dataclass(frozen=True)
class ApiField:
    """One name of the API. `subject_type` marks a view of the subject slug limited to the rows
    of that subject type (userEmail, virtualAccount)."""

    name: str
    column: str
    operators: tuple[str, ...]
    subject_type: str | None = None

    @property
    def response_key(self) -> str:
        return SUBJECT_SLUG_KEY if self.subject_type else self.name


@dataclass(frozen=True)
class Datasource:
    name: str
    dataset: str
    fields: tuple[ApiField, ...]
    metadata_column: str
    subject_type_column: str
    metadata_operators: tuple[str, ...] = TEXT_OPS

    def resolve(self, name: str) -> ApiField | None:
        """The field an API name means: exact names, `metadata.<key>`, and the subject fields
        in any letter case (clients send both `virtualAccount` and `virtualaccount`)."""
        for field in self.fields:
            if field.name == name or (field.subject_type and field.name.lower() == name.lower()):
                return field
        prefix = "metadata."
        if name.startswith(prefix):
            return self.metadata(name.removeprefix(prefix))
        return None

    def metadata(self, key: str) -> ApiField:
        return ApiField(f"metadata.{key}", f"{self.metadata_column}.{key}", self.metadata_operators)


AGENT_METRICS = Datasource(
    name="agentMetrics",
    dataset="agent_metrics",
    metadata_column="metadata",
    subject_type_column="created_by_subject_type",
    fields=(
        ApiField("agentName", "agent_name", AGENT_OPS),
        ApiField("agentFramework", "agent_framework", AGENT_OPS),
        ApiField("agentServerType", "agent_server_type", AGENT_OPS),
        ApiField("userEmail", "created_by_subject_slug", TEXT_OPS, subject_type="user"),
        ApiField(
            "virtualAccount", "created_by_subject_slug", TEXT_OPS, subject_type="virtualaccount"
        ),
        ApiField("conversationID", "conversation_id", TEXT_OPS),
        ApiField("isFailure", "is_failure", BOOLEAN_OPS),
        ApiField("httpStatusCode", "http_status_code", STATUS_OPS),
        ApiField("latencyMs", "latency_ms", RANGE_OPS),
        ApiField("inputTokens", "input_tokens", RANGE_OPS),
        ApiField("outputTokens", "output_tokens", RANGE_OPS),
        ApiField("costUsd", "cost_usd", RANGE_OPS),
        ApiField("team", "team", ARRAY_OPS),
    ),
)
DATASOURCES: dict[str, Datasource] = {AGENT_METRICS.name: AGENT_METRICS}
