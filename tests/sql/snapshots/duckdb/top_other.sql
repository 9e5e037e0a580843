-- groups: ["product_id"]
-- measures: ["count", "count_distinct_session_id", "revenue"]
-- has_time: False, has_other: True
-- exact: {"count": true, "count_distinct_session_id": true, "revenue": true}
-- params:
--   $p0 = str 'ws_a'
WITH src AS (SELECT "t"."product_id" AS "g0", "t"."session_id" AS "m1", "t"."amount" AS "m2" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0)), ranked AS (SELECT "g0", SUM("m2") AS "_rank", COUNT(*) OVER () AS "_total_groups", TRUE AS "_hit" FROM "src" GROUP BY "g0" ORDER BY "_rank" DESC, "g0" LIMIT 5), folded AS (SELECT CASE WHEN NOT "r"."_hit" IS NULL THEN "s"."g0" ELSE NULL END AS "g0", "r"."_hit" IS NULL AS "_other", "s"."m1" AS "m1", "s"."m2" AS "m2" FROM "src" AS "s" LEFT JOIN "ranked" AS "r" ON "s"."g0" IS NOT DISTINCT FROM "r"."g0"), agg AS (SELECT "g0", "_other", COUNT(*) AS "a0", COUNT(DISTINCT "m1") AS "a1", SUM("m2") AS "a2" FROM "folded" GROUP BY "g0", "_other") SELECT *, (SELECT MAX("_total_groups") FROM "ranked") AS "_total_groups" FROM "agg" ORDER BY "a2" DESC, "_other" ASC, "g0" ASC LIMIT 1000;
