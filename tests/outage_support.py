"""Throwaway PostgreSQL and Redis servers that a test may kill, freeze and restart.

The shared servers of this machine serve other people: outage tests start their own, each on a
free port with its own data directory. A signal goes to the server and every process it forked
(PostgreSQL's backends each lead a process group of their own, so a group signal would miss
them): a killed or frozen database is the whole of it. Every wait has a deadline, and the servers
are always stopped and removed, whatever the test did.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from tests.server_support import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll `check` until it is true; the seconds it took. Raises after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _family(pid: int) -> list[int]:
    """`pid` and its descendants, parents first."""
    tree, found = _children(), [pid]
    for parent in found:
        found.extend(tree.get(parent, []))
    return found


class Served:
    """A server process, signalled together with every process it forked."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def _spawn(self, args: list[str], log: Path, **kwargs) -> None:
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
            )

    def _signal(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for pid in _family(self.process.pid):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL to every process of the server; returns once the main one is gone."""
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)


class ThrowawayPostgres(Served):
    """A PostgreSQL 15 cluster in a temporary directory owned by the postgres user (the server
    refuses to run as root); fsync off, trust authentication, TCP on 127.0.0.1 only."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"
        self._as_user = {"user": PG_USER} if os.geteuid() == 0 else {}
        if self._as_user:
            shutil.chown(root, PG_USER, PG_USER)
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust",
             "--no-sync", "--no-locale", "-E", "UTF8"],
            check=True, capture_output=True, timeout=60, **self._as_user,
        )  # fmt: skip

    def start(self) -> None:
        """Start on the same port and data directory; returns once it accepts connections."""
        self._spawn(
            [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            self.root / "server.log", **self._as_user,
        )  # fmt: skip
        wait_for(self.answers, 30, f"PostgreSQL on port {self.port}")

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False


class ThrowawayRedis(Served):
    """redis-server without persistence: a restart comes back empty."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            self.root / "redis.log",
        )  # fmt: skip
        wait_for(self.answers, 15, f"Redis on port {self.port}")

    def answers(self) -> bool:
        try:
            client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
            with client:
                return bool(client.ping())
        except redis.RedisError:
            return False


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    root = Path(tempfile.mkdtemp(prefix="tally-pg-"))
    server = None
    try:
        server = ThrowawayPostgres(root)
        server.start()
        yield server
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    root = Path(tempfile.mkdtemp(prefix="tally-redis-"))
    server = ThrowawayRedis(root)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)
