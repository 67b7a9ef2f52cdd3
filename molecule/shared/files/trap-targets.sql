-- Where the application roles can plant objects in this database (-v planters='a,b'):
-- each schema some role may CREATE in (planted once, by the role given CREATE by hand
-- when there is one, else by the first such role), and, for a role that may create
-- schemas here, a new schema named after the superuser (whose default search_path starts
-- with "$user").
SET search_path = pg_catalog, pg_temp;
SELECT coalesce(json_agg(t ORDER BY t.schema), '[]') FROM (
  (SELECT DISTINCT ON (n.nspname) r.rolname AS role, n.nspname AS schema, false AS create_schema
    FROM pg_roles r CROSS JOIN pg_namespace n
   WHERE r.rolname = ANY (string_to_array(:'planters', ','))
     AND has_schema_privilege(r.oid, n.oid, 'CREATE')
     AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
   ORDER BY n.nspname, r.rolname = 'pgfleet_planter' DESC, r.rolname)
  UNION ALL
  (SELECT r.rolname, 'postgres', true
     FROM pg_roles r
    WHERE r.rolname = ANY (string_to_array(:'planters', ','))
      AND has_database_privilege(r.oid, current_database(), 'CREATE')
      AND NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'postgres')
    ORDER BY r.rolname LIMIT 1)
) t;
