-- groups: []
-- measures: ["avg_amount"]
-- has_time: True, has_other: False
-- exact: {"avg_amount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-01-01T05:00:00+00:00
--   $p2 = timestamp 2027-01-01T05:00:00+00:00
WITH src AS (SELECT CAST(FLOOR(DATE_PART('epoch', CAST(DATE_TRUNC('month', "t"."ts" AT TIME ZONE 'America/New_York') AS TIMESTAMP) AT TIME ZONE 'America/New_York') * 1000) AS BIGINT) AS "_t", "t"."amount" AS "m0" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s) AND "t"."ts" >= %(p1)s AND "t"."ts" < %(p2)s), agg AS (SELECT "_t", AVG("m0") AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000;
