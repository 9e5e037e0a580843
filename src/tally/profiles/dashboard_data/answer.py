"""Run the asked report for one tenant and turn its outcome into the response body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tally.profiles.dashboard_data.errors import bad_request
from tally.profiles.dashboard_data.render import envelope, warning
from tally.reports.decisioning import Ask, Context, Report, SegmentUnavailable, TooManyValues
from tally.result import Runner


def answer(
    runner: Runner, tenant: str, report: Report, ask: Ask, now: datetime, max_rows: int
) -> dict[str, Any]:
    """The body of a 200; a filter list over the supported size is a 400 that says so."""
    ctx = Context(runner, tenant, ask, now, max_rows)
    try:
        return envelope(report.build(ctx))
    except SegmentUnavailable as missing:
        return warning(str(missing))
    except TooManyValues as too_many:
        raise bad_request(str(too_many)) from None
