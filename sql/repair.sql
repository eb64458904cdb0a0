-- Repairs: planning (dry run), four-eyes approval, compare-and-set apply,
-- source re-read at apply time, idempotence, gates and policies.
CREATE ROLE r_op;  GRANT recon_operator TO r_op;
CREATE ROLE r_ap;  GRANT recon_approver TO r_ap;
GRANT USAGE ON SCHEMA public TO r_op, r_ap;
\! mongo_tool drop rt_repair.items
CREATE TABLE r_items (id int PRIMARY KEY, name text, qty int, price numeric(8,2), owner text);
INSERT INTO r_items SELECT g, 'item' || g, g * 10, g + 0.5, 'own' || g FROM generate_series(1, 10) g;
\! printf '%s\n' '{"_id": 1, "name": "item1", "qty": 10, "price": 1.5, "info": {"owner": "own1"}, "app": "keep-1"}' '{"_id": 2, "name": "stale", "qty": 20, "price": 2.5, "info": {"owner": "own2"}, "app": "keep-2"}' '{"_id": 3, "name": "item3", "qty": 999, "price": 3.5, "info": {"owner": "own3"}, "app": "keep-3"}' '{"_id": 5, "name": "item5", "qty": 50, "price": 5.5, "info": {"owner": "own5"}}' '{"_id": 6, "name": "item6", "qty": 60, "price": 6.5, "info": {"owner": "own6"}}' '{"_id": 7, "name": "wrong", "qty": 70, "price": 7.5, "info": {"owner": "own7"}}' '{"_id": 8, "name": "wrong", "qty": 80, "price": 8.5, "info": {"owner": "own8"}}' '{"_id": 9, "name": "item9", "qty": 90, "price": 9.5, "info": {"owner": "own9"}}' '{"_id": 10, "name": "item10", "qty": 100, "price": 10.5, "info": {"owner": "own10"}}' '{"_id": 77, "name": "orphan"}' | mongo_tool insert rt_repair.items
SELECT recon.add_mapping('items', 'public.r_items', 'mongo1', 'rt_repair.items',
       options => '{"fields": {"owner": "info.owner"}, "delete_extra": true}') > 0 AS added;

-- the operator sweeps: every divergence gets a planned repair, nothing is written yet
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run1 \gset
RESET SESSION AUTHORIZATION;
SELECT d.kind, d.key, r.action, r.needs_approval, r.approval_reason, r.status, r.operation
  FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run1 ORDER BY d.key::text;
\! mongo_tool count rt_repair.items
-- the default policy (approve) applies nothing without approval
SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run1);
RESET SESSION AUTHORIZATION;
SELECT status, count(*) FROM recon.repairs WHERE run_id = :run1 GROUP BY 1 ORDER BY 1;

-- four eyes: the operator cannot approve, nor can the role that started the run
SET SESSION AUTHORIZATION r_op;
SELECT recon.approve_repairs(:run1, NULL, 'self-approval');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
CREATE ROLE r_both; GRANT recon_operator, recon_approver TO r_both;
SET SESSION AUTHORIZATION r_both;
SELECT recon.sweep('items') AS run_both \gset
SELECT recon.approve_repairs(:run_both, NULL, 'my own run');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- run_both superseded run1's plans: work with run_both from here on
SELECT count(*) FILTER (WHERE status = 'superseded') AS superseded_run1
  FROM recon.repairs WHERE run_id = :run1;
-- the approver rejects the delete of the orphan and approves the rest
SET SESSION AUTHORIZATION r_ap;
SELECT recon.reject_repairs(:run_both,
       (SELECT array_agg(repair_id) FROM recon.repairs WHERE run_id = :run_both AND action = 'delete'),
       'orphan is still referenced by the app') AS rejected;
SELECT recon.approve_repairs(:run_both, NULL, 'checked with the app team') AS approved;
RESET SESSION AUTHORIZATION;
SELECT action, status, decided_by, decision_note FROM recon.repairs
 WHERE run_id = :run_both ORDER BY repair_id;

-- between sweep and apply: the application rewrites document 7 (its repair must not
-- overwrite that), and the source row 8 changes (the repair writes the row as it is now)
\! mongo_tool update rt_repair.items '{"_id": 7}' '{"$set": {"name": "app-wrote-this"}}'
UPDATE r_items SET name = 'renamed-at-source' WHERE id = 8;

-- apply refuses to run inside a transaction block
BEGIN;
CALL recon.apply_repairs(:run_both);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run_both);
RESET SESSION AUTHORIZATION;
SELECT d.key, r.action, r.status, r.error, r.verified_hash IS NOT NULL AS verified
  FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run_both ORDER BY d.key::text;
\! mongo_tool find rt_repair.items
-- every applied repair has its intent and result in the audit trail
SELECT r.repair_id IS NOT NULL AS has_repair, a.action, count(*)
  FROM recon.audit_log a JOIN recon.repairs r USING (repair_id)
 WHERE r.run_id = :run_both GROUP BY 1, 2 ORDER BY 2;

