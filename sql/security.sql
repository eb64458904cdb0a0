-- The trust boundary: every attack of issue 7 as its own test.  Each of
-- them succeeded before source reads ran as the mapping's owner, before
-- ownership, four eyes by login, bound approvals, anchors and the URI
-- allowlist.
\! mongo_tool drop rt_sec.people
\! mongo_tool drop rt_sec.secret
\! mongo_tool drop rt_sec.cols
\! mongo_tool drop rt_sec.rls
\! mongo_tool drop rt_sec.other
CREATE ROLE sec_admin;  GRANT recon_admin TO sec_admin;
CREATE ROLE sec_admin2; GRANT recon_admin TO sec_admin2;
CREATE ROLE sec_op;     GRANT recon_operator TO sec_op;
CREATE ROLE sec_ap;     GRANT recon_approver TO sec_ap;
CREATE ROLE sec_nobody;
GRANT USAGE ON FOREIGN SERVER mongo1 TO sec_admin, sec_admin2;
GRANT USAGE, CREATE ON SCHEMA public TO sec_admin, sec_admin2, sec_op, sec_ap, sec_nobody;

CREATE TABLE sec_people (id int PRIMARY KEY, name text, ssn text);
INSERT INTO sec_people VALUES (1, 'ann', '123-45-6789'), (2, 'bob', '987-65-4321'), (3, 'cy', '555-12-3456');
GRANT SELECT ON sec_people TO sec_admin;
\! printf '%s\n' '{"_id": 1, "name": "ann", "ssn": "123-45-6789"}' '{"_id": 2, "name": "bobby", "ssn": "987-65-4321"}' | mongo_tool insert rt_sec.people

------------------------------------------------------------------------
-- 1. A mapped view's code runs as the mapping's owner, restricted, never
--    as recon's (superuser) owner: at add_mapping, at sweeps by operators,
--    at repairs.
------------------------------------------------------------------------
SET SESSION AUTHORIZATION sec_admin;
CREATE TABLE spy_log (who text, super boolean, restricted_set_role text);
CREATE FUNCTION spy() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.spy_log
    SELECT current_user, r.rolsuper, public.sqlstate_of('SET ROLE NONE')
      FROM pg_roles r WHERE r.rolname = current_user;
    RETURN true;
END $$;
CREATE VIEW people_v AS SELECT id, name FROM sec_people WHERE spy();
SELECT recon.add_mapping('people', 'public.people_v', 'mongo1', 'rt_sec.people',
                         key => ARRAY['id'], options => '{"repair": "off"}') > 0 AS added;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION sec_op;
SELECT recon.sweep('people') > 0 AS swept;
RESET SESSION AUTHORIZATION;
-- every call ran as sec_admin, never a superuser, and could not SET ROLE
SELECT DISTINCT who, super, restricted_set_role FROM spy_log;

-- the owner's privileges are re-checked at every run: REVOKE takes effect
REVOKE SELECT ON sec_people FROM sec_admin;
SELECT count(*) AS runs_before FROM recon.runs WHERE mapping_name = 'people' \gset
SET SESSION AUTHORIZATION sec_op;
SELECT recon.sweep('people');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT count(*) = :runs_before AS nothing_recorded FROM recon.runs WHERE mapping_name = 'people';
GRANT SELECT ON sec_people TO sec_admin;

------------------------------------------------------------------------
-- 2. Reading without SELECT: a security_invoker view over a table the
--    admin cannot read maps nothing.
------------------------------------------------------------------------
CREATE TABLE sec_secret (id int PRIMARY KEY, salary int);
INSERT INTO sec_secret VALUES (1, 100), (2, 200);
SET SESSION AUTHORIZATION sec_admin;
CREATE VIEW secret_v WITH (security_invoker = true) AS SELECT id, salary FROM sec_secret;
SELECT recon.add_mapping('secret', 'public.secret_v', 'mongo1', 'rt_sec.secret',
                         key => ARRAY['id'], options => '{"repair": "off"}');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT count(*) AS secret_mapped FROM recon.mappings WHERE name = 'secret';

