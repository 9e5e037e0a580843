"""Jobs seen from every process that shares Redis: under `tally serve --workers N` (or replicas)
a poll or a cancel may reach a process other than the one running the job.

The process running a job writes its state to Redis when it starts and ends, and its progress
about every `PUBLISH_S` while it runs; its answer goes to a key of its own that expires with the
result TTL, and the state expires when the job is forgotten. A cancel reaching another process
leaves a flag the running process reads with its next progress write, so the engine statement
is stopped within about `PUBLISH_S` of the request. A job whose process stopped is forgotten
`RUNNING_KEPT_S` later. Every call has a short deadline and is made
from a worker thread, never the event loop; while Redis cannot be reached a process still
answers for the jobs it runs itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from tally.cache.codec import decode, encode
from tally.cache.redis_client import sync_client
from tally.errors import ErrorDetail, TallyError
from tally.result import Result

log = logging.getLogger(__name__)
PUBLISH_S = 0.5
TIMEOUT_S = 0.5
CANCEL_FLAG_S = 600
# A running job's state is rewritten every PUBLISH_S; if its process stops, the state expires
# after this long and the id is unknown (404) instead of running forever.
RUNNING_KEPT_S = 10


def error_fields(error: TallyError) -> dict[str, Any]:
    details = [{"path": d.path, "reason": d.reason} for d in error.details]
    return {
        "code": error.code,
        "message": error.message,
        "status": error.status,
        "details": details,
    }


def error_from(fields: dict[str, Any]) -> TallyError:
    details = [ErrorDetail(d["path"], d["reason"]) for d in fields["details"]]
    return TallyError(fields["code"], fields["message"], fields["status"], details)


class SharedJobs:
    def __init__(self, url: str, prefix: str, result_ttl_s: float, forget_s: float) -> None:
        self._redis = sync_client(url, TIMEOUT_S)
        self._prefix = f"{prefix}job:"
        self.result_ttl_s = result_ttl_s
        self.forget_s = forget_s

    def _key(self, kind: str, job_id: str) -> str:
        return f"{self._prefix}{kind}:{job_id}"

    def publish(self, state: dict[str, Any], result: Result | None = None) -> None:
        """Write a job's state (and its answer, once); a failure is logged, never raised: the
        job runs on, and this process still answers for it."""
        job_id = state["id"]
        try:
            pipe = self._redis.pipeline(transaction=False)
            keep = self.forget_s if state.get("ended_at") else RUNNING_KEPT_S
            pipe.set(self._key("state", job_id), orjson.dumps(state), ex=int(keep) + 1)
            if result is not None:
                answer = encode(result, datetime.now(UTC), ())
                pipe.set(self._key("result", job_id), answer, px=int(self.result_ttl_s * 1000))
            pipe.execute()
        except redis.RedisError:
            log.warning("cannot share job %s's state through Redis", job_id, exc_info=True)

    def read(self, job_id: str) -> tuple[dict[str, Any], Result | None] | None:
        """A job's state and answer as the process running it wrote them; None when unknown.
        Raises `redis.RedisError` when Redis cannot be reached."""
        state, answer = self._redis.mget([self._key("state", job_id), self._key("result", job_id)])
        if state is None:
            return None
        return orjson.loads(state), (decode(answer)[0] if answer is not None else None)

    def ask_cancel(self, job_id: str) -> None:
        try:
            self._redis.set(self._key("cancel", job_id), b"1", ex=CANCEL_FLAG_S)
        except redis.RedisError:
            raise TallyError(
                "unavailable",
                "the job runs in another process and Redis cannot be reached to cancel it",
                503,
                retry_after=1,
            ) from None

    def forget(self, job_id: str) -> None:
        try:
            self._redis.delete(*(self._key(k, job_id) for k in ("state", "result", "cancel")))
        except redis.RedisError:
            log.warning("cannot drop job %s from Redis", job_id, exc_info=True)

    def cancels_asked(self, job_ids: list[str]) -> list[str]:
        """Which of `job_ids` another process was asked to cancel."""
        if not job_ids:
            return []
        try:
            flags = self._redis.mget([self._key("cancel", j) for j in job_ids])
        except redis.RedisError:
            return []
        return [job_id for job_id, flag in zip(job_ids, flags, strict=True) if flag]

    def close(self) -> None:
        self._redis.close()
