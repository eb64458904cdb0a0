-- The audit trail: append-only, hash-chained, verifiable.
SELECT ok, checked > 100 AS has_rows, first_bad_id FROM recon.verify_audit();
SELECT DISTINCT action FROM recon.audit_log ORDER BY 1;
-- each row carries the previous row's hash
SELECT count(*) AS broken_links FROM (
    SELECT prev_hash, lag(row_hash) OVER (ORDER BY chain_seq) AS expected FROM recon.audit_log
) s WHERE expected IS NOT NULL AND prev_hash <> expected;
-- who: the session user and the acting role
CREATE ROLE au_op; GRANT recon_operator TO au_op;
SET ROLE au_op;
SELECT recon.sweep('items') > 0 AS swept;
RESET ROLE;
SELECT DISTINCT session_user_name = session_user AS session_recorded, actor
  FROM recon.audit_log WHERE action = 'run.started' AND actor = 'au_op';
DROP ROLE au_op;

-- nobody can change or remove audit rows, not even a superuser
UPDATE recon.audit_log SET reason = 'nothing to see' WHERE chain_seq = 3;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM recon.audit_log WHERE chain_seq = 3;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE recon.audit_log;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
UPDATE recon.audit_log SET reason = 'nothing to see' WHERE chain_seq = 3;
RESET session_replication_role;
-- a row's content is computed inline, not by a SQL function call per row
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; p text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP p := p || l; END LOOP;
    RETURN p;
END $$;
SELECT p ~ 'jsonb_build_object' AND p !~ '_audit_content' AS content_inlined
  FROM pg_temp.plan_of('SELECT recon._audit_content(a) FROM recon.audit_log a') p;
-- the chain (row links and head) is kept under replica role too
SET session_replication_role = replica;
SELECT recon.alter_mapping('items', '{"settle_ms": 400}');
RESET session_replication_role;
SELECT ok, reason FROM recon.verify_audit();
-- not even the owner holds UPDATE/DELETE/TRUNCATE on it
SELECT has_table_privilege(r.rolname, 'recon.audit_log', 'UPDATE') AS upd,
       has_table_privilege(r.rolname, 'recon.audit_log', 'DELETE') AS del
  FROM pg_roles r WHERE r.rolname = 'recon_auditor';

-- audit rows also go to the server log (here raised to NOTICE to see them)
SET recon.audit_log_level = notice;
SELECT recon.alter_mapping('items', '{"settle_ms": 500}');
RESET recon.audit_log_level;

-- tampering by a superuser who disables the triggers is detected
CREATE TEMP TABLE saved AS SELECT * FROM recon.audit_log WHERE chain_seq IN (5, 6);
ALTER TABLE recon.audit_log DISABLE TRIGGER USER;
-- 1. an edited row
UPDATE recon.audit_log SET actor = 'someone_else' WHERE chain_seq = 5;
SELECT ok, first_bad_id = (SELECT audit_id FROM saved WHERE chain_seq = 5) AS edited_row_found
  FROM recon.verify_audit();
UPDATE recon.audit_log a SET actor = s.actor FROM saved s WHERE a.audit_id = s.audit_id;
SELECT ok FROM recon.verify_audit();
-- 2. a deleted row
DELETE FROM recon.audit_log WHERE chain_seq = 5;
SELECT ok, first_bad_id = (SELECT audit_id FROM saved WHERE chain_seq = 6) AS gap_found
  FROM recon.verify_audit();
INSERT INTO recon.audit_log OVERRIDING SYSTEM VALUE SELECT * FROM saved WHERE chain_seq = 5;
SELECT ok FROM recon.verify_audit();
-- 3. reordered rows
UPDATE recon.audit_log SET chain_seq = -5 WHERE chain_seq = 5;
UPDATE recon.audit_log SET chain_seq = 5 WHERE chain_seq = 6;
UPDATE recon.audit_log SET chain_seq = 6 WHERE chain_seq = -5;
SELECT ok, first_bad_id = (SELECT audit_id FROM saved WHERE chain_seq = 6) AS reorder_found
  FROM recon.verify_audit();
UPDATE recon.audit_log SET chain_seq = -5 WHERE chain_seq = 5;
UPDATE recon.audit_log SET chain_seq = 5 WHERE chain_seq = 6;
UPDATE recon.audit_log SET chain_seq = 6 WHERE chain_seq = -5;
SELECT ok FROM recon.verify_audit();
-- 4. a forged row appended with a made-up hash
INSERT INTO recon.audit_log (chain_seq, actor, action, prev_hash, row_hash)
SELECT max(chain_seq) + 1, 'forger', 'repair.approved', max(row_hash), repeat('f', 64) FROM recon.audit_log;
SELECT ok, first_bad_id = (SELECT max(audit_id) FROM recon.audit_log) AS forgery_found FROM recon.verify_audit();
DELETE FROM recon.audit_log WHERE actor = 'forger';
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain_advance;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_update;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_truncate;
SELECT ok FROM recon.verify_audit();

-- a compliance question: every change recon made to collection rt_repair.items,
-- what it was, who ran it and who approved it
SELECT a.action, a.actor AS applied_by, r.decided_by AS approved_by, r.decision_note,
       d.kind, d.key, a.detail->'operation' IS NOT NULL AS has_operation
  FROM recon.audit_log a
  JOIN recon.repairs r ON r.repair_id = a.repair_id
  JOIN recon.divergences d ON d.divergence_id = r.divergence_id
  JOIN recon.mappings m ON m.mapping_id = r.mapping_id
 WHERE m.collection = 'rt_repair.items' AND a.action = 'repair.applied'
 ORDER BY a.chain_seq LIMIT 6;
