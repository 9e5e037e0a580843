-- groups: []
-- measures: ["count"]
-- has_time: True, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-10-04T22:00:00+00:00
--   $p2 = timestamp 2026-11-01T23:00:00+00:00
WITH src AS (SELECT CAST(FLOOR(DATE_PART('epoch', CAST(DATE_TRUNC('week', "t"."ts" AT TIME ZONE 'Europe/Paris') AS TIMESTAMP) AT TIME ZONE 'Europe/Paris') * 1000) AS BIGINT) AS "_t" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s) AND "t"."ts" >= %(p1)s AND "t"."ts" < %(p2)s), agg AS (SELECT "_t", COUNT(*) AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000;
