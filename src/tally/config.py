"""Settings from the environment (`TALLY_*`), with defaults that run on one small machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tally.auth.settings import JwtSettings, RateLimitSettings
from tally.query.limits import Limits


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"TALLY_{name}", default)


def _int(name: str, default: int) -> int:
    return int(_env(name) or default)


def _float(name: str, default: float) -> float:
    return float(_env(name) or default)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    datasets_dir: Path | None = None
    engine: str = "duckdb"
    query_timeout_s: float = 10.0
    max_concurrent_queries: int = 16
    queue_timeout_s: float = 5.0
    max_body_bytes: int = 64 * 1024 * 1024
    max_ingest_rows: int = 1_000_000
    duckdb_threads: int | None = None
    postgres_url: str | None = None
    clickhouse_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "tally:"
    cache_enabled: bool = True
    cache_ttl_s: float = 60.0
    cache_stale_s: float = 300.0
    cache_max_bytes: int = 256 * 1024 * 1024
    limits: Limits = field(default_factory=Limits)
    jwt: JwtSettings = field(default_factory=JwtSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tally.duckdb"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.sqlite"

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        data_dir = Path(_env("DATA_DIR") or "data")
        datasets = _env("DATASETS_DIR")
        limits = Limits(
            max_rows=_int("MAX_ROWS", Limits.max_rows),
            default_limit=_int("DEFAULT_LIMIT", Limits.default_limit),
            max_buckets=_int("MAX_BUCKETS", Limits.max_buckets),
            max_window_days=_int("MAX_WINDOW_DAYS", Limits.max_window_days),
            max_measures=_int("MAX_MEASURES", Limits.max_measures),
            max_groups=_int("MAX_GROUPS", Limits.max_groups),
            max_filter_depth=_int("MAX_FILTER_DEPTH", Limits.max_filter_depth),
            max_filter_leaves=_int("MAX_FILTER_LEAVES", Limits.max_filter_leaves),
            max_offset=_int("MAX_OFFSET", Limits.max_offset),
        )
        values = dict(
            data_dir=data_dir,
            datasets_dir=Path(datasets) if datasets else data_dir / "datasets",
            engine=_env("ENGINE", "duckdb") or "duckdb",
            query_timeout_s=_float("QUERY_TIMEOUT_S", cls.query_timeout_s),
            max_concurrent_queries=_int("MAX_CONCURRENT_QUERIES", cls.max_concurrent_queries),
            queue_timeout_s=_float("QUEUE_TIMEOUT_S", cls.queue_timeout_s),
            max_body_bytes=_int("MAX_BODY_BYTES", cls.max_body_bytes),
            max_ingest_rows=_int("MAX_INGEST_ROWS", cls.max_ingest_rows),
            duckdb_threads=_int("DUCKDB_THREADS", 0) or None,
            postgres_url=_env("POSTGRES_URL") or None,
            clickhouse_url=_env("CLICKHOUSE_URL") or None,
            redis_url=_env("REDIS_URL") or None,
            redis_prefix=_env("REDIS_PREFIX", "tally:") or "tally:",
            cache_enabled=(_env("CACHE", "on") or "on").lower() not in ("off", "0", "false"),
            cache_ttl_s=_float("CACHE_TTL_S", cls.cache_ttl_s),
            cache_stale_s=_float("CACHE_STALE_S", cls.cache_stale_s),
            cache_max_bytes=_int("CACHE_MAX_BYTES", cls.cache_max_bytes),
            limits=limits,
            jwt=JwtSettings.from_env(),
            rate_limits=RateLimitSettings.from_env(),
        )
        values.update(overrides)
        return cls(**values)