------------------------------------------------------------------------
-- 3. Column privileges: a column the owner may not read is refused by
--    name; excluded, the mapping works.
------------------------------------------------------------------------
CREATE TABLE sec_cols (id int PRIMARY KEY, name text, ssn text);
INSERT INTO sec_cols VALUES (1, 'ann', '123-45-6789');
GRANT SELECT (id, name) ON sec_cols TO sec_admin;
SET SESSION AUTHORIZATION sec_admin;
SELECT recon.add_mapping('cols', 'public.sec_cols', 'mongo1', 'rt_sec.cols');
\echo :LAST_ERROR_SQLSTATE
SELECT recon.add_mapping('cols', 'public.sec_cols', 'mongo1', 'rt_sec.cols',
                         options => '{"exclude": ["ssn"]}') > 0 AS added_without_ssn;
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 4. Row-level security that hides rows from the owner is refused (hidden
--    rows would be reported as extra documents and deleted).
------------------------------------------------------------------------
CREATE TABLE sec_rls (id int PRIMARY KEY, tenant text);
INSERT INTO sec_rls VALUES (1, 'a'), (2, 'b');
ALTER TABLE sec_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON sec_rls FOR SELECT USING (tenant = 'a');
GRANT SELECT ON sec_rls TO sec_admin;
SET SESSION AUTHORIZATION sec_admin;
SELECT recon.add_mapping('rls', 'public.sec_rls', 'mongo1', 'rt_sec.rls');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 5. A non-unique key never echoes source values.
------------------------------------------------------------------------
CREATE TABLE sec_dup (ssn text, name text);
INSERT INTO sec_dup VALUES ('123-45-6789', 'a'), ('123-45-6789', 'b');
DO $$
BEGIN
    PERFORM recon.add_mapping('dup', 'public.sec_dup', 'mongo1', 'rt_sec.dup', key => ARRAY['ssn']);
EXCEPTION WHEN unique_violation THEN
    DECLARE m text; d text;
    BEGIN
        GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
        RAISE NOTICE 'refused; value in message: %, in detail: %',
            m LIKE '%123-45%', d LIKE '%123-45%';
    END;
END $$;

------------------------------------------------------------------------
-- 6. Another admin's mapping: only its owner (or a member of the owning
--    role, or a superuser) may alter, drop, enable or disable it.
------------------------------------------------------------------------
SET SESSION AUTHORIZATION sec_admin2;
SELECT public.sqlstate_of($$SELECT recon.alter_mapping('people', '{"redact": [], "repair": "auto"}')$$) AS alter_other,
       public.sqlstate_of($$SELECT recon.drop_mapping('people')$$) AS drop_other,
       public.sqlstate_of($$SELECT recon.enable_cdc('cols')$$) AS enable_other,
       public.sqlstate_of($$SELECT recon.disable_cdc('cols')$$) AS disable_other,
       public.sqlstate_of($$SELECT recon.alter_mapping_owner('people', 'sec_admin2')$$) AS take_other;
