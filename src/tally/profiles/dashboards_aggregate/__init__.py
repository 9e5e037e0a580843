"""Profile 000: the widget aggregation endpoint `POST /api/workspace/{id}/dashboards/aggregate`."""
