-- Removes what plant-traps.sql planted in one schema (-v schema=SCHEMA), as postgres:
-- every routine commented 'pgfleet trap' (their operators and casts go with them), the
-- trap type and the trap log.
\set ON_ERROR_STOP 1
SET search_path = pg_catalog, pg_temp;
-- Hundreds of routines in one DO block: the database's statement_timeout (30s in the
-- lab) is too short on a busy host.
SET statement_timeout = '10min';
SET client_min_messages = warning;
SELECT set_config('pgfleet.trap_schema', :'schema', false) IS NOT NULL AS dropping;
DO $drop$
DECLARE
  s text := current_setting('pgfleet.trap_schema');
  r record;
BEGIN
  FOR r IN SELECT p.oid, p.prokind FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = s::regnamespace
              AND pg_catalog.obj_description(p.oid, 'pg_proc') = 'pgfleet trap'
            ORDER BY p.prokind LOOP  -- aggregates ('a') before the functions they use ('f')
    IF EXISTS (SELECT FROM pg_catalog.pg_proc WHERE oid = r.oid) THEN  -- not gone with another
      EXECUTE format('DROP %s %s CASCADE',
                     CASE WHEN r.prokind = 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                     r.oid::regprocedure);
    END IF;
  END LOOP;
  EXECUTE format('DROP TYPE IF EXISTS %I.pgfleet_trap_t CASCADE', s);
  EXECUTE format('DROP TABLE IF EXISTS %I.pgfleet_trap_log', s);
END
$drop$;