SELECT recon.alter_mapping('people', '{"repair": "auto"}');
RESET SESSION AUTHORIZATION;
SELECT options FROM recon.mappings WHERE name = 'people';
-- the owner may; a superuser may transfer the mapping
SET SESSION AUTHORIZATION sec_admin;
SELECT recon.alter_mapping('people', '{"settle_ms": 0}');
RESET SESSION AUTHORIZATION;
SELECT recon.alter_mapping_owner('cols', 'sec_admin2');
SELECT recon.alter_mapping_owner('cols', 'sec_nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT name, pg_get_userbyid(owner) AS owner FROM recon.mappings WHERE name IN ('people', 'cols') ORDER BY 1;
SELECT action, detail FROM recon.audit_log WHERE action = 'mapping.owner_changed';

------------------------------------------------------------------------
-- 7. Four eyes by login: SET ROLE does not make one person two; two
--    logins through one group role are two people.
------------------------------------------------------------------------
CREATE TABLE sec_items (id int PRIMARY KEY, name text, pin text);
INSERT INTO sec_items VALUES (1, 'one', '1111'), (2, 'two', '2222'), (3, 'three', '3333');
\! printf '%s\n' '{"_id": 1, "name": "uno", "pin": "1111"}' '{"_id": 2, "name": "two", "pin": "0000"}' '{"_id": 9, "name": "orphan", "pin": "9999"}' | mongo_tool insert rt_sec.other
SELECT recon.add_mapping('other', 'public.sec_items', 'mongo1', 'rt_sec.other',
       options => '{"redact": ["pin"], "delete_extra": true}') > 0 AS added;
CREATE ROLE sec_both; GRANT recon_approver TO sec_both; GRANT sec_op TO sec_both;
SET SESSION AUTHORIZATION sec_both;
SET ROLE sec_op;
SELECT recon.sweep('other') AS run_both \gset
RESET ROLE;
SELECT recon.approve_repairs(:run_both, NULL, 'my own run, another hat');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT started_login, started_by FROM recon.runs WHERE run_id = :run_both;

CREATE ROLE sec_team; GRANT recon_operator, recon_approver TO sec_team;
CREATE ROLE sec_p1; GRANT sec_team TO sec_p1;
CREATE ROLE sec_p2; GRANT sec_team TO sec_p2;
SET SESSION AUTHORIZATION sec_p1;
SET ROLE sec_team;
SELECT recon.sweep('other') AS run_team \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION sec_p2;
SET ROLE sec_team;
SELECT recon.approve_repairs(:run_team, NULL, 'p2 approves p1') AS approved_by_other_person;
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 8. approve_repairs without ids is refused on a change-check run.
------------------------------------------------------------------------
INSERT INTO recon.runs (mapping_id, mapping_name, kind, status, started_by)
SELECT mapping_id, name, 'cdc', 'running', 'recon_cdc_worker' FROM recon.mappings WHERE name = 'other'
RETURNING run_id AS cdc_run \gset
SET SESSION AUTHORIZATION sec_ap;
SELECT recon.approve_repairs(:cdc_run);
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 9. An approval binds the action and the options: an approved delete
--    whose row appeared, and an approved update after alter_mapping, are
--    conflicts, not writes.
------------------------------------------------------------------------
SET SESSION AUTHORIZATION sec_op;
SELECT recon.sweep('other') AS run9 \gset
RESET SESSION AUTHORIZATION;
SELECT d.key, r.action, r.status FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run9 ORDER BY d.key::text;
SET SESSION AUTHORIZATION sec_ap;
SELECT recon.approve_repairs(:run9, NULL, 'looked at all four') AS approved;
RESET SESSION AUTHORIZATION;
-- (a) the row of the document approved for deletion appears: no delete, no update
INSERT INTO sec_items VALUES (9, 'orphan', '9990');
SET SESSION AUTHORIZATION sec_op;
CALL recon.apply_repairs(:run9);
RESET SESSION AUTHORIZATION;
SELECT d.key, r.action, r.status, r.error FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run9 ORDER BY d.key::text;
\! mongo_tool find rt_sec.other '{"_id": 9}'
-- (b) the mapping is altered after approval: the approved update is not written
SET SESSION AUTHORIZATION sec_op;
SELECT recon.sweep('other') AS run9b \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION sec_ap;
SELECT recon.approve_repairs(:run9b, NULL, 'the pin of 9') AS approved;
RESET SESSION AUTHORIZATION;
SELECT recon.alter_mapping('other', '{"max_repairs_per_second": 100}');
SET SESSION AUTHORIZATION sec_op;
CALL recon.apply_repairs(:run9b);
RESET SESSION AUTHORIZATION;
SELECT d.key, r.action, r.status, r.error FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)
 WHERE r.run_id = :run9b ORDER BY d.key::text;
