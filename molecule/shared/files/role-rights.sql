-- Every role's rights that could make it more than an application role, as one JSON
-- document: its attributes, the roles it is a member of, and the predefined roles it
-- can use. Run as postgres in any database; compared before and after the traps.
SET search_path = pg_catalog, pg_temp;
SELECT json_object_agg(r.rolname, json_build_object(
         'super', r.rolsuper, 'createrole', r.rolcreaterole, 'createdb', r.rolcreatedb,
         'replication', r.rolreplication, 'bypassrls', r.rolbypassrls,
         'member_of', (SELECT coalesce(json_agg(g.rolname ORDER BY g.rolname), '[]')
                         FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                        WHERE m.member = r.oid))
       ORDER BY r.rolname)
  FROM pg_roles r
 WHERE r.rolname NOT LIKE 'pg\_%';
