"""`python -m bench.outage`: what a database outage costs callers, for bench/RESULTS.md.

A real `tally serve` on the PostgreSQL engine over a throwaway cluster (the test suite's own
tests/outage_support.py, so the shared database is never touched) is asked one query after
another while the cluster is killed for each outage length, then started again. The figures:
how long a request waited for its 503 during the outage, and the recovery lag, the seconds from
the database accepting connections again to the first good answer.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tally.auth.keys import KeyStore
from tests.outage_support import ThrowawayPostgres, throwaway_postgres
from tests.server_support import running_server

QUERY = {"dataset": "agent_events", "measures": [{"op": "count"}], "cache": "no-cache"}


@dataclass
class Outage:
    seconds: float
    answers: int
    statuses: dict[int, int]
    wait_p50_s: float
    wait_max_s: float
    recovery_lag_s: float


def _ask(base: str, headers: dict[str, str]) -> tuple[float, int]:
    started = time.monotonic()
    status = httpx.post(f"{base}/v1/query", json=QUERY, headers=headers, timeout=120).status_code
    return time.monotonic() - started, status


def _outage(pg: ThrowawayPostgres, base: str, headers: dict[str, str], seconds: float) -> Outage:
    pg.kill()
    down_at, waits, statuses = time.monotonic(), [], {}
    while time.monotonic() - down_at < seconds:
        took, status = _ask(base, headers)
        waits.append(took)
        statuses[status] = statuses.get(status, 0) + 1
    pg.start()
    back_at = time.monotonic()
    while True:
        took, status = _ask(base, headers)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            break
        waits.append(took)
    return Outage(
        seconds=seconds,
        answers=len(waits),
        statuses=statuses,
        wait_p50_s=statistics.median(waits),
        wait_max_s=max(waits),
        recovery_lag_s=time.monotonic() - back_at,
    )


def measure(lengths: list[float]) -> list[Outage]:
    with tempfile.TemporaryDirectory(prefix="tally-bench-outage-") as work:
        data_dir = Path(work) / "data"
        data_dir.mkdir()
        store = KeyStore(data_dir / "keys.sqlite")
        _, token = store.create("admin", {}, all_tenants=True)
        store.close()
        headers = {"Authorization": f"Bearer {token}"}
        with (
            throwaway_postgres() as pg,
            running_server(
                data_dir, TALLY_ENGINE="postgres", TALLY_POSTGRES_URL=pg.url, TALLY_CACHE="off"
            ) as base,
        ):
            if _ask(base, headers)[1] != 200:
                raise RuntimeError("the server does not answer before the outage")
            return [_outage(pg, base, headers, seconds) for seconds in lengths]


def markdown(outages: list[Outage]) -> str:
    lines = [
        "| outage | answers during it | statuses | wait p50 | wait max | recovery lag |",
        "|---|---|---|---|---|---|",
    ]
    for o in outages:
        statuses = ", ".join(f"{n}× {code}" for code, n in sorted(o.statuses.items()))
        lines.append(
            f"| {o.seconds:g} s | {o.answers} | {statuses} | {o.wait_p50_s:.2f} s "
            f"| {o.wait_max_s:.2f} s | {o.recovery_lag_s:.2f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outages", type=float, nargs="+", default=[10.0, 70.0])
    print(markdown(measure(parser.parse_args().outages)))


if __name__ == "__main__":
    main()