\! mongo_tool find rt_sec.other '{"_id": 9}'

------------------------------------------------------------------------
-- 10. Redaction holds: keyed hashes (not plain SHA-256), equal values
--     match across runs, no clear value in operations or audit rows,
--     arrays and non-documents under a redacted path are hashed whole.
------------------------------------------------------------------------
SELECT source_image->>'pin' LIKE 'redacted:hmac:%' AS keyed,
       source_image->>'pin' = target_image->>'pin' AS equal_values_equal_hashes
  FROM recon.divergences WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = 'other')
   AND key = '1' ORDER BY divergence_id LIMIT 1;
SELECT source_image->>'pin' <> target_image->>'pin' AS different_values_differ
  FROM recon.divergences WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = 'other')
   AND key = '2' ORDER BY divergence_id LIMIT 1;
-- the key is recon's: operators and auditors cannot read it to brute-force hashes
SET SESSION AUTHORIZATION sec_op;
SELECT public.sqlstate_of('SELECT * FROM recon.redaction_key') AS read_key;
RESET SESSION AUTHORIZATION;
-- a PIN standing alone (not four hex digits inside a keyed hash, which a random
-- redaction key makes likely now and then)
SELECT count(*) AS clear_pins_in_repairs FROM recon.repairs
 WHERE operation::text ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)'
    OR coalesce(error, '') ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)';
SELECT count(*) AS clear_pins_in_audit FROM recon.audit_log
 WHERE mapping_name = 'other'
   AND (detail::text ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)'
        OR coalesce(reason, '') ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)');
-- the pattern finds a PIN where one would leak: a JSON string value
SELECT '{"pin": "1111"}' ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)' AS pattern_finds_clear_pin,
       '{"pin": "redacted:hmac:ab0000cd"}' ~ '(^|[^0-9a-f])(1111|2222|3333|9999|0000)([^0-9a-f]|$)' AS pattern_skips_hash;
CREATE TABLE sec_nested (id int PRIMARY KEY, card text);
INSERT INTO sec_nested VALUES (1, '4111');
\! mongo_tool drop rt_sec.nested
\! printf '%s\n' '{"_id": 1, "wallet": [{"card": "4111-secret"}]}' | mongo_tool insert rt_sec.nested
SELECT recon.add_mapping('nested', 'public.sec_nested', 'mongo1', 'rt_sec.nested',
       options => '{"fields": {"card": "wallet.card"}, "redact": ["card"], "repair": "off"}') > 0 AS added;
SELECT recon.sweep('nested') AS run10 \gset
SELECT target_image::text LIKE '%4111%' AS array_leaks, target_image->>'wallet' LIKE 'redacted:hmac:%' AS array_hashed
  FROM recon.divergences WHERE last_run_id = :run10;
SELECT recon.fetch_document('nested', '1')::text LIKE '%4111%' AS fetch_leaks;
-- MongoDB error texts keep the code and index, not the quoted value
CREATE TABLE sec_uniq (id int PRIMARY KEY, email text);
INSERT INTO sec_uniq VALUES (1, 'carol@example.com'), (2, 'dave@example.com');
\! mongo_tool drop rt_sec.uniq
\! mongo_tool unique-index rt_sec.uniq email
\! printf '%s\n' '{"_id": 1, "email": "carol@example.com"}' '{"_id": 3, "email": "dave@example.com"}' | mongo_tool insert rt_sec.uniq
SELECT recon.add_mapping('uniq', 'public.sec_uniq', 'mongo1', 'rt_sec.uniq',
       options => '{"redact": ["email"], "repair": "auto"}') > 0 AS added;
SELECT recon.sweep('uniq') AS run_uniq \gset
CALL recon.apply_repairs(:run_uniq);
SELECT r.action, r.status, r.error LIKE 'MongoDB error 11000:%' AS dup_key_error,
       r.error LIKE '%dave%' AS error_leaks
  FROM recon.repairs r WHERE r.run_id = :run_uniq AND r.action = 'insert';
