"""Demo event rows of the decisioning tenant: interactions, decisions, runs, attributions, AUC.

Every event lies in the year before now, with growth, weekly and daily cycles. In the last seven
UTC days (today included) the most popular offer's acceptance collapses to a sixth, email
conversions are worth twice as much and degraded scoring goes from 3% to 15% of decisions.
Traces and their candidates come from one stream keyed by both sizes and now, so the two tables
are generated apart and still agree (each candidate carries its trace's ts, customer, channel and
flow; a trace's winner is its selected candidate).
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pyarrow as pa

from tally.demo._common import (
    US_PER_DAY,
    US_PER_SECOND,
    choose,
    labels,
    lognormal,
    masked_float,
    masked_int,
    norm,
    prefixed_ids,
    seasonal_times,
)
from tally.demo.decisioning_world import EMAIL, SHARES, TENANT, Columns, World, world

MODELS = ("propensity_v3", "propensity_v4", "churn_guard")
FEATURES = (
    "recency_days", "tenure_months", "balance_trend", "channel_affinity", "offer_fatigue",
    "income_band", "product_count", "last_response", "age_band", "card_spend",
    "mobile_usage", "savings_rate", "region", "complaints_90d",
)  # fmt: skip
FLOWS = ("flow_web_hero", "flow_app_home", "flow_email_weekly", "flow_call_center_nba")
FLOW_MIX = norm([40, 30, 20, 10])
OUTCOMES = ("qualification_rejected", "contact_policy_blocked", "outranked", "selected")
KINDS = ("impression", "positive", "negative", "conversion")
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear")


def _tenant(n: int) -> pa.Array:
    return labels([TENANT], np.zeros(n, dtype=np.int64))


def _recent(ts: np.ndarray, now_us: int) -> np.ndarray:
    """Rows of the last seven UTC days, today included: where the injected shift shows."""
    return ts >= (now_us // US_PER_DAY - 6) * US_PER_DAY


def _customers(ids: np.ndarray) -> pa.Array:
    return prefixed_ids("cust_", ids, 6)


def interactions(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Impressions, responses and conversions; per offer, positive / impressions is its
    acceptance and conversions / impressions its conversion rate."""
    w = world("interactions", rows)
    ts = np.sort(seasonal_times(rng, rows, now_us))
    recent = _recent(ts, now_us)
    offer = choose(rng, w.offers, rows, w.popularity)
    channel = choose(rng, w.channels, rows, w.channel_mix)
    accept = w.acceptance[offer] * np.where(recent & (offer == 0), 1 / 6, 1.0)
    weights = np.stack(
        [np.ones(rows), accept, w.rejection[offer], w.conversion[offer]], axis=1
    ).cumsum(axis=1)
    kind = (rng.random(rows)[:, None] * weights[:, -1:] >= weights).sum(axis=1)
    value = lognormal(rng, 1.0, 0.5, rows) * w.value[offer]
    value *= np.where(recent & (channel == EMAIL), 2.0, 1.0)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("int_", np.arange(rows)),
        "ts": ts,
        "customer_id": _customers(rng.integers(0, w.customers, rows)),
        "offer_id": w.offer_ids.take(pa.array(offer)),
        "channel_id": w.channel_ids.take(pa.array(channel)),
        "kind": labels(KINDS, kind),
        "value": masked_float(np.round(value, 2), kind != KINDS.index("conversion")),
    }


def _per_trace(rng: np.random.Generator, traces: int, candidates: int, most: int) -> np.ndarray:
    """Candidates of each trace: at least one, at most `most`, summing to the budget (or to
    what `most` allows, in a world too small for it)."""
    total = min(candidates, traces * most)
    per = 1 + rng.multinomial(total - traces, np.full(traces, 1 / traces))
    excess = int(np.maximum(per - most, 0).sum())
    per = np.minimum(per, most)
    while excess:
        room = rng.permutation(np.flatnonzero(per < most))[:excess]
        per[room] += 1
        excess -= len(room)
    return per


def _distinct_offers(rng: np.random.Generator, trace: np.ndarray, w: World) -> np.ndarray:
    """Offers by popularity, redrawn (then shifted) until no trace names one twice."""
    offer = choose(rng, w.offers, len(trace), w.popularity)
    for attempt in range(10_000):
        order = np.lexsort((offer, trace))
        same = (trace[order][1:] == trace[order][:-1]) & (offer[order][1:] == offer[order][:-1])
        twice = order[1:][same]
        if not len(twice):
            return offer
        shift = rng.integers(1, w.offers, len(twice)) if attempt < 20 else 1
        offer[twice] = (offer[twice] + shift) % w.offers
    raise RuntimeError("could not draw distinct offers per trace")


