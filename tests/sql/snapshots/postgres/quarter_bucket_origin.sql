-- groups: []
-- measures: ["count"]
-- has_time: True, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
--   $p1 = timestamp 2026-01-31T23:00:00+00:00
--   $p2 = timestamp 2027-01-31T23:00:00+00:00
WITH src AS (SELECT CAST(FLOOR(DATE_PART('epoch', CAST(MAKE_DATE(CAST(1970 + CAST(FLOOR(CAST(CAST(FLOOR(CAST(((EXTRACT(YEAR FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1970) * 12 + EXTRACT(MONTH FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1 - 673) AS DECIMAL) / 3) * 3 + 673 AS BIGINT) AS DECIMAL) / 12) AS BIGINT) AS INT), CAST(CAST(FLOOR(CAST(((EXTRACT(YEAR FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1970) * 12 + EXTRACT(MONTH FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1 - 673) AS DECIMAL) / 3) * 3 + 673 AS BIGINT) - CAST(FLOOR(CAST(CAST(FLOOR(CAST(((EXTRACT(YEAR FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1970) * 12 + EXTRACT(MONTH FROM CAST("t"."ts" AT TIME ZONE 'Europe/Paris' AS DATE)) - 1 - 673) AS DECIMAL) / 3) * 3 + 673 AS BIGINT) AS DECIMAL) / 12) AS BIGINT) * 12 + 1 AS INT), 1) AS TIMESTAMP) AT TIME ZONE 'Europe/Paris') * 1000) AS BIGINT) AS "_t" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN (%(p0)s) AND "t"."ts" >= %(p1)s AND "t"."ts" < %(p2)s), agg AS (SELECT "_t", COUNT(*) AS "a0" FROM "src" GROUP BY "_t") SELECT * FROM "agg" ORDER BY "_t" ASC LIMIT 1000;
