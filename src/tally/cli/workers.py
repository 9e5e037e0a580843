"""`tally serve --workers N`: several server processes on one port, for more than one core.

uvicorn starts each worker as a fresh (spawned) process that builds the application from an
import string, so the workers cannot receive the parent's objects: the parent passes its
effective settings (file, environment and flags already merged) as JSON in one environment
variable, and every worker builds the same service from them, with its own engine pool.

Workers share nothing in memory, so they are refused where that would be wrong: an embedded
engine (the DuckDB file, chDB's directory) belongs to one process, and without Redis each
worker would keep its own cache, data versions and rate limits, so an ingestion through one
worker would leave the others serving the answers cached before it.
"""

from __future__ import annotations

import asyncio
import os

from tally.config import Settings

SETTINGS_VARIABLE = "TALLY_WORKER_SETTINGS"
WORKER_APP = "tally.cli.serving:worker_app"


def refusal(config: Settings, workers: int) -> str | None:
    """Why these settings cannot be served by `workers` processes, or None when they can."""
    if workers == 1:
        return None
    asked = f"--workers {workers}"
    if config.engine == "duckdb":
        return (
            f"{asked} cannot serve DuckDB: its file belongs to one process (a second one is "
            "refused the file's lock); use TALLY_ENGINE=postgres or clickhouse, or one worker"
        )
    if config.engine == "clickhouse" and (config.clickhouse_url or "").startswith("chdb:"):
        return (
            f"{asked} cannot serve chDB: it runs ClickHouse inside one process, which owns its "
            "directory; use a ClickHouse server (http(s)://...), or one worker"
        )
    if not config.redis_url:
        return (
            f"{asked} needs TALLY_REDIS_URL: without it each worker keeps its own cache, data "
            "versions and rate limits, so after an ingestion through one worker the others "
            "would serve stale cached answers"
        )
    return None


def close(service) -> None:
    """Release what the parent's service opened before the workers start their own."""
    if service.cache is not None:
        asyncio.run(service.cache.close())
    service.close()


def pass_settings(config: Settings, workers: int = 1) -> None:
    """Put the effective settings where the spawned workers (which inherit the environment)
    read them. Query slots left to their default are the machine's: the workers share them."""
    if config.max_concurrent_queries is None:
        share = max(1, -(-config.query_slots // workers))
        config = config.model_copy(update={"max_concurrent_queries": share})
    os.environ[SETTINGS_VARIABLE] = config.model_dump_json()


def passed_settings() -> Settings:
    """The settings the parent passed; in a worker only."""
    return Settings.model_validate_json(os.environ[SETTINGS_VARIABLE])
