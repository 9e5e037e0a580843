"""The request of the aggregation endpoint: the body, and the tenant it is asked about.

The body model is strict (no coercion, unknown fields rejected) so a client learns about every
mistake at once, each as `field: reason`. The tenant comes from the URL, headers and query
string, never from the body: a body `brand_id` gets its own message telling where it belongs.
The spec gives `group_by` no default; it defaults to `none` so a client that omits it still
gets an answer (one "all" row).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from tally.errors import ErrorDetail, TallyError, pointer
from tally.query.parse import pydantic_details

WORKSPACE_PATTERN = re.compile(r"^ws_[a-z0-9]+$")
TENANT_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
METADATA_KEY_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PLAIN_GROUPS = ("none", "event_type", "session", "day", "hour", "product_id")
NUMERIC_FIELDS = ("value", "amount", "price", "quantity", "duration_ms", "score", "rating")
ID_FIELDS = ("session_id", "product_id", "agent_id", "customer_id")
DEFAULT_DISTINCT_FIELD = "session_id"
BRAND_HEADER = "X-Active-Brand"
CATALOG_HEADER = "X-Active-Catalog"
BRAND_QUERY = "brand_id"

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
ValueField = Literal[NUMERIC_FIELDS + ID_FIELDS]  # type: ignore[valid-type]


class AggregateRequest(BaseModel):
    """The body of one widget's question; null means "the default" for the optional fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_types: list[EventType] | None = Field(default=None, max_length=50)
    group_by: str = Field(
        default="none",
        json_schema_extra={
            "pattern": r"^(none|event_type|session|day|hour|product_id"
            r"|metadata\.[a-z_][a-z0-9_]{0,62})$"
        },
    )
    aggregation: Literal["count", "count_distinct", "sum", "avg"] | None = None
    value_field: ValueField | None = None
    time_window_days: int = Field(ge=1, le=365)
    limit: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("group_by")
    @classmethod
    def _known_grouping(cls, value: str) -> str:
        head, dot, key = value.partition(".")
        if value in PLAIN_GROUPS or (
            dot and head == "metadata" and METADATA_KEY_PATTERN.match(key)
        ):
            return value
        raise ValueError(
            "must be one of none, event_type, session, day, hour, product_id, "
            "or metadata.<key> with key matching ^[a-z_][a-z0-9_]{0,62}$"
        )

    @property
    def operation(self) -> str:
        return self.aggregation or "count"

    @property
    def row_limit(self) -> int:
        return self.limit or 100

    @property
    def measured_field(self) -> str | None:
        """What `value` aggregates: nothing for count, session_id by default for distinct counts."""
        if self.operation == "count":
            return None
        if self.operation == "count_distinct":
            return self.value_field or DEFAULT_DISTINCT_FIELD
        return self.value_field

    @property
    def event_type_set(self) -> list[str]:
        """Sorted and deduplicated, so equal questions share one cache entry."""
        return sorted(set(self.event_types or ()))


@dataclass(frozen=True)
class Target:
    """The tenant a request is about: a workspace, optionally one brand and one catalog."""

    workspace_id: str
    brand_id: str | None = None
    catalog_id: str | None = None

    def scope(self) -> dict[str, str]:
        narrowing = {
            "workspace_id": self.workspace_id,
            "brand_id": self.brand_id,
            "catalog_id": self.catalog_id,
        }
        return {column: value for column, value in narrowing.items() if value is not None}


def parse_request(
    workspace_id: str, headers: Mapping[str, str], query_brands: Sequence[str], body: Any
) -> tuple[Target, AggregateRequest]:
    """The tenant and the validated body, or one 400 listing every problem with its field."""
    target, details = _target(workspace_id, headers, query_brands)
    request, body_details = _body(body)
    details += body_details
    if details or request is None:
        message = (
            details[0].reason if len(details) == 1 else f"{len(details)} problems in the request"
        )
        raise TallyError.invalid(details, message)
    return target, request


def _body(body: Any) -> tuple[AggregateRequest | None, list[ErrorDetail]]:
    if not isinstance(body, dict):
        return None, [ErrorDetail("", "the body must be a JSON object")]
    try:
        request = AggregateRequest.model_validate(body)
    except ValidationError as exc:
        return None, [_brand_hint(d) for d in pydantic_details(exc)]
    return request, _cross_field_problems(request)


def _brand_hint(detail: ErrorDetail) -> ErrorDetail:
    if detail.path != pointer("brand_id"):
        return detail
    return ErrorDetail(
        detail.path,
        f"brand_id is not a body field: send the brand in the {BRAND_HEADER} header "
        f"or the ?{BRAND_QUERY}= query parameter",
    )


def _cross_field_problems(request: AggregateRequest) -> list[ErrorDetail]:
    if request.operation not in ("sum", "avg"):
        return []
    if request.value_field is None:
        reason = f"required when aggregation is {request.operation}"
        return [ErrorDetail(pointer("value_field"), reason)]
    if request.value_field not in NUMERIC_FIELDS:
        reason = (
            f"{request.operation} needs a numeric field ({', '.join(NUMERIC_FIELDS)}); "
            f"{request.value_field} is an identifier"
        )
        return [ErrorDetail(pointer("value_field"), reason)]
    return []


def _target(
    workspace_id: str, headers: Mapping[str, str], query_brands: Sequence[str]
) -> tuple[Target, list[ErrorDetail]]:
    """Workspace from the path, brand from header or query (they must agree), catalog header."""
    details: list[ErrorDetail] = []
    if not WORKSPACE_PATTERN.match(workspace_id):
        details.append(ErrorDetail(pointer("workspaceId"), "must match ^ws_[a-z0-9]+$"))
    header_brand = headers.get(BRAND_HEADER)
    catalog = headers.get(CATALOG_HEADER)
    named = [(BRAND_HEADER, header_brand), (CATALOG_HEADER, catalog)]
    named += [(f"query.{BRAND_QUERY}", brand) for brand in query_brands]
    for name, value in named:
        if value is not None and not TENANT_VALUE_PATTERN.match(value):
            details.append(ErrorDetail(pointer(name), "must be 1-128 letters, digits or _ . : -"))
    brands = sorted({b for b in (header_brand, *query_brands) if b is not None})
    if len(brands) > 1:
        reason = f"the {BRAND_HEADER} header and ?{BRAND_QUERY}= must name the same brand"
        details.append(ErrorDetail(pointer(f"query.{BRAND_QUERY}"), reason))
    return Target(workspace_id, brands[0] if brands else None, catalog), details
