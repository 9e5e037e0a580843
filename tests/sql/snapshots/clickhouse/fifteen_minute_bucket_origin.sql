-- groups: []
-- measures: ["count"]
-- has_time: True, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-11-01T00:00:00+00:00
--   $p2 = timestamp 2026-11-01T06:00:00+00:00
WITH src AS (SELECT CAST(floor(((toUnixTimestamp64Milli("t"."ts") - 1793491500000)) / 900000) * 900000 + 1793491500000 AS Int64) AS "_t" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ({p0: String}) AND "t"."ts" >= {p1: DateTime64(6, 'UTC')} AND "t"."ts" < {p2: DateTime64(6, 'UTC')}), agg AS (SELECT "_t", COUNT(*) AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000 SETTINGS join_use_nulls = 1, aggregate_functions_null_for_empty = 1;
