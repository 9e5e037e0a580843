"""Demo rows for the event-shaped datasets: `agent_events` (profile 000) and `agent_metrics` (001).

Events come in sessions so that distinct-session counts, per-session metadata and time locality
look like real product traffic; gateway requests carry the correlations dashboards look for
(failures are fast 429s or slow 5xx, cost follows the model, teams follow the subject).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.demo._common import (
    US_PER_SECOND,
    before_now,
    choose,
    draw_codes,
    json_objects,
    labels,
    lognormal,
    masked_float,
    masked_int,
    norm,
    pick_within,
    prefixed_ids,
    seasonal_times,
    zipf_p,
)

Columns = dict[str, pa.Array | np.ndarray]

# --- agent_events -------------------------------------------------------------------------------

WORKSPACES = ("ws_acme", "ws_globex", "ws_initech", "ws_umbrella")
BRANDS = (
    ("br_acme_main", "br_acme_outlet", "br_acme_kids"),
    ("br_globex_main", "br_globex_pro"),
    ("br_initech_main", "br_initech_labs"),
    ("br_umbrella_main", "br_umbrella_health", "br_umbrella_labs", "br_umbrella_store"),
)
CATALOGS_PER_BRAND = (3, 1, 2, 2, 1, 1, 2, 2, 1, 1, 1)  # in BRANDS order, flattened
AGENTS = (
    ("ag_acme_support", "ag_acme_shopper", "ag_acme_returns"),
    ("ag_globex_support", "ag_globex_sales"),
    ("ag_initech_helpdesk",),
    ("ag_umbrella_care", "ag_umbrella_triage"),
)
PRODUCTS_PER_WORKSPACE = 2000
EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "checkout_started",
    "purchase",
    "refund",
    "recommendation_click",
    "signup",
    "chat_started",
    "chat_message",
    "agent_handoff",
    "chat_rated",
)
# Event mix of a browsing session and of a session where the shopper talks to an agent.
BROWSE_MIX = norm([360, 240, 110, 80, 35, 25, 4, 50, 6, 30, 40, 2, 4])
CHAT_MIX = norm([100, 80, 30, 30, 15, 15, 3, 20, 2, 120, 500, 40, 45])
PRODUCT_EVENTS = ("product_view", "add_to_cart", "purchase", "refund", "recommendation_click")
QUANTITY_EVENTS = ("add_to_cart", "purchase", "refund")
AMOUNT_EVENTS = ("checkout_started", "purchase", "refund")
VALUE_EVENTS = ("add_to_cart", "checkout_started", "purchase", "refund")
DURATION_EVENTS = ("page_view", "product_view", "search", "chat_message")
SCORE_EVENTS = ("search", "recommendation_click", "chat_message")
AGENT_EVENTS = ("chat_started", "chat_message", "agent_handoff", "chat_rated")
CHANNELS = ("organic", "direct", "paid_search", "email", "social", "referral")
COUNTRIES = ("US", "GB", "FR", "DE", "BR", "ES", "IT", "NL", "CA", "JP")
DEVICES = ("mobile", "desktop", "tablet")


def _event_mask(types: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(types, [EVENT_TYPES.index(n) for n in names])


def _catalog_names() -> list[str]:
    """cat_<workspace>_<n>, numbered per workspace across its brands, in brand order."""
    names, brand = [], 0
    for ws, brands in zip(WORKSPACES, BRANDS, strict=True):
        n = 0
        for _ in brands:
            for _ in range(CATALOGS_PER_BRAND[brand]):
                n += 1
                names.append(f"cat_{ws[3:]}_{n}")
            brand += 1
    return names


def _sessions(rng: np.random.Generator, rows: int) -> tuple[int, np.ndarray]:
    """Session index of every event: geometric session lengths (mean 6), sessions contiguous."""
    sizes = rng.geometric(1 / 6, size=rows // 6 + 16)
    while sizes.sum() < rows:
        sizes = np.concatenate([sizes, rng.geometric(1 / 6, size=rows // 60 + 16)])
    sess = np.repeat(np.arange(len(sizes)), sizes)[:rows]
    return int(sess[-1]) + 1, sess


def agent_events(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Storefront and shopping-agent events of four workspaces of very different sizes."""
    n_sess, sess = _sessions(rng, rows)

    # Per session: where it happened, who it was, how they came.
    brand_ws = np.repeat(np.arange(len(WORKSPACES)), [len(b) for b in BRANDS])
    ws_share = zipf_p(len(WORKSPACES), 1.0)
    brand_p = np.concatenate([ws_share[i] * zipf_p(len(b), 1.2) for i, b in enumerate(BRANDS)])
    s_brand = choose(rng, len(brand_p), n_sess, brand_p)
    s_ws = brand_ws[s_brand]
    s_cat = pick_within(rng, s_brand, CATALOGS_PER_BRAND)
    s_cat_null = rng.random(n_sess) < 0.1
    s_customer = (rng.random(n_sess) ** 2.5 * 40_000).astype(np.int64)
    s_anonymous = rng.random(n_sess) < 0.35
    s_agent = pick_within(rng, s_ws, [len(a) for a in AGENTS], 2.0)
    s_chat = rng.random(n_sess) < 0.18
    s_start = seasonal_times(rng, n_sess, now_us)
    s_meta = json_objects(
        [("channel", CHANNELS), ("country", COUNTRIES), ("device", DEVICES)],
        [
            draw_codes(rng, len(CHANNELS), n_sess, zipf_p(len(CHANNELS), 0.9), 0.05),
            draw_codes(rng, len(COUNTRIES), n_sess, zipf_p(len(COUNTRIES), 1.2), 0.02),
            draw_codes(rng, len(DEVICES), n_sess, norm([55, 38, 7]), 0.08),
        ],
    )

    # Events follow each other within a session by exponential gaps (mean 40 s, cap 30 min).
    gaps = np.minimum(rng.exponential(40 * US_PER_SECOND, rows), 1800 * US_PER_SECOND)
    gaps = gaps.astype(np.int64)
    first = np.concatenate([[True], sess[1:] != sess[:-1]])
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[np.flatnonzero(first)][sess]
    ts = before_now(s_start[sess] + offset, now_us)
    order = np.argsort(ts, kind="stable")
    ts, sess = ts[order], sess[order]

    ws = s_ws[sess]
    etype = np.empty(rows, dtype=np.int64)
    chat = s_chat[sess]
    etype[chat] = choose(rng, len(EVENT_TYPES), int(chat.sum()), CHAT_MIX)
    etype[~chat] = choose(rng, len(EVENT_TYPES), int((~chat).sum()), BROWSE_MIX)

    is_product = _event_mask(etype, PRODUCT_EVENTS)
    product = (rng.random(rows) ** 3 * PRODUCTS_PER_WORKSPACE).astype(np.int64)
    product_global = ws * PRODUCTS_PER_WORKSPACE + product
    # Catalog prices are a property of the product, not of the event.
    price_table = np.round(lognormal(rng, 35, 0.9, len(WORKSPACES) * PRODUCTS_PER_WORKSPACE), 2)
    price = price_table[product_global]
    quantity = rng.geometric(0.7, rows)
    amount = np.round(price * quantity, 2)
    checkout = etype == EVENT_TYPES.index("checkout_started")
    amount[checkout] = np.round(lognormal(rng, 70, 0.8, int(checkout.sum())), 2)

    duration = lognormal(rng, 4000, 1.1, rows)
    chat_msg = etype == EVENT_TYPES.index("chat_message")
    duration[chat_msg] = lognormal(rng, 1800, 0.7, int(chat_msg.sum()))
    score = rng.beta(5, 2, rows)
    rating = choose(rng, 5, rows, norm([6, 6, 13, 30, 45])) + 1.0

    ws_short = [w[3:] for w in WORKSPACES]
    product_ids = pc.binary_join_element_wise(
        "prd_", labels(ws_short, ws), "_", prefixed_ids("", product, 5), ""
    )
    customers = pc.binary_join_element_wise(
        "cus_", labels(ws_short, ws), "_", prefixed_ids("", s_customer[sess], 6), ""
    )
    return {
        "workspace_id": labels(WORKSPACES, ws),
        "brand_id": labels([b for bs in BRANDS for b in bs], s_brand[sess]),
        "catalog_id": labels(_catalog_names(), s_cat[sess], s_cat_null[sess]),
        "event_id": prefixed_ids("evt_", np.arange(rows)),
        "event_type": labels(EVENT_TYPES, etype),
        "ts": ts,
        "session_id": prefixed_ids("ses_", sess),
        "product_id": pc.if_else(pa.array(is_product), product_ids, pa.scalar(None, pa.string())),
        "agent_id": labels(
            [a for ag in AGENTS for a in ag], s_agent[sess], ~_event_mask(etype, AGENT_EVENTS)
        ),
        "customer_id": pc.if_else(
            pa.array(s_anonymous[sess]), pa.scalar(None, pa.string()), customers
        ),
        "value": masked_float(amount, ~_event_mask(etype, VALUE_EVENTS)),
        "amount": masked_float(amount, ~_event_mask(etype, AMOUNT_EVENTS)),
        "price": masked_float(price, ~is_product),
        "quantity": masked_int(quantity, ~_event_mask(etype, QUANTITY_EVENTS)),
        "duration_ms": masked_float(np.round(duration, 1), ~_event_mask(etype, DURATION_EVENTS)),
        "score": masked_float(np.round(score, 4), ~_event_mask(etype, SCORE_EVENTS)),
        "rating": masked_float(rating, etype != EVENT_TYPES.index("chat_rated")),
        "metadata": pc.take(s_meta, pa.array(sess)),
    }


