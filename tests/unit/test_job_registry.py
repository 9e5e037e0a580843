"""The job registry on its own: per-tenant cap, sharing, tenant scoping, expiry and forgetting.
Jobs here run plain Python callables (no engine): what is tested is the bookkeeping."""

from __future__ import annotations

import threading
import time

import pytest

from tally.auth.principal import Principal
from tally.catalog import Catalog
from tally.catalog.holder import CatalogHolder
from tally.engines.cancel import Cancel
from tally.errors import TallyError
from tally.result import Result
from tally.service.jobs import Jobs, tenant_of

DONE = Result(rows=[{"n": 1}], groups=[], measures=[], meta={})


def blocking(release: threading.Event):
    def run(cancel: Cancel) -> Result:
        release.wait(10)
        cancel.check()
        return DONE

    return run


def test_the_cap_counts_a_tenants_running_jobs_and_sharing_does_not_count() -> None:
    jobs = Jobs(4, result_ttl_s=60, forget_s=120, max_per_tenant=2)
    release = threading.Event()
    try:
        first, shared = jobs.submit("t1", "q1", blocking(release))
        assert not shared
        again, shared = jobs.submit("t1", "q1", blocking(release))
        assert shared and again is first
        jobs.submit("t1", "q2", blocking(release))
        with pytest.raises(TallyError) as refused:
            jobs.submit("t1", "q3", blocking(release))
        assert refused.value.status == 429 and refused.value.retry_after
        other, shared = jobs.submit("t2", "q1", blocking(release))
        assert not shared and other is not first, "another tenant's question is its own job"
    finally:
        release.set()
        jobs.close()


def test_ids_are_answered_to_their_tenant_only_then_expire_and_are_forgotten() -> None:
    jobs = Jobs(2, result_ttl_s=0.3, forget_s=0.8, max_per_tenant=2)
    try:
        job, _ = jobs.submit("t1", "q", lambda cancel: DONE)
        job.finished.result(5)
        assert jobs.view(job.id, "t1").result is DONE
        with pytest.raises(TallyError) as stranger:
            jobs.view(job.id, "t2")
        assert stranger.value.status == 404
        time.sleep(0.35)
        with pytest.raises(TallyError) as gone:
            jobs.view(job.id, "t1")
        assert gone.value.status == 410
        time.sleep(0.5)
        with pytest.raises(TallyError) as forgotten:
            jobs.view(job.id, "t1")
        assert forgotten.value.status == 404
    finally:
        jobs.close()


def test_a_canceled_job_says_canceled_and_frees_its_place() -> None:
    jobs = Jobs(2, result_ttl_s=60, forget_s=120, max_per_tenant=1)
    release = threading.Event()
    try:
        job, _ = jobs.submit("t1", "q", blocking(release))
        jobs.cancel(job.id, "t1")
        release.set()
        job.finished.result(5)
        assert job.status == "canceled" and job.error is not None
        assert job.error.code == "canceled"
        jobs.submit("t1", "q", lambda cancel: DONE)[0].finished.result(5)
    finally:
        jobs.close()


def test_a_tenant_is_its_scope_not_its_subject() -> None:
    scopes = {"workspace_id": ("ws_a",)}
    alice = Principal("alice", "viewer", scopes)
    bob = Principal("bob", "admin", scopes)
    assert tenant_of(alice) == tenant_of(bob)
    assert tenant_of(alice) != tenant_of(Principal("carol", "viewer", {"workspace_id": ("b",)}))
    assert tenant_of(alice) != tenant_of(Principal("root", "admin", {}, all_tenants=True))


def test_a_failed_job_keeps_its_error() -> None:
    jobs = Jobs(1, result_ttl_s=60, forget_s=120, max_per_tenant=1)

    def refused(cancel: Cancel) -> Result:
        raise TallyError("unavailable", "the database is not reachable", 503)

    try:
        job, _ = jobs.submit("t1", "q", refused)
        job.finished.result(5)
        assert job.status == "failed" and job.error is not None and job.error.status == 503
        assert job.result is None
    finally:
        jobs.close()


def test_a_job_keeps_the_catalog_its_request_pinned() -> None:
    """A reload swapping the catalog between the request and the job's run changes nothing for
    the job: it runs in the context of the request that started it."""
    first, second = Catalog([]), Catalog([])
    holder = CatalogHolder(first)
    seen: list[Catalog] = []

    def run(cancel: Cancel) -> Result:
        seen.append(holder.current)
        return DONE

    jobs = Jobs(1, result_ttl_s=60, forget_s=120, max_per_tenant=2)
    try:
        with holder.pinned():
            holder.swap(second)
            job, _ = jobs.submit("t1", "q1", run)
        job.finished.result(10)
        assert seen == [first]
    finally:
        jobs.close()
