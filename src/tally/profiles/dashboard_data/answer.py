"""Run the asked report for one tenant and turn its outcome into the response body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tally.profiles.dashboard_data.errors import bad_request
from tally.profiles.dashboard_data.render import envelope, warning
from tally.reports.decisioning import Ask, Context, Report, SegmentUnavailable, TooManyValues

if TYPE_CHECKING:
    from tally.auth.principal import Principal
    from tally.service import Service


def answer(
    service: Service, who: Principal, tenant: str, report: Report, ask: Ask
) -> dict[str, Any]:
    """The body of a 200; a filter list over the supported size is a 400 that says so."""
    ctx = Context(service, who, tenant, ask, service.clock())
    try:
        return envelope(report.build(ctx))
    except SegmentUnavailable as missing:
        return warning(str(missing))
    except TooManyValues as too_many:
        raise bad_request(str(too_many)) from None
