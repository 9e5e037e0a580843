"""PostgreSQL killed, restarted and frozen under a real `tally serve`: callers get a 503 with
Retry-After within about two seconds (never the pool's 30 s), /readyz names the engine within a
second, and the first request after the database is back succeeds within about two seconds.

The database is a throwaway cluster of the test's own (outage_support.py), not the shared one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.load_support import assert_loop_free, loop_probes
from tests.outage_support import ThrowawayPostgres, throwaway_postgres
from tests.server_support import running_server

pytestmark = [pytest.mark.exclusive, pytest.mark.postgres]

QUERY = {"dataset": "agent_events", "measures": [{"op": "count"}]}
QUERY_TIMEOUT_S = 3.0
OUTAGE_S = 8.0  # long enough for a growing reconnect backoff to show
DOWN_ANSWER_S = 2.5  # "a down database answers 503 within ~2 s"
RECOVERY_S = 3.0  # "the first request after it is back succeeds within ~2 s"
READY_S = 1.3  # /readyz answers within 1 s, with slack for the HTTP round trip


class Tally:
    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.headers = headers

    def query(self) -> tuple[float, httpx.Response]:
        started = time.monotonic()
        answer = httpx.post(f"{self.base}/v1/query", json=QUERY, headers=self.headers, timeout=40)
        return time.monotonic() - started, answer

    def readyz(self) -> tuple[float, httpx.Response]:
        started = time.monotonic()
        answer = httpx.get(f"{self.base}/readyz", timeout=40)
        return time.monotonic() - started, answer

    def first_success(self, within_s: float) -> float:
        """Seconds until a query succeeds, asking back to back; each answer must be quick."""
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            took, answer = self.query()
            if answer.status_code == 200:
                return time.monotonic() - started
            assert answer.status_code == 503, answer.text
            assert took < DOWN_ANSWER_S + 1, f"a 503 took {took:.1f} s"
        raise AssertionError(f"no successful query within {within_s} s of the database's return")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThrowawayPostgres, Tally]]:
    data_dir: Path = tmp_path_factory.mktemp("pg-outage") / "data"
    data_dir.mkdir()
    store = KeyStore(data_dir / "keys.sqlite")
    _, token = store.create("admin", {}, all_tenants=True)
    store.close()
    with (
        throwaway_postgres() as pg,
        running_server(
            data_dir,
            TALLY_ENGINE="postgres",
            TALLY_POSTGRES_URL=pg.url,
            TALLY_CACHE="off",
            TALLY_QUERY_TIMEOUT_S=str(QUERY_TIMEOUT_S),
        ) as base,
    ):
        yield pg, Tally(base, bearer(token))


def test_a_killed_database_fails_fast_and_is_used_again_once_back(served, tmp_path) -> None:
    """/healthz is probed through the outage, on this server and on an idle twin: requests
    waiting on the dead database never hold the event loop."""
    pg, tally = served
    assert tally.query()[1].status_code == 200
    with loop_probes(tally.base, tmp_path) as (probes, twin):
        pg.kill()
        probes.phase = twin.phase = "outage"
        down_at, waits = time.monotonic(), []
        while time.monotonic() - down_at < OUTAGE_S:
            took, answer = tally.query()
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            waits.append(took)
            assert took < DOWN_ANSWER_S, f"a request waited {took:.1f} s for a dead database"
    assert_loop_free(probes, twin, "outage")
    took, ready = tally.readyz()
    assert ready.status_code == 503 and took < READY_S, (took, ready.text)
    assert ready.json()["checks"]["engine"].startswith("down")
    pg.start()
    lag = tally.first_success(RECOVERY_S)
    took, ready = tally.readyz()
    assert ready.status_code == 200 and took < READY_S, (took, ready.text)
    print(f"\noutage: {len(waits)} answers, longest {max(waits):.2f} s; recovery lag {lag:.2f} s")


def test_a_frozen_database_holds_no_request_past_the_query_timeout(served) -> None:
    pg, tally = served
    assert tally.query()[1].status_code == 200
    pg.freeze()
    try:
        took, answer = tally.query()
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        assert took < QUERY_TIMEOUT_S + 1, f"a request waited {took:.1f} s on a frozen database"
        ready_took, ready = tally.readyz()
        assert ready.status_code == 503 and ready_took < READY_S, (ready_took, ready.text)
        assert ready.json()["checks"]["engine"].startswith("down")
    finally:
        pg.thaw()
    lag = tally.first_success(RECOVERY_S + QUERY_TIMEOUT_S)
    print(f"\nfrozen: 503 after {took:.2f} s, /readyz in {ready_took:.2f} s; back in {lag:.2f} s")
