"""Overload: one tenant floods a real `tally serve` with heavy queries while another asks light
ones. Four times more heavy queries are in flight than the engine has slots; every request gets
an answer (200, or 429/503 with Retry-After, never another 5xx) within its deadline, and the light
tenant's p99 stays under a stated bound; its p99 on the same server undisturbed is measured first.

The bound: LIGHT_P99_S absolute. The light query takes ~10-60 ms alone on this shared 2-core
machine; under the flood it shares the cores with the two heavy queries the flooding tenant may
run at once (its share of the three slots), and its p99 was 150-450 ms. Admitted by a plain
count instead (bench/pressure.py, "plain count"), it waits behind the flood's backlog.

The same flood asked as jobs (`Prefer: respond-async, wait=0`) is held to the same bound: jobs
wait in the same fair queues and heavy lane, only longer (up to the job timeout).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from bench.pressure import HEAVY, Load, Seen, build, heavy, light
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.wiring import build_service
from tests.load_support import assert_loop_free, loop_probes
from tests.server_support import running_server

pytestmark = pytest.mark.exclusive

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
JOBS_PER_TENANT = 8  # the default cap (max_jobs_per_tenant); FLOODERS is more
JOB_DRAIN_S = 60.0  # jobs still running when the flood stops end well within it (~1 s each)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict, Path]]:
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
        yield base, headers, data_dir


def refusals_counted(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    assert "tally_queries_queued " in text and "tally_queries_running " in text
    return {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tally_queries_refused_total{")
    }


def test_a_flood_of_heavy_queries_is_refused_with_retry_after_and_a_light_tenant_is_served(
    served: tuple[str, dict, Path], tmp_path: Path
) -> None:
    """/healthz is probed all along, on this server and on an idle twin: the event loop only
    routes, so under the flood its p99 stays within the twin's plus a small slack."""
    base, headers, _ = served
    warm = httpx.post(f"{base}/v1/query", json=HEAVY, headers=headers["ws_a"], timeout=30)
    assert warm.status_code == 200, warm.text
    small, heavy = Seen(), Seen()
    load = Load(base, timeout_s=QUEUE_TIMEOUT_S + QUERY_TIMEOUT_S + 20)
    load.clients(small, 1, light, lambda n: headers["ws_b"])
    load.clients(heavy, FLOODERS, lambda n: HEAVY, lambda n: headers["ws_a"], held=True)
    with loop_probes(base, tmp_path) as (probes, twin), load:
        load.phase = "alone"
        time.sleep(ALONE_S)
        load.release("flood")
        probes.phase = twin.phase = "flood"
        time.sleep(FLOOD_S)
    assert not small.failures and not heavy.failures, (small.failures + heavy.failures)[:5]
    assert_loop_free(probes, twin, "flood")

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


def by_plain_sql(data_dir: Path, copy: Path, asked: list[tuple[dict, dict]]) -> None:
    """Each job's answer against DuckDB SQL over a copy of the server's file (the server holds
    the file's lock), over the window the answer reports (`last` moves with the clock)."""
    shutil.copy(data_dir / "tally.duckdb", copy)
    sql = """
        SELECT event_type, brand_id, count(DISTINCT session_id), quantile_cont(duration_ms, 0.95)
        FROM agent_events
        WHERE workspace_id = 'ws_a' AND event_type <> $left_out
            AND ts >= CAST($start AS TIMESTAMPTZ) AND ts < CAST($end AS TIMESTAMPTZ)
        GROUP BY ALL
    """
    expected: dict[tuple[str, str, str], dict] = {}
    with duckdb.connect(str(copy), read_only=True) as db:
        for body, result in asked:
            window = result["meta"]["time"]
            key = (body["filter"]["value"], window["start"], window["end"])
            if key not in expected:
                params = {"start": window["start"], "end": window["end"], "left_out": key[0]}
                found = db.execute(sql, params).fetchall()
                expected[key] = {(t, b): (n, pytest.approx(p95)) for t, b, n, p95 in found}
            got = {
                (r["event_type"], r["brand_id"]): (
                    r["count_distinct_session_id"],
                    r["p95_duration_ms"],
                )
                for r in result["rows"]
            }
            assert got == expected[key], key


def test_a_flood_of_jobs_waits_in_the_fair_queues_and_every_job_succeeds(
    served: tuple[str, dict, Path], tmp_path: Path
) -> None:
    """Tenant a floods heavy questions as jobs, more than its job cap; every one is a 202 whose
    job ends with the right answer, or a 429 with Retry-After at the cap, and tenant b's light
    questions stay under the same bound as under the inline flood; /healthz as there."""
    base, headers, data_dir = served
    warm = httpx.post(f"{base}/v1/query", json=HEAVY, headers=headers["ws_a"], timeout=30)
    assert warm.status_code == 200, warm.text
    small, jobs = Seen(), Seen()
    load = Load(base, timeout_s=JOB_DRAIN_S)
    load.clients(small, 1, light, lambda k: headers["ws_b"])
    load.clients(jobs, FLOODERS, heavy, lambda k: headers["ws_a"], held=True, as_jobs=True)
    with loop_probes(base, tmp_path) as (probes, twin), load:
        load.phase = "alone"
        time.sleep(ALONE_S)
        load.release("flood")
        probes.phase = twin.phase = "flood"
        time.sleep(FLOOD_S)
    assert not small.failures and not jobs.failures, (small.failures + jobs.failures)[:5]
    assert_loop_free(probes, twin, "flood")

    assert set(small.statuses("alone")) == set(small.statuses("flood")) == {200}
    flood = jobs.statuses("flood")
    assert set(flood) <= {202, 429}, flood
    assert flood.get(202, 0) >= 3, f"the flood made no progress: {flood}"
    assert flood.get(429, 0) >= 1, f"the job cap was never reached: {flood}"
    for _, status, _, retry_after in jobs.answers:
        if status == 429:
            assert retry_after is not None and int(retry_after) >= 1
    assert len(jobs.jobs) == flood[202]
    by_plain_sql(data_dir, tmp_path / "copy.duckdb", jobs.jobs)

    alone, flooded = small.p("alone", 0.99), small.p("flood", 0.99)
    facts = (
        f"b's p99 alone {alone * 1000:.0f} ms, under the job flood {flooded * 1000:.0f} ms "
        f"(p50 {small.p('flood', 0.5) * 1000:.0f} ms); a's jobs {flood}, job p50 "
        f"{jobs.p('flood', 0.5):.2f} s, p99 {jobs.p('flood', 0.99):.2f} s"
    )
    print(facts)
    assert flooded <= LIGHT_P99_S, facts


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
