"""The query string of `GET /api/v1/dashboard-data` and the tenant a request is about.

Parameters keep the API's camelCase names; the model is lenient about text (`days=30` is a string
in a query string). Dashboards send one parameter set to every widget, and browsers add
cache-busters (`_=1714...`), so only the parameters the asked `type` reads are looked at (see
`translate`): any other, unknown or read by other types, is ignored, even when malformed or
repeated. A parameter the type reads, given twice, is refused rather than silently resolved.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tally.auth.principal import Principal
from tally.errors import forbidden
from tally.profiles.dashboard_data.errors import bad_request

TENANT_HEADER = "X-Tenant-Id"
TENANT_COLUMN = "tenant_id"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Days = Annotated[int, Field(ge=1, le=365)]


class DashboardDataParams(BaseModel):
    """Every query parameter the endpoint knows, under its API name."""

    model_config = ConfigDict(frozen=True)

    type: str = "summary"
    days: Days = 7
    model_id: Id | None = Field(default=None, alias="modelId")
    group_by: Id | None = Field(default=None, alias="groupBy")
    filter_id: Id | None = Field(default=None, alias="filterId")
    segment_id: Id | None = Field(default=None, alias="segmentId")
    channel_id: Id | None = Field(default=None, alias="channelId")
    category_id: Id | None = Field(default=None, alias="categoryId")
    decision_flow_id: Id | None = Field(default=None, alias="decisionFlowId")
    offer_id: Id | None = Field(default=None, alias="offerId")
    baseline_days: Days | None = Field(default=None, alias="baselineDays")


def api_name(field_name: str) -> str:
    """The query parameter of a model field (`segment_id` -> `segmentId`)."""
    info = DashboardDataParams.model_fields[field_name]
    return info.alias or field_name


def _reason(error: dict) -> str:
    name = ".".join(str(p) for p in error["loc"]) or "query"
    if error["type"] in ("greater_than_equal", "less_than_equal", "int_parsing", "int_type"):
        return f"{name} must be an integer between 1 and 365"
    return f"{name}: {error['msg']}"


def parse_params(items: Sequence[tuple[str, str]], read: Collection[str]) -> DashboardDataParams:
    """The parameters named in `read` (API names; the rest are ignored), or one 400 naming every
    problem."""
    seen: dict[str, str] = {}
    problems = []
    for key, value in items:
        if key not in read:
            continue
        if key in seen:
            problems.append(f"{key} is given more than once")
        seen[key] = value
    try:
        params = DashboardDataParams.model_validate(seen)
    except ValidationError as exc:
        problems += [_reason(e) for e in exc.errors(include_url=False)]
        raise bad_request("; ".join(dict.fromkeys(problems))) from None
    if problems:
        raise bad_request("; ".join(problems))
    return params


def tenant_of(headers: Mapping[str, str], who: Principal) -> str:
    """The tenant named by X-Tenant-Id, or the principal's only tenant when it has one.

    Whether the principal may read a named tenant is checked by the service's scope on every
    query (outside it: 403), like everywhere else."""
    given = headers.get(TENANT_HEADER)
    if given is not None:
        tenant = given.strip()
        if not TENANT_PATTERN.match(tenant):
            raise bad_request(f"{TENANT_HEADER} must be 1-128 letters, digits or _ . : -")
        return tenant
    own = () if who.all_tenants else who.scopes.get(TENANT_COLUMN, ())
    if len(own) == 1:
        return own[0]
    if not who.all_tenants and not own:
        raise forbidden("this token has no access to any tenant's decisioning data")
    raise bad_request(f"send the {TENANT_HEADER} header: this token may read several tenants")
