-- groups: ["event_type"]
-- measures: ["p97.5_duration_ms", "p50_duration_ms", "p99_duration_ms", "count_distinct_session_id", "count_distinct_customer_id"]
-- has_time: False, has_other: False
-- exact: {"p97.5_duration_ms": true, "p50_duration_ms": true, "p99_duration_ms": true, "count_distinct_session_id": true, "count_distinct_customer_id": true}
-- params:
--   $p0 = str 'ws_a'
WITH src AS (SELECT "t"."event_type" AS "g0", "t"."duration_ms" AS "m0", "t"."session_id" AS "m3", "t"."customer_id" AS "m4" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s)), agg AS (SELECT "g0", PERCENTILE_CONT(0.975) WITHIN GROUP (ORDER BY "m0") AS "a0", PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY "m0") AS "a1", PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY "m0") AS "a2", COUNT(DISTINCT "m3") AS "a3", COUNT(DISTINCT "m4") AS "a4" FROM "src" GROUP BY "g0") SELECT * FROM "agg" ORDER BY "a0" DESC NULLS LAST, "g0" ASC LIMIT 1000;
