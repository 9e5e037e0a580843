"""The shared part of the decisioning demo: table sizes, offers and channels with their traits.

Each decisioning table is generated alone from its own row budget, so everything two tables
must agree on is a function of sizes only. The implied total budget of a call is
`rows / SHARES[dataset]`; every other table's size follows from it exactly as `split_rows`
computes it. Traits of the i-th offer or channel come from fixed streams whose first n values
do not depend on how many are drawn, so the offers table and the interactions that name its
offers describe the same offers.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from tally.demo._common import labels, norm, prefixed_ids, zipf_p

Columns = dict[str, pa.Array | np.ndarray]
TENANT = "tn_acme"
CUSTOMERS_PER_ROW = 0.005  # distinct customers per row of the total budget (5,000 at 1M rows)

# Share of the total demo budget per dataset: a tenth in all, events first.
SHARES: dict[str, float] = {
    "interactions": 0.04447,
    "decision_candidates": 0.034,
    "decision_traces": 0.01,
    "runs": 0.004,
    "attributions": 0.0025,
    "segment_members": 0.002,
    "suppressions": 0.001,
    "model_metrics": 0.0011,
    "creatives": 0.0004,
    "offers": 0.0002,
    "budget_allocations": 0.0002,
    "approvals": 0.00003,
    "model_features": 0.00003,
    "triggers": 0.00002,
    "experiments": 0.000012,
    "journeys": 0.000012,
    "categories": 0.00001,
    "segments": 0.00001,
    "channels": 0.000006,
}
# (id suffix, name, active) and the share of traffic of each channel.
CHANNELS = (
    ("web", "Web", True),
    ("email", "Email", True),
    ("app", "Mobile app", True),
    ("call_center", "Call center", True),
    ("sms", "SMS", False),
    ("branch", "Branch", True),
    ("push", "Push", True),
)
CHANNEL_TRAFFIC = (30, 22, 25, 8, 2, 7, 6)
EMAIL = 1
OFFER_NAMES = (
    "Cashback Plus", "Travel Miles Card", "Zero-fee Transfer", "Bonus Saver", "Green Mortgage",
    "Home Insurance Bundle", "Student Starter", "Premium Metal Card", "Auto Loan Rate Cut",
    "Family Savings Goal", "Retirement Booster", "Partner Discount", "Instant Overdraft",
    "Crypto Education", "Pet Insurance", "Holiday FX Rates", "Small Business Kit",
    "Loyalty Double Points", "Refinance Check", "Emergency Fund Nudge",
)  # fmt: skip
OFFER_STATUSES = ("active", "paused", "draft", "archived")


def fixed(kind: str, n: int) -> np.ndarray:
    """n uniform draws in [0, 1) that are the same first n draws for any larger n."""
    return np.random.default_rng(zlib.crc32(kind.encode())).random(n)


def numbered(names: tuple[str, ...], n: int) -> list[str]:
    """The names, then the names again with a number, as far as n needs."""
    size = len(names)
    return [names[i % size] + (f" {i // size + 1}" if i >= size else "") for i in range(n)]


@dataclass(frozen=True)
class World:
    """Sizes of the shared tables and the traits of their rows."""

    offers: int
    channels: int
    categories: int
    segments: int
    customers: int

    @cached_property
    def offer_ids(self) -> pa.Array:
        return prefixed_ids("off_", np.arange(self.offers), 4)

    @cached_property
    def offer_names(self) -> list[str]:
        return numbered(OFFER_NAMES, self.offers)

    @cached_property
    def offer_category(self) -> np.ndarray:
        return (fixed("offer.category", self.offers) * self.categories).astype(np.int64)

    @cached_property
    def offer_status(self) -> np.ndarray:
        """Codes into OFFER_STATUSES; the most popular offer is always active."""
        codes = np.searchsorted([0.78, 0.88, 0.94], fixed("offer.status", self.offers), "right")
        codes[0] = 0
        return codes

    @cached_property
    def popularity(self) -> np.ndarray:
        """Zipf-like over offers; paused and archived offers are rare, drafts never shown."""
        factor = np.asarray([1.0, 0.05, 0.0, 0.05])[self.offer_status]
        return norm(zipf_p(self.offers, 1.1) * factor)

    def trait(self, name: str, low: float, high: float) -> np.ndarray:
        return low + (high - low) * fixed(f"offer.{name}", self.offers)

    @cached_property
    def acceptance(self) -> np.ndarray:
        return self.trait("acceptance", 0.06, 0.4)

    @cached_property
    def rejection(self) -> np.ndarray:
        return self.trait("rejection", 0.02, 0.12)

    @cached_property
    def conversion(self) -> np.ndarray:
        return self.trait("conversion", 0.01, 0.08)

    @cached_property
    def value(self) -> np.ndarray:
        """Median revenue of one conversion."""
        return self.trait("value", 4.5, 17.0) ** 2

    @cached_property
    def channel_ids(self) -> pa.Array:
        size = len(CHANNELS)
        ids = [
            f"ch_{CHANNELS[i % size][0]}" + (f"_{i // size + 1}" if i >= size else "")
            for i in range(self.channels)
        ]
        return labels(ids, np.arange(self.channels))

    @cached_property
    def channel_mix(self) -> np.ndarray:
        return norm([CHANNEL_TRAFFIC[i % len(CHANNELS)] for i in range(self.channels)])


def size_of(dataset: str, total: float) -> int:
    """Rows of `dataset` for a total budget, exactly as split_rows gives them."""
    return max(1, round(total * SHARES[dataset]))


@functools.lru_cache(maxsize=8)
def _world(offers: int, channels: int, categories: int, segments: int, customers: int) -> World:
    return World(offers, channels, categories, segments, customers)


def world(dataset: str, rows: int) -> World:
    """The world of a call generating `rows` rows of `dataset`."""
    total = rows / SHARES[dataset]
    return _world(
        size_of("offers", total),
        size_of("channels", total),
        size_of("categories", total),
        size_of("segments", total),
        max(100, round(total * CUSTOMERS_PER_ROW)),
    )
