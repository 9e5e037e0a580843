"""Asking a running server: one admin call (`call`), and ingestion batches, each retried until
it is answered.

Ingestion is idempotent by key (the dataset's tenant and key columns), so a batch whose answer
was lost (the server stopped after storing it) is simply sent again: its rows come back as
duplicates. Connection failures and 429/502/503/504 are retried with exponential backoff (a
`Retry-After` is honoured) for up to `retry_for` seconds per batch; any other refusal stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tally.cli.common import fail

RETRIED_STATUSES = (429, 502, 503, 504)


class Refused(Exception):
    """The server refused a batch for a reason a retry cannot fix."""

    def __init__(self, status: int, body: dict) -> None:
        error = body.get("error", body)
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        super().__init__(f"HTTP {status}: {message}")
        self.body = body


@dataclass
class Sender:
    url: str
    dataset: str
    token: str | None
    partial: bool
    retry_for: float
    retries: int = 0

    def send(self, body: bytes) -> dict:
        """The server's outcome for one NDJSON batch, after as many retries as it takes."""
        target = f"{self.url.rstrip('/')}/v1/datasets/{self.dataset}/rows"
        headers = {"Content-Type": "application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        params = {"partial": "true"} if self.partial else {}
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            wait = min(0.25 * 2**attempt, 5.0)
            try:
                response = httpx.post(target, content=body, headers=headers, params=params,
                                      timeout=120)  # fmt: skip
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRIED_STATUSES:
                    raise Refused(response.status_code, _json(response))
                problem = f"HTTP {response.status_code}"
                wait = max(wait, float(response.headers.get("Retry-After", 0) or 0))
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"gave up after {self.retry_for:.0f} s of retries ({problem})")
            attempt += 1
            self.retries += 1
            time.sleep(wait)


def _json(response: httpx.Response) -> dict:
    try:
        found = response.json()
    except ValueError:
        return {"error": {"message": response.text[:200]}}
    return found if isinstance(found, dict) else {"error": {"message": str(found)}}


def call(
    url: str,
    token: str | None,
    method: str,
    path: str,
    body: dict | None = None,
    timeout: float = 60.0,
) -> dict:
    """The JSON answer of one call to the server; a refusal or an unreachable server is one
    `error:` line and exit 1 (the CLI's way to fail)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, f"{url.rstrip('/')}{path}", json=body, headers=headers,
                                 timeout=timeout)  # fmt: skip
    except httpx.TransportError as exc:
        raise fail(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise fail(str(Refused(response.status_code, _json(response))))
    return response.json()
