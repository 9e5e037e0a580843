"""`python -m bench.pressure`: a mixed light/heavy workload at 1x, 2x and 4x the query slots.

Heavy clients of two tenants ask a count-distinct and a p95 over a million rows each (one of 13
variants, each leaving out one event type), without honouring Retry-After (a flood); two
clients of a third tenant ask small questions. Each level runs on a fresh `tally serve` with the
cache off, so every answer is computed. The heavy clients ask inline, then as jobs (`Prefer:
respond-async, wait=0`, polled to their answer). The last level is run again inline with
admission loosened to what a plain count gave (16 slots for anyone, a 10 s queue), for
comparison. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx

from bench.run import server
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.wiring import build_service

HERE = Path(__file__).parent
DAYS = 300
HEAVY = {
    "dataset": "agent_events",
    "time": {"last": f"{DAYS}d"},
    "group_by": ["event_type", "brand_id"],
    "measures": [
        {"op": "count_distinct", "field": "session_id"},
        {"op": "p95", "field": "duration_ms"},
    ],
}
ACTIVE = ("pending", "running")
POLL_S = 0.2
LOOSE = {
    "TALLY_MAX_CONCURRENT_QUERIES": "16",
    "TALLY_TENANT_CONCURRENT_QUERIES": "16",
    "TALLY_QUEUE_TIMEOUT_S": "10",
}


def heavy(n: int) -> dict:
    """The heavy question without one event type: 13 variants of one shape, so jobs of the same
    tenant are not joined into one (an identical running question shares its job)."""
    return HEAVY | {"filter": {"field": "event_type", "op": "neq", "value": f"type_{n % 13}"}}


def light(n: int) -> dict:
    """A small question; each differs from the one before, so none shares an answer."""
    return {
        "dataset": "agent_events",
        "time": {"last": f"{1 + n % 30}d"},
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }


def build(data_dir: Path, rows: dict[str, int]) -> dict[str, dict[str, str]]:
    """`rows[tenant]` rows of each tenant in agent_events, written with DuckDB SQL (through the
    API, millions of rows would take minutes), and a viewer key scoped to each tenant."""
    build_service(Settings(data_dir=data_dir)).engine.close()
    with duckdb.connect(str(data_dir / "tally.duckdb")) as db:
        for tenant, count in rows.items():
            db.execute(
                """
                INSERT INTO agent_events (workspace_id, brand_id, event_id, event_type, ts,
                    session_id, customer_id, amount, duration_ms)
                SELECT $tenant, 'br_' || (i % 7), $tenant || '-' || i, 'type_' || (i % 13),
                    now() - to_seconds(CAST((i * 7919) % ($days * 86400) AS BIGINT)),
                    's' || (i // 5), 'c' || ((i * 31) % ($rows // 3 + 1)), (i % 1000) / 10.0,
                    (i * 37) % 5000
                FROM range($rows) t(i) ORDER BY 5
                """,
                {"tenant": tenant, "rows": count, "days": DAYS},
            )
    store = KeyStore(data_dir / "keys.sqlite")
    tokens = {t: store.create("viewer", {"workspace_id": (t,)})[1] for t in rows}
    store.close()
    return {t: {"Authorization": f"Bearer {token}"} for t, token in tokens.items()}


@dataclass
class Seen:
    """Every answer of a group of clients: (phase, status, seconds, Retry-After). A job that
    succeeded counts as a 202 that took until its answer was polled, and its question and answer
    are kept in `jobs`; a job that ended otherwise is a failure."""

    answers: list[tuple[str, int, float, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    jobs: list[tuple[dict, dict]] = field(default_factory=list)

    def ask(
        self, client: httpx.Client, phase: str, body: dict, headers: dict, as_job: bool = False
    ) -> None:
        sent = time.perf_counter()
        try:
            if as_job:
                headers = headers | {"Prefer": "respond-async, wait=0"}
            answer = client.post("/v1/query", json=body, headers=headers)
            if answer.status_code == 202:
                self._polled(client, phase, body, headers, answer, sent)
                return
        except httpx.HTTPError as exc:
            self.failures.append(f"{phase}: no answer: {exc!r}")
            return
        took = time.perf_counter() - sent
        self.answers.append((phase, answer.status_code, took, answer.headers.get("Retry-After")))
        if answer.status_code >= 500 and answer.status_code != 503:
            self.failures.append(f"{phase}: {answer.status_code} {answer.text[:300]}")

    def _polled(
        self,
        client: httpx.Client,
        phase: str,
        body: dict,
        headers: dict,
        started: httpx.Response,
        sent: float,
    ) -> None:
        """Poll the job `started` until it ends (a poll is not refused: no pause needed)."""
        job = started.json()
        while job.get("status") in ACTIVE:
            time.sleep(POLL_S)
            job = client.get(started.headers["Location"], headers=headers).json()
        if job.get("status") != "succeeded":
            self.failures.append(f"{phase}: job {job.get('status')}: {str(job)[:300]}")
            return
        self.answers.append((phase, 202, time.perf_counter() - sent, None))
        self.jobs.append((body, job["result"]))

    def took(self, phase: str) -> list[float]:
        """Seconds of the answered requests of `phase` (200, or a job polled to its answer)."""
        return sorted(t for p, s, t, _ in self.answers if p == phase and s in (200, 202))

    def p(self, phase: str, share: float) -> float:
        took = self.took(phase)
        return took[min(len(took) - 1, int(len(took) * share))] if took else math.nan

    def statuses(self, phase: str) -> dict[int, int]:
        found: dict[int, int] = {}
        for p, status, _, _ in self.answers:
            if p == phase:
                found[status] = found.get(status, 0) + 1
        return found


class Load:
    """Client threads, each asking in a loop until stopped, a pause between two questions. A
    client of a group that is held back starts when `release` is called."""

    def __init__(self, base: str, timeout_s: float) -> None:
        self.base, self.timeout_s = base, timeout_s
        self.phase = "start"
        self._stop = threading.Event()
        self._released = threading.Event()
        self._threads: list[threading.Thread] = []

    def clients(
        self,
        seen: Seen,
        count: int,
        body: Callable[[int], dict],
        headers: Callable[[int], dict],
        held: bool = False,
        as_jobs: bool = False,
    ) -> None:
        """`count` clients; client k asks `body(n)` for n = k+1, k+2, ... (`as_jobs`: as jobs)."""
        for k in range(count):
            args = (seen, body, headers(k), k, held, as_jobs)
            self._threads.append(threading.Thread(target=self._ask, args=args))

    def _ask(
        self,
        seen: Seen,
        body: Callable[[int], dict],
        headers: dict,
        n: int,
        held: bool,
        as_jobs: bool,
    ) -> None:
        if held:
            self._released.wait()
        with httpx.Client(base_url=self.base, timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                n += 1
                seen.ask(client, self.phase, body(n), headers, as_jobs)
                time.sleep(0.05)

    def release(self, phase: str) -> None:
        self.phase = phase
        self._released.set()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._released.set()
        for thread in self._threads:
            thread.join(self.timeout_s + 10)


def level(
    base: str, headers: dict, heavy_clients: int, seconds: float, as_jobs: bool
) -> dict[str, object]:
    """One level: heavy and light clients for `seconds`; the heavy ones still waiting for a job
    then are waited for, and their answers counted."""
    heavy_seen, small = Seen(), Seen()
    heavy_tenants = [t for t in headers if t != "ws_b"]
    load = Load(base, timeout_s=60)
    load.clients(
        heavy_seen, heavy_clients, heavy, lambda k: headers[heavy_tenants[k % 2]], as_jobs=as_jobs
    )
    load.clients(small, 2, light, lambda n: headers["ws_b"])
    with load:
        load.release("run")
        time.sleep(seconds)
    statuses, light_statuses = heavy_seen.statuses("run"), small.statuses("run")
    return {
        "heavy clients": heavy_clients,
        "heavy answered": statuses.get(200, 0),
        "heavy jobbed": statuses.get(202, 0),
        "heavy 429": statuses.get(429, 0),
        "heavy 503": statuses.get(503, 0),
        "heavy done/s": round((statuses.get(200, 0) + statuses.get(202, 0)) / seconds, 2),
        "heavy p50 s": round(heavy_seen.p("run", 0.5), 2),
        "heavy p99 s": round(heavy_seen.p("run", 0.99), 2),
        "light answered/s": round(light_statuses.get(200, 0) / seconds, 1),
        "light p50 ms": round(small.p("run", 0.5) * 1000),
        "light p99 ms": round(small.p("run", 0.99) * 1000),
        "light refused": sum(n for s, n in light_statuses.items() if s != 200),
        "failed": len(heavy_seen.failures) + len(small.failures),
    }


def markdown(rows: list[dict[str, object]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row[k]) for k in head) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each heavy tenant")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "pressure")
    args = parser.parse_args()
    data_dir = args.work / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    headers = build(data_dir, {"ws_a": args.rows, "ws_c": args.rows, "ws_b": 20_000})
    slots = len(os.sched_getaffinity(0)) + 1
    base_env = {"TALLY_CACHE": "off"}
    base_env |= {f"TALLY_RATE_LIMIT_{r}": "off" for r in ("VIEWER", "EDITOR", "ADMIN")}
    rows = []
    runs = [(times, {}, False) for times in (1, 2, 4)]
    runs += [(times, {}, True) for times in (1, 2, 4)]
    for times, env, as_jobs in [*runs, (4, LOOSE, False)]:
        with server(data_dir, **base_env, **env) as base:
            httpx.post(f"{base}/v1/query", json=heavy(0), headers=headers["ws_a"], timeout=60)
            label = f"{times}x" + (" jobs" if as_jobs else "") + (" plain count" if env else "")
            row = {"load": label, "slots": env.get("TALLY_MAX_CONCURRENT_QUERIES", slots)}
            rows.append(row | level(base, headers, times * slots, args.seconds, as_jobs))
            print(rows[-1], flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