SELECT count(*) AS audit_leaks FROM recon.audit_log WHERE mapping_name = 'uniq' AND row(audit_log.*)::text LIKE '%dave%';

------------------------------------------------------------------------
-- 11. Target options: secrets and host identities.
------------------------------------------------------------------------
CREATE SERVER sec_bad1 FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFilePassword=TopSecret1');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER sec_bad2 FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?fancyOption=1');
\echo :LAST_ERROR_SQLSTATE
GRANT USAGE ON FOREIGN DATA WRAPPER recon_mongo TO sec_admin;
SET SESSION AUTHORIZATION sec_admin;
CREATE SERVER sec_aws FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER sec_x509 FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFile=/etc/ssl/private/db.pem');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER sec_plain FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?replicaSet=rs0&readPreference=secondary');
RESET SESSION AUTHORIZATION;
CREATE SERVER sec_aws_su FOREIGN DATA WRAPPER recon_mongo
  OPTIONS (uri 'mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS');
-- a superuser's server handed to a non-superuser is refused at use
ALTER SERVER sec_aws_su OWNER TO sec_admin;
GRANT SELECT ON sec_people TO sec_admin;
SET SESSION AUTHORIZATION sec_admin;
SELECT recon.add_mapping('aws', 'public.sec_people', 'sec_aws_su', 'rt_sec.aws');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
DROP SERVER sec_aws_su, sec_plain;

------------------------------------------------------------------------
-- 12. No leak into the caller's session: search_path is back after each
--     entry point, on success and on error.
------------------------------------------------------------------------
SET search_path = public, pg_temp;
CREATE TABLE sp_probe (x int);
BEGIN;
SELECT recon.sweep('people') > 0 AS swept;
SELECT current_setting('search_path') AS search_path_after_sweep;
SELECT count(*) AS unqualified_table_still_found FROM sp_probe;
SAVEPOINT s;
SELECT recon.sweep('no_such_mapping');
ROLLBACK TO s;
SELECT current_setting('search_path') AS search_path_after_error;
COMMIT;
RESET search_path;

------------------------------------------------------------------------
-- 13. The audit log is copied to the server log at commit only, with its
--     chain position; rolled-back work is not (NOTICE here, to see it).
------------------------------------------------------------------------
SET recon.audit_log_level = notice;
BEGIN;
SELECT recon.alter_mapping('people', '{"settle_ms": 1}');
ROLLBACK;
BEGIN;
SAVEPOINT a;
SELECT recon.alter_mapping('people', '{"settle_ms": 2}');
ROLLBACK TO a;
SELECT recon.alter_mapping('people', '{"settle_ms": 3}');
SELECT 'before commit' AS marker;
COMMIT;
RESET recon.audit_log_level;
-- the chain is serialised by a row lock nobody else can take
SET SESSION AUTHORIZATION sec_nobody;
SELECT public.sqlstate_of('SELECT * FROM recon.audit_chain_head FOR UPDATE') AS lock_head;
RESET SESSION AUTHORIZATION;
SELECT prosrc ~ 'pg_advisory' AS uses_advisory_lock FROM pg_proc WHERE proname = '_audit_chain';

------------------------------------------------------------------------
-- 14. Audit anchors: tail deletion and re-hashing forward pass a chain
--     check, but not a check against an exported anchor.
------------------------------------------------------------------------
SELECT chain_seq AS anchor_seq, row_hash AS anchor_hash FROM recon.audit_head() \gset
SELECT recon.alter_mapping('people', '{"settle_ms": 4}');
SELECT recon.alter_mapping('people', '{"settle_ms": 5}');
SELECT ok, reason FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
CREATE TEMP TABLE keep AS SELECT * FROM recon.audit_log WHERE chain_seq >= :anchor_seq;
CREATE TEMP TABLE keep_head AS SELECT * FROM recon.audit_chain_head;
ALTER TABLE recon.audit_log DISABLE TRIGGER USER;
-- (a) delete the newest rows, including the anchor, and fix the head
DELETE FROM recon.audit_log WHERE chain_seq >= :anchor_seq;
SELECT ok, reason FROM recon.verify_audit();
UPDATE recon.audit_chain_head SET chain_seq = a.chain_seq, row_hash = a.row_hash
  FROM (SELECT chain_seq, row_hash FROM recon.audit_log ORDER BY chain_seq DESC LIMIT 1) a;
