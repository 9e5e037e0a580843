"""Demo rows for the records roots of profile 002: invoices, transactions, companies, contacts,
documents.

Two workspaces make the currency rule visible: ws_acme bills in USD, EUR and GBP (sums over it
are mixed-currency), ws_globex only in EUR. Fields that depend on each other do so (an invoice is
paid after it is issued and only then has `paid_at`; tax follows the issuer's country; a contact
joins after its company), so filters and group-bys give believable answers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.demo._common import (
    US_PER_DAY,
    US_PER_SECOND,
    choose,
    join,
    labels,
    lognormal,
    masked_int,
    norm,
    pick_within,
    prefixed_ids,
    seasonal_times,
    zipf_p,
)

Columns = dict[str, pa.Array | np.ndarray]

WORKSPACES = ("ws_acme", "ws_globex")
WORKSPACE_SHARE = norm([70, 30])
CURRENCIES = ("USD", "EUR", "GBP")
CURRENCY_MIX = (norm([55, 30, 15]), norm([0, 100, 0]))  # per workspace
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "CH", "SE", "CA", "BR", "JP")
COUNTRY_MIX = (
    norm([40, 14, 12, 8, 5, 4, 4, 3, 2, 5, 2, 1]),
    norm([3, 6, 22, 38, 14, 6, 5, 3, 2, 0, 0, 1]),
)
LEGAL = ("Inc", "Ltd", "GmbH", "SAS", "BV", "SL", "Srl", "AG", "AB", "Corp", "Ltda", "KK")
TLD = (".com", ".co.uk", ".de", ".fr", ".nl", ".es", ".it", ".ch", ".se", ".ca", ".com.br", ".jp")
TAX_RATE = np.asarray([0.07, 0.2, 0.19, 0.2, 0.21, 0.21, 0.22, 0.081, 0.25, 0.13, 0.17, 0.1])
PREFIXES = (
    "Northwind", "Blue Harbor", "Summit", "Redwood", "Silverline", "Bright", "Ironclad",
    "Evergreen", "Pioneer", "Quantum", "Vertex", "Cobalt", "Maple", "Orion", "Atlas", "Nimbus",
    "Sterling", "Granite", "Lumen", "Crescent",
)  # fmt: skip
# Second word of a company name and the industry it implies.
KINDS = (
    ("Traders", "retail"), ("Logistics", "logistics"), ("Foods", "retail"),
    ("Labs", "healthcare"), ("Systems", "software"), ("Partners", "finance"),
    ("Health", "healthcare"), ("Energy", "energy"), ("Media", "media"), ("Works", "manufacturing"),
    ("Academy", "education"), ("Hotels", "hospitality"), ("Capital", "finance"),
    ("Software", "software"), ("Collective", "other"),
)  # fmt: skip
INDUSTRIES = (
    "software", "manufacturing", "retail", "finance", "healthcare", "logistics", "energy",
    "media", "education", "hospitality", "other",
)  # fmt: skip
# (workspace, currency) -> issuing legal entity and its country.
ISSUERS = {
    (0, 0): (("Acme Corp", "US"),),
    (0, 1): (("Acme GmbH", "DE"), ("Acme SAS", "FR")),
    (0, 2): (("Acme Ltd", "GB"),),
    (1, 1): (("Globex SAS", "FR"), ("Globex BV", "NL")),
}
CUSTOMERS_PER_WORKSPACE = 800


def _company_names(base: np.ndarray, country: np.ndarray) -> pa.Array:
    """`<Prefix> <Kind> <legal form of the country>`: a small, realistic name space."""
    kind = base % len(KINDS)
    prefix = base // len(KINDS) % len(PREFIXES)
    return join(
        labels(PREFIXES, prefix),
        " ",
        labels([k[0] for k in KINDS], kind),
        " ",
        labels(LEGAL, country),
    )


def _workspace_and_currency(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    ws = choose(rng, len(WORKSPACES), rows, WORKSPACE_SHARE)
    ccy = np.empty(rows, dtype=np.int64)
    for i, mix in enumerate(CURRENCY_MIX):
        sel = ws == i
        ccy[sel] = choose(rng, len(CURRENCIES), int(sel.sum()), mix)
    return ws, ccy


def _countries(rng: np.random.Generator, ws: np.ndarray) -> np.ndarray:
    out = np.empty(len(ws), dtype=np.int64)
    for i, mix in enumerate(COUNTRY_MIX):
        sel = ws == i
        out[sel] = choose(rng, len(COUNTRIES), int(sel.sum()), mix)
    return out


def _customer_universe(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each workspace's customers: a fixed name and country per customer number."""
    n = len(WORKSPACES) * CUSTOMERS_PER_WORKSPACE
    ws = np.repeat(np.arange(len(WORKSPACES)), CUSTOMERS_PER_WORKSPACE)
    return rng.integers(0, len(PREFIXES) * len(KINDS), n), _countries(rng, ws)


