"""Every setting of the service, defined once: its type, default, bounds and meaning.

Each field is one `TALLY_<NAME>` environment variable and one `<name>` key of `tally.toml`
(`config/load.py` reads both); `docs/configuration.md` and `tally config show` are generated
from these fields, so what is documented is what is read. The query layer, the JWT verifier and
the rate limiter keep their own small views (`Limits`, `JwtSettings`, `RateLimitSettings`),
built here from the flat fields.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator, model_validator

from tally.auth.settings import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_RATES,
    SYMMETRIC_ALGORITHMS,
    ClaimsMapping,
    JwtSettings,
    Rate,
    RateLimitSettings,
)
from tally.config.load import load
from tally.query.limits import Limits

LIMIT_FIELDS = tuple(Limits.__dataclass_fields__)
# Fields that are views built from the flat settings, not settings of their own.
VIEWS = ("limits", "jwt", "rate_limits")
_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>%|[kmgt]?i?b?)", re.IGNORECASE)
_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def memory_bytes(text: str) -> int:
    """Bytes of a size (`4GB`, `512MB`, `1.5GiB`, `1000000`) or of a share of RAM (`50%`)."""
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a size such as 4GB or 512MB, nor a share such as 50%")
    number, unit = float(found["number"]), found["unit"].lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise ValueError(f"{text!r}: a share of RAM is above 0% and at most 100%")
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * number / 100)
    size = int(number * _UNITS[unit.removesuffix("ib").removesuffix("b") or "b"])
    if size < 1 << 20:
        raise ValueError(f"{text!r}: a memory limit is at least 1MB")
    return size


def _setting(default: Any, about: str, group: str, secret: bool = False, **bounds: Any) -> Any:
    extra = {"group": group, "secret": secret}
    return Field(default, description=about, json_schema_extra=extra, **bounds)


def _limit(name: str, about: str, **bounds: Any) -> Any:
    return _setting(getattr(Limits, name), about, "query limits", ge=1, **bounds)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    data_dir: Path = _setting(
        Path("data"),
        "The data directory: the DuckDB file, the key store, the demo's token and datasets/. "
        "Chosen by --data-dir, else this setting, else ./data.",
        "storage",
    )
    datasets_dir: Path | None = _setting(
        None, "More dataset definitions (TOML/YAML); default <data_dir>/datasets.", "storage"
    )
    datasets_watch: bool = _setting(
        True,
        "Reload dataset files when they change, without a restart (on/off).",
        "storage",
    )
    profiles: str = _setting(
        "all",
        "The profiles served: all, none, or a comma list (dashboards_aggregate, ...). Only "
        "their built-in datasets are created and loaded, and only their routes are mounted.",
        "storage",
    )
    engine: Literal["duckdb", "postgres", "clickhouse"] = _setting(
        "duckdb", "The engine that stores and answers.", "engine"
    )
    postgres_url: str | None = _setting(
        None, "PostgreSQL URL, with TALLY_ENGINE=postgres.", "engine", secret=True
    )
    clickhouse_url: str | None = _setting(
        None,
        "ClickHouse: http(s)://... for a server, chdb://PATH in process (TALLY_ENGINE=clickhouse).",
        "engine",
        secret=True,
    )
    duckdb_threads: int | None = _setting(
        None, "DuckDB worker threads; default one per core.", "engine", ge=1
    )
    query_timeout_s: float = _setting(10.0, "Seconds a query may run.", "engine", gt=0)
    max_concurrent_queries: int | None = _setting(
        None,
        "Queries run at once; default from the engine and the cores (DuckDB and ClickHouse: "
        "cores + 1, as one query already uses every core; PostgreSQL: 2 x cores + 2).",
        "admission",
        ge=1,
    )
    tenant_concurrent_queries: int | None = _setting(
        None,
        "Queries of one tenant run at once; default one less than max_concurrent_queries "
        "(at least 1), so one tenant never holds every slot.",
        "admission",
        ge=1,
    )
    tenant_queued_queries: int = _setting(
        8, "Queries of one tenant waiting in line; one more gets a 429.", "admission", ge=0
    )
    max_queued_queries: int = _setting(
        24, "Queries waiting in line in all; one more gets a 503.", "admission", ge=0
    )
    queue_timeout_s: float = _setting(
        5.0,
        "Longest wait in line. A query whose estimated wait is longer is refused at once (429 "
        "when its own tenant's backlog is the cause, else 503, with Retry-After); one still "
        "waiting then gets the 503.",
        "admission",
        ge=0,
    )
    heavy_query_s: float = _setting(
        0.5,
        "A query estimated to hold its slot longer is heavy: heavy queries together hold all "
        "slots but one, kept for the light ones.",
        "admission",
        gt=0,
    )
    engine_memory_limit: str = _setting(
        "50%",
        "Memory the engine may use for queries: a size (4GB, 512MB) or a share of RAM (50%). "
        "DuckDB: memory_limit, spilling to <data_dir>/duckdb_tmp beyond it; ClickHouse: "
        "max_memory_usage of each query (the limit / query slots); PostgreSQL: work_mem of "
        "each session (the limit / query slots / 4, 4MB to 1GB).",
        "engine",
    )
    job_timeout_s: float = _setting(
        300.0,
        "Seconds a query run as a job (Prefer: respond-async) may run, and may wait in line "
        "for a query slot before it (instead of the queue timeout).",
        "jobs",
        gt=0,
    )
    job_result_ttl_s: float = _setting(
        600.0, "Seconds a finished job's answer is kept; 410 Gone after.", "jobs", gt=0
    )
    job_forget_s: float = _setting(
        86400.0, "Seconds after its end a job is forgotten (404 after its 410).", "jobs", gt=0
    )
    max_jobs_per_tenant: int = _setting(
        8, "Jobs of one tenant pending or running at once; 429 beyond.", "jobs", ge=1
    )
    max_body_bytes: int = _setting(64 * 1024 * 1024, "Largest request body.", "requests", ge=1)
    max_question_body_bytes: int = _setting(
        1024 * 1024,
        "Largest body of a question (a query, a profile request, a key): these are parsed whole "
        "on the event loop, so they are kept small; ingestion bodies stream up to max_body_bytes.",
        "requests",
        ge=1,
    )
    max_ingest_rows: int = _setting(1_000_000, "Most rows in one ingest call.", "requests", ge=1)
    max_rows: int = _limit("max_rows", "Most rows a query may return.")
    default_limit: int = _limit("default_limit", "Rows returned when a query sets no limit.")
    max_buckets: int = _limit("max_buckets", "Most time buckets in one query.")
    max_window_days: int = _limit("max_window_days", "Longest time window (and bucket), days.")
    max_measures: int = _limit("max_measures", "Most measures in one query.")
    max_groups: int = _limit("max_groups", "Most group-by terms in one query.")
    max_filter_depth: int = _limit("max_filter_depth", "Deepest nesting of a filter.")
    max_filter_leaves: int = _limit("max_filter_leaves", "Most conditions in one filter.")
    max_offset: int = _limit("max_offset", "Largest offset a query may skip.")
    cache_enabled: bool = Field(
        True,
        description="Cache answers (on/off); TALLY_CACHE in the environment, cache in the file.",
        json_schema_extra={"group": "cache", "secret": False, "name": "cache"},
    )
    cache_ttl_s: float = _setting(60.0, "Seconds an answer stays fresh.", "cache", ge=0)
    cache_stale_s: float = _setting(
        300.0, "Seconds a stale answer may be served while it refreshes.", "cache", ge=0
    )
    cache_max_bytes: int = _setting(
        256 * 1024 * 1024, "In-process cache size, bytes.", "cache", ge=0
    )
    redis_url: str | None = _setting(
        None,
        "Redis URL: shares the cache, data versions and rate limits between replicas.",
        "cache",
        secret=True,
    )
    redis_prefix: str = _setting("tally:", "Prefix of every Redis key.", "cache")
    jwt_jwks_url: str | None = _setting(None, "JWKS URL of the token issuer (RS256/ES256).", "jwt")
    jwt_public_key_file: Path | None = _setting(None, "PEM public key file (RS256/ES256).", "jwt")
    jwt_hs256_secret: str | None = _setting(None, "Shared HS256 secret.", "jwt", secret=True)
    jwt_issuer: str | None = _setting(None, "Required `iss` of tokens.", "jwt")
    jwt_audience: str | None = _setting(None, "Required `aud` of tokens.", "jwt")
    jwt_leeway_s: float = _setting(30.0, "Clock skew allowed on exp/nbf, seconds.", "jwt", ge=0)
    jwt_algorithms: str | None = _setting(
        None, "Comma-separated subset of RS256, ES256, HS256.", "jwt"
    )
    jwt_jwks_min_refresh_s: float = _setting(
        30.0, "Least seconds between two JWKS fetches.", "jwt", ge=0
    )
    jwt_jwks_max_age_s: float = _setting(600.0, "Seconds a fetched JWKS is trusted.", "jwt", gt=0)
    jwt_claims: str | None = _setting(
        None, 'Claims mapping as JSON, e.g. {"role": "tally_role"}.', "jwt"
    )
    rate_limit_viewer: str = _setting(
        DEFAULT_RATES["viewer"], "Viewer rate: <requests>/<seconds>[:<burst>] or off.", "rates"
    )
    rate_limit_editor: str = _setting(
        DEFAULT_RATES["editor"], "Editor rate: <requests>/<seconds>[:<burst>] or off.", "rates"
    )
    rate_limit_admin: str = _setting(
        DEFAULT_RATES["admin"], "Admin rate: <requests>/<seconds>[:<burst>] or off.", "rates"
    )
    log_level: Literal["debug", "info", "warning", "error"] = _setting(
        "info", "Least level logged (tally serve --log-level).", "logs"
    )
    log_format: Literal["text", "json"] = _setting(
        "text", "text for people, json for a log pipeline (tally serve --log-format).", "logs"
    )
    access_log: bool = _setting(True, "One line per request (on/off).", "logs")
    slow_query_ms: float = _setting(
        1000.0, "Queries slower than this are logged with their hash and timing.", "logs", ge=0
    )

    query_log_shapes: int = _setting(
        1000,
        "Shapes of answered questions kept for `tally rollups suggest` (no filter values; "
        "the least recently asked go first); 0: off.",
        "logs",
        ge=0,
    )
    query_log_samples: int = _setting(
        0,
        "Recent whole questions, filter values included, kept for `tally rollups verify` "
        "(opt-in: they may hold personal data); 0: none kept.",
        "logs",
        ge=0,
    )

    rollup_compact_rows: int = _setting(
        200_000,
        "Appends store their rollup cells as pending rows, read by queries with the rest; a "
        "dataset's are merged in once one of its rollups holds this many.",
        "rollups",
        ge=1,
    )
    rollup_compact_appends: int = _setting(
        64,
        "Pending rollup rows are merged in once this many appends were kept since the last merge.",
        "rollups",
        ge=1,
    )
    rollup_compact_idle_s: float = _setting(
        2.0,
        "Pending rollup rows are merged in once no append came for this many seconds.",
        "rollups",
        gt=0,
    )

    limits: SkipValidation[Limits | None] = Field(None, exclude=True)
    jwt: SkipValidation[JwtSettings | None] = Field(None, exclude=True)
    rate_limits: SkipValidation[RateLimitSettings | None] = Field(None, exclude=True)

    @property
    def question_body_bytes(self) -> int:
        """The limit of a body that is parsed whole: the smaller of the two body limits."""
        return min(self.max_body_bytes, self.max_question_body_bytes)

    @field_validator("rate_limit_viewer", "rate_limit_editor", "rate_limit_admin")
    @classmethod
    def _rate(cls, text: str) -> str:
        Rate.parse(text)
        return text

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, text: str) -> str:
        names = [name.strip() for name in text.split(",")]
        if not all(re.fullmatch(r"[a-z_]+", name) for name in names):
            raise ValueError("write all, none, or profile names separated by commas")
        return ",".join(names)

    @field_validator("engine_memory_limit")
    @classmethod
    def _memory(cls, text: str) -> str:
        memory_bytes(text)
        return text

    @field_validator("jwt_claims")
    @classmethod
    def _claims(cls, text: str | None) -> str | None:
        if text:
            ClaimsMapping.from_json(text)
        return text

    @field_validator("jwt_algorithms")
    @classmethod
    def _algorithms(cls, text: str | None) -> str | None:
        known = {*ASYMMETRIC_ALGORITHMS, *SYMMETRIC_ALGORITHMS}
        unknown = sorted({a.strip() for a in (text or "").split(",") if a.strip()} - known)
        if unknown:
            raise ValueError(f"unsupported {', '.join(unknown)} (known: {', '.join(known)})")
        return text

    @model_validator(mode="after")
    def _views(self) -> Settings:
        """Fill what was left to its default by the data directory, and build the views."""
        if self.datasets_dir is None:
            self.datasets_dir = self.data_dir / "datasets"
        if self.limits is None:
            self.limits = Limits(**{name: getattr(self, name) for name in LIMIT_FIELDS})
        if self.jwt is None:
            self.jwt = self._jwt_view()
        if self.rate_limits is None:
            rates = {role: getattr(self, f"rate_limit_{role}") for role in DEFAULT_RATES}
            self.rate_limits = RateLimitSettings({r: Rate.parse(t) for r, t in rates.items()})
        return self

    def _jwt_view(self) -> JwtSettings:
        algorithms = self.jwt_algorithms
        return JwtSettings(
            jwks_url=self.jwt_jwks_url,
            public_key_file=self.jwt_public_key_file,
            hs256_secret=self.jwt_hs256_secret,
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            leeway_s=self.jwt_leeway_s,
            algorithms=tuple(a.strip() for a in algorithms.split(",")) if algorithms else None,
            jwks_min_refresh_s=self.jwt_jwks_min_refresh_s,
            jwks_max_age_s=self.jwt_jwks_max_age_s,
            claims=ClaimsMapping.from_json(self.jwt_claims) if self.jwt_claims else ClaimsMapping(),
        )

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tally.duckdb"

    @property
    def engine_memory_bytes(self) -> int:
        return memory_bytes(self.engine_memory_limit)

    @property
    def query_slots(self) -> int:
        """`max_concurrent_queries`, or what suits the engine on this machine's cores."""
        if self.max_concurrent_queries is not None:
            return self.max_concurrent_queries
        cores = len(os.sched_getaffinity(0))
        return 2 * cores + 2 if self.engine == "postgres" else cores + 1

    @property
    def tenant_query_slots(self) -> int:
        if self.tenant_concurrent_queries is not None:
            return min(self.tenant_concurrent_queries, self.query_slots)
        return max(1, self.query_slots - 1)

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.sqlite"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings of `tally.toml` (or `$TALLY_CONFIG`) and the environment, with
        `overrides` (given by code, such as tests) on top; a bad value raises `ConfigError`."""
        return load(cls, None, os.environ, {k: (v, "code") for k, v in overrides.items()}).settings
