"""Long questions as jobs: started by one request, polled and canceled by later ones.

A job runs in a thread of its own pool, with the job timeout and a cancel handle bound to each
statement it runs (engines/cancel.py), so canceling stops the engine's work, not only the
waiting. Jobs are the tenant's: an id is answered only to a caller of the same tenant scope
(anyone else gets the 404 an unknown id gets), and a question asked again by that tenant while
its job is pending or running in this process joins that job. A finished job keeps its answer
for the result TTL, then answers 410 Gone until it is forgotten.

A job runs in the process that accepted it. With Redis (`shared`), its state and answer are
written there (shared_jobs.py), so any process sharing that Redis answers a poll or takes a
cancel; without Redis only this process knows it, and `tally serve --workers N` (which needs
Redis) is the one case where that would matter.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis

from tally.auth.principal import Principal
from tally.engines.cancel import Cancel
from tally.errors import TallyError, unavailable
from tally.result import Result
from tally.service.shared_jobs import PUBLISH_S, SharedJobs, error_fields, error_from

log = logging.getLogger(__name__)
ACTIVE = ("pending", "running")
Run = Callable[[Cancel], Result]


def tenant_of(principal: Principal) -> str:
    """The tenant scope a job belongs to: callers who may read exactly the same tenants share
    jobs; the subject and role do not matter (they see the same rows)."""
    scope = {"all": principal.all_tenants, "scopes": sorted(principal.scopes.items())}
    return hashlib.sha256(orjson.dumps(scope)).hexdigest()[:32]


@dataclass
class Job:
    """A job this process runs."""

    id: str
    tenant: str
    question: str
    created_at: datetime
    cancel: Cancel = field(default_factory=Cancel)
    status: str = "pending"
    result: Result | None = None
    error: TallyError | None = None
    started: float = field(default_factory=time.monotonic)
    running_since: float | None = None
    ended: float | None = None
    ended_at: datetime | None = None
    finished: Future[None] = field(default_factory=Future)
    shared_end: bool = False  # its final state is in Redis: no progress write may follow

    def progress(self) -> dict[str, Any]:
        """Elapsed time always; what the engine says of its statement while running."""
        since = self.running_since if self.running_since is not None else self.started
        until = self.ended if self.ended is not None else time.monotonic()
        found: dict[str, Any] = {"elapsed_ms": round((until - since) * 1000)}
        if self.status == "running":
            found.update(self.cancel.progress())
        return found

    def state(self) -> dict[str, Any]:
        """What other processes read of it (shared_jobs.py)."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "progress": self.progress(),
            "error": error_fields(self.error) if self.error is not None else None,
        }


@dataclass(frozen=True)
class JobView:
    """A job as a poll answers it, whichever process runs it; `local` when this one does."""

    id: str
    status: str
    created_at: datetime
    progress: dict[str, Any]
    result: Result | None
    error: TallyError | None
    local: Job | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(job.id, job.status, job.created_at, job.progress(), job.result, job.error, job)


def not_found() -> TallyError:
    return TallyError.at("/id", "there is no such job", code="not_found", status=404)