SELECT ok AS tail_deletion_passes_chain_check FROM recon.verify_audit();
SELECT ok, reason FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
INSERT INTO recon.audit_log OVERRIDING SYSTEM VALUE SELECT * FROM keep;
UPDATE recon.audit_chain_head h SET chain_seq = k.chain_seq, row_hash = k.row_hash FROM keep_head k;
SELECT ok FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
-- (b) edit an old row and re-hash every row after it (no key: anyone can)
CREATE TEMP TABLE orig AS SELECT * FROM recon.audit_log;
DO $$
DECLARE r recon.audit_log; prev text;
BEGIN
    UPDATE recon.audit_log SET actor = 'nobody_did_it' WHERE chain_seq = 3;
    SELECT row_hash INTO prev FROM recon.audit_log WHERE chain_seq = 2;
    FOR r IN SELECT * FROM recon.audit_log WHERE chain_seq >= 3 ORDER BY chain_seq LOOP
        r.prev_hash := prev;
        r.row_hash := encode(sha256(convert_to(prev || recon._audit_content(r), 'UTF8')), 'hex');
        UPDATE recon.audit_log SET prev_hash = r.prev_hash, row_hash = r.row_hash WHERE audit_id = r.audit_id;
        prev := r.row_hash;
    END LOOP;
    UPDATE recon.audit_chain_head SET row_hash = prev;
END $$;
SELECT ok AS rehash_passes_chain_check FROM recon.verify_audit();
SELECT ok, reason FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
UPDATE recon.audit_log a SET actor = o.actor, prev_hash = o.prev_hash, row_hash = o.row_hash
  FROM orig o WHERE a.audit_id = o.audit_id;
UPDATE recon.audit_chain_head h SET chain_seq = k.chain_seq, row_hash = k.row_hash FROM keep_head k;
UPDATE recon.audit_chain_head h SET chain_seq = a.chain_seq, row_hash = a.row_hash
  FROM (SELECT chain_seq, row_hash FROM recon.audit_log ORDER BY chain_seq DESC LIMIT 1) a;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain_advance;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_update;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_truncate;
SELECT ok FROM recon.verify_audit(:anchor_seq, :'anchor_hash');
-- auditors verify and export anchors; nobody else calls the hash function
SET SESSION AUTHORIZATION sec_nobody;
SELECT public.sqlstate_of('SELECT recon.audit_head()') AS head_nobody,
       public.sqlstate_of($$SELECT recon._audit_hash(NULL, 'x')$$) AS hash_nobody;
RESET SESSION AUTHORIZATION;

SELECT recon.drop_mapping(name) FROM recon.mappings WHERE name IN ('people', 'cols', 'other', 'nested', 'uniq');
DROP VIEW people_v, secret_v;
DROP TABLE sec_people, sec_secret, sec_cols, sec_rls, sec_dup, sec_items, sec_nested, sec_uniq, spy_log, sp_probe;
DROP FUNCTION spy();
REVOKE ALL ON SCHEMA public FROM sec_admin, sec_admin2, sec_op, sec_ap, sec_nobody;
REVOKE USAGE ON FOREIGN SERVER mongo1 FROM sec_admin, sec_admin2;
REVOKE USAGE ON FOREIGN DATA WRAPPER recon_mongo FROM sec_admin;
DROP ROLE sec_admin, sec_admin2, sec_op, sec_ap, sec_nobody, sec_both, sec_team, sec_p1, sec_p2;