def _group_of(groups: dict[tuple[int, int], object], ws: np.ndarray, ccy: np.ndarray) -> np.ndarray:
    """Position of each row's (workspace, currency) among the keys of `groups`."""
    table = np.full(len(WORKSPACES) * len(CURRENCIES), -1, dtype=np.int64)
    for i, (w, c) in enumerate(groups):
        table[w * len(CURRENCIES) + c] = i
    return table[ws * len(CURRENCIES) + ccy]


def _pick_customer(rng: np.random.Generator, ws: np.ndarray) -> np.ndarray:
    return pick_within(rng, ws, [CUSTOMERS_PER_WORKSPACE] * len(WORKSPACES), 2.5)


def invoices(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Invoices whose status, due date and payment follow from their age."""
    issued_us = np.sort(seasonal_times(rng, rows, now_us))
    issue_day = issued_us // US_PER_DAY
    today = now_us // US_PER_DAY
    ws, ccy = _workspace_and_currency(rng, rows)

    seq = np.empty(rows, dtype=np.int64)
    for i in range(len(WORKSPACES)):
        sel = ws == i
        seq[sel] = np.arange(1, int(sel.sum()) + 1)
    year = pc.cast(pc.year(pa.array(issued_us, type=pa.timestamp("us", tz="UTC"))), pa.string())
    number = join("INV-", year, "-", prefixed_ids("", seq, 6))

    terms = np.asarray([14, 30, 30, 30, 45, 60])[choose(rng, 6, rows)]
    due_day = issue_day + terms
    age = today - issue_day
    u = rng.random(rows)
    status = np.where(due_day < today, np.where(u < 0.88, 2, 3), np.where(u < 0.35, 2, 1))
    status[(age < 3) & (rng.random(rows) < 0.5)] = 0
    status[rng.random(rows) < 0.01] = 0
    status[(status != 0) & (rng.random(rows) < 0.02)] = 4
    draft = status == 0

    paid = status == 2
    delay = lognormal(rng, 0.8, 0.6, rows) * terms * US_PER_DAY
    paid_us = issue_day * US_PER_DAY + delay.astype(np.int64)
    late = paid_us >= now_us
    paid_us[late] = issue_day[late] * US_PER_DAY + (
        rng.random(int(late.sum())) * (now_us - issue_day[late] * US_PER_DAY)
    ).astype(np.int64)

    issuers = [e for group in ISSUERS.values() for e in group]
    issuer_group = _group_of(ISSUERS, ws, ccy)
    issuer = pick_within(rng, issuer_group, [len(g) for g in ISSUERS.values()], 1.3)
    issuer_country = np.asarray([COUNTRIES.index(e[1]) for e in issuers])[issuer]
    cust_base, cust_country = _customer_universe(rng)
    customer = _pick_customer(rng, ws)

    total = np.round(lognormal(rng, 1200, 1.1, rows), 2)
    rate = TAX_RATE[issuer_country] * (rng.random(rows) < 0.9)
    tax = np.round(total * rate / (1 + rate), 2)
    currency = labels(CURRENCIES, ccy)
    return {
        "id": prefixed_ids("inv_", np.arange(rows)),
        "workspace_id": labels(WORKSPACES, ws),
        "number": number,
        "status": labels(("draft", "issued", "paid", "overdue", "void"), status),
        "issue_date": issue_day.astype(np.int32),
        "due_date": pa.array(
            due_day.astype(np.int32), mask=draft & (rng.random(rows) < 0.5), type=pa.date32()
        ),
        "paid_at": pa.array(paid_us, mask=~paid, type=pa.timestamp("us", tz="UTC")),
        "grand_total__amount": total,
        "grand_total__currency": currency,
        "tax_total__amount": tax,
        "tax_total__currency": currency,
        "issuer__name": labels([e[0] for e in issuers], issuer),
        "issuer__country": labels(COUNTRIES, issuer_country),
        "customer__name": _company_names(cust_base[customer], cust_country[customer]),
        "customer__country": labels(COUNTRIES, cust_country[customer]),
        "line_count": rng.geometric(0.35, rows).astype(np.int64),
    }


TX_CATEGORIES = (
    "sales", "refund", "interest", "transfer", "payroll", "rent", "software", "travel",
    "marketing", "taxes", "utilities", "fees", "other",
)  # fmt: skip
CREDIT_MIX = norm([70, 0, 3, 12, 0, 0, 0, 0, 0, 2, 0, 0, 5])
DEBIT_MIX = norm([0, 4, 0, 8, 10, 3, 18, 12, 10, 4, 5, 14, 6])
# Counterparties per category (customer names replace the placeholder of sales and refunds).
VENDORS = (
    ("",), ("",), ("First Harbor Bank",), ("Own account",), ("Payroll",),
    ("WeWork", "Regus", "Landsec"),
    ("AWS", "Google Cloud", "Slack", "Atlassian", "GitHub", "Salesforce", "Notion"),
    ("Lufthansa", "Uber", "Booking.com", "Delta", "Eurostar"),
    ("Google Ads", "Meta Ads", "LinkedIn Ads"), ("Tax authority",), ("Vodafone", "EDF", "Octopus"),
    ("Stripe", "Adyen", "First Harbor Bank"), ("Amazon", "Staples", "Etsy"),
)  # fmt: skip
ACCOUNTS = {(0, 0): 2, (0, 1): 1, (0, 2): 1, (1, 1): 2}  # accounts per (workspace, currency)


def transactions(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Bank lines: many small debits to vendors, fewer larger credits from customers."""
    booked = np.sort(seasonal_times(rng, rows, now_us))
    ws, ccy = _workspace_and_currency(rng, rows)
    credit = rng.random(rows) < 0.4
    cat = np.empty(rows, dtype=np.int64)
    cat[credit] = choose(rng, len(TX_CATEGORIES), int(credit.sum()), CREDIT_MIX)
    cat[~credit] = choose(rng, len(TX_CATEGORIES), int((~credit).sum()), DEBIT_MIX)
    amount = np.where(credit, lognormal(rng, 1500, 1.2, rows), lognormal(rng, 250, 1.3, rows))
    amount[cat == TX_CATEGORIES.index("payroll")] *= 40

    vendor = pick_within(rng, cat, [len(v) for v in VENDORS], 1.6)
    cust_base, cust_country = _customer_universe(rng)
    customer = _pick_customer(rng, ws)
    counterparty = pc.if_else(
        pa.array(np.isin(cat, [0, 1])),
        _company_names(cust_base[customer], cust_country[customer]),
        labels([v for vs in VENDORS for v in vs], vendor),
    )
    counterparty = pc.if_else(
        pa.array(rng.random(rows) < 0.04), pa.scalar(None, pa.string()), counterparty
    )

    account_names = [
        f"acc_{WORKSPACES[w][3:]}_{CURRENCIES[c].lower()}_{n + 1}"
        for (w, c), count in ACCOUNTS.items()
        for n in range(count)
    ]
    account = pick_within(rng, _group_of(ACCOUNTS, ws, ccy), list(ACCOUNTS.values()), 2.0)
    recent = booked >= now_us - 14 * US_PER_DAY
    reconciled = np.where(recent, rng.random(rows) < 0.4, rng.random(rows) < 0.97)
    return {
        "id": prefixed_ids("txn_", np.arange(rows)),
        "workspace_id": labels(WORKSPACES, ws),
        "booked_at": booked,
        "amount__amount": np.round(amount, 2),
        "amount__currency": labels(CURRENCIES, ccy),
        "direction": labels(("debit", "credit"), credit.astype(np.int64)),
        "category": labels(TX_CATEGORIES, cat, rng.random(rows) < 0.05),
        "counterparty__name": counterparty,
        "account_id": labels(account_names, account),
        "reconciled": reconciled,
    }


def companies(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Customers and prospects; the kind of company decides its industry."""
    created = np.sort(seasonal_times(rng, rows, now_us))
    ws = choose(rng, len(WORKSPACES), rows, WORKSPACE_SHARE)
    country = _countries(rng, ws)
    base = choose(rng, len(PREFIXES) * len(KINDS), rows, zipf_p(len(PREFIXES) * len(KINDS), 0.3))
    industry = np.asarray([INDUSTRIES.index(k[1]) for k in KINDS])[base % len(KINDS)]
    employees = np.maximum(1, lognormal(rng, 45, 1.6, rows)).astype(np.int64)
    return {
        "id": prefixed_ids("cmp_", np.arange(rows)),
        "workspace_id": labels(WORKSPACES, ws),
        "name": _company_names(base, country),
        "country": labels(COUNTRIES, country, rng.random(rows) < 0.03),
        "industry": labels(INDUSTRIES, industry, rng.random(rows) < 0.06),
        "employees": masked_int(employees, rng.random(rows) < 0.1),
        "created_at": created,
        "is_customer": rng.random(rows) < 0.35,
    }


FIRST_NAMES = (
    "emma", "liam", "olivia", "noah", "mia", "lucas", "sofia", "leon", "anna", "hugo", "lea",
    "jonas", "chloe", "marco", "sara", "tom", "ines", "felix", "nina", "omar",
)  # fmt: skip
LAST_NAMES = (
    "smith", "muller", "martin", "garcia", "rossi", "jansen", "schmidt", "dubois", "brown",
    "lopez", "weber", "moreau", "taylor", "fischer", "bernard", "silva", "nilsson", "meyer",
)  # fmt: skip
ROLES = ("buyer", "accountant", "sales", "operations", "engineer", "support", "cfo", "ceo", "other")


def contacts(rng: np.random.Generator, rows: int, now_us: int, company: Columns) -> Columns:
    """People at the given companies (same workspace), with emails on the company's domain."""
    n_comp = len(company["id"])
    ws_comp = np.asarray(pc.index_in(company["workspace_id"], pa.array(WORKSPACES)), dtype=np.int64)
    # Bigger, older companies have more contacts: favour low company numbers.
    comp = np.minimum((rng.random(rows) ** 1.3 * n_comp).astype(np.int64), n_comp - 1)
    independent = rng.random(rows) < 0.1
    ws = np.where(independent, choose(rng, len(WORKSPACES), rows, WORKSPACE_SHARE), ws_comp[comp])

    comp_created = np.asarray(company["created_at"], dtype=np.int64)[comp]
    start = np.where(independent, seasonal_times(rng, rows, now_us), comp_created)
    created = start + (rng.random(rows) * (now_us - start) * (~independent)).astype(np.int64)
    created = np.minimum(created, now_us - US_PER_SECOND)
    order = np.argsort(created, kind="stable")
    created, comp, independent, ws = created[order], comp[order], independent[order], ws[order]

    idx = pa.array(comp)
    name = pc.take(company["name"], idx)
    stem = pc.replace_substring_regex(pc.utf8_lower(name), r" \S+$", "")
    stem = pc.replace_substring_regex(stem, r"[^a-z0-9]", "")
    country = pc.fill_null(pc.index_in(pc.take(company["country"], idx), pa.array(COUNTRIES)), 0)
    domain = join(stem, labels(TLD, np.asarray(country, dtype=np.int64)))
    domain = pc.if_else(pa.array(independent), pa.scalar("gmail.com"), domain)
    local = join(
        labels(FIRST_NAMES, choose(rng, len(FIRST_NAMES), rows)),
        ".",
        labels(LAST_NAMES, choose(rng, len(LAST_NAMES), rows)),
    )
    no_email = pa.array(rng.random(rows) < 0.03)
    email = pc.if_else(no_email, pa.scalar(None, pa.string()), join(local, "@", domain))
    return {
        "id": prefixed_ids("con_", np.arange(rows)),
        "workspace_id": labels(WORKSPACES, ws),
        "company_id": pc.if_else(
            pa.array(independent), pa.scalar(None, pa.string()), pc.take(company["id"], idx)
        ),
        "email": email,
        "role": labels(ROLES, choose(rng, len(ROLES), rows, zipf_p(len(ROLES), 0.8))),
        "created_at": created,
    }


DOC_KINDS = ("invoice", "receipt", "contract", "other")


def documents(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Uploads: the newest are still processing, a few fail, page counts depend on the kind."""
    uploaded = np.sort(seasonal_times(rng, rows, now_us))
    ws = choose(rng, len(WORKSPACES), rows, WORKSPACE_SHARE)
    kind = choose(rng, len(DOC_KINDS), rows, norm([50, 30, 10, 10]))
    status = np.where(rng.random(rows) < 0.03, 2, 1)
    status[(uploaded >= now_us - 600 * US_PER_SECOND) | (rng.random(rows) < 0.002)] = 0
    pages = np.select(
        [kind == 0, kind == 1, kind == 2],
        [rng.geometric(0.6, rows), np.ones(rows, dtype=np.int64), rng.geometric(0.08, rows)],
        rng.geometric(0.3, rows),
    ).astype(np.int64)
    size = (pages * lognormal(rng, 90_000, 0.7, rows)).astype(np.int64)
    return {
        "id": prefixed_ids("doc_", np.arange(rows)),
        "workspace_id": labels(WORKSPACES, ws),
        "kind": labels(DOC_KINDS, kind),
        "status": labels(("processing", "processed", "failed"), status),
        "pages": masked_int(pages, status != 1),
        "size_bytes": size,
        "uploaded_at": uploaded,
    }