class Jobs:
    def __init__(
        self,
        workers: int,
        result_ttl_s: float,
        forget_s: float,
        max_per_tenant: int,
        shared: SharedJobs | None = None,
    ) -> None:
        self.result_ttl_s = result_ttl_s
        self.forget_s = max(forget_s, result_ttl_s)
        self.max_per_tenant = max_per_tenant
        self.shared = shared
        self._jobs: dict[str, Job] = {}
        self._running: dict[tuple[str, str], Job] = {}
        self._lock = threading.Lock()
        self._share_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tally-job")
        self._closed = threading.Event()
        if shared is not None:
            threading.Thread(target=self._publish, name="tally-job-share", daemon=True).start()

    def submit(self, tenant: str, question: str, run: Run) -> tuple[Job, bool]:
        """(the job, whether it was already running for this tenant's identical question).
        Writes to Redis when shared: call it from a worker thread."""
        with self._lock:
            self._sweep()
            shared = self._running.get((tenant, question))
            if shared is not None:
                return shared, True
            active = sum(1 for job in self._running.values() if job.tenant == tenant)
            if active >= self.max_per_tenant:
                raise TallyError(
                    "too_many_jobs",
                    f"this tenant has {active} jobs pending or running, the most allowed; "
                    "wait for one to finish or cancel one",
                    429,
                    retry_after=5,
                )
            job = Job(secrets.token_urlsafe(16), tenant, question, datetime.now(UTC))
            self._jobs[job.id] = job
            self._running[(tenant, question)] = job
        self._share(job)  # before its id is handed out: a poll may reach another process
        # The job runs with the caller's context: the catalog its request pinned (a reload in
        # the meantime does not change the definitions it answers with) and its trace id.
        self._pool.submit(contextvars.copy_context().run, self._run, job, run)
        return job, False

    def view(self, job_id: str, tenant: str) -> JobView:
        """The tenant's job; 404 for an unknown id or another tenant's, 410 once its answer
        expired. Reads Redis for a job of another process: call it from a worker thread."""
        with self._lock:
            self._sweep()
            job = self._jobs.get(job_id)
        if job is not None and job.tenant != tenant:
            raise not_found()
        if job is not None and (job.ended is None or self.shared is None):
            self._check_kept(job.ended_at)
            return JobView.of(job)
        try:
            # A finished job of this process too: another may have dropped it (DELETE).
            return self._remote(job_id, tenant)
        except redis.RedisError:
            log.warning("cannot read job %s from Redis", job_id, exc_info=True)
            if job is None:
                raise unavailable(
                    "jobs are shared through Redis, which cannot be reached"
                ) from None
        self._check_kept(job.ended_at)
        return JobView.of(job)

    def _remote(self, job_id: str, tenant: str) -> JobView:
        found = self.shared.read(job_id) if self.shared is not None else None
        if found is None or found[0]["tenant"] != tenant:
            raise not_found()
        state, result = found
        ended_at = datetime.fromisoformat(state["ended_at"]) if state["ended_at"] else None
        self._check_kept(ended_at)
        if state["status"] == "succeeded" and result is None:
            self._check_kept(None, expired=True)
        error = error_from(state["error"]) if state["error"] else None
        created = datetime.fromisoformat(state["created_at"])
        return JobView(job_id, state["status"], created, state["progress"], result, error)

    def _check_kept(self, ended_at: datetime | None, expired: bool = False) -> None:
        if ended_at is not None:
            expired = datetime.now(UTC) - ended_at >= timedelta(seconds=self.result_ttl_s)
        if expired:
            raise TallyError.at(
                "/id",
                f"the job ended more than {self.result_ttl_s:g} s ago and its answer was "
                "dropped; ask the question again",
                code="gone",
                status=410,
            )

    def cancel(self, job_id: str, tenant: str) -> JobView:
        """Stop a pending or running job (its engine statement with it); a finished job's
        answer is dropped instead, and its id forgotten here. A job of another process is asked
        to stop through Redis. Call it from a worker thread."""
        found = self.view(job_id, tenant)
        if found.active and found.local is not None:
            found.local.cancel.cancel()
        elif found.active and self.shared is not None:
            self.shared.ask_cancel(job_id)
        elif not found.active:
            with self._lock:
                self._jobs.pop(job_id, None)
            if self.shared is not None:
                self.shared.forget(job_id)
        return found

    def settle(self, job_id: str, tenant: str, within_s: float) -> JobView:
        """The job once it is no longer active, or as it is after `within_s` (a worker
        thread: it polls Redis for a job of another process)."""
        deadline = time.monotonic() + within_s
        found = self.view(job_id, tenant)
        while found.active and time.monotonic() < deadline:
            time.sleep(0.1)
            found = self.view(job_id, tenant)
        return found

    def _run(self, job: Job, run: Run) -> None:
        try:
            if job.cancel.cancelled:
                job.status = "canceled"
                return
            job.running_since = time.monotonic()
            job.status = "running"
            self._share(job)
            job.result = run(job.cancel)
            job.status = "succeeded"
        except TallyError as error:
            job.error = error
            job.status = "canceled" if job.cancel.cancelled else "failed"
        except Exception:
            log.exception("a job failed")
            job.error = TallyError("internal_error", "something went wrong on our side", 500)
            job.status = "failed"
        finally:
            job.ended = time.monotonic()
            job.ended_at = datetime.now(UTC)
            self._share(job, job.result)
            with self._lock:
                self._running.pop((job.tenant, job.question), None)
            job.finished.set_result(None)

    def _share(self, job: Job, result: Result | None = None) -> None:
        """Write the job's state; once its end is written, nothing older may overwrite it."""
        if self.shared is None:
            return
        with self._share_lock:
            if job.shared_end:
                return
            self.shared.publish(job.state(), result)
            job.shared_end = job.ended is not None

    def _publish(self) -> None:
        """Progress of the running jobs out, cancels asked elsewhere in, every `PUBLISH_S`."""
        assert self.shared is not None
        while not self._closed.wait(PUBLISH_S):
            with self._lock:
                running = list(self._running.values())
            for job in running:
                self._share(job)
            for job_id in self.shared.cancels_asked([job.id for job in running]):
                with self._lock:
                    job = self._jobs.get(job_id)
                if job is not None:
                    job.cancel.cancel()

    def _sweep(self) -> None:
        """Forget jobs ended longer ago than `forget_s` (called under the lock)."""
        now = time.monotonic()
        ended = [j.id for j in self._jobs.values() if j.ended is not None]
        for job_id in ended:
            if now - (self._jobs[job_id].ended or now) > self.forget_s:
                del self._jobs[job_id]

    def close(self) -> None:
        self._closed.set()
        for job in list(self._running.values()):
            job.cancel.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.shared is not None:
            self.shared.close()
