-- groups: []
-- measures: ["count"]
-- has_time: True, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-01-31T23:00:00+00:00
--   $p2 = timestamp 2027-01-31T23:00:00+00:00
WITH src AS (SELECT EPOCH_MS(TIMEZONE('Europe/Paris', CAST(DATE_ADD(CAST('1970-01-01' AS DATE), TO_MONTHS(CAST(FLOOR(((YEAR(CAST(TIMEZONE('Europe/Paris', "t"."ts") AS DATE)) - 1970) * 12 + MONTH(CAST(TIMEZONE('Europe/Paris', "t"."ts") AS DATE)) - 1 - 673) / 3) * 3 + 673 AS BIGINT))) AS TIMESTAMP))) AS "_t" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0) AND "t"."ts" >= $p1 AND "t"."ts" < $p2), agg AS (SELECT "_t", COUNT(*) AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000;
