"""Parameters -> the report of the asked `type` and its `Ask`, or a 400 naming the parameter.

Each report declares what it accepts (see `tally.reports.decisioning.REPORTS`); here those
declarations become the API's rules: `type` and `days` go with every type (days is the general
lookback and is ignored by the types that do not depend on time), any other parameter only with
the types that read it; `groupBy` must be one of the type's groupings; a required parameter must
be there. score_distribution's `filterId` names a value of the grouping, so it needs `groupBy`.
"""

from __future__ import annotations

from tally.profiles.dashboard_data.errors import bad_request
from tally.profiles.dashboard_data.models import DashboardDataParams, api_name
from tally.reports.decisioning import REPORTS, Ask, Report

ALWAYS = frozenset({"type", "days"})


def _problems(params: DashboardDataParams, report: Report) -> list[str]:
    given = params.model_dump(exclude_none=True, exclude_unset=True)
    problems = [
        f"{api_name(name)} is not accepted by type {params.type}"
        for name in given
        if name not in ALWAYS and name not in report.options
    ]
    if params.group_by is not None and "group_by" in report.options:
        if params.group_by not in report.group_by:
            choices = ", ".join(report.group_by)
            problems.append(f"groupBy must be one of {choices} for type {params.type}")
    problems += [
        f"{api_name(name)} is required for type {params.type}"
        for name in sorted(report.required)
        if getattr(params, name) is None
    ]
    if params.filter_id is not None and params.group_by is None and "filter_id" in report.options:
        problems.append(f"filterId needs groupBy for type {params.type}")
    return problems


def to_report(params: DashboardDataParams) -> tuple[Report, Ask]:
    report = REPORTS.get(params.type)
    if report is None:
        known = ", ".join(REPORTS)
        raise bad_request(f"unknown type {params.type!r}; known types: {known}")
    problems = _problems(params, report)
    if problems:
        raise bad_request("; ".join(problems))
    group_by = params.group_by
    if group_by is None and report.default_group:
        group_by = report.group_by[0]
    fields = params.model_dump(exclude={"type"}) | {"group_by": group_by}
    return report, Ask(**fields)
