"""Vectorized building blocks shared by the demo generators.

Everything here works on whole columns at once (numpy draws, pyarrow kernels): a million rows
must be cheap enough to regenerate on every `tally demo` run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
HISTORY_DAYS = 365

# Relative traffic per weekday (Monday first) and per UTC hour: business-hours shaped, so that
# day and hour buckets have visible structure instead of flat noise.
WEEKDAY_WEIGHTS = np.array([1.0, 1.06, 1.08, 1.04, 0.95, 0.62, 0.55])
HOUR_WEIGHTS = np.array(
    [3, 2, 2, 2, 2, 3, 5, 8, 11, 13, 14, 14, 13, 14, 14, 13, 12, 11, 10, 10, 9, 8, 6, 4],
    dtype=float,
)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_PAIRS = np.stack([np.repeat(_HEX, 16), np.tile(_HEX, 16)], axis=1)


def zipf_p(n: int, s: float = 1.1) -> np.ndarray:
    """Zipf-like probabilities: a few heavy hitters and a long tail, like real categories."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return w / w.sum()


def norm(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def choose(rng: np.random.Generator, n: int, size: int, p: np.ndarray | None = None) -> np.ndarray:
    """Indices into a table of n labels; int64 so they can index and be offset freely."""
    return rng.choice(n, size=size, p=p).astype(np.int64)


def labels(
    values: Sequence[str | None], idx: np.ndarray, mask: np.ndarray | None = None
) -> pa.Array:
    """Take string labels by index; a None label or a True mask entry gives a null."""
    table = pa.array(list(values), type=pa.string())
    return pc.take(table, pa.array(idx, mask=mask, type=pa.int64()))


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int = 9) -> pa.Array:
    """Readable, sortable ids like evt_000000123, built without a Python loop."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def hex_strings(values: np.ndarray) -> np.ndarray:
    """Hex text of uint64 values as fixed-width bytes (16 chars each), vectorized."""
    raw = np.ascontiguousarray(values.astype(">u8")).view(np.uint8).reshape(-1, 8)
    chars = _HEX_PAIRS[raw].reshape(-1, 16)
    return chars.view("S16").ravel()


def hex_ids(rng: np.random.Generator, size: int, prefix: str = "") -> pa.Array:
    """Random 32-hex-digit ids (UUID-sized) joined to a prefix."""
    hi = hex_strings(rng.integers(0, 2**63, size=size, dtype=np.int64).astype(np.uint64))
    lo = hex_strings(rng.integers(0, 2**63, size=size, dtype=np.int64).astype(np.uint64))
    hi_a = pc.cast(pa.array(hi, type=pa.binary()), pa.string())
    lo_a = pc.cast(pa.array(lo, type=pa.binary()), pa.string())
    return pc.binary_join_element_wise(prefix, hi_a, lo_a, "")


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate string columns and literals row by row; a null part gives a null row."""
    return pc.binary_join_element_wise(*parts, "")


def history_start(now_us: int) -> int:
    """Midnight UTC 365 days before today's midnight: always after now - 366 days."""
    return (now_us // US_PER_DAY - HISTORY_DAYS) * US_PER_DAY


def seasonal_times(rng: np.random.Generator, size: int, now_us: int) -> np.ndarray:
    """Timestamps (µs) over the last year with growth, weekly and daily cycles, all < now.

    Days are weighted by weekday and a gentle upward trend (products grow), today by the part
    of it that has elapsed; hours follow a business-day curve; rows that would fall after now
    are redrawn uniformly within today's elapsed part.
    """
    today = now_us // US_PER_DAY
    start = history_start(now_us)
    days = np.arange(HISTORY_DAYS + 1)
    weekday = (today - HISTORY_DAYS + days + 3) % 7  # 1970-01-01 was a Thursday
    w = WEEKDAY_WEIGHTS[weekday] * (0.6 + 0.4 * days / HISTORY_DAYS)
    w[-1] *= (now_us - today * US_PER_DAY) / US_PER_DAY
    day = choose(rng, len(days), size, norm(w))
    hour = choose(rng, 24, size, norm(HOUR_WEIGHTS))
    ts = start + day * US_PER_DAY + hour * US_PER_HOUR + rng.integers(0, US_PER_HOUR, size)
    late = ts >= now_us
    if late.any():
        elapsed = max(1, now_us - today * US_PER_DAY)
        ts[late] = today * US_PER_DAY + rng.integers(0, elapsed, int(late.sum()))
    return ts


def before_now(ts: np.ndarray, now_us: int) -> np.ndarray:
    """Pull times pushed past now by a positive offset back by whole weeks (keeps seasonality)."""
    week = 7 * US_PER_DAY
    late = ts >= now_us
    if late.any():
        ts = ts.copy()
        ts[late] -= ((ts[late] - now_us) // week + 1) * week
    return ts


def draw_codes(
    rng: np.random.Generator, n_values: int, size: int, p: np.ndarray | None, absent: float
) -> np.ndarray:
    """Value indices for one JSON key; the code n_values means the key is absent."""
    code = choose(rng, n_values, size, p)
    return np.where(rng.random(size) < absent, n_values, code)


def json_objects(
    keys: Sequence[tuple[str, Sequence[str]]], codes: Sequence[np.ndarray]
) -> pa.Array:
    """Compact JSON object text per row from a few categorical keys (see draw_codes).

    Every combination is serialized once and rows take their text from that table, so the cost
    does not grow with one JSON encoding per row.
    """
    radix = [len(values) + 1 for _name, values in keys]
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for code, r in zip(codes, radix, strict=True):
        combined = combined * r + code
    texts = []
    for combo in itertools.product(*(range(r) for r in radix)):
        obj = {
            name: values[c]
            for (name, values), c in zip(keys, combo, strict=True)
            if c < len(values)
        }
        texts.append(json.dumps(obj, separators=(",", ":")))
    return labels(texts, combined)


def masked_float(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(values, mask=mask, type=pa.float64())


def masked_int(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=mask, type=pa.int64())


def lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    """Heavy-tailed positive values around a median: durations, amounts, token counts."""
    return rng.lognormal(np.log(median), sigma, size)


def pick_within(
    rng: np.random.Generator, group: np.ndarray, sizes: Sequence[int], skew: float = 1.5
) -> np.ndarray:
    """Global index of an item of each row's group in a table laid out group after group.

    Items early in a group are favoured (density falls as u**skew), so the first agent, brand or
    vendor of each tenant is its busiest one, as in real data.
    """
    count = np.asarray(sizes, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    local = (rng.random(len(group)) ** skew * count[group]).astype(np.int64)
    return first[group] + local
