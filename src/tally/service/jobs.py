"""Long questions as jobs: started by one request, polled and canceled by later ones.

A job runs in a thread of its own pool, with the job timeout and a cancel handle bound to each
statement it runs (engines/cancel.py), so canceling stops the engine's work, not only the
waiting. Jobs are the tenant's: an id is answered only to a caller of the same tenant scope
(anyone else gets the 404 an unknown id gets), and a question asked again by that tenant while
its job is pending or running joins that job. A finished job keeps its answer for the result
TTL, then answers 410 Gone until it is forgotten.

Jobs live in this process's memory: one `tally serve` process. Under `--workers N` a poll could
reach another process, so there jobs are not offered (`accepting` is off) and the question is
answered synchronously.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tally.auth.principal import Principal
from tally.engines.cancel import Cancel
from tally.errors import TallyError
from tally.result import Result

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
    finished: Future[None] = field(default_factory=Future)

    def progress(self) -> dict[str, Any]:
        """Elapsed time always; what the engine says of its statement while running."""
        since = self.running_since if self.running_since is not None else self.started
        until = self.ended if self.ended is not None else time.monotonic()
        found: dict[str, Any] = {"elapsed_ms": round((until - since) * 1000)}
        if self.status == "running":
            found.update(self.cancel.progress())
        return found


def not_found() -> TallyError:
    return TallyError.at("/id", "there is no such job", code="not_found", status=404)


class Jobs:
    def __init__(
        self,
        workers: int,
        result_ttl_s: float,
        forget_s: float,
        max_per_tenant: int,
    ) -> None:
        self.result_ttl_s = result_ttl_s
        self.forget_s = max(forget_s, result_ttl_s)
        self.max_per_tenant = max_per_tenant
        self.accepting = True
        self._jobs: dict[str, Job] = {}
        self._running: dict[tuple[str, str], Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tally-job")

    def submit(self, tenant: str, question: str, run: Run) -> tuple[Job, bool]:
        """(the job, whether it was already running for this tenant's identical question)."""
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
        self._pool.submit(self._run, job, run)
        return job, False

    def get(self, job_id: str, tenant: str) -> Job:
        """The tenant's job; 404 for an unknown id or another tenant's, 410 once its answer
        expired."""
        with self._lock:
            self._sweep()
            job = self._jobs.get(job_id)
        if job is None or job.tenant != tenant:
            raise not_found()
        if job.ended is not None and time.monotonic() - job.ended >= self.result_ttl_s:
            raise TallyError.at(
                "/id",
                f"the job ended more than {self.result_ttl_s:g} s ago and its answer was "
                "dropped; ask the question again",
                code="gone",
                status=410,
            )
        return job

    def cancel(self, job_id: str, tenant: str) -> Job:
        """Stop a pending or running job (its engine statement with it); a finished job's
        answer is dropped instead, and its id forgotten."""
        job = self.get(job_id, tenant)
        if job.status in ACTIVE:
            job.cancel.cancel()
        else:
            with self._lock:
                self._jobs.pop(job.id, None)
        return job

    def _run(self, job: Job, run: Run) -> None:
        try:
            if job.cancel.cancelled:
                job.status = "canceled"
                return
            job.running_since = time.monotonic()
            job.status = "running"
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
            with self._lock:
                self._running.pop((job.tenant, job.question), None)
            job.finished.set_result(None)

    def _sweep(self) -> None:
        """Forget jobs ended longer ago than `forget_s` (called under the lock)."""
        now = time.monotonic()
        ended = [j.id for j in self._jobs.values() if j.ended is not None]
        for job_id in ended:
            if now - (self._jobs[job_id].ended or now) > self.forget_s:
                del self._jobs[job_id]

    def close(self) -> None:
        for job in list(self._running.values()):
            job.cancel.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
