"""The benchmark's deterministic event table, built with numpy in a few seconds per million rows.

~20 tenants with Zipf-skewed sizes, 30 event types (Zipf), a year of timestamps ending at a fixed
instant, ~2 sessions per 10 rows, ~1 customer per 20 rows, 50 agent names (5 % null), 10k
products, amounts and prices, a log-normal duration, ratings in 0..1, 0-3 tags, and metadata with
channel / country / plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)
TENANTS = [f"tn_{i:02d}" for i in range(20)]
EVENT_TYPES = [f"event_{i:02d}" for i in range(30)]
AGENTS = [f"agent_{i:02d}" for i in range(50)]
TAGS = ["new", "returning", "promo", "mobile", "vip", "support", "trial", "churn_risk"]
CHANNELS = ["email", "organic", "paid_search", "social", "direct", "referral"]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "ES", "IT"]
PLANS = ["free", "starter", "pro", "enterprise"]


def _zipf_choice(rng: np.random.Generator, n_items: int, size: int, a: float = 1.2) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_items + 1) ** a
    return rng.choice(n_items, size=size, p=weights / weights.sum())


def _labels(prefix: str, ids: np.ndarray) -> pa.Array:
    return pa.array(np.char.add(prefix, ids.astype(str)).astype(object), pa.string())


def generate(rows: int, seed: int = 42) -> pa.Table:
    rng = np.random.default_rng(seed)
    tenant = _zipf_choice(rng, len(TENANTS), rows, a=1.1)
    seconds = rng.integers(0, int((END - START).total_seconds()), rows)
    ts = np.datetime64(START.replace(tzinfo=None), "us") + seconds.astype("timedelta64[s]")
    event = _zipf_choice(rng, len(EVENT_TYPES), rows)
    session = rng.integers(0, max(rows // 5, 1), rows)
    customer = rng.integers(0, max(rows // 20, 1), rows)
    agent = rng.integers(0, len(AGENTS), rows)
    agent_null = rng.random(rows) < 0.05
    product = rng.integers(0, 10_000, rows)
    has_amount = rng.random(rows) < 0.4
    amount = np.round(rng.lognormal(3.5, 1.0, rows), 2)
    price = np.round(rng.lognormal(3.0, 0.8, rows), 2)
    duration = np.round(rng.lognormal(6.0, 1.2, rows), 1)
    rating = np.round(rng.random(rows), 3)
    tag_count = rng.integers(0, 4, rows)
    tag_ids = rng.integers(0, len(TAGS), (rows, 3))
    offsets = np.concatenate([[0], np.cumsum(tag_count)])
    flat = np.concatenate([tag_ids[i, :c] for i, c in enumerate(tag_count)]) if rows else []
    tags = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(np.asarray(TAGS, object)[flat], pa.string())
    )
    channel = np.asarray(CHANNELS, object)[_zipf_choice(rng, len(CHANNELS), rows)]
    country = np.asarray(COUNTRIES, object)[_zipf_choice(rng, len(COUNTRIES), rows)]
    plan = np.asarray(PLANS, object)[rng.integers(0, len(PLANS), rows)]
    metadata = [
        f'{{"channel":"{c}","country":"{k}","plan":"{p}"}}'
        for c, k, p in zip(channel, country, plan, strict=True)
    ]
    return pa.table(
        {
            "tenant_id": pa.array(np.asarray(TENANTS, object)[tenant], pa.string()),
            "event_id": _labels("ev_", np.arange(rows)),
            "event_type": pa.array(np.asarray(EVENT_TYPES, object)[event], pa.string()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "session_id": _labels("s_", session),
            "customer_id": _labels("c_", customer),
            "agent_name": pa.array(
                np.where(agent_null, None, np.asarray(AGENTS, object)[agent]), pa.string()
            ),
            "product_id": _labels("p_", product),
            "amount": pa.array(
                np.where(has_amount, amount, np.nan), pa.float64(), from_pandas=True
            ),
            "price": pa.array(price, pa.float64()),
            "duration_ms": pa.array(duration, pa.float64()),
            "rating": pa.array(rating, pa.float64()),
            "tags": tags,
            "metadata": pa.array(metadata, pa.string()),
        }
    )
