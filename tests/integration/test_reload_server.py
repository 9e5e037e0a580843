"""Live reload against a real `tally serve`: dataset files added, changed, broken and removed
while other threads keep asking questions, and the file watcher doing the same without a call.

Under load a request may start under one catalog and end under the next; it is judged by every
state the dataset went through while it ran. A failure is any 5xx, any connection error, or an
answer its states do not allow (a 400 unknown dataset is allowed only while the file is absent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.server_support import running_server

UNLIMITED = {f"TALLY_RATE_LIMIT_{role}": "off" for role in ("VIEWER", "EDITOR", "ADMIN")}
SHOP_V1 = """name: shop
tenant_columns: [tenant]
time_column: ts
key_columns: [id]
columns:
  - {name: tenant, type: string}
  - {name: id, type: string}
  - {name: ts, type: timestamp}
  - {name: amount, type: float}
"""
SHOP_V2 = SHOP_V1 + "  - {name: country, type: string}\n"
BROKEN = SHOP_V2.replace("{name: country, type: string}", "{name: country, type: text}")
TOTALS = {"dataset": "shop", "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}]}
BY_COUNTRY = {"dataset": "shop", "group_by": ["country"], "measures": [{"op": "count"}]}
BUILTIN = {"dataset": "agent_events", "measures": [{"op": "count"}]}
WATCH_BOUND_S = 10.0


def rows(prefix: str, count: int, with_country: bool) -> list[dict]:
    made = []
    for i in range(count):
        row = {
            "tenant": f"t{i % 2}",
            "id": f"{prefix}{i}",
            "ts": f"2026-11-{1 + i % 28:02d}T10:00:00Z",
            "amount": round(1.25 * i + 0.5, 2),
        }
        if with_country:
            row["country"] = ("fr", "de", "es")[i % 3]
        made.append(row)
    return made


# What each kind of question may answer while the dataset is in a state: a status, or a
# (status, code) pair when the code matters.
ALLOWED = {
    "absent": {"builtin": {200}, "totals": {(400, "unknown_dataset")}, "country": {400}},
    "v1": {"builtin": {200}, "totals": {200}, "country": {400}},
    "v2": {"builtin": {200}, "totals": {200}, "country": {200}},
}


@dataclass
class Traffic:
    """Threads asking three kinds of question until stopped, each answer kept with the states
    the dataset was in from its start to its end."""

    base: str
    headers: dict[str, str]
    states: list[tuple[str, ...]] = field(default_factory=lambda: [("absent",)])
    failures: list[str] = field(default_factory=list)
    judged: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def reloading(self, before: str, after: str) -> None:
        """From here until `now`, a request may find either state."""
        self.states.append((before, after))

    def now(self, state: str) -> None:
        self.states.append((state,))

    def run(self) -> None:
        bodies = {"builtin": BUILTIN, "totals": TOTALS, "country": BY_COUNTRY}
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
            while not self.stop.is_set():
                for kind, body in bodies.items():
                    first = len(self.states) - 1
                    try:
                        answer = client.post("/v1/query", json=body)
                    except httpx.HTTPError as exc:
                        self.failures.append(f"{kind}: {type(exc).__name__} {exc}")
                        continue
                    self.judge(kind, answer, self.states[first:])

    def judge(self, kind: str, answer: httpx.Response, spans: list[tuple[str, ...]]) -> None:
        states = sorted({state for span in spans for state in span})
        allowed = set().union(*(ALLOWED[s][kind] for s in states))
        code = answer.json().get("error", {}).get("code") if answer.status_code != 200 else None
        if answer.status_code not in allowed and (answer.status_code, code) not in allowed:
            self.failures.append(f"{kind} during {states}: {answer.status_code} {answer.text}")
        if len(states) == 1:
            self.judged[states[0]] = self.judged.get(states[0], 0) + 1


@pytest.fixture
def admin(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data_dir = tmp_path / "data"
    (data_dir / "datasets").mkdir(parents=True)
    store = KeyStore(data_dir / "keys.sqlite")
    _, token = store.create("admin", {}, all_tenants=True)
    store.close()
    return data_dir, bearer(token)


@pytest.fixture
def traffic_server(admin) -> Iterator[tuple[httpx.Client, Traffic, Path]]:
    data_dir, headers = admin
    with (
        running_server(data_dir, TALLY_DATASETS_WATCH="off", **UNLIMITED) as base,
        httpx.Client(base_url=base, headers=headers, timeout=60) as client,
    ):
        traffic = Traffic(base, headers)
        threads = [threading.Thread(target=traffic.run) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            yield client, traffic, data_dir / "datasets" / "shop.yaml"
        finally:
            traffic.stop.set()
            for thread in threads:
                thread.join(timeout=60)


def reload(client: httpx.Client) -> dict:
    answer = client.post("/v1/datasets/reload")
    assert answer.status_code == 200, answer.text
    return answer.json()


def ingest(client: httpx.Client, batch: list[dict]) -> None:
    stored = client.post("/v1/datasets/shop/rows", json=batch)
    assert stored.status_code == 200, stored.text
    assert stored.json()["accepted"] == len(batch)


def grouped_count(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    return {r["country"]: r["count"] for r in answer.json()["rows"]}


def test_add_change_break_remove_while_queries_run(traffic_server) -> None:
    client, traffic, path = traffic_server
    time.sleep(1)

    traffic.reloading("absent", "v1")
    path.write_text(SHOP_V1)
    report = reload(client)
    traffic.now("v1")
    assert (report["added"], report["changed"], report["problems"]) == (["shop"], [], [])
    first = rows("a", 40, with_country=False)
    ingest(client, first)
    largest = {"dataset": "shop", "measures": [{"op": "max", "field": "amount"}]}
    asked = [client.post("/v1/query", json=largest) for _ in range(2)]
    assert [a.headers["x-cache"] for a in asked] == ["miss", "hit"]
    assert asked[1].json()["rows"] == [{"max_amount": max(r["amount"] for r in first)}]
    time.sleep(1)

    traffic.reloading("v1", "v2")
    path.write_text(SHOP_V2)
    report = reload(client)
    traffic.now("v2")
    assert (report["added"], report["changed"], report["problems"]) == ([], ["shop"], [])
    again = client.post("/v1/query", json=largest)
    assert again.headers["x-cache"] == "miss" and again.json()["meta"]["cache"]["hit"] is False
    assert again.json()["rows"] == asked[1].json()["rows"]
    second = rows("b", 30, with_country=True)
    ingest(client, second)
    expected: dict = {None: len(first)}
    for row in second:
        expected[row["country"]] = expected.get(row["country"], 0) + 1
    assert grouped_count(client.post("/v1/query", json=BY_COUNTRY)) == expected
    time.sleep(1)

    path.write_text(BROKEN)
    report = reload(client)
    assert report["changed"] == [] and "shop" in report["unchanged"]
    assert [(Path(p["file"]).name, p["field"]) for p in report["problems"]] == [
        ("shop.yaml", "/columns/4/type")
    ]
    assert grouped_count(client.post("/v1/query", json=BY_COUNTRY)) == expected
    time.sleep(1)

    traffic.reloading("v2", "absent")
    path.unlink()
    report = reload(client)
    traffic.now("absent")
    assert (report["removed"], report["problems"]) == (["shop"], [])
    assert client.get("/v1/datasets/shop").status_code == 404
    gone = client.post("/v1/query", json=TOTALS)
    assert (gone.status_code, gone.json()["error"]["code"]) == (400, "unknown_dataset")
    time.sleep(1)

    traffic.stop.set()
    time.sleep(0.5)
    assert traffic.failures == []
    # Queries really ran in every state, each judged by that state alone.
    assert all(traffic.judged.get(state, 0) >= 10 for state in ("absent", "v1", "v2"))


def wait_for(check, bound: float) -> float:
    """Seconds until `check()` holds, failing after `bound`."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not within {bound} s")


def test_the_watcher_reloads_without_the_call(admin) -> None:
    data_dir, headers = admin
    path = data_dir / "datasets" / "shop.yaml"
    with (
        running_server(data_dir, **UNLIMITED) as base,
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
    ):

        def columns() -> set[str] | None:
            found = client.get("/v1/datasets/shop")
            return (
                {c["name"] for c in found.json()["columns"]} if found.status_code == 200 else None
            )

        path.write_text(SHOP_V1)
        wait_for(lambda: columns() is not None, WATCH_BOUND_S)
        path.write_text(SHOP_V2)
        wait_for(lambda: "country" in (columns() or ()), WATCH_BOUND_S)
        batch = rows("w", 12, with_country=True)
        ingest(client, batch)
        path.write_text(BROKEN)
        time.sleep(1.5)  # room for the watcher to have refused it
        assert "country" in (columns() or ())
        counted = grouped_count(client.post("/v1/query", json=BY_COUNTRY))
        assert counted == {c: sum(r["country"] == c for r in batch) for c in ("fr", "de", "es")}
        path.unlink()
        wait_for(lambda: columns() is None, WATCH_BOUND_S)
