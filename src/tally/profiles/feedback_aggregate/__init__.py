"""Profile 003: scorer feedback aggregates (`POST /feedback/aggregate`)."""
