"""The two bounds Tally adds to Weave's request rules, so a hostile body cannot reach the engine.

Weave bounds a request by nothing but its body size. Without the 64-item and 256-character
limits Tally had, a body of the service's maximum size could carry millions of filter values,
and each becomes a bound parameter or a condition of the SQL the engine parses. Tally keeps two
bounds no Weave client meets in practice (its UI sends a handful of ids), stated in the error:
- an exact-match list (`tags`, `span_agent_names`, the exact `monitor_ids` or `scorer_ids`) holds
  at most `MAX_LIST` (1,000) distinct values: the IR's cap on one IN list;
- the prefix conditions (`feedback_types` and the starred ids, after repeats and prefixes a shorter
  listed prefix covers are dropped) fit the engine's cap on conditions of one query
  (`TALLY_MAX_FILTER_LEAVES`, 256, less the few conditions of the window and the fan-out).
Both are checked on the request as Tally will run it, so duplicates never count.
"""

from __future__ import annotations

from tally.errors import ErrorDetail
from tally.profiles.feedback_aggregate.errors import problem
from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq
from tally.profiles.feedback_aggregate.translate import distinct, prefixes, queries
from tally.query.limits import Limits
from tally.query.model import walk_leaves
from tally.query.values import MAX_LIST

EXACT_LISTS = ("tags", "span_agent_names", "monitor_ids", "scorer_ids")
PREFIX_LISTS = ("feedback_types", "monitor_ids", "scorer_ids")


def _exact(req: FeedbackAggregateReq, name: str) -> list[str]:
    items: list[str] = getattr(req, name)
    if name in ("monitor_ids", "scorer_ids"):
        items = [item for item in items if not item.endswith("*")]
    return distinct(items)


def _prefix_count(req: FeedbackAggregateReq, name: str) -> int:
    items: list[str] = getattr(req, name)
    if name != "feedback_types":
        items = [item for item in items if item.endswith("*")]
    return len(prefixes(items))


def check_bounds(req: FeedbackAggregateReq, limits: Limits) -> list[ErrorDetail]:
    """The bounds the request breaks, each at the list to shorten; empty when it may run."""
    found = [
        problem((name,), f"at most {MAX_LIST} distinct values", "too_long")
        for name in EXACT_LISTS
        if len(_exact(req, name)) > MAX_LIST
    ]
    if found:
        return found
    planned = queries(req, limits.max_window_days, limits.max_rows)
    conditions = max(
        len(list(walk_leaves(query.filter)))
        for query in (planned.totals, planned.tags, planned.ratings)
    )
    if conditions > limits.max_filter_leaves:
        longest = max(PREFIX_LISTS, key=lambda name: _prefix_count(req, name))
        found.append(
            problem(
                (longest,),
                f"too many prefixes: the request needs {conditions} match conditions and at "
                f"most {limits.max_filter_leaves} fit in one query",
                "too_long",
            )
        )
    return found
