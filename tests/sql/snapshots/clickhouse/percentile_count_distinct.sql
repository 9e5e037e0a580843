-- groups: ["event_type"]
-- measures: ["p97.5_duration_ms", "p50_duration_ms", "p99_duration_ms", "count_distinct_session_id", "count_distinct_customer_id"]
-- has_time: False, has_other: False
-- exact: {"p97.5_duration_ms": true, "p50_duration_ms": true, "p99_duration_ms": false, "count_distinct_session_id": true, "count_distinct_customer_id": false}
-- params:
--   $p0 = str 'ws_a'
WITH src AS (SELECT "t"."event_type" AS "g0", "t"."duration_ms" AS "m0", "t"."session_id" AS "m3", "t"."customer_id" AS "m4" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ({p0: String})), agg AS (SELECT "g0", quantileExactInclusive(0.975)("m0") AS "a0", quantileExactInclusive(0.5)("m0") AS "a1", quantileTDigest(0.99)("m0") AS "a2", uniqExact("m3") AS "a3", uniq("m4") AS "a4" FROM "src" GROUP BY "g0") SELECT * FROM "agg" ORDER BY "a0" DESC, "g0" ASC LIMIT 1000 SETTINGS join_use_nulls = 1, aggregate_functions_null_for_empty = 1;