# --- agent_metrics ------------------------------------------------------------------------------

TENANTS = ("tn_acme", "tn_globex", "tn_initech")
TENANT_SHARE = norm([55, 30, 15])
# (agent name, framework, server type) per tenant.
GATEWAY_AGENTS = (
    (
        ("support-bot", "langgraph", "http"),
        ("sales-assistant", "crewai", "a2a"),
        ("code-reviewer", "autogen", "mcp"),
        ("invoice-extractor", "langgraph", "mcp"),
        ("research-agent", "openai-agents", "http"),
    ),
    (
        ("support-bot", "pydantic-ai", "http"),
        ("ops-copilot", "langgraph", "mcp"),
        ("data-analyst", "llamaindex", "http"),
    ),
    (("tps-report-bot", "autogen", "a2a"), ("helpdesk", "crewai", "http")),
)
# (slug, type, teams) per tenant; a subject's teams are fixed, as the access rules assume.
SUBJECTS = (
    (
        ("alice@acme.io", "user", ("platform",)),
        ("bob@acme.io", "user", ("support", "platform")),
        ("carol@acme.io", "user", ("sales",)),
        ("dave@acme.io", "user", ()),
        ("erin@acme.io", "user", ("support",)),
        ("va-billing-bot", "virtualaccount", ("finance",)),
        ("va-ci-runner", "virtualaccount", ("platform",)),
        ("va-support-sync", "virtualaccount", ("support",)),
    ),
    (
        ("hank@globex.com", "user", ("ops",)),
        ("ivy@globex.com", "user", ("ops", "data")),
        ("jack@globex.com", "user", ()),
        ("va-etl", "virtualaccount", ("data",)),
        ("va-monitor", "virtualaccount", ()),
    ),
    (
        ("peter@initech.com", "user", ("tps",)),
        ("milton@initech.com", "user", ()),
        ("samir@initech.com", "user", ("tps", "it")),
        ("va-tps", "virtualaccount", ("tps",)),
    ),
)
# (model, $ per 1k input tokens, $ per 1k output tokens)
MODELS = (
    ("gpt-4o-mini", 0.00015, 0.0006),
    ("gpt-4o", 0.0025, 0.01),
    ("claude-3-5-sonnet", 0.003, 0.015),
    ("claude-3-5-haiku", 0.0008, 0.004),
    ("llama-3.1-70b", 0.0009, 0.0009),
    ("mistral-large", 0.002, 0.006),
)
REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1")
ROUTES = ("chat/completions", "responses", "messages", "embeddings", "tools/call")
FAILURE_CODES = (429, 500, 502, 503, 504, 400, -1)  # -1: no HTTP status (transport error)
FAILURE_MIX = norm([35, 15, 12, 8, 8, 7, 15])


