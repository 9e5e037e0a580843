"""Overload: one tenant floods a real `tally serve` with heavy queries while another asks light
ones. Four times more heavy queries are in flight than the engine has slots; every request gets
an answer (200, or 429/503 with Retry-After, never another 5xx) within its deadline, and the light
tenant's p99 stays under a stated bound; its p99 on the same server undisturbed is measured first.

The bound: LIGHT_P99_S absolute. The light query takes ~10-60 ms alone on this shared 2-core
machine; under the flood it shares the cores with the two heavy queries the flooding tenant may
run at once (its share of the three slots), and its p99 was 150-450 ms. Admitted by a plain
count instead (bench/pressure.py, "plain count"), it waits behind the flood's backlog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.pressure import HEAVY, Load, Seen, build, light
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.wiring import build_service
from tests.server_support import running_server

HEAVY_ROWS = 1_000_000  # tenant a's rows: the heavy query over them takes ~0.3-1 s here
QUEUE_TIMEOUT_S = 2.0
QUERY_TIMEOUT_S = 10.0
SLOTS = 3  # what the default gives a 2-core machine (cores + 1), stated so the test is the same
FLOODERS = 4 * SLOTS
ALONE_S = 4.0
FLOOD_S = 10.0
LIGHT_P99_S = 0.75
HELD_S = 0.4
SLACK_S = 1.0  # a refusal leaves the server at once; the client on a busy machine may be late


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    data_dir = tmp_path_factory.mktemp("overload") / "data"
    headers = build(data_dir, {"ws_a": HEAVY_ROWS, "ws_b": 20_000})
    settings = {
        "TALLY_CACHE": "off",  # every answer is computed: identical floods are not shared
        "TALLY_MAX_CONCURRENT_QUERIES": str(SLOTS),
        "TALLY_QUEUE_TIMEOUT_S": str(QUEUE_TIMEOUT_S),
        "TALLY_QUERY_TIMEOUT_S": str(QUERY_TIMEOUT_S),
        **{f"TALLY_RATE_LIMIT_{r}": "off" for r in ("VIEWER", "EDITOR", "ADMIN")},
    }
    with running_server(data_dir, **settings) as base:
        yield base, headers


def refusals_counted(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    assert "tally_queries_queued " in text and "tally_queries_running " in text
    return {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tally_queries_refused_total{")
    }


def test_a_flood_of_heavy_queries_is_refused_with_retry_after_and_a_light_tenant_is_served(
    served: tuple[str, dict],
) -> None:
    base, headers = served
    warm = httpx.post(f"{base}/v1/query", json=HEAVY, headers=headers["ws_a"], timeout=30)
    assert warm.status_code == 200, warm.text
    small, heavy = Seen(), Seen()
    load = Load(base, timeout_s=QUEUE_TIMEOUT_S + QUERY_TIMEOUT_S + 20)
    load.clients(small, 1, light, lambda n: headers["ws_b"])
    load.clients(heavy, FLOODERS, lambda n: HEAVY, lambda n: headers["ws_a"], held=True)
    with load:
        load.phase = "alone"
        time.sleep(ALONE_S)
        load.release("flood")
        time.sleep(FLOOD_S)
    assert not small.failures and not heavy.failures, (small.failures + heavy.failures)[:5]

    assert set(small.statuses("alone")) == set(small.statuses("flood")) == {200}, small.statuses(
        "flood"
    )
    flood = heavy.statuses("flood")
    assert set(flood) <= {200, 429, 503}, flood
    assert flood.get(200, 0) >= 3, f"the flood made no progress: {flood}"
    assert flood.get(429, 0) + flood.get(503, 0) >= FLOODERS, f"no overload: {flood}"
    for _, status, took, retry_after in heavy.answers:
        if status == 200:
            assert took <= QUEUE_TIMEOUT_S + QUERY_TIMEOUT_S + SLACK_S
        else:
            assert retry_after is not None and int(retry_after) >= 1, (status, retry_after)
            assert took <= QUEUE_TIMEOUT_S + SLACK_S, f"a {status} after {took:.2f} s"

    alone, flooded = small.p("alone", 0.99), small.p("flood", 0.99)
    facts = (
        f"b's p99 alone {alone * 1000:.0f} ms, under the flood {flooded * 1000:.0f} ms "
        f"(p50 {small.p('flood', 0.5) * 1000:.0f} ms); a's answers {flood}"
    )
    print(facts)
    assert flooded <= LIGHT_P99_S, facts

    counted = refusals_counted(base)
    assert counted["tenant"] == flood.get(429, 0), (counted, flood)
    assert counted["overloaded"] + counted["deadline"] == flood.get(503, 0), (counted, flood)


def test_an_answer_says_how_long_it_waited_in_line(tmp_path: Path) -> None:
    """The only slot is held for HELD_S by another tenant; the answer waits that long for it."""
    service = build_service(Settings(data_dir=tmp_path / "data", max_concurrent_queries=1))
    admission = service.answers.admission
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with admission.admit("another tenant", "held"):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    threading.Timer(HELD_S, release.set).start()
    try:
        assert taken.wait(5)
        query = Query.model_validate(light(1))
        result = service.answers.answer(query, Principal("admin", "admin", all_tenants=True))
    finally:
        release.set()
        holder.join(10)
        service.engine.close()
    timing = result.meta["timing_ms"]
    assert HELD_S * 1000 * 0.8 <= timing["queue"] <= (HELD_S + SLACK_S) * 1000, timing
    assert set(timing) == {"compile", "queue", "execute"}
