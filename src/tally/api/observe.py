"""One pure ASGI middleware for every response: trace id, the answering process, rate-limit
headers, metrics, and the access log line.

`X-Tally-Worker` is the id of the process that answered: with `tally serve --workers N` it is
the one way to see which worker served a response (the tests of the workers rely on it); a
process id tells a client nothing it could use against the server.

Starlette's `@app.middleware("http")` wraps each response in a streaming bridge that costs more
than a cached answer itself; this one only wraps `send` to add headers and read the status. The
routes leave what only they know (who asked, what was answered) on the request's state
(`record_answer`, and `principal` from `api/security.py`) for the access line to read.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.api.metrics import Metrics
from tally.auth.principal import Principal
from tally.logs import trace_id
from tally.result import Result

access = logging.getLogger("tally.access")


def record_answer(request: Request, results: Sequence[Result]) -> None:
    """What a response answered, for its access line: datasets, cache state, rows."""
    datasets = dict.fromkeys(str(r.meta.get("dataset")) for r in results)
    hits = [bool((r.meta.get("cache") or {}).get("hit")) for r in results]
    request.state.answer = {
        "dataset": ",".join(datasets) or None,
        "cache": ("hit" if all(hits) else "miss") if hits else None,
        "rows": sum(len(r.rows) for r in results),
    }


def _who(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"principal": None, "tenants": None}
    if principal.all_tenants:
        tenants = "*"
    else:
        tenants = ";".join(f"{k}={'|'.join(v)}" for k, v in sorted(principal.scopes.items()))
    return {"principal": principal.subject, "tenants": tenants}


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.worker = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        trace = uuid.uuid4().hex
        state["trace_id"] = trace
        token = trace_id.set(trace)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-trace-id"]
                headers.append((b"x-trace-id", trace.encode()))
                headers.append((b"x-tally-worker", self.worker))
                decision = state.get("rate_limit")
                if decision is not None:
                    headers.extend(
                        (k.lower().encode(), v.encode()) for k, v in decision.headers().items()
                    )
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            if self.access_log and access.isEnabledFor(logging.INFO):
                self._log(scope, state, route, status, seconds)
            trace_id.reset(token)

    def _log(
        self, scope: Scope, state: dict[str, Any], route: str, status: int, seconds: float
    ) -> None:
        fields = {
            "trace_id": state["trace_id"],
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
            **_who(state.get("principal")),
            **state.get("answer", {"dataset": None, "cache": None, "rows": None}),
        }
        access.info("request", extra={"fields": fields})
