-- Roles: each recon role can do its part and nothing else.
CREATE ROLE ro_admin;    GRANT recon_admin TO ro_admin;
CREATE ROLE ro_op;       GRANT recon_operator TO ro_op;
CREATE ROLE ro_ap;       GRANT recon_approver TO ro_ap;
CREATE ROLE ro_aud;      GRANT recon_auditor TO ro_aud;
CREATE ROLE ro_nobody;
CREATE TABLE ro_src (id int PRIMARY KEY, v text);
INSERT INTO ro_src VALUES (1, 'a');
GRANT USAGE ON SCHEMA public TO ro_admin, ro_op, ro_ap, ro_aud, ro_nobody;
GRANT SELECT ON ro_src TO ro_admin;
GRANT USAGE ON FOREIGN SERVER mongo1 TO ro_admin;
\! mongo_tool drop rt_roles.src

-- the admin defines mappings, and cannot sweep
SET SESSION AUTHORIZATION ro_admin;
SELECT recon.add_mapping('ro', 'public.ro_src', 'mongo1', 'rt_roles.src') > 0 AS added;
SELECT recon.sweep('ro');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- an admin without SELECT on the source cannot map it
REVOKE SELECT ON ro_src FROM ro_admin;
SET SESSION AUTHORIZATION ro_admin;
SELECT recon.add_mapping('ro2', 'public.ro_src', 'mongo1', 'rt_roles.src2');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
GRANT SELECT ON ro_src TO ro_admin;     -- the mapping's owner reads the source at every run

-- the operator sweeps and applies, and cannot configure, approve or read the audit log
SET SESSION AUTHORIZATION ro_op;
SELECT recon.sweep('ro') AS run \gset
SELECT count(*) AS visible_divergences FROM recon.divergences WHERE last_run_id = :run;
SELECT sqlstate_of($$SELECT recon.add_mapping('x', 'public.ro_src', 'mongo1', 'rt_roles.x')$$) AS add_mapping,
       sqlstate_of($$SELECT recon.alter_mapping('ro', '{}')$$) AS alter_mapping,
       sqlstate_of($$SELECT recon.approve_repairs(1)$$) AS approve,
       sqlstate_of($$SELECT count(*) FROM recon.audit_log$$) AS read_audit,
       sqlstate_of($$UPDATE recon.repairs SET status = 'approved'$$) AS edit_repairs,
       sqlstate_of($$INSERT INTO recon.mappings (name, source, server_name, collection, key_columns, created_by) VALUES ('x', 'ro_src', 'mongo1', 'a.b', '{id}', 'x')$$) AS edit_mappings;
RESET SESSION AUTHORIZATION;

-- the approver approves, and cannot sweep or apply
SET SESSION AUTHORIZATION ro_ap;
SELECT recon.approve_repairs(:run, NULL, 'ok') AS approved;
SELECT sqlstate_of($$SELECT recon.sweep('ro')$$) AS sweep,
       sqlstate_of($$SELECT recon.drop_mapping('ro')$$) AS drop_mapping;
CALL recon.apply_repairs(:run);
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ro_op;
CALL recon.apply_repairs(:run);
RESET SESSION AUTHORIZATION;

-- the auditor reads everything and changes nothing
SET SESSION AUTHORIZATION ro_aud;
SELECT ok FROM recon.verify_audit();
SELECT count(*) > 0 AS reads_audit FROM recon.audit_log;
SELECT count(*) > 0 AS reads_runs FROM recon.runs;
SELECT count(*) > 0 AS reads_repairs FROM recon.repairs;
SELECT sqlstate_of($$SELECT recon.sweep('ro')$$) AS sweep,
       sqlstate_of($$SELECT recon.approve_repairs(1)$$) AS approve,
       sqlstate_of($$UPDATE recon.audit_log SET actor = 'x'$$) AS edit_audit,
       sqlstate_of($$DELETE FROM recon.divergences$$) AS delete_divergences;
RESET SESSION AUTHORIZATION;

-- a role without recon roles can do nothing
SET SESSION AUTHORIZATION ro_nobody;
SELECT sqlstate_of($$SELECT recon.sweep('ro')$$) AS sweep,
       sqlstate_of($$SELECT count(*) FROM recon.mappings$$) AS read_mappings,
       sqlstate_of($$SELECT * FROM recon.verify_audit()$$) AS verify;
RESET SESSION AUTHORIZATION;

-- the four recon roles may list the mapping options, no one else
SELECT r AS role, has_function_privilege(r, 'recon.mapping_options()', 'EXECUTE') AS lists_options
  FROM unnest(ARRAY['ro_admin', 'ro_op', 'ro_ap', 'ro_aud', 'ro_nobody']) r;
SET SESSION AUTHORIZATION ro_aud;
SELECT count(*) > 0 AS auditor_lists_options FROM recon.mapping_options();
RESET SESSION AUTHORIZATION;

-- no SECURITY DEFINER function without a pinned search_path
SELECT count(*) AS unpinned_secdef FROM pg_proc
 WHERE pronamespace = 'recon'::regnamespace AND prosecdef
   AND NOT coalesce(proconfig::text LIKE '%search_path%', false);

SELECT recon.drop_mapping('ro');
REVOKE ALL ON SCHEMA public FROM ro_admin, ro_op, ro_ap, ro_aud, ro_nobody;
REVOKE USAGE ON FOREIGN SERVER mongo1 FROM ro_admin;
DROP TABLE ro_src;
DROP ROLE ro_admin, ro_op, ro_ap, ro_aud, ro_nobody;
