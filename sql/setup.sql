-- Shared set-up for the regression suite: the extension, the test MongoDB
-- server (FerretDB or RECON_TEST_MONGO_URI) and a helper to show SQLSTATEs.
\getenv mongo_uri RECON_TEST_MONGO_URI
CREATE EXTENSION recon;
SELECT extname, extversion FROM pg_extension WHERE extname = 'recon';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('recon_admin', 'recon_operator', 'recon_approver', 'recon_auditor') ORDER BY 1;
SELECT fdwname FROM pg_foreign_data_wrapper WHERE fdwname = 'recon_mongo';
SELECT relname FROM pg_class WHERE relnamespace = 'recon'::regnamespace AND relkind = 'r' ORDER BY 1;
CREATE SERVER mongo1 FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri :'mongo_uri');
-- nothing is granted to PUBLIC
SELECT count(*) AS public_grants FROM information_schema.role_table_grants
 WHERE table_schema = 'recon' AND grantee = 'PUBLIC';
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'recon'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE');
-- errors in later tests show their SQLSTATE through this helper
CREATE FUNCTION public.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
