-- groups: ["metadata.channel"]
-- measures: ["count", "sum_metadata.discount"]
-- has_time: False, has_other: False
-- exact: {"count": true, "sum_metadata.discount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = str 'spring'
--   $p2 = str 'fall'
WITH src AS (SELECT JSON_EXTRACT_STRING("t"."metadata", '$."channel"') AS "g0", TRY_CAST(JSON_EXTRACT_STRING("t"."metadata", '$."discount"') AS DOUBLE) AS "m1" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0) AND JSON_EXTRACT_STRING("t"."metadata", '$."campaign"') IN ($p1, $p2)), agg AS (SELECT "g0", COUNT(*) AS "a0", SUM("m1") AS "a1" FROM "src" GROUP BY "g0") SELECT * FROM "agg" ORDER BY "a0" DESC, "g0" ASC LIMIT 1000;
