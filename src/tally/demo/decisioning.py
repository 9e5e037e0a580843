"""Demo rows for the decisioning datasets (profile 004): one bank-like tenant, `tn_acme`.

Nineteen datasets reference one another (interactions name offers, members name segments),
yet `generate` builds each one alone from its own row budget: what they share is a function of
sizes only (see `decisioning_world`). The story: a few hundred offers in categories with
Zipf-like popularity and acceptance and conversion rates of their own, several channels (SMS
switched off), segments with members (the third one inactive, the last one never
materialized), a year of interactions, decisions with ranked candidates, heavy-tailed run
latency, budgets, three attribution models and three scoring models with an AUC trend, and
suppressions of several policy types. The last seven days hold an injected shift (see
`decisioning_events`) for anomaly_candidates to find.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from tally.demo import decisioning_events as events
from tally.demo._common import US_PER_HOUR, choose, labels, norm, prefixed_ids
from tally.demo.decisioning_world import (
    CHANNELS,
    OFFER_STATUSES,
    SHARES,
    TENANT,
    Columns,
    fixed,
    numbered,
    world,
)

Generator = Callable[[np.random.Generator, int, int], Columns]
CATEGORY_NAMES = (
    "Credit cards", "Savings", "Mortgages", "Insurance", "Personal loans", "Travel",
    "Retail partners", "Loyalty", "Investments", "Student banking",
)  # fmt: skip
SEGMENT_NAMES = (
    "High value", "New customers", "Dormant", "Young professionals", "Families",
    "Students", "Retirees", "Frequent travellers",
)  # fmt: skip
POLICIES = ("frequency_cap", "cooldown", "opt_out", "fatigue", "complaint")
POLICY_MIX = norm([40, 25, 15, 15, 5])


def _tenant(n: int) -> pa.Array:
    return labels([TENANT], np.zeros(n, dtype=np.int64))


def _statuses(kind: str, n: int, statuses: tuple[str, ...], mix: list[float]) -> pa.Array:
    """Statuses in the given proportions, the same for the first n rows at any size."""
    code = np.searchsorted(np.cumsum(norm(mix))[:-1], fixed(f"{kind}.status", n), "right")
    return labels(statuses, code)


def _listing(kind: str, prefix: str, statuses: tuple[str, ...], mix: list[float]) -> Generator:
    """A generator of `{tenant_id, id, name, status}` rows (experiments, journeys, triggers)."""
    title = kind.rstrip("s").title()

    def rows_of(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
        index = np.arange(rows)
        return {
            "tenant_id": _tenant(rows),
            "id": prefixed_ids(prefix, index, 4),
            "name": labels([f"{title} {i + 1}" for i in range(rows)], index),
            "status": _statuses(kind, rows, statuses, mix),
        }

    return rows_of


def offers(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("offers", rows)
    return {
        "tenant_id": _tenant(rows),
        "id": w.offer_ids,
        "name": labels(w.offer_names, np.arange(rows)),
        "category_id": prefixed_ids("cat_", w.offer_category, 3),
        "status": labels(OFFER_STATUSES, w.offer_status),
    }


def categories(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    index = np.arange(rows)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("cat_", index, 3),
        "name": labels(numbered(CATEGORY_NAMES, rows), index),
    }


def channels(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("channels", rows)
    active = np.asarray([CHANNELS[i % len(CHANNELS)][2] for i in range(rows)], dtype=np.int64)
    return {
        "tenant_id": _tenant(rows),
        "id": w.channel_ids,
        "name": labels(numbered(tuple(c[1] for c in CHANNELS), rows), np.arange(rows)),
        "status": labels(("inactive", "active"), active),
    }


def creatives(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """One to a few creatives per offer; the last tenth of the offers has none."""
    w = world("creatives", rows)
    offer = np.arange(rows) % max(1, w.offers - w.offers // 10)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("cr_", np.arange(rows), 5),
        "offer_id": w.offer_ids.take(pa.array(offer)),
        "channel_id": w.channel_ids.take(pa.array(choose(rng, w.channels, rows, w.channel_mix))),
        "status": _statuses("creatives", rows, OFFER_STATUSES, [75, 10, 10, 5]),
    }


def segments(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Active but for the third; materialized an hour apart, but for the last one (of two or
    more), which never was."""
    index = np.arange(rows)
    never = (index == rows - 1) & (rows > 1)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("seg_", index, 3),
        "name": labels(numbered(SEGMENT_NAMES, rows), index),
        "status": labels(("active", "inactive"), (index == 2).astype(np.int64)),
        "materialized_at": pa.array(
            now_us - (index + 1) * US_PER_HOUR, mask=never, type=pa.timestamp("us", tz="UTC")
        ),
    }


