"""The native API's answers as models: what `/openapi.json` documents and tests validate against.

The routes write these bodies with orjson for speed; the models say what the bodies are, and
`tests/` check real answers against them, so the document cannot drift from the code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Open(BaseModel):
    """A documented object that may grow fields without breaking clients."""

    model_config = ConfigDict(extra="allow")


class NativeProblem(BaseModel):
    path: str = Field(description="a JSON pointer into the request ('' is the request itself)")
    reason: str


class NativeErrorBody(BaseModel):
    code: str
    message: str
    details: list[NativeProblem]
    trace_id: str


class NativeError(BaseModel):
    """Every failure of the native API (and of the admin and health routes)."""

    error: NativeErrorBody


class CacheFacts(BaseModel):
    hit: bool
    stale: bool
    generated_at: datetime
    age_ms: int


class Window(BaseModel):
    start: datetime
    end: datetime


class ErrorBound(BaseModel):
    """How a measure that asked for `approx` was computed, and how far its value may be off."""

    method: Literal["exact", "hll", "kll", "engine"] = Field(
        description="`exact`: from a rollup's exact set of distinct values (bound 0); `hll`: "
        "a rollup's HyperLogLog sketches; `kll`: a rollup's KLL sketches; `engine`: the "
        "engine's own approximate function over the rows (see /v1/capabilities), no bound stated"
    )
    relative_error: float | None = Field(
        default=None,
        description="distinct counts: |value - exact| <= relative_error * exact, at `confidence`",
    )
    rank_error: float | None = Field(
        default=None,
        description="percentiles: the value is one of the field's values whose rank (as a share "
        "of the rows) is within rank_error of the asked q, at `confidence`",
    )
    confidence: float | None = Field(
        default=None, description="the probability that the bound holds for one value"
    )


class QueryMeta(Open):
    dataset: str
    time: Window | None = None
    timezone: str
    interval: str | None = None
    scope: dict[str, Any]
    compare: Window | None = None
    total_groups: int | None = None
    total_rows: int
    exact: dict[str, bool] = Field(description="per measure: whether its value is exact")
    error: dict[str, ErrorBound] = Field(
        default_factory=dict,
        description="per measure that asked for `approx` (absent when none did): how it was "
        "computed and its error bound",
    )
    served_from: str = Field(
        "raw",
        description="the rollup that answered (its name), or `raw` for the dataset's rows",
    )
    warnings: list[str]
    watermark: datetime | None = Field(description="the newest event time the scope can see")
    timing_ms: dict[str, float]
    cache: CacheFacts


class QueryResponse(BaseModel):
    rows: list[dict[str, Any]] = Field(
        description="one row per group and bucket: group fields, `time`, measure labels"
    )
    meta: QueryMeta


class JobProgress(Open):
    elapsed_ms: int = Field(description="since the job started running (or was accepted)")
    rows_scanned: int | None = Field(
        default=None, description="rows read so far, where the engine tells (ClickHouse)"
    )
    percent: float | None = Field(
        default=None, description="the engine's estimate of the work done (DuckDB, ClickHouse)"
    )


class Job(BaseModel):
    id: str
    status: Literal["pending", "running", "succeeded", "failed", "canceled"]
    created_at: datetime
    progress: JobProgress
    result: QueryResponse | None = Field(default=None, description="once succeeded")
    error: NativeErrorBody | None = Field(default=None, description="once failed or canceled")


class Explained(BaseModel):
    dialect: str
    served_from: str = Field(description="the rollup the SQL reads, or `raw`")
    sql: str
    params: dict[str, Any]
    query: dict[str, Any] = Field(description="the normalized query the SQL answers")


class KeyAccess(BaseModel):
    """What one key of a JSON or map column (`metadata.<key>`) accepts."""

    operators: list[str]
    measures: list[str]


class ColumnDescription(Open):
    name: str
    type: str
    scale: int | None = Field(default=None, description="decimal columns: digits after the point")
    nullable: bool
    operators: list[str]
    measures: list[str]
    keys: KeyAccess | None = Field(
        default=None, description="JSON and map columns: what `<column>.<key>` accepts"
    )


class DatasetDescription(Open):
    name: str
    description: str | None = None
    mode: str
    source: str = Field(
        description="owned (Tally stores the rows) or the kind of source read in place"
    )
    time_column: str | None
    tenant_columns: list[str]
    key_columns: list[str]
    columns: list[ColumnDescription]


class DatasetList(BaseModel):
    datasets: list[DatasetDescription]


class IngestRows(RootModel[list[dict[str, Any]]]):
    """Rows to store, each an object of the dataset's columns (or NDJSON, one per line)."""


class Rejected(BaseModel):
    index: int
    path: str | None
    reason: str


class IngestOutcome(BaseModel):
    accepted: int
    duplicates: int
    updated: int | None = Field(default=None, description="upsert datasets only")
    rejected: list[Rejected]


class IngestRefused(NativeError):
    """A bad request; for a batch with problems (and no `?partial=true`) it also carries the
    batch's outcome, every problem listed: nothing was stored."""

    accepted: int | None = None
    duplicates: int | None = None
    updated: int | None = None
    rejected: list[Rejected] | None = None


class Cleared(BaseModel):
    cleared: int


class Refreshed(BaseModel):
    """A refresh call's answer: the next query over the dataset recomputes."""

    dataset: str
    source: str = Field(description="owned, or the kind of the external source")
    tenants: list[str] | None = Field(
        description="the tenants refreshed (a tenant-scoped key's own, on the dataset's first "
        "tenant column); null: every tenant (an admin or all-tenant key)"
    )


class Capabilities(Open):
    engine: str
    dialect: str
    operations: dict[str, bool | str]
    notes: dict[str, str]
    engines: dict[str, dict[str, Any]]


class ProfileExample(BaseModel):
    """One external format's worked request, ready to send (path parameters filled in)."""

    profile: str
    summary: str
    example: str = Field(description="what the example asks")
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any = None


class ExampleList(BaseModel):
    examples: list[ProfileExample]


class KeyInfo(Open):
    id: str
    role: str


class KeyList(BaseModel):
    keys: list[KeyInfo]


class NewToken(BaseModel):
    id: str
    token: str = Field(description="shown once: store it now")
    replaces: str | None = None


class Revoked(BaseModel):
    revoked: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    degraded: list[str] | None = None
