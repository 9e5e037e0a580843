"""A real `tally serve` process on a free port, for tests that need real HTTP (a browser, a
fuzzer, a client library)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base: str, seconds: float) -> bool:
    """Whether the server at `base` answers /healthz within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


@contextmanager
def running_server(
    data_dir: Path, port: int | None = None, flags: Sequence[str] = (), **env: str
) -> Iterator[str]:
    """The base URL of a server over `data_dir` (on `port`, else a free one), with more `serve`
    flags, stopped on exit."""
    with server_process(data_dir, port, flags, **env) as (base, _):
        yield base


def peak_rss_bytes(process: subprocess.Popen) -> int:
    """The most resident memory the process has had so far (VmHWM)."""
    return _status_bytes(process, "VmHWM")


def rss_bytes(process: subprocess.Popen) -> int:
    return _status_bytes(process, "VmRSS")


def _status_bytes(process: subprocess.Popen, field: str) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


@contextmanager
def server_process(
    data_dir: Path, port: int | None = None, flags: Sequence[str] = (), **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As `running_server`, with the server's process (to read its memory)."""
    port = port or free_port()
    environment = {**os.environ, "TALLY_DATA_DIR": str(data_dir), **env}
    serve = ["serve", "--port", str(port), "--log-level", "warning", *flags]
    # The log goes to a file: a pipe nobody reads fills after 64 KiB, and then every log line
    # the server writes (one per 503 of a long outage) blocks its event loop.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tally.cli", *serve],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        if not wait_healthy(base, 30):
            process.kill()
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace") or "no output")
        try:
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=10)
