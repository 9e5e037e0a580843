"""Redis killed, restarted empty and frozen under load, behind a real `tally serve` that uses it
for the cache, the data versions and the rate limits.

While it happens: no request fails (the engine answers, the process limits on its own), /healthz
stays fast (no Redis call blocks the event loop), and every answer after an ingestion carries the
ingested time as its watermark (no memo is served under versions that are unknown or that
restarted from 0).

/healthz p99 must stay under 50 ms more than that of a twin server, without Redis, under the same
load at the same moments. This machine is shared: when its neighbours saturate the cores, even an
undisturbed server shows a p99 of 40-160 ms for a few seconds, while a loop blocked by a frozen
Redis shows 450-500 ms. The twin suffers the same neighbours at the same time, and on a quiet
machine its p99 is under 10 ms, so the bound is then the 50 ms asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.load_support import QUERY, UNLIMITED_RATES, Load, admin_data_dir
from tests.outage_support import ThrowawayRedis, throwaway_redis
from tests.server_support import running_server

pytestmark = [pytest.mark.exclusive, pytest.mark.redis]

HEALTHZ_P99_S = 0.050
SEEN_BACK_S = 2.5  # the store and the limiter try Redis again 2 s after a failure
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


class Ingests:
    """Each call stores a row newer than the last and checks the next answer's watermark."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.headers = headers
        self.stored = 0

    def newer_row_is_the_watermark(self, phase: str) -> None:
        self.stored += 1
        ts = BASE + timedelta(minutes=self.stored)
        row = {
            "workspace_id": "ws_w",
            "brand_id": "br_1",
            "event_id": f"wm-{self.stored}",
            "event_type": "view",
            "ts": ts.isoformat(),
            "amount": 1.0,
        }
        url = f"{self.base}/v1/datasets/agent_events/rows"
        stored = httpx.post(url, json=[row], headers=self.headers, timeout=10)
        assert stored.status_code == 200 and stored.json()["accepted"] == 1, stored.text
        answer = httpx.post(f"{self.base}/v1/query", json=QUERY, headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        watermark = datetime.fromisoformat(answer.json()["meta"]["watermark"])
        assert watermark == ts, f"{phase}: watermark {watermark}, newest row {ts}"
        assert answer.json()["rows"][0]["count"] == self.stored, phase


Served = tuple[ThrowawayRedis, tuple[str, dict[str, str]], tuple[str, dict[str, str]]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A server on a throwaway Redis, and its twin without Redis."""
    data_dir, headers = admin_data_dir(tmp_path / "redis")
    twin_dir, twin_headers = admin_data_dir(tmp_path / "twin")
    with (
        throwaway_redis() as redis_server,
        running_server(data_dir, TALLY_REDIS_URL=redis_server.url, **UNLIMITED_RATES) as base,
        running_server(twin_dir, **UNLIMITED_RATES) as twin_base,
    ):
        yield redis_server, (base, headers), (twin_base, twin_headers)


def test_redis_killed_restarted_empty_and_frozen_under_load(served: Served) -> None:
    redis_server, (base, headers), twin_at = served
    ingests = Ingests(base, headers)
    with Load(base, headers) as load, Load(*twin_at) as twin:

        def phase(name: str) -> None:
            load.phase = twin.phase = name

        ingests.newer_row_is_the_watermark("redis up")
        time.sleep(1.0)
        phase("up")
        time.sleep(1.0)

        phase("restarted")
        redis_server.kill()
        redis_server.start()
        time.sleep(SEEN_BACK_S)
        ingests.newer_row_is_the_watermark("redis restarted empty, counters from 0 again")

        phase("killed")
        redis_server.kill()
        ingests.newer_row_is_the_watermark("redis down")
        ingests.newer_row_is_the_watermark("redis still down, a second ingestion")

        phase("back")
        redis_server.start()
        time.sleep(SEEN_BACK_S)
        ingests.newer_row_is_the_watermark("redis back empty after an outage")

        phase("frozen")
        redis_server.freeze()
        try:
            ingests.newer_row_is_the_watermark("redis frozen")
            time.sleep(SEEN_BACK_S)
            ingests.newer_row_is_the_watermark("redis still frozen, tried again")
        finally:
            redis_server.thaw()
        phase("thawed")
        time.sleep(SEEN_BACK_S)
        ingests.newer_row_is_the_watermark("redis thawed")
    assert not load.failures, load.failures[:5]
    assert not twin.failures, twin.failures[:5]
    assert load.answered > 100, "the load ran throughout"
    outages = ("restarted", "killed", "back", "frozen", "thawed")
    disturbed, yardstick = load.p99(outages), twin.p99(outages)
    figures = (
        f"/healthz p99 {disturbed * 1000:.1f} ms through the outages, "
        f"{yardstick * 1000:.1f} ms on the twin without Redis meanwhile; "
        f"{len(load.healthz)} probes, {load.answered} queries; {load.by_phase()}; "
        f"twin: {twin.by_phase()}"
    )
    print(f"\n{figures}")
    assert disturbed < yardstick + HEALTHZ_P99_S, figures
