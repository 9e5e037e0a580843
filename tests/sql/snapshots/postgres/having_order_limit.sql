-- groups: ["event_type", "agent_id"]
-- measures: ["count", "avg_ms"]
-- has_time: False, has_other: False
-- exact: {"count": true, "avg_ms": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = int 4242
--   $p2 = float 150.5
--   $p3 = float 900.25
WITH src AS (SELECT "t"."event_type" AS "g0", "t"."agent_id" AS "g1", "t"."duration_ms" AS "m1" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s)), agg AS (SELECT "g0", "g1", COUNT(*) AS "a0", AVG("m1") AS "a1" FROM "src" GROUP BY "g0", "g1") SELECT * FROM "agg" WHERE ("a0" >= %(p1)s AND ("a1" BETWEEN %(p2)s AND %(p3)s OR NOT ("a1" IS NULL))) ORDER BY "a1" DESC NULLS LAST, "g1" ASC, "g0" ASC LIMIT 25 OFFSET 50;
