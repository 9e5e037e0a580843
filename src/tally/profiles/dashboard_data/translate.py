"""The query string -> the report of the asked `type` and its `Ask`, or a 400 naming the problem.

Each report declares what it reads (see `tally.reports.decisioning.REPORTS`); here those
declarations become the API's rules. `type` picks the report; `days` is read by the types that
depend on the time window, any other parameter by the types that declare it; everything else in
the query string is ignored (decided: a dashboard sends one parameter set to every widget, so a
parameter another type reads, or a cache-buster, must not break this one). What a type reads is
validated: `groupBy` must be one of the type's groupings, a required parameter must be there, and
score_distribution's `filterId` names a value of the grouping, so it needs `groupBy`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tally.profiles.dashboard_data.errors import bad_request
from tally.profiles.dashboard_data.models import DashboardDataParams, api_name, parse_params
from tally.reports.decisioning import REPORTS, Ask, Report


def _report(items: Sequence[tuple[str, str]]) -> Report:
    kinds = [value for key, value in items if key == "type"] or ["summary"]
    if len(kinds) > 1:
        raise bad_request("type is given more than once")
    report = REPORTS.get(kinds[0])
    if report is None:
        known = ", ".join(REPORTS)
        raise bad_request(f"unknown type {kinds[0]!r}; known types: {known}")
    return report


def read_by(report: Report) -> frozenset[str]:
    """The query parameters (API names) a report reads."""
    fields = {"type", *report.options, *(["days"] if report.windowed else [])}
    return frozenset(api_name(name) for name in fields)


def _problems(params: DashboardDataParams, report: Report) -> list[str]:
    """What is wrong with the parameters the report reads (the only ones `params` holds)."""
    problems = []
    if params.group_by is not None and params.group_by not in report.group_by:
        choices = ", ".join(report.group_by)
        problems.append(f"groupBy must be one of {choices} for type {params.type}")
    problems += [
        f"{api_name(name)} is required for type {params.type}"
        for name in sorted(report.required)
        if getattr(params, name) is None
    ]
    if params.filter_id is not None and params.group_by is None:
        problems.append(f"filterId needs groupBy for type {params.type}")
    return problems


def to_report(items: Sequence[tuple[str, str]]) -> tuple[Report, Ask]:
    report = _report(items)
    params = parse_params(items, read_by(report))
    problems = _problems(params, report)
    if problems:
        raise bad_request("; ".join(problems))
    group_by = params.group_by
    if group_by is None and report.default_group:
        group_by = report.group_by[0]
    fields = params.model_dump(exclude={"type"}) | {"group_by": group_by}
    return report, Ask(**fields)