def segment_members(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Distinct customers per segment; the first segments are the biggest."""
    w = world("segment_members", rows)
    sizes = np.floor(rows * norm(1 / np.arange(1, w.segments + 1))).astype(np.int64)
    sizes[0] += rows - sizes.sum()
    customer = np.concatenate(
        [
            np.random.default_rng([zlib.crc32(b"members"), s]).permutation(w.customers)[:size]
            for s, size in enumerate(sizes)
        ]
    )
    return {
        "tenant_id": _tenant(rows),
        "segment_id": prefixed_ids("seg_", np.repeat(np.arange(w.segments), sizes), 3),
        "customer_id": prefixed_ids("cust_", customer, 6),
    }


def approvals(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("approvals", rows)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("apr_", np.arange(rows), 5),
        "offer_id": w.offer_ids.take(pa.array(np.arange(rows) % w.offers)),
        "status": _statuses("approvals", rows, ("pending", "approved", "rejected"), [25, 60, 15]),
    }


def budget_allocations(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("budget_allocations", rows)
    allocated = np.round(fixed("budget", rows) * 190 + 10) * 100
    burn = np.clip(rng.normal(0.55, 0.3, rows), 0, 1.15)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("bud_", np.arange(rows), 5),
        "offer_id": w.offer_ids.take(pa.array(np.arange(rows) % w.offers)),
        "allocated": allocated,
        "spent": np.round(allocated * burn, 2),
    }


def model_features(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Features of each model by falling importance."""
    index = np.arange(rows)
    rank = index // len(events.MODELS)
    importance = 0.35 / (rank + 1) ** 0.9 * (0.8 + 0.4 * fixed("importance", rows))
    return {
        "tenant_id": _tenant(rows),
        "model_id": labels(events.MODELS, index % len(events.MODELS)),
        "feature": labels(numbered(events.FEATURES, int(rank[-1]) + 1), rank),
        "importance": np.round(importance, 4),
    }


def suppressions(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("suppressions", rows)
    offer = choose(rng, w.offers, rows, w.popularity)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("sup_", np.arange(rows), 7),
        "customer_id": prefixed_ids("cust_", rng.integers(0, w.customers, rows), 6),
        "offer_id": w.offer_ids.take(pa.array(offer, mask=rng.random(rows) < 0.15)),
        "policy_type": labels(POLICIES, choose(rng, len(POLICIES), rows, POLICY_MIX)),
        "active": rng.random(rows) < 0.7,
    }


GENERATORS: dict[str, Generator] = {
    "offers": offers,
    "categories": categories,
    "channels": channels,
    "creatives": creatives,
    "segments": segments,
    "segment_members": segment_members,
    "experiments": _listing(
        "experiments", "exp_", ("running", "draft", "completed", "stopped"), [40, 20, 30, 10]
    ),
    "journeys": _listing("journeys", "jrn_", OFFER_STATUSES, [55, 15, 20, 10]),
    "triggers": _listing("triggers", "trg_", ("enabled", "disabled"), [70, 30]),
    "approvals": approvals,
    "budget_allocations": budget_allocations,
    "model_features": model_features,
    "suppressions": suppressions,
    "interactions": events.interactions,
    "decision_traces": events.decision_traces,
    "decision_candidates": events.decision_candidates,
    "runs": events.runs,
    "attributions": events.attributions,
    "model_metrics": events.model_metrics,
}

__all__ = ["GENERATORS", "SHARES"]
