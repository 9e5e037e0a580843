-- groups: []
-- measures: ["avg_amount"]
-- has_time: True, has_other: False
-- exact: {"avg_amount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-01-01T05:00:00+00:00
--   $p2 = timestamp 2027-01-01T05:00:00+00:00
WITH src AS (SELECT toUnixTimestamp64Milli(toDateTime64(toStartOfMonth("t"."ts", 'America/New_York'), 3, 'America/New_York')) AS "_t", "t"."amount" AS "m0" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ({p0: String}) AND "t"."ts" >= {p1: DateTime64(6, 'UTC')} AND "t"."ts" < {p2: DateTime64(6, 'UTC')}), agg AS (SELECT "_t", AVG("m0") AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000 SETTINGS join_use_nulls = 1, aggregate_functions_null_for_empty = 1;