def agent_metrics(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """AI-gateway requests of three tenants, a fifth of them not made by any agent."""
    ts = np.sort(seasonal_times(rng, rows, now_us))
    tenant = choose(rng, len(TENANTS), rows, TENANT_SHARE)

    agents = [a for group in GATEWAY_AGENTS for a in group]
    agent = pick_within(rng, tenant, [len(g) for g in GATEWAY_AGENTS], 1.8)
    no_agent = rng.random(rows) < 0.2

    subjects = [s for group in SUBJECTS for s in group]
    subject = pick_within(rng, tenant, [len(g) for g in SUBJECTS], 1.6)
    teams = pa.array([list(s[2]) for s in subjects], type=pa.list_(pa.string()))

    failure = rng.random(rows) < 0.04
    code = np.full(rows, 200, dtype=np.int64)
    code[failure] = np.asarray(FAILURE_CODES)[
        choose(rng, len(FAILURE_CODES), int(failure.sum()), FAILURE_MIX)
    ]
    code[~failure & (rng.random(rows) < 0.01)] = -1  # streamed over a transport without status

    model = draw_codes(rng, len(MODELS), rows, zipf_p(len(MODELS), 1.0), 0.03)
    speed = np.asarray([0.6, 1.0, 1.2, 0.7, 0.9, 1.1, 1.0])[model]  # last: model absent
    speed *= np.where(no_agent, 0.6, 0.7 + 0.2 * (agent % 4))  # agents differ; raw calls are fast
    latency = lognormal(rng, 850, 0.8, rows) * speed
    fast_fail = failure & np.isin(code, [429, 400])
    slow_fail = failure & ~fast_fail
    latency[fast_fail] = lognormal(rng, 40, 0.6, int(fast_fail.sum()))
    latency[slow_fail] = lognormal(rng, 8000, 1.0, int(slow_fail.sum()))
    in_tok = np.maximum(1, lognormal(rng, 800, 1.0, rows)).astype(np.int64)
    out_tok = np.maximum(1, lognormal(rng, 250, 0.9, rows)).astype(np.int64)
    rates = np.asarray([[m[1], m[2]] for m in MODELS] + [[0.001, 0.003]])
    cost = (in_tok * rates[model, 0] + out_tok * rates[model, 1]) / 1000

    slot = ts // (1800 * US_PER_SECOND) * 64 + rng.integers(0, 64, rows)
    no_conv = np.where(no_agent, rng.random(rows) < 0.8, rng.random(rows) < 0.05)
    conv_ids = pc.binary_join_element_wise(
        "conv_", labels([t[3:] for t in TENANTS], tenant), "_", prefixed_ids("", slot, 9), ""
    )
    metadata = json_objects(
        [("model", [m[0] for m in MODELS]), ("region", REGIONS), ("route", ROUTES)],
        [
            model,
            draw_codes(rng, len(REGIONS), rows, zipf_p(len(REGIONS), 1.0), 0.02),
            draw_codes(rng, len(ROUTES), rows, zipf_p(len(ROUTES), 1.4), 0.1),
        ],
    )
    return {
        "tenant_id": labels(TENANTS, tenant),
        "id": prefixed_ids("req_", np.arange(rows)),
        "ts": ts,
        "agent_name": labels([a[0] for a in agents], agent, no_agent),
        "agent_framework": labels([a[1] for a in agents], agent, no_agent),
        "agent_server_type": labels([a[2] for a in agents], agent, no_agent),
        "is_failure": failure,
        "http_status_code": masked_int(code, code < 0),
        "latency_ms": np.round(latency, 2),
        "input_tokens": masked_int(in_tok, failure),
        "output_tokens": masked_int(out_tok, failure),
        "cost_usd": masked_float(np.round(cost, 6), failure),
        "created_by_subject_slug": labels([s[0] for s in subjects], subject),
        "created_by_subject_type": labels([s[1] for s in subjects], subject),
        "team": pc.take(teams, pa.array(subject)),
        "conversation_id": pc.if_else(pa.array(no_conv), pa.scalar(None, pa.string()), conv_ids),
        "metadata": metadata,
    }
