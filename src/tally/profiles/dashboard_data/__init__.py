"""Profile 004: decisioning dashboard data (`GET /api/v1/dashboard-data?type=...`)."""