@functools.lru_cache(maxsize=2)
def _decisions(traces: int, candidates: int, now_us: int) -> tuple[Columns, Columns]:
    w = world("decision_traces", traces)
    rng = np.random.default_rng([zlib.crc32(b"decisions"), traces, candidates, now_us])
    ts = np.sort(seasonal_times(rng, traces, now_us))
    customer = rng.integers(0, w.customers, traces)
    channel = choose(rng, w.channels, traces, w.channel_mix)
    flow = choose(rng, len(FLOWS), traces, FLOW_MIX)
    degraded = rng.random(traces) < np.where(_recent(ts, now_us), 0.15, 0.03)
    trace = np.repeat(np.arange(traces), _per_trace(rng, traces, candidates, w.offers))
    offer = _distinct_offers(rng, trace, w)
    draw = rng.random(len(trace))
    scored = draw >= 0.25
    mean = np.clip(w.acceptance[offer] * 1.8, 0.05, 0.9)
    score = rng.beta(mean * 6, (1 - mean) * 6)
    score = np.where(degraded[trace], np.round(score, 1), np.round(score, 4))
    order = np.lexsort((np.where(scored, -score, np.inf), trace))
    first = np.searchsorted(trace[order], trace[order], side="left")
    rank = np.empty(len(trace), dtype=np.int64)
    rank[order] = np.arange(len(trace)) - first + 1
    has_winner = rng.random(traces) < 0.96
    selected = scored & (rank == 1) & has_winner[trace]
    outcome = np.where(scored, np.where(selected, 3, 2), np.where(draw < 0.17, 0, 1))
    winner = np.full(traces, -1, dtype=np.int64)
    winner[trace[selected]] = offer[selected]
    trace_ids = prefixed_ids("tr_", np.arange(traces))
    shared = {
        "ts": ts,
        "customer_id": _customers(customer),
        "channel_id": w.channel_ids.take(pa.array(channel)),
        "decision_flow_id": labels(FLOWS, flow),
    }
    trace_rows = {"tenant_id": _tenant(traces), "id": trace_ids, **shared}
    trace_rows["degraded"] = degraded
    trace_rows["winner_offer_id"] = w.offer_ids.take(pa.array(winner, mask=winner < 0))
    taken = pa.array(trace)
    candidate_rows: Columns = {"tenant_id": _tenant(len(trace)), "trace_id": trace_ids.take(taken)}
    candidate_rows |= {
        k: v[trace] if isinstance(v, np.ndarray) else v.take(taken) for k, v in shared.items()
    }
    candidate_rows |= {
        "offer_id": w.offer_ids.take(pa.array(offer)),
        "outcome": labels(OUTCOMES, outcome),
        "score": masked_float(score, ~scored),
        "rank": masked_int(rank, ~scored),
    }
    return trace_rows, candidate_rows


def _implied(dataset: str, rows: int, other: str) -> int:
    return max(1, round(rows / SHARES[dataset] * SHARES[other]))


def decision_traces(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    return _decisions(rows, _implied("decision_traces", rows, "decision_candidates"), now_us)[0]


def decision_candidates(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    return _decisions(_implied("decision_candidates", rows, "decision_traces"), rows, now_us)[1]


def runs(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Flow executions: tens of milliseconds, a heavy tail, timeouts past two seconds."""
    ts = np.sort(seasonal_times(rng, rows, now_us))
    flow = choose(rng, len(FLOWS), rows, FLOW_MIX)
    status = choose(rng, 3, rows, norm([97, 2, 1]))
    latency = lognormal(rng, 35, 0.5, rows) * np.asarray([1.0, 0.8, 1.6, 2.2])[flow]
    tail = rng.random(rows) < 0.03
    latency[tail] *= lognormal(rng, 8, 0.8, int(tail.sum()))
    latency[status == 2] = 2000 + lognormal(rng, 300, 0.6, int((status == 2).sum()))
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("run_", np.arange(rows)),
        "ts": ts,
        "decision_flow_id": labels(FLOWS, flow),
        "latency_ms": np.round(latency, 2),
        "status": labels(("success", "error", "timeout"), status),
    }


def attributions(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    w = world("attributions", rows)
    offer = choose(rng, w.offers, rows, w.popularity)
    model = choose(rng, 3, rows, norm([30, 40, 30]))
    value = lognormal(rng, 1.0, 0.6, rows) * w.value[offer] * np.where(model == 2, 0.5, 1.0)
    return {
        "tenant_id": _tenant(rows),
        "id": prefixed_ids("att_", np.arange(rows)),
        "ts": np.sort(seasonal_times(rng, rows, now_us)),
        "model": labels(ATTRIBUTION_MODELS, model),
        "offer_id": w.offer_ids.take(pa.array(offer)),
        "value": np.round(value, 2),
    }


def model_metrics(rng: np.random.Generator, rows: int, now_us: int) -> Columns:
    """Each model evaluated at regular steps over the year; AUC improves slowly, with noise."""
    index = np.arange(rows)
    model = index % len(MODELS)
    step = index // len(MODELS)
    counts = np.bincount(model, minlength=len(MODELS))
    spacing = 365 * US_PER_DAY // np.maximum(counts, 1)
    age = (step + 0.5) * spacing[model] + model * 600 * US_PER_SECOND
    ts = (now_us - age.astype(np.int64)) // US_PER_SECOND * US_PER_SECOND
    base = np.asarray([0.74, 0.78, 0.70])[model]
    auc = base + 0.04 * (1 - age / (365 * US_PER_DAY)) + rng.normal(0, 0.006, rows)
    return {
        "tenant_id": _tenant(rows),
        "model_id": labels(MODELS, model),
        "ts": ts,
        "auc": np.round(auc, 4),
    }
