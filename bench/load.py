"""Concurrent HTTP load for the cache-hit figure: wrk when installed, else a Python client.

wrk is preferred because on a 2-core machine a Python load generator competes with the server
for the same cores and understates the server; the report says which one produced the figure.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local e = summary.errors
  local failed = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format("JSON %d %f %f %f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed))
end
"""


def _with_wrk(url: str, token: str, body: dict, clients: int, seconds: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(json.dumps(body)), token=token))
    threads = min(2, clients)
    duration = f"-d{max(1, int(seconds))}s"
    command = ["wrk", f"-t{threads}", f"-c{clients}", duration, "-s", script.name, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    Path(script.name).unlink()
    requests, secs, p50, p99, errors = re.search(r"JSON (.*)", out.stdout).group(1).split()
    return LoadResult("wrk", int(requests), float(secs), float(p50), float(p99), int(errors))


class Poster:
    """POSTs bodies on one kept-alive connection with the standard library's client.

    http.client sends the headers and the body in one write and reads the answer in little
    Python. httpx writes them apart (the server then waits a moment for the body) and does more
    per request; in (c) that would be counted as Tally's time.
    """

    def __init__(self, base: str, token: str, content_type: str = "application/json") -> None:
        host, port = base.removeprefix("http://").split(":", 1)
        self._conn = HTTPConnection(host, int(port), timeout=300)
        self._headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}"}

    def post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        self._conn.request("POST", path, payload, self._headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def post_ok(self, path: str, payload: bytes) -> bytes:
        """The answer's body; anything but a 200 stops the run, with what the server said."""
        status, answer = self.post(path, payload)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {answer[:200]!r}")
        return answer

    def close(self) -> None:
        self._conn.close()


def _with_python(url: str, token: str, body: dict, clients: int, seconds: float) -> LoadResult:
    base, path = url.rsplit("/v1/", 1)
    payload = json.dumps(body).encode()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        poster = Poster(base, token)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, _ = poster.post("/v1/" + path, payload)
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                with lock:
                    errors[0] += 1
        poster.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return LoadResult("python", len(latencies), elapsed, cuts[49], cuts[98], errors[0])


def hammer(url: str, token: str, body: dict, clients: int, seconds: float) -> LoadResult:
    if shutil.which("wrk"):
        return _with_wrk(url, token, body, clients, seconds)
    return _with_python(url, token, body, clients, seconds)
