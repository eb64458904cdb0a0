-- Targets: server and user-mapping options, URIs, reachability.
\getenv mongo_uri RECON_TEST_MONGO_URI
-- unknown server option
CREATE SERVER bad1 FOREIGN DATA WRAPPER recon_mongo OPTIONS (url 'mongodb://127.0.0.1/');
\echo :LAST_ERROR_SQLSTATE
-- uri is required
CREATE SERVER bad2 FOREIGN DATA WRAPPER recon_mongo;
\echo :LAST_ERROR_SQLSTATE
-- malformed URI
CREATE SERVER bad3 FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri 'http://127.0.0.1:27017/');
\echo :LAST_ERROR_SQLSTATE
-- credentials embedded in the URI are refused and never echoed
CREATE SERVER bad4 FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri 'mongodb://app:S3cretPW@127.0.0.1/');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS servers_created FROM pg_foreign_server WHERE srvname LIKE 'bad%';
-- ALTER SERVER validates too
ALTER SERVER mongo1 OPTIONS (ADD tls 'true');
\echo :LAST_ERROR_SQLSTATE
-- user mappings: only username and password, never empty
CREATE USER MAPPING FOR CURRENT_USER SERVER mongo1 OPTIONS (user 'x');
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER mongo1 OPTIONS (username 'app', password '');
\echo :LAST_ERROR_SQLSTATE
-- an unreachable server: a clear error, quickly (connection refused)
SET recon.connect_timeout_ms = 2000;
CREATE SERVER dead FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri 'mongodb://127.0.0.1:1/');
CREATE TABLE t_dead (id int PRIMARY KEY, v text);
SELECT recon.add_mapping('dead', 'public.t_dead', 'dead', 'rt_targets.dead') > 0 AS added;
SELECT recon.sweep('dead');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS runs_after_failed_sweep FROM recon.runs WHERE mapping_name = 'dead';
-- credentials in a user mapping never show up in errors or catalogs readable by others
CREATE USER MAPPING FOR CURRENT_USER SERVER dead OPTIONS (username 'app', password 'Hunter2-secret');
SELECT recon.sweep('dead');
SELECT count(*) AS audit_rows_with_password FROM recon.audit_log WHERE row(audit_log.*)::text LIKE '%Hunter2%';
SELECT recon.drop_mapping('dead');
DROP USER MAPPING FOR CURRENT_USER SERVER dead;
DROP SERVER dead;
DROP TABLE t_dead;
RESET recon.connect_timeout_ms;
-- the real test server answers
CREATE TABLE t_ping (id int PRIMARY KEY);
SELECT recon.add_mapping('ping', 'public.t_ping', 'mongo1', 'rt_targets.ping') > 0 AS added;
SELECT recon.sweep('ping') > 0 AS swept;
SELECT recon.drop_mapping('ping');
DROP TABLE t_ping;
