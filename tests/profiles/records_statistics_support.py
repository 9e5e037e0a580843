"""Documents, oracle and service for the `test_records_statistics*` modules.

A seeded generator makes nested record documents for the five roots in three workspaces:
ws_acme bills in USD, EUR and GBP, ws_globex only in EUR, ws_hooli in USD with one invoice whose
currency is missing. Every nullable field is sometimes null (so `neq` and the null operators
mean something), customer names differ only by case or hold `%` and `_`, and `paid_at` has
instants on the edges of UTC days. The documents go in through the real ingestion API as nested
JSON; the oracle here recomputes every answer in plain Python from those same documents and
never calls Tally code. Money amounts are multiples of 1/4, so sums are exact in any order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import bearer, live_app

SEED = 20_020
URL = "/v1/records/statistics"
WORKSPACES = ("ws_acme", "ws_globex", "ws_hooli")
CURRENCIES = {"ws_acme": ("USD", "EUR", "GBP"), "ws_globex": ("EUR",), "ws_hooli": ("USD",)}
ISSUERS = {
    "USD": (("Acme Corp", "US"), ("Hooli Inc", "US")),
    "EUR": (("Acme GmbH", "DE"), ("Globex SAS", "FR")),
    "GBP": (("Acme Ltd", "GB"),),
}
CUSTOMERS = (
    "Acme Widgets", "ACME Holdings", "acme labs", "Blue Harbor Ltd", "blue harbor gmbh",
    "Zeta 50% Off", "Zeta 500 Co", "Under_Score BV", "UnderXScore BV", "Orion Foods",
)  # fmt: skip
STATUSES = ("draft", "issued", "paid", "overdue", "void")
COUNTRIES = ("US", "GB", "DE", "FR", "NL")
CATEGORIES = ("sales", "refund", "payroll", "software", "travel", "fees")
INDUSTRIES = ("software", "retail", "finance", "energy")
ROLES = ("ceo", "cfo", "accountant", "buyer")
DOC_KINDS = ("invoice", "receipt", "contract", "other")
DOC_STATUSES = ("processing", "processed", "failed")
START = date(2026, 1, 1)
# Instants on the edges of 2026-01-10 (UTC): eq "2026-01-10" holds the middle three.
EDGE_INSTANTS = (
    "2026-01-09T23:59:59Z",
    "2026-01-10T00:00:00Z",
    "2026-01-10T12:00:00Z",
    "2026-01-10T23:59:59Z",
    "2026-01-11T00:00:00Z",
)
COUNTS = {"invoices": 600, "transactions": 300, "companies": 150, "contacts": 150, "documents": 120}


def _maybe(rng: random.Random, value: Any, p_null: float = 0.08) -> Any:
    return None if rng.random() < p_null else value


def _money(rng: random.Random, high: int) -> float:
    return rng.randrange(4, high * 4) / 4


def _instant(rng: random.Random, days: int = 90) -> str:
    day = START + timedelta(days=rng.randrange(days))
    return f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"


def _invoice(rng: random.Random, n: int) -> dict[str, Any]:
    ws = rng.choice(WORKSPACES)
    currency = rng.choice(CURRENCIES[ws])
    issuer, issuer_country = rng.choice(ISSUERS[currency])
    status = rng.choice(STATUSES)
    issued = START + timedelta(days=rng.randrange(90))
    paid_at = None
    if status == "paid":
        paid_at = EDGE_INSTANTS[n % 5] if n % 7 == 0 else _instant(rng)
    amount = _maybe(rng, _money(rng, 3000), 0.05)
    return {
        "id": f"inv_{n:04d}",
        "workspace_id": ws,
        "number": f"INV-{n:05d}",
        "status": status,
        "issue_date": issued.isoformat(),
        "due_date": _maybe(rng, (issued + timedelta(days=30)).isoformat(), 0.1),
        "paid_at": paid_at,
        "grand_total": {"amount": amount, "currency": currency},
        "tax_total": {"amount": _maybe(rng, _money(rng, 400)), "currency": currency},
        "issuer": {"name": issuer, "country": issuer_country},
        "customer": {
            "name": _maybe(rng, rng.choice(CUSTOMERS)),
            "country": _maybe(rng, rng.choice(COUNTRIES)),
        },
        "line_count": _maybe(rng, rng.randrange(1, 12)),
    }


def _transaction(rng: random.Random, n: int) -> dict[str, Any]:
    ws = rng.choice(WORKSPACES)
    currency = rng.choice(CURRENCIES[ws])
    return {
        "id": f"txn_{n:04d}",
        "workspace_id": ws,
        "booked_at": EDGE_INSTANTS[n % 5] if n % 6 == 0 else _instant(rng),
        "amount": {"amount": _maybe(rng, _money(rng, 2000), 0.04), "currency": currency},
        "direction": rng.choice(("credit", "debit")),
        "category": _maybe(rng, rng.choice(CATEGORIES)),
        "counterparty": {"name": _maybe(rng, rng.choice(CUSTOMERS))},
        "account_id": f"acc_{ws[3:]}_{currency.lower()}",
        "reconciled": rng.random() < 0.6,
    }


def _company(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": f"cmp_{n:04d}",
        "workspace_id": rng.choice(WORKSPACES),
        "name": rng.choice(CUSTOMERS),
        "country": _maybe(rng, rng.choice(COUNTRIES)),
        "industry": _maybe(rng, rng.choice(INDUSTRIES)),
        "employees": _maybe(rng, rng.randrange(1, 500)),
        "created_at": _instant(rng),
        "is_customer": rng.random() < 0.4,
    }


def _contact(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": f"con_{n:04d}",
        "workspace_id": rng.choice(WORKSPACES),
        "company_id": _maybe(rng, f"cmp_{rng.randrange(150):04d}", 0.15),
        "email": _maybe(rng, f"person{rng.randrange(60)}@example.com"),
        "role": _maybe(rng, rng.choice(ROLES)),
        "created_at": _instant(rng),
    }


def _document(rng: random.Random, n: int) -> dict[str, Any]:
    status = rng.choice(DOC_STATUSES)
    return {
        "id": f"doc_{n:04d}",
        "workspace_id": rng.choice(WORKSPACES),
        "kind": rng.choice(DOC_KINDS),
        "status": status,
        "pages": rng.randrange(1, 40) if status == "processed" else None,
        "size_bytes": rng.randrange(1_000, 5_000_000),
        "uploaded_at": _instant(rng),
    }


MAKERS: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "invoices": _invoice,
    "transactions": _transaction,
    "companies": _company,
    "contacts": _contact,
    "documents": _document,
}


def generate() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(SEED)
    docs = {root: [make(rng, n) for n in range(COUNTS[root])] for root, make in MAKERS.items()}
    # ws_hooli: one amount whose currency is unknown.
    hooli = next(d for d in docs["invoices"] if d["workspace_id"] == "ws_hooli")
    hooli["grand_total"] = {"amount": 99.5, "currency": None}
    return docs


# ---- the oracle: plain Python over the documents -------------------------------------------


def get(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a nested document (None when absent)."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _measure(op: str, field: str, docs: list[dict[str, Any]]) -> Any:
    if field == "*":
        return len(docs)
    values = [get(d, field) for d in docs if get(d, field) is not None]
    if op == "count":
        return len(values)
    if op == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if op == "sum":
        return sum(values)
    if op == "avg":
        return sum(values) / len(values)
    return min(values) if op == "min" else max(values)


def _sort_key(value: Any) -> tuple:
    return (value is None, value if value is not None else 0)


def expected(
    docs: list[dict[str, Any]],
    aggregations: list[tuple[str, str, str]],
    group_by: list[str] = (),
    keep: Callable[[dict[str, Any]], bool] = lambda d: True,
) -> list[dict[str, Any]]:
    """Rows of (op, field, alias) aggregations over the kept documents, groups ascending."""
    kept = [d for d in docs if keep(d)]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for doc in kept:
        groups.setdefault(tuple(get(doc, g) for g in group_by), []).append(doc)
    if not group_by:
        groups = {(): kept}
    rows = []
    for key in sorted(groups, key=lambda k: tuple(_sort_key(v) for v in k)):
        row = dict(zip(group_by, key, strict=True))
        for op, field, alias in aggregations:
            row[alias] = _measure(op, field, groups[key])
        rows.append(row)
    return rows


def null_safe(doc: dict[str, Any], path: str, test: Callable[[Any], bool]) -> bool:
    """SQL semantics: a comparison with a missing value is never true."""
    value = get(doc, path)
    return value is not None and test(value)


# ---- the service ----------------------------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    docs: dict[str, list[dict[str, Any]]]

    def post(self, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(URL, json=body, headers=self.admin if headers is None else headers)

    def ok(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.post(body, headers)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self.ok(body)["data"]

    def count(self, root: str, **where: Any) -> int:
        body = {"root": root, "aggregations": [{"op": "count", "field": "*", "alias": "n"}]}
        return self.data({**body, **where})[0]["n"]

    def error(self, body: Any, status: int = 400) -> dict[str, Any]:
        response = self.post(body)
        assert response.status_code == status, response.text
        payload = response.json()
        assert payload["status"] == status
        assert payload["meta"]["trace_id"] == response.headers["X-Trace-Id"]
        return payload

    def viewer(self, *workspaces: str) -> dict[str, str]:
        _, token = self.keys.create("viewer", {"workspace_id": workspaces}, name="rs-viewer")
        return bearer(token)


def open_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A real service on a fresh DuckDB file, the documents ingested over HTTP as nested JSON."""
    docs = generate()
    with live_app(tmp_path_factory.mktemp("records")) as live:
        for name, rows in docs.items():
            response = live.client.post(f"/v1/datasets/{name}/rows", json=rows, headers=live.admin)
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == len(rows), response.text
        yield Env(live.client, live.admin, live.keys, docs)
