-- groups: ["event_type"]
-- measures: ["count"]
-- has_time: True, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-11-21T11:00:00+00:00
--   $p2 = timestamp 2026-11-22T11:00:00+00:00
WITH src AS (SELECT "t"."event_type" AS "g0", CAST(FLOOR((FLOOR(EPOCH_US("t"."ts") / 1000) - 0) / 3600000) * 3600000 + 0 AS BIGINT) AS "_t" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0) AND "t"."ts" >= $p1 AND "t"."ts" < $p2), agg AS (SELECT "g0", "_t", COUNT(*) AS "a0" FROM "src" GROUP BY "g0", "_t") SELECT * FROM "agg" ORDER BY "_t" ASC, "g0" ASC LIMIT 1000;
