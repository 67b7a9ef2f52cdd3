-- Plants traps for the project's own superuser sessions, as an application role would:
-- overloads of the operators and functions the project's queries use, and an implicit
-- cast, in one schema the role can write. Run by psql as postgres with
--   -v schema=SCHEMA -v planter=ROLE
-- The objects are created as ROLE (SET ROLE), so they are owned by it and run as
-- SECURITY INVOKER: whoever calls one runs its body with their own rights. Each body logs
-- "PGFLEET-TRAP fired" to the server log (works on a standby too), records itself in
-- SCHEMA.pgfleet_trap_log when it can, tries to make ROLE a superuser, and, when it runs
-- with a superuser's rights, appends a line to /var/tmp/pgfleet-trap-fired on the host. A
-- session that resolves names only in pg_catalog never calls any of them.
\set ON_ERROR_STOP 1
SET search_path = pg_catalog, pg_temp;
-- Hundreds of routines in one DO block: the database's statement_timeout (30s in the
-- lab) is too short on a busy host.
SET statement_timeout = '10min';
SELECT set_config('pgfleet.trap_schema', :'schema', false),
       set_config('pgfleet.trap_planter', :'planter', false);
SET ROLE :"planter";

DO $plant$
DECLARE
  s text := current_setting('pgfleet.trap_schema');
  who text := current_setting('pgfleet.trap_planter');
  -- Argument types of catalog columns and of the values the project's queries compare,
  -- concatenate and aggregate. pg_catalog has its own versions of many of these pairs; a
  -- trap only wins where the caller's search_path reaches this schema.
  types text[] := ARRAY['name', 'text', '"char"', 'oid', 'regclass', 'regnamespace', 'regrole',
                        'bigint', 'integer', 'smallint', 'boolean', 'numeric', 'pg_lsn', 'xid',
                        'timestamptz', 'json', 'jsonb', 'aclitem[]', 'text[]', 'name[]', 'unknown'];
  pair_types text[] := ARRAY['name', 'text', '"char"', 'oid', 'bigint', 'integer', 'pg_lsn', 'numeric'];
  ops text[] := ARRAY['||', '=', '<>', '<', '>', '<=', '>=', '~', '~~', '+', '-', '->>', '->', '#>>', '@>'];
  funcs text[] := ARRAY['count', 'concat', 'concat_ws', 'md5', 'string_agg', 'format', 'json_agg',
                        'json_object_agg', 'jsonb_agg', 'json_build_object', 'to_json', 'array_agg',
                        'array_to_string', 'string_to_array', 'unnest', 'lower', 'upper', 'length',
                        'substr', 'substring', 'replace', 'split_part', 'quote_ident', 'quote_literal',
                        'round', 'max', 'min', 'sum', 'bool_and', 'bool_or',
                        'date_part', 'extract', 'to_char', 'to_regclass', 'now', 'current_setting',
                        'set_config', 'pg_walfile_name', 'pg_wal_lsn_diff', 'pg_size_pretty',
                        'has_database_privilege', 'pg_get_userbyid', 'format_type', 'row_to_json',
                        'hashtext', 'sha256', 'encode', 'decode', 'left', 'right', 'trim', 'btrim',
                        'regexp_replace', 'starts_with', 'array_length', 'cardinality', 'abs'];
  t1 text;
  t2 text;
  op text;
  f text;
  n int := 0;
  existing oid[];
