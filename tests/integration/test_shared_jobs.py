"""Jobs through a real Redis, seen from two registries as two processes would (each its own
`Jobs` and Redis client, one prefix): the one that does not run a job answers its polls from
Redis (running with progress, then succeeded with the answer, 410 after the result TTL, 404 to
another tenant), and a cancel it takes stops the job in the other within about a second."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from tally.engines.cancel import Cancel
from tally.errors import TallyError
from tally.result import Result
from tally.service.jobs import Jobs
from tally.service.shared_jobs import PUBLISH_S, SharedJobs
from tests.integration.cache_support import REDIS_URL

RESULT_TTL_S = 1.5
ANSWER = Result(
    rows=[{"day": datetime(2026, 1, 1, tzinfo=UTC), "count": 3}],
    groups=["day"],
    measures=["count"],
    meta={"dataset": "d", "total_rows": 1},
)


@pytest.fixture
def pair() -> Iterator[tuple[Jobs, Jobs]]:
    prefix = f"tally-test-{uuid.uuid4().hex[:8]}:"
    made = [
        Jobs(2, RESULT_TTL_S, 30, 4, SharedJobs(REDIS_URL, prefix, RESULT_TTL_S, 30))
        for _ in range(2)
    ]
    try:
        yield made[0], made[1]
    finally:
        for jobs in made:
            jobs.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def until(check, within_s: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"not within {within_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_another_process_polls_a_job_to_its_answer_then_410(pair) -> None:
    runner, other = pair
    release = threading.Event()

    def run(cancel: Cancel) -> Result:
        release.wait(10)
        return ANSWER

    job, _ = runner.submit("t1", "q", run)
    until(lambda: other.view(job.id, "t1").status == "running", 5)
    time.sleep(PUBLISH_S * 2.5)
    assert other.view(job.id, "t1").progress["elapsed_ms"] >= PUBLISH_S * 1000
    with pytest.raises(TallyError) as stranger:
        other.view(job.id, "t2")
    assert stranger.value.status == 404
    release.set()
    until(lambda: other.view(job.id, "t1").status == "succeeded", 5)
    seen = other.view(job.id, "t1")
    assert seen.result is not None and seen.result.rows == ANSWER.rows
    time.sleep(RESULT_TTL_S)
    with pytest.raises(TallyError) as gone:
        other.view(job.id, "t1")
    assert gone.value.status == 410


def test_a_cancel_taken_by_another_process_stops_the_job(pair) -> None:
    runner, other = pair
    stopped = threading.Event()

    def run(cancel: Cancel) -> Result:
        while not cancel.cancelled:
            time.sleep(0.02)
        stopped.set()
        cancel.check()
        return ANSWER

    job, _ = runner.submit("t1", "q", run)
    until(lambda: other.view(job.id, "t1").status == "running", 5)
    asked = time.monotonic()
    other.cancel(job.id, "t1")
    assert stopped.wait(PUBLISH_S * 4), "the running process never saw the cancel"
    took = time.monotonic() - asked
    assert took < PUBLISH_S * 4
    settled = other.settle(job.id, "t1", 5)
    assert settled.status == "canceled" and settled.error is not None
    assert settled.error.code == "canceled"


def test_dropping_a_finished_job_drops_it_everywhere(pair) -> None:
    runner, other = pair
    job, _ = runner.submit("t1", "q", lambda cancel: ANSWER)
    job.finished.result(5)
    until(lambda: other.view(job.id, "t1").status == "succeeded", 5)
    other.cancel(job.id, "t1")
    for jobs in (runner, other):
        with pytest.raises(TallyError) as forgotten:
            jobs.view(job.id, "t1")
        assert forgotten.value.status == 404


def test_a_process_answers_for_its_own_jobs_while_redis_is_unreachable() -> None:
    """Nothing listens on port 1: writes fail (logged), the job runs on and its own process
    answers for it; an id it does not know is a 503 (it cannot ask), not a 404."""
    jobs = Jobs(1, 60, 120, 2, SharedJobs("redis://127.0.0.1:1/0", "tally-test-down:", 60, 120))
    release = threading.Event()

    def run(cancel: Cancel) -> Result:
        release.wait(10)
        return ANSWER

    try:
        job, _ = jobs.submit("t1", "q", run)
        until(lambda: jobs.view(job.id, "t1").status == "running", 5)
        release.set()
        job.finished.result(5)
        assert jobs.view(job.id, "t1").result is ANSWER
        with pytest.raises(TallyError) as unknown:
            jobs.view("no-such-job", "t1")
        assert unknown.value.status == 503 and unknown.value.retry_after
    finally:
        jobs.close()
