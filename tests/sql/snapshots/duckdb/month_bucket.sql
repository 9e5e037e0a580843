-- groups: []
-- measures: ["avg_amount"]
-- has_time: True, has_other: False
-- exact: {"avg_amount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-01-01T05:00:00+00:00
--   $p2 = timestamp 2027-01-01T05:00:00+00:00
WITH src AS (SELECT EPOCH_MS(TIMEZONE('America/New_York', CAST(DATE_TRUNC('month', TIMEZONE('America/New_York', "t"."ts")) AS TIMESTAMP))) AS "_t", "t"."amount" AS "m0" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0) AND "t"."ts" >= $p1 AND "t"."ts" < $p2), agg AS (SELECT "_t", AVG("m0") AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000;
