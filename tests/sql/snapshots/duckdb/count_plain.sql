-- groups: []
-- measures: ["count"]
-- has_time: False, has_other: False
-- exact: {"count": true}
-- params:
--   $p0 = str 'ws_a'
WITH src AS (SELECT 1 AS "_one" FROM "agent_events" AS "t" WHERE "t"."workspace_id" IN ($p0)), agg AS (SELECT COUNT(*) AS "a0" FROM "src") SELECT * FROM "agg" ORDER BY "a0" DESC LIMIT 1000;
