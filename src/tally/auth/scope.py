"""The rows a principal may touch in a dataset, optionally narrowed by the request.

A request can narrow its scope, never widen it: asking for a tenant outside the principal's is
a 403, not an empty answer. A principal without a scope on a dataset's primary tenant column
cannot use that dataset at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tally.auth.principal import Principal
from tally.catalog.model import Dataset
from tally.errors import forbidden
from tally.query.model import Filter, Leaf, Or
from tally.query.scope import Scope


def dataset_scope(
    principal: Principal,
    dataset: Dataset,
    narrow: Mapping[str, Sequence[str]] | None = None,
) -> Scope:
    if principal.all_tenants:
        columns: dict[str, tuple[str, ...]] = {}
    else:
        if dataset.primary_tenant not in principal.scopes:
            raise forbidden(f"this token has no access to {dataset.name}")
        columns = {c: principal.scopes[c] for c in dataset.tenant_columns if c in principal.scopes}
    for column, values in (narrow or {}).items():
        wanted = tuple(dict.fromkeys(values))
        allowed = columns.get(column)
        if allowed is not None and not set(wanted) <= set(allowed):
            outside = sorted(set(wanted) - set(allowed))
            raise forbidden(f"{column} {', '.join(outside)} is outside this token's scope")
        columns[column] = wanted
    rows = _row_rule(principal, dataset)
    if not columns and rows is None:
        return Scope.everything()
    return Scope(columns=columns, rows=rows)


def _row_rule(principal: Principal, dataset: Dataset) -> Filter | None:
    """Rows created by the principal's subject or by its teams, unless it is an admin."""
    access = dataset.row_access
    if access is None or principal.role == "admin":
        return None
    own = Leaf(field=access.subject_column, op="eq", value=principal.subject)
    if access.teams_column is None or not principal.teams:
        return own
    teams = Leaf(field=access.teams_column, op="has_any", value=list(principal.teams))
    return Or(or_=[own, teams])