BEGIN
  -- Routines already in the schema (the application's) are never marked as traps.
  existing := ARRAY(SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace ns
                      ON ns.oid = p.pronamespace WHERE ns.nspname = s);
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I.pgfleet_trap_log (what text, by_role name, '
                 'at timestamptz DEFAULT pg_catalog.now())', s);
  EXECUTE format('GRANT INSERT, SELECT ON %I.pgfleet_trap_log TO PUBLIC', s);
  -- The body every trap calls.
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION %1$I.pgfleet_trap(what text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
      RAISE LOG 'PGFLEET-TRAP fired: %% (schema %1$s) as %% in %%', what, current_user, current_database();
      BEGIN
        INSERT INTO %1$I.pgfleet_trap_log (what, by_role) VALUES (what, current_user);
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
      BEGIN
        EXECUTE 'ALTER ROLE %2$I SUPERUSER';
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
      -- Only a superuser may run a program: a line here means the trap ran with the
      -- project's rights, in any cluster of the host (a drill's or a side restore's too,
      -- whose logs are removed with them).
      BEGIN
        EXECUTE pg_catalog.format('COPY (SELECT %%L, current_user, current_database(), pg_catalog.now()) '
                                  'TO PROGRAM %%L', what, 'cat >> /var/tmp/pgfleet-trap-fired');
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
    END $body$ $f$, s, who);

  -- Operators over every pair of the types above (the left or right side may be any of
  -- them), each backed by a function that springs the trap and returns a plausible value.
  FOREACH op IN ARRAY ops LOOP
    FOREACH t1 IN ARRAY pair_types LOOP
      FOREACH t2 IN ARRAY pair_types LOOP
        n := n + 1;
        EXECUTE format($f$
          CREATE FUNCTION %1$I.pgfleet_op_%2$s(a %3$s, b %4$s) RETURNS %5$s
          LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
          BEGIN PERFORM %1$I.pgfleet_trap(%6$L); RETURN %7$s; END $body$ $f$,
          s, n, t1, t2,
          CASE WHEN op IN ('=', '<>', '<', '>', '<=', '>=', '~', '~~', '@>') THEN 'boolean'
               WHEN op IN ('+', '-') AND t1 IN ('bigint', 'integer', 'numeric') THEN t1
               ELSE 'text' END,
          format('%s(%s,%s)', op, t1, t2),
          CASE WHEN op IN ('=', '<>', '<', '>', '<=', '>=', '~', '~~', '@>') THEN 'false'
               WHEN op IN ('+', '-') AND t1 IN ('bigint', 'integer', 'numeric') THEN 'a'
               ELSE 'a::text || b::text' END);
        BEGIN
          EXECUTE format('CREATE OPERATOR %I.%s (FUNCTION = %I.pgfleet_op_%s, LEFTARG = %s, RIGHTARG = %s)',
                         s, op, s, n, t1, t2);
        EXCEPTION WHEN OTHERS THEN NULL;  -- an operator PostgreSQL does not allow for this pair
        END;
      END LOOP;
    END LOOP;
  END LOOP;

  -- Functions with the catalog's names, over one and two arguments of those types; the
  -- aggregates as aggregates.
  FOREACH f IN ARRAY funcs LOOP
    FOREACH t1 IN ARRAY types LOOP
      IF t1 = 'unknown' THEN CONTINUE; END IF;
      IF f IN ('count', 'string_agg', 'json_agg', 'jsonb_agg', 'array_agg', 'max', 'min', 'sum',
               'bool_and', 'bool_or', 'json_object_agg') THEN
        n := n + 1;
        EXECUTE format($f$
          CREATE FUNCTION %1$I.pgfleet_agg_%2$s(st text, v %3$s) RETURNS text
          LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
          BEGIN PERFORM %1$I.pgfleet_trap(%4$L); RETURN st; END $body$ $f$,
          s, n, t1, format('%s(%s)', f, t1));
        BEGIN
          EXECUTE format('CREATE AGGREGATE %I.%I(%s) (SFUNC = %I.pgfleet_agg_%s, STYPE = text, INITCOND = %L)',
                         s, f, t1, s, n, '');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
      ELSE
        BEGIN
          EXECUTE format($f$
            CREATE FUNCTION %1$I.%2$I(a %3$s) RETURNS text
            LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
            BEGIN PERFORM %1$I.pgfleet_trap(%4$L); RETURN a::text; END $body$ $f$,
            s, f, t1, format('%s(%s)', f, t1));
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
      END IF;
      FOREACH t2 IN ARRAY pair_types LOOP
        BEGIN
          EXECUTE format($f$
            CREATE FUNCTION %1$I.%2$I(a %3$s, b %4$s) RETURNS text
            LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
            BEGIN PERFORM %1$I.pgfleet_trap(%5$L); RETURN a::text; END $body$ $f$,
            s, f, t1, t2, format('%s(%s,%s)', f, t1, t2));
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
      END LOOP;
    END LOOP;
    -- format() and concat_ws() are variadic: three text arguments too.
    BEGIN
      EXECUTE format($f$
        CREATE FUNCTION %1$I.%2$I(a text, b text, c text) RETURNS text
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
        BEGIN PERFORM %1$I.pgfleet_trap(%3$L); RETURN a; END $body$ $f$,
        s, f, format('%s(text,text,text)', f));
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;

  -- An implicit cast from text to a type of this schema, with a function over that type
  -- named like a catalog function: a call that reaches this schema would take it.
  BEGIN
    EXECUTE format('CREATE TYPE %I.pgfleet_trap_t AS (v text)', s);
    EXECUTE format($f$
      CREATE FUNCTION %1$I.pgfleet_cast(a text) RETURNS %1$I.pgfleet_trap_t
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
      BEGIN PERFORM %1$I.pgfleet_trap('cast(text as pgfleet_trap_t)'); RETURN ROW(a); END $body$ $f$, s);
    EXECUTE format('CREATE CAST (text AS %1$I.pgfleet_trap_t) WITH FUNCTION %1$I.pgfleet_cast(text) AS IMPLICIT', s);
    EXECUTE format($f$
      CREATE FUNCTION %1$I.length(a %1$I.pgfleet_trap_t) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
      BEGIN PERFORM %1$I.pgfleet_trap('length(pgfleet_trap_t)'); RETURN 0; END $body$ $f$, s);
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'cast not planted in %: %', s, SQLERRM;
  END;
  -- Every routine planted here carries this comment: drop-traps.sql removes them by it.
  DECLARE
    r record;
  BEGIN
    FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_namespace ns ON ns.oid = p.pronamespace
              WHERE ns.nspname = s AND NOT p.oid = ANY (existing) LOOP
      EXECUTE format('COMMENT ON %s %s IS %L',
                     CASE WHEN r.prokind = 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.sig, 'pgfleet trap');
    END LOOP;
  END;
  RAISE NOTICE 'planted % operator functions and the function overloads in schema %', n, s;
END
$plant$;
RESET ROLE;
SELECT pg_catalog.count(*) AS traps FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = :'schema' AND p.proowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'planter');