-- applying twice changes nothing the second time
SELECT count(*) AS audit_before FROM recon.audit_log \gset
SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run_both);
RESET SESSION AUTHORIZATION;
SELECT count(*) - :audit_before AS new_audit_rows FROM recon.audit_log;

-- a new sweep: only the conflicted document 7 and the rejected orphan remain
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run3 \gset
RESET SESSION AUTHORIZATION;
SELECT kind, key, fields FROM recon.divergences WHERE last_run_id = :run3 AND status = 'open' ORDER BY key::text;
SET SESSION AUTHORIZATION r_ap;
SELECT recon.approve_repairs(:run3) AS approved;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run3);
SELECT recon.sweep('items') AS run4 \gset
RESET SESSION AUTHORIZATION;
SELECT divergences FROM recon.runs WHERE run_id = :run4;
-- unmapped fields of repaired documents are unchanged
\! mongo_tool find rt_repair.items '{"app": {"$exists": true}}'

-- auto policy with a quality gate: systematic drift is not auto-repaired
SELECT recon.alter_mapping('items', '{"repair": "auto", "max_divergence_ratio": 0.2}');
\! mongo_tool update rt_repair.items '{"_id": {"$lte": 5}}' '{"$set": {"qty": -1}}'
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run5 \gset
RESET SESSION AUTHORIZATION;
SELECT status, divergences, gate_reason FROM recon.runs WHERE run_id = :run5;
SELECT DISTINCT needs_approval, approval_reason FROM recon.repairs WHERE run_id = :run5;
SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run5);
RESET SESSION AUTHORIZATION;
SELECT status, count(*) FROM recon.repairs WHERE run_id = :run5 GROUP BY 1;
SELECT action, reason FROM recon.audit_log WHERE run_id = :run5 AND action LIKE 'gate.%';
-- below the gate, auto repairs apply without approval
\! mongo_tool update rt_repair.items '{"_id": {"$lte": 5}}' '{"$set": {"qty": 0}}'
UPDATE r_items SET qty = 0 WHERE id <= 5;
\! mongo_tool update rt_repair.items '{"_id": 1}' '{"$set": {"qty": 5}}'
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run6 \gset
CALL recon.apply_repairs(:run6);
RESET SESSION AUTHORIZATION;
SELECT r.status, r.needs_approval, r.decided_by IS NULL AS no_approver
  FROM recon.repairs r WHERE r.run_id = :run6;
SELECT reason FROM recon.audit_log WHERE run_id = :run6 AND action = 'repair.applying';

-- the write-error gate: consecutive MongoDB write errors stop the batch and fail the run
SELECT recon.alter_mapping('items', '{"max_write_errors": 1}');
\! mongo_tool update rt_repair.items '{"_id": {"$in": [2, 3]}}' '{"$set": {"info": "not-a-document"}}'
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run7 \gset
CALL recon.apply_repairs(:run7);
RESET SESSION AUTHORIZATION;
SELECT status, error FROM recon.runs WHERE run_id = :run7;
SELECT status, error IS NOT NULL AS has_error FROM recon.repairs WHERE run_id = :run7 ORDER BY repair_id;

-- repair_mode replace writes the whole document (unmapped fields go)
\! mongo_tool update rt_repair.items '{"_id": {"$in": [2, 3]}}' '{"$set": {"info": {"owner": "x"}}}'
SELECT recon.alter_mapping('items', '{"repair_mode": "replace", "max_write_errors": 10}');
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run8 \gset
CALL recon.apply_repairs(:run8);
RESET SESSION AUTHORIZATION;
\! mongo_tool find rt_repair.items '{"_id": {"$in": [2, 3]}}'

-- an extra document whose _id has another type than the key's: the repair
-- finds it by that _id (carried in the canonical key), and deletes only it
\! printf '%s\n' '{"_id": "77", "name": "orphan, string _id"}' | mongo_tool insert rt_repair.items
SET SESSION AUTHORIZATION r_op;
SELECT recon.sweep('items') AS run9 \gset
RESET SESSION AUTHORIZATION;
SELECT d.kind, d.key, r.action FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run9 ORDER BY r.repair_id;
SET SESSION AUTHORIZATION r_ap;
SELECT recon.approve_repairs(:run9, NULL, 'string _id left by an old importer') AS approved;
SET SESSION AUTHORIZATION r_op;
CALL recon.apply_repairs(:run9);
RESET SESSION AUTHORIZATION;
SELECT action, status FROM recon.repairs WHERE run_id = :run9 ORDER BY repair_id;
\! mongo_tool find rt_repair.items '{"_id": {"$in": ["77", 77]}}'

-- an unknown run
CALL recon.apply_repairs(999999);
\echo :LAST_ERROR_SQLSTATE

-- roles are cluster-wide: leave none behind
REVOKE USAGE ON SCHEMA public FROM r_op, r_ap;
DROP ROLE r_op, r_ap, r_both;
