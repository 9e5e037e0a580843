-- groups: ["metadata.channel"]
-- measures: ["count", "sum_metadata.discount"]
-- has_time: False, has_other: False
-- exact: {"count": true, "sum_metadata.discount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = str 'spring'
--   $p2 = str 'fall'
WITH src AS (SELECT ("t"."metadata" ->> 'channel') AS "g0", CASE WHEN ("t"."metadata" ->> 'discount') ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' THEN CAST(("t"."metadata" ->> 'discount') AS DOUBLE PRECISION) END AS "m1" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s) AND ("t"."metadata" ->> 'campaign') IN (%(p1)s, %(p2)s)), agg AS (SELECT "g0", COUNT(*) AS "a0", SUM("m1") AS "a1" FROM "src" GROUP BY "g0") SELECT * FROM "agg" ORDER BY "a0" DESC NULLS LAST, "g0" ASC LIMIT 1000;
