-- groups: []
-- measures: ["count", "revenue"]
-- has_time: True, has_other: False
-- exact: {"count": true, "revenue": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-11-15T23:00:00+00:00
--   $p2 = timestamp 2026-11-22T23:00:00+00:00
WITH src AS (SELECT toUnixTimestamp64Milli(toDateTime64(toDate32("t"."ts", 'Europe/Paris'), 3, 'Europe/Paris')) AS "_t", "t"."amount" AS "m1" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ({p0: String}) AND "t"."ts" >= {p1: DateTime64(6, 'UTC')} AND "t"."ts" < {p2: DateTime64(6, 'UTC')}), agg AS (SELECT "_t", COUNT(*) AS "a0", SUM("m1") AS "a1" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC SETTINGS join_use_nulls = 1, aggregate_functions_null_for_empty = 1;
