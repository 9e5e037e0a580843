"""The benchmark's deterministic event table, built with numpy and Arrow compute, vectorized, so
100M rows can be made a chunk at a time (about a second per million rows).

~20 tenants with Zipf-skewed sizes, 30 event types (Zipf), a year of timestamps ending at a fixed
instant, ~2 sessions per 10 rows, ~1 customer per 20 rows, 50 agent names (5 % null), 10k
products, amounts and prices, a log-normal duration, ratings in 0..1, 0-3 tags, and metadata with
channel / country / plan.

A table of `total` rows is made as chunks (`generate_chunk`): chunk k of the total draws its
timestamps over its share of the year (uniformly within it), so the chunks in order are the
events as they arrived and together a year drawn uniformly; event ids count on from the chunk's
start (unique across chunks), sessions and customers are drawn over the total's ranges, and each
chunk is decided by (seed, start) alone. `generate(rows)` is one chunk of everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)
TENANTS = [f"tn_{i:02d}" for i in range(20)]
EVENT_TYPES = [f"event_{i:02d}" for i in range(30)]
AGENTS = [f"agent_{i:02d}" for i in range(50)]
TAGS = ["new", "returning", "promo", "mobile", "vip", "support", "trial", "churn_risk"]
CHANNELS = ["email", "organic", "paid_search", "social", "direct", "referral"]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "ES", "IT"]
PLANS = ["free", "starter", "pro", "enterprise"]
MAX_TAGS = 3
# Every metadata document there is (channel, country, plan), indexed c * 40 + k * 4 + p.
METADATA = pa.array(
    [
        f'{{"channel":"{c}","country":"{k}","plan":"{p}"}}'
        for c in CHANNELS
        for k in COUNTRIES
        for p in PLANS
    ],
    pa.string(),
)


def _zipf_choice(rng: np.random.Generator, n_items: int, size: int, a: float = 1.2) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_items + 1) ** a
    return rng.choice(n_items, size=size, p=weights / weights.sum())


def _pick(values: list[str], indices: np.ndarray, nulls: np.ndarray | None = None) -> pa.Array:
    """`values[indices]` as an Arrow string array, without a Python string per row."""
    return pa.array(values, pa.string()).take(pa.array(indices, mask=nulls))


def _labels(prefix: str, ids: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(ids, pa.int64()), pa.string())
    return pc.binary_join_element_wise(prefix, text, "")


def _timestamps(
    rng: np.random.Generator, count: int, period: tuple[datetime, datetime]
) -> pa.Array:
    first, last = (int(edge.timestamp()) * 1_000_000 for edge in period)
    seconds = rng.integers(0, max((last - first) // 1_000_000, 1), count)
    return pa.array(first + seconds * 1_000_000, pa.timestamp("us", tz="UTC"))


def share_of_year(total: int, start: int, count: int) -> tuple[datetime, datetime]:
    """The part of the year that rows start..start+count of `total` fall in."""
    span = END - START
    return START + span * (start / total), START + span * ((start + count) / total)


def _tags(rng: np.random.Generator, count: int) -> pa.Array:
    tag_count = rng.integers(0, MAX_TAGS + 1, count)
    tag_ids = rng.integers(0, len(TAGS), (count, MAX_TAGS))
    offsets = np.concatenate([[0], np.cumsum(tag_count)]).astype(np.int32)
    # Row by row, each row's first tag_count tags.
    flat = tag_ids[np.arange(MAX_TAGS) < tag_count[:, None]]
    return pa.ListArray.from_arrays(pa.array(offsets), _pick(TAGS, flat))


def generate_chunk(
    total: int,
    start: int,
    count: int,
    seed: int = 42,
    period: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """Rows start..start+count of a `total`-row table; timestamps over `period` (default: the
    chunk's share of the year, see `share_of_year`)."""
    rng = np.random.default_rng([seed, start])
    period = period or share_of_year(max(total, 1), start, count)
    tenant = _zipf_choice(rng, len(TENANTS), count, a=1.1)
    ts = _timestamps(rng, count, period)
    event = _zipf_choice(rng, len(EVENT_TYPES), count)
    session = rng.integers(0, max(total // 5, 1), count)
    customer = rng.integers(0, max(total // 20, 1), count)
    agent = rng.integers(0, len(AGENTS), count)
    agent_null = rng.random(count) < 0.05
    product = rng.integers(0, 10_000, count)
    has_amount = rng.random(count) < 0.4
    amount = np.round(rng.lognormal(3.5, 1.0, count), 2)
    price = np.round(rng.lognormal(3.0, 0.8, count), 2)
    duration = np.round(rng.lognormal(6.0, 1.2, count), 1)
    rating = np.round(rng.random(count), 3)
    tags = _tags(rng, count)
    channel = _zipf_choice(rng, len(CHANNELS), count)
    country = _zipf_choice(rng, len(COUNTRIES), count)
    plan = rng.integers(0, len(PLANS), count)
    document = channel * len(COUNTRIES) * len(PLANS) + country * len(PLANS) + plan
    return pa.table(
        {
            "tenant_id": _pick(TENANTS, tenant),
            "event_id": _labels("ev_", np.arange(start, start + count)),
            "event_type": _pick(EVENT_TYPES, event),
            "ts": ts,
            "session_id": _labels("s_", session),
            "customer_id": _labels("c_", customer),
            "agent_name": _pick(AGENTS, agent, agent_null),
            "product_id": _labels("p_", product),
            "amount": pa.array(amount, pa.float64(), mask=~has_amount),
            "price": pa.array(price, pa.float64()),
            "duration_ms": pa.array(duration, pa.float64()),
            "rating": pa.array(rating, pa.float64()),
            "tags": tags,
            "metadata": METADATA.take(pa.array(document)),
        }
    )


def chunks(total: int, size: int, seed: int = 42) -> Iterator[pa.Table]:
    """The `total`-row table, `size` rows at a time, in time order of the chunks."""
    for start in range(0, total, size):
        yield generate_chunk(total, start, min(size, total - start), seed)


def generate(rows: int, seed: int = 42) -> pa.Table:
    return generate_chunk(rows, 0, rows, seed)
