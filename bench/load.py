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


def _with_python(url: str, token: str, body: dict, clients: int, seconds: float) -> LoadResult:
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = HTTPConnection(host, int(port), timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("POST", "/" + path, payload, headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    errors[0] += 1
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
