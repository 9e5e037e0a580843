"""Load on a real server from background threads: light queries and /healthz probes on a fixed
schedule, with the probes' latencies by phase, to tell a blocked event loop from a busy machine
(a twin server under the same load is the yardstick)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.server_support import running_server

QUERY = {"dataset": "agent_events", "time": {"last": "1d"}, "measures": [{"op": "count"}]}
UNLIMITED = "1000000/60"
UNLIMITED_RATES = {f"TALLY_RATE_LIMIT_{role}": UNLIMITED for role in ("VIEWER", "EDITOR", "ADMIN")}
PROBE_EVERY_S = 0.02
WARM_UP = "warm-up"  # first queries compile and open files; not what this test measures
LOOP_SLACK_S = 0.05  # /healthz p99 under pressure: at most an idle twin's (same moments) + this


class Load:
    """Queries and /healthz probes from background threads until stopped."""

    def __init__(self, base: str, headers: dict[str, str], queriers: int = 2) -> None:
        self.base = base
        self.headers = headers
        self.failures: list[str] = []
        self.phase = WARM_UP
        self.healthz: list[tuple[str, float]] = []
        self.answered = 0
        self._stop = threading.Event()
        query = (self._query, 0.05)
        self._threads = [
            *(threading.Thread(target=self._loop, args=query) for _ in range(queriers)),
            threading.Thread(target=self._probe),
        ]

    def _loop(self, step: Callable[[httpx.Client], None], pause_s: float) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    step(client)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                time.sleep(pause_s)

    def _query(self, client: httpx.Client) -> None:
        answer = client.post("/v1/query", json=QUERY, headers=self.headers)
        if answer.status_code != 200:
            self.failures.append(f"{answer.status_code} {answer.text[:200]}")
        self.answered += 1

    def _probe(self) -> None:
        """/healthz on a fixed schedule, one probe in flight at a time. The probes that fell due
        while one was in flight count as waiting from their due instant until it answered (the
        usual correction for coordinated omission): a loop blocked for half a second delays
        every probe due meanwhile, not just the one in flight, and a prober slower than its
        schedule does not fall ever further behind. Instants that passed only because this
        (shared, busy) machine woke the prober late are skipped, and the probe is timed from
        its departure."""
        with httpx.Client(base_url=self.base, timeout=10) as client:
            due = time.perf_counter()
            while not self._stop.is_set():
                time.sleep(max(0.0, due - time.perf_counter()))
                sent = time.perf_counter()
                while due + PROBE_EVERY_S <= sent:
                    due += PROBE_EVERY_S
                try:
                    answer = client.get("/healthz")
                except httpx.HTTPError as exc:
                    self.failures.append(f"/healthz {exc!r}")
                else:
                    if answer.status_code != 200:
                        self.failures.append(f"/healthz {answer.status_code}")
                answered = time.perf_counter()
                took = [answered - sent]
                due += PROBE_EVERY_S
                while due < answered:
                    took.append(answered - due)
                    due += PROBE_EVERY_S
                if self.phase != WARM_UP:
                    self.healthz.extend((self.phase, t) for t in took)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def p99(self, phases: tuple[str, ...]) -> float:
        ordered = sorted(took for seen, took in self.healthz if seen in phases)
        return ordered[int(len(ordered) * 0.99)]

    def by_phase(self) -> str:
        """The p99 and the slowest probe of each phase, to tell a blocked loop from noise."""
        phases = dict.fromkeys(phase for phase, _ in self.healthz)
        return "; ".join(
            f"{phase}: p99 {self.p99((phase,)) * 1000:.0f} ms, "
            f"max {max(t for p, t in self.healthz if p == phase) * 1000:.0f} ms"
            for phase in phases
        )


def admin_data_dir(root: Path) -> tuple[Path, dict[str, str]]:
    """A data directory with an admin key in it, and that key's headers."""
    data_dir = root / "data"
    data_dir.mkdir(parents=True)
    store = KeyStore(data_dir / "keys.sqlite")
    _, token = store.create("admin", {}, all_tenants=True)
    store.close()
    return data_dir, bearer(token)


@contextmanager
def loop_probes(base: str, root: Path) -> Iterator[tuple[Load, Load]]:
    """/healthz probes (no queries) on the server at `base` and on an idle twin server started
    under `root`: the twin measures the machine's own load at the same moments."""
    (root / "twin").mkdir()
    with (
        running_server(root / "twin") as twin_base,
        Load(base, {}, queriers=0) as probes,
        Load(twin_base, {}, queriers=0) as twin,
    ):
        yield probes, twin


def assert_loop_free(probes: Load, twin: Load, phase: str) -> None:
    """The event loop only routes: the server's /healthz p99 in `phase` stays within the idle
    twin's plus LOOP_SLACK_S."""
    assert not probes.failures and not twin.failures, (probes.failures + twin.failures)[:5]
    loop, yardstick = probes.p99((phase,)), twin.p99((phase,))
    print(f"\n/healthz p99 ({phase}) {loop * 1000:.0f} ms, idle twin {yardstick * 1000:.0f} ms")
    assert loop <= yardstick + LOOP_SLACK_S, (probes.by_phase(), twin.by_phase())
