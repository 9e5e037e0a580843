"""Profile 002: `POST /v1/records/statistics`, aggregates over a records root (specs/002)."""
