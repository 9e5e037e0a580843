"""The admission scheduler with real threads: who starts next, who is refused at once, and when.

Queries are stood in for by blocks that hold their slot until the test lets them go, so the
order in which slots are given is observed, not inferred from timings.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tally.auth.principal import Principal
from tally.cli.workers import SETTINGS_VARIABLE, pass_settings, passed_settings
from tally.config import ConfigError, Settings
from tally.config.settings import memory_bytes
from tally.engines.cancel import Cancel
from tally.errors import TallyError
from tally.service.admission import UNSCOPED, Admission, Capacity, Costs, tenant_of

SETTLE_S = 2.0  # the longest a thread may take to reach its slot on a busy machine


class Held:
    """A query in a thread: it asks for a slot, notes when it got one, and holds it until let go."""

    def __init__(
        self,
        admission: Admission,
        tenant: str,
        shape: str,
        log: list[str],
        job_deadline_s: float | None = None,
        cancel: Cancel | None = None,
    ) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.error: TallyError | None = None
        self.finished = threading.Event()
        args = (admission, tenant, shape, log, job_deadline_s, cancel)
        self._thread = threading.Thread(target=self._run, args=args)
        self._thread.start()

    def _run(
        self,
        admission: Admission,
        tenant: str,
        shape: str,
        log: list[str],
        job_deadline_s: float | None,
        cancel: Cancel | None,
    ) -> None:
        try:
            with admission.admit(tenant, shape, job_deadline_s, cancel):
                log.append(f"{tenant}:{shape}")
                self.started.set()
                self.release.wait(10)
        except TallyError as refused:
            self.error = refused
        finally:
            self.finished.set()

    def done(self) -> None:
        self.release.set()
        self._thread.join(5)


def capacity(**changes: float) -> Capacity:
    values = {"slots": 1, "tenant_slots": 1, "tenant_queued": 8, "queued": 24, "deadline_s": 5.0}
    values["heavy_s"] = 0.5
    return Capacity(**{**values, **changes})  # type: ignore[arg-type]


def wait_queued(admission: Admission, count: int) -> None:
    deadline = time.monotonic() + SETTLE_S
    while admission.queued < count:
        assert time.monotonic() < deadline, f"{admission.queued} queued, expected {count}"
        time.sleep(0.005)


@contextmanager
def holding(admission: Admission, tenant: str, shape: str, log: list[str]) -> Iterator[Held]:
    held = Held(admission, tenant, shape, log)
    assert held.started.wait(SETTLE_S)
    try:
        yield held
    finally:
        held.done()


def test_a_light_tenant_is_served_before_the_flooding_tenants_backlog() -> None:
    admission = Admission(capacity(slots=1, tenant_slots=1))
    log: list[str] = []
    first = Held(admission, "a", "heavy", log)
    assert first.started.wait(SETTLE_S)
    flood = []
    for n in range(3):
        flood.append(Held(admission, "a", "heavy", log))
        wait_queued(admission, n + 1)
    light = Held(admission, "b", "light", log)
    wait_queued(admission, 4)
    first.done()
    assert light.started.wait(SETTLE_S)
    assert log == ["a:heavy", "b:light"], "b's query came after a's backlog"
    light.done()
    for held in flood:
        assert held.started.wait(SETTLE_S)
        held.done()
    assert log == ["a:heavy", "b:light", "a:heavy", "a:heavy", "a:heavy"]


def test_no_tenant_takes_more_than_its_share_of_slots() -> None:
    admission = Admission(capacity(slots=3, tenant_slots=2))
    log: list[str] = []
    own = [Held(admission, "a", "q", log) for _ in range(3)]
    wait_queued(admission, 1)
    assert sum(h.started.is_set() for h in own) == 2 and admission.running == 2
    with holding(admission, "b", "q", log):
        assert admission.running == 3 and admission.queued == 1
    for held in own:
        held.done() if held.started.wait(SETTLE_S) else pytest.fail("a's third never started")


def refused_at_once(admission: Admission, tenant: str, shape: str, log: list[str]) -> TallyError:
    """The refusal of a query that arrives now, checked to come before any wait."""
    asked = time.monotonic()
    refused = Held(admission, tenant, shape, log)
    assert refused.finished.wait(SETTLE_S)
    assert time.monotonic() - asked < 1.0, "refused only after waiting"
    assert refused.error is not None, "admitted"
    assert refused.error.retry_after is not None and refused.error.retry_after >= 2
    return refused.error


@pytest.mark.parametrize(
    ("slots", "asker", "status"),
    [
        pytest.param(2, "a", 429, id="its own tenant's backlog: 429, though a slot is free"),
        pytest.param(1, "b", 503, id="another tenant, every slot busy: 503"),
    ],
)
def test_a_query_that_would_wait_past_its_deadline_is_refused_at_once(
    slots: int, asker: str, status: int
) -> None:
    """A heavy query of a holds a slot for 3 s; the deadline is 1 s; a tenant has one slot."""
    admission = Admission(capacity(slots=slots, tenant_slots=1, deadline_s=1.0))
    admission.costs.observe("heavy", 3.0)
    admission.costs.observe("light", 0.01)
    log: list[str] = []
    with holding(admission, "a", "heavy", log):
        assert refused_at_once(admission, asker, "heavy", log).status == status
        if slots > 1:
            with holding(admission, "b", "light", log):
                pass  # another tenant still has a slot
    assert log == ["a:heavy", "b:light"][:slots]


def test_heavy_queries_of_every_tenant_leave_one_slot_to_light_ones() -> None:
    admission = Admission(capacity(slots=3, tenant_slots=2, heavy_s=0.5))
    admission.costs.observe("heavy", 2.0)
    admission.costs.observe("light", 0.01)
    log: list[str] = []
    with holding(admission, "a", "heavy", log), holding(admission, "c", "heavy", log):
        third = Held(admission, "d", "heavy", log)
        wait_queued(admission, 1)
        assert admission.running == 2, "a third heavy query took the last slot"
        with holding(admission, "b", "light", log):
            assert admission.running == 3
        third.release.set()
    assert third.finished.wait(SETTLE_S) and third.error is None
    assert log == ["a:heavy", "c:heavy", "b:light", "d:heavy"]


def test_full_queues_refuse_by_count() -> None:
    admission = Admission(capacity(slots=1, tenant_slots=1, tenant_queued=1, queued=2))
    log: list[str] = []
    with holding(admission, "a", "q", log):
        waiting = [Held(admission, "a", "q", log)]
        wait_queued(admission, 1)
        tenant_full = Held(admission, "a", "q", log)
        assert tenant_full.finished.wait(SETTLE_S)
        assert tenant_full.error is not None and tenant_full.error.status == 429
        waiting.append(Held(admission, "b", "q", log))
        wait_queued(admission, 2)
        all_full = Held(admission, "c", "q", log)
        assert all_full.finished.wait(SETTLE_S)
        assert all_full.error is not None and all_full.error.status == 503
    for held in waiting:
        held.release.set()
    for held in waiting:
        assert held.finished.wait(SETTLE_S) and held.started.is_set() and held.error is None


def test_a_query_still_waiting_at_its_deadline_leaves_the_line_with_a_503() -> None:
    """The estimate (the 0.1 s prior) said it would start in time; the query ahead held on."""
    admission = Admission(capacity(slots=1, tenant_slots=1, deadline_s=0.3))
    log: list[str] = []
    with holding(admission, "a", "unseen", log):
        asked = time.monotonic()
        late = Held(admission, "b", "unseen", log)
        assert late.finished.wait(SETTLE_S)
        took = time.monotonic() - asked
        assert late.error is not None and late.error.status == 503 and late.error.retry_after
        assert 0.3 <= took < 0.3 + SETTLE_S
        assert admission.queued == 0
    assert log == ["a:unseen"]


def test_a_job_waits_up_to_its_own_deadline_and_is_not_refused_for_the_lines_length() -> None:
    """Inline queries may wait 1 s, one of a tenant at most; jobs may wait 10 s. Behind a heavy
    query that holds the only slot (~3 s estimated), an inline heavy query is refused at once,
    two jobs of one tenant wait past 1 s, and a light query of another tenant asked later still
    comes before the second job (fair queues serve jobs too)."""
    admission = Admission(capacity(tenant_queued=1, queued=1, deadline_s=1.0))
    admission.costs.observe("heavy", 3.0)
    admission.costs.observe("light", 0.01)
    log: list[str] = []
    with holding(admission, "a", "heavy", log) as ahead:
        assert refused_at_once(admission, "b", "heavy", log).status == 503
        jobs = [Held(admission, "b", "heavy", log, job_deadline_s=10.0) for _ in range(2)]
        wait_queued(admission, 2)
        time.sleep(1.2)
        assert not any(job.finished.is_set() for job in jobs), "a job left the line"
        light = Held(admission, "c", "light", log)
        wait_queued(admission, 3)
        ahead.release.set()
        for held in (jobs[0], light, jobs[1]):
            assert held.started.wait(SETTLE_S)
            held.done()
    assert all(held.error is None for held in (*jobs, light))
    assert log == ["a:heavy", "b:heavy", "c:light", "b:heavy"]


def test_a_canceled_job_leaves_the_line_at_once() -> None:
    admission = Admission(capacity(deadline_s=1.0))
    log: list[str] = []
    with holding(admission, "a", "q", log):
        cancel = Cancel()
        job = Held(admission, "b", "q", log, job_deadline_s=60.0, cancel=cancel)
        wait_queued(admission, 1)
        asked = time.monotonic()
        cancel.cancel()
        assert job.finished.wait(SETTLE_S) and time.monotonic() - asked < 1.0
        assert job.error is not None and job.error.code == "canceled", job.error
        assert admission.queued == 0
    assert log == ["a:q"]


def test_a_thread_that_holds_a_slot_runs_its_further_statements_within_it() -> None:
    admission = Admission(capacity(slots=1, tenant_slots=1, deadline_s=0.2))
    with admission.admit("a", "answer"), admission.admit(UNSCOPED, "watermark"):
        assert admission.running == 1
    assert admission.running == 0


def test_costs_follow_what_a_shape_took_and_estimate_unseen_shapes_by_the_mean() -> None:
    costs = Costs()
    for seconds in (1.0, 1.0, 1.0, 1.0):
        costs.observe("heavy", seconds)
    costs.observe("light", 0.01)
    assert costs.estimate("light") == 0.01
    assert 0.99 <= costs.estimate("heavy") <= 1.0
    unseen = costs.estimate("unseen")
    assert 0.01 < unseen < 1.0
    assert Costs(unseen_at_most=0.25).estimate("unseen") == 0.1, "the prior, before any run"
    doubted = Costs(unseen_at_most=0.25)
    doubted.observe("heavy", 5.0)
    assert doubted.estimate("unseen") == 0.25, "an unseen shape is given one light run"
    costs.observe("heavy", 2.0)
    assert 1.0 < costs.estimate("heavy") < 2.0


def test_the_tenant_is_the_primary_scope_or_one_unscoped_class() -> None:
    scoped = Principal("k1", "viewer", {"workspace_id": ("ws_a", "ws_b"), "brand_id": ("b",)})
    assert tenant_of(scoped) == "workspace_id=ws_a,ws_b"
    assert tenant_of(Principal("k2", "admin", {}, all_tenants=True)) == UNSCOPED
    assert tenant_of(Principal("k3", "viewer", {"workspace_id": ("x",)}, all_tenants=True)) == (
        UNSCOPED
    )


def test_slots_are_sized_to_the_engine_and_the_cores_unless_set() -> None:
    cores = len(os.sched_getaffinity(0))
    assert Settings(engine="duckdb").query_slots == cores + 1
    assert Settings(engine="clickhouse").query_slots == cores + 1
    assert Settings(engine="postgres").query_slots == 2 * cores + 2
    assert Settings(engine="duckdb").tenant_query_slots == cores
    assert Settings(max_concurrent_queries=1).tenant_query_slots == 1
    assert Settings(max_concurrent_queries=5, tenant_concurrent_queries=9).tenant_query_slots == 5
    capacity = Capacity.of(Settings(max_concurrent_queries=6, tenant_queued_queries=2))
    assert (capacity.slots, capacity.tenant_slots, capacity.tenant_queued) == (6, 5, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4GB", 4 << 30), ("512MB", 512 << 20), ("1.5GiB", 3 << 29), ("2000000", 2_000_000)],
)
def test_a_memory_limit_is_a_size(text: str, expected: int) -> None:
    assert memory_bytes(text) == expected


def test_a_memory_limit_may_be_a_share_of_ram() -> None:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory_bytes("50%") == ram // 2
    assert Settings().engine_memory_bytes == ram // 2


@pytest.mark.parametrize("text", ["lots", "0%", "150%", "12", "4 XB", ""])
def test_a_memory_limit_that_is_not_one_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(engine_memory_limit=text)
    assert "engine_memory_limit" in str(refused.value)


def test_workers_share_the_default_slots_and_keep_set_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTINGS_VARIABLE, "")  # restored after the test
    cores = len(os.sched_getaffinity(0))
    pass_settings(Settings(engine="postgres"), workers=3)
    assert passed_settings().query_slots == math.ceil((2 * cores + 2) / 3)
    pass_settings(Settings(engine="postgres", max_concurrent_queries=5), workers=3)
    assert passed_settings().query_slots == 5
