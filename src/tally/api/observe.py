"""One pure ASGI middleware for every response: trace id, rate-limit headers, metrics.

Starlette's `@app.middleware("http")` wraps each response in a streaming bridge that costs more
than a cached answer itself; this one only wraps `send` to add headers and read the status.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.api.metrics import Metrics


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        trace = uuid.uuid4().hex
        state["trace_id"] = trace
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-trace-id"]
                headers.append((b"x-trace-id", trace.encode()))
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
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
