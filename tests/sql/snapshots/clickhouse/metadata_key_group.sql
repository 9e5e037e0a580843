-- groups: ["metadata.channel"]
-- measures: ["count", "sum_metadata.discount"]
-- has_time: False, has_other: False
-- exact: {"count": true, "sum_metadata.discount": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = str 'spring'
--   $p2 = str 'fall'
WITH src AS (SELECT multiIf(JSONType("t"."metadata", 'channel') = 'String', JSONExtractString("t"."metadata", 'channel'), JSONType("t"."metadata", 'channel') = 'Null', NULL, JSONExtractRaw("t"."metadata", 'channel')) AS "g0", toFloat64OrNull(multiIf(JSONType("t"."metadata", 'discount') = 'String', JSONExtractString("t"."metadata", 'discount'), JSONType("t"."metadata", 'discount') = 'Null', NULL, JSONExtractRaw("t"."metadata", 'discount'))) AS "m1" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ({p0: String}) AND multiIf(JSONType("t"."metadata", 'campaign') = 'String', JSONExtractString("t"."metadata", 'campaign'), JSONType("t"."metadata", 'campaign') = 'Null', NULL, JSONExtractRaw("t"."metadata", 'campaign')) IN ({p1: String}, {p2: String})), agg AS (SELECT "g0", COUNT(*) AS "a0", SUM("m1") AS "a1" FROM "src" GROUP BY "g0") SELECT * FROM "agg" ORDER BY "a0" DESC, "g0" ASC LIMIT 1000 SETTINGS join_use_nulls = 1, aggregate_functions_null_for_empty = 1;
