/* recon 0.1.0 -> 0.2.0 — the trust boundary (issue 7):
 * mappings owned by a role OID and bound to their server by OID, runs that
 * record the login, repairs bound to the options they were planned under,
 * an audit chain serialised by a row lock, optionally keyed, exportable as
 * an anchor and copied to the server log only after commit, and keyed
 * hashes for redacted values. */

\echo Use "ALTER EXTENSION recon UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------
-- Mappings: owner and server by OID (a rename or re-creation of a role
-- or a server no longer redirects a mapping).
------------------------------------------------------------------------
ALTER TABLE recon.mappings ADD COLUMN owner oid;
ALTER TABLE recon.mappings ADD COLUMN server_id oid;
UPDATE recon.mappings m
   SET owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = m.created_by),
       server_id = (SELECT s.oid FROM pg_catalog.pg_foreign_server s WHERE s.srvname = m.server_name);
ALTER TABLE recon.mappings DROP CONSTRAINT mappings_server_name_collection_key;
CREATE UNIQUE INDEX mappings_server_collection ON recon.mappings (server_id, collection);
-- The columns a mapping accepted ({"column": "type oid"}): a column added to
-- the source later is not compared until alter_mapping accepts it; a mapped
-- column dropped or retyped stops the mapping's runs (schema drift).
ALTER TABLE recon.mappings ADD COLUMN columns jsonb;
COMMENT ON COLUMN recon.mappings.owner IS
    'role whose privileges every source read runs with (NULL: the creating role no longer exists)';
COMMENT ON COLUMN recon.mappings.server_id IS 'the recon_mongo foreign server (pg_foreign_server.oid)';

------------------------------------------------------------------------
-- Runs record the login behind them; repairs the options they were
-- planned under.
------------------------------------------------------------------------
ALTER TABLE recon.runs ADD COLUMN started_login text;
UPDATE recon.runs SET started_login = started_by;
ALTER TABLE recon.runs ALTER COLUMN started_login SET DEFAULT pg_catalog."session_user"();
ALTER TABLE recon.runs ALTER COLUMN started_login SET NOT NULL;

ALTER TABLE recon.repairs ADD COLUMN options_hash text;

-- Why a divergence is what it is, when a value could not be compared or written
-- (an _id no key can have, a row no document can hold).
ALTER TABLE recon.divergences ADD COLUMN reason text;

------------------------------------------------------------------------
-- Change checks: one failing key or one broken mapping never stops the rest.
------------------------------------------------------------------------
ALTER TABLE recon.cdc_queue ADD COLUMN failures integer NOT NULL DEFAULT 0;
ALTER TABLE recon.cdc_queue ADD COLUMN last_error text;
ALTER TABLE recon.cdc_state ADD COLUMN broken text;
COMMENT ON COLUMN recon.cdc_state.broken IS
    'why change checks of this mapping are suspended (NULL: running); retried every cycle';

CREATE TABLE recon.cdc_quarantine (
    mapping_id      bigint NOT NULL REFERENCES recon.mappings ON DELETE CASCADE,
    key_canon       bytea NOT NULL,
    key             text,
    committed_at    timestamptz NOT NULL,
    failures        integer NOT NULL,
    last_error      text,
    quarantined_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (mapping_id, key_canon)
);
COMMENT ON TABLE recon.cdc_quarantine IS
    'keys whose change check failed repeatedly; delete a row after fixing its cause, then sweep';

-- the database's slot name, made by the same C function the change worker uses
CREATE FUNCTION recon._slot_name() RETURNS text
    AS 'MODULE_PATHNAME', 'recon_slot_name' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE VIEW recon.cdc_status AS
SELECT pg_catalog.current_database() AS database,
       m.name AS mapping,
       s.slot_name,
       s.confirmed_flush_lsn,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn) AS lag_bytes,
       COALESCE(extract(epoch FROM pg_catalog.clock_timestamp() - q.oldest), 0)::numeric(12,3) AS lag_seconds,
       COALESCE(q.depth, 0) AS queue_depth,
       CASE WHEN st.started_at < pg_catalog.now()
            THEN (st.checks / extract(epoch FROM pg_catalog.now() - st.started_at))::numeric(12,1) END
           AS checks_per_second,
       st.changes, st.checks, st.divergences, st.errors,
       st.last_commit_at, st.last_check_at, st.last_error, st.last_error_at,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn) AS retained_wal_bytes,
       s.wal_status,
       st.worker_pid, st.run_id,
       st.broken,
       COALESCE((SELECT count(*) FROM recon.cdc_quarantine k WHERE k.mapping_id = m.mapping_id), 0)
           AS quarantined
  FROM recon.mappings m
  LEFT JOIN recon.cdc_state st USING (mapping_id)
  LEFT JOIN pg_catalog.pg_replication_slots s
         ON s.slot_name = recon._slot_name()
  LEFT JOIN (SELECT mapping_id, count(*) AS depth, min(committed_at) AS oldest
               FROM recon.cdc_queue GROUP BY mapping_id) q USING (mapping_id)
 WHERE m.cdc_enabled;

------------------------------------------------------------------------
-- Secrets (readable by the extension owner only).
------------------------------------------------------------------------
CREATE FUNCTION recon._random_bytes(integer) RETURNS bytea
    AS 'MODULE_PATHNAME', 'recon_random_bytes' LANGUAGE C STRICT VOLATILE;
CREATE TABLE recon.redaction_key (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret    bytea NOT NULL
);
INSERT INTO recon.redaction_key (secret) VALUES (recon._random_bytes(32));

------------------------------------------------------------------------
-- Audit chain: serialised by a row lock on the head, optional HMAC key,
-- server-log copy after commit, exportable head.
------------------------------------------------------------------------
CREATE TABLE recon.audit_chain_head (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    chain_seq  bigint NOT NULL,
    row_hash   text NOT NULL
);
INSERT INTO recon.audit_chain_head (chain_seq, row_hash)
SELECT COALESCE(max(chain_seq), 0),
       COALESCE((SELECT row_hash FROM recon.audit_log ORDER BY chain_seq DESC LIMIT 1),
                pg_catalog.repeat('0', 64))
  FROM recon.audit_log;

ALTER TABLE recon.audit_log ADD COLUMN key_id text;
COMMENT ON COLUMN recon.audit_log.key_id IS
    'fingerprint of the recon.audit_key_file key that made row_hash an HMAC (NULL: plain SHA-256)';

-- key_id NULL: SHA-256; else HMAC-SHA-256 with that key of recon.audit_key_file.
CREATE FUNCTION recon._audit_hash(key_id text, data text) RETURNS text
    AS 'MODULE_PATHNAME', 'recon_audit_hash' LANGUAGE C;
CREATE FUNCTION recon._audit_key_id() RETURNS text
    AS 'MODULE_PATHNAME', 'recon_audit_key_id' LANGUAGE C;
-- Queues the server-log copy of a row; it is written when the transaction commits.
CREATE FUNCTION recon._audit_queue(seq bigint, row_hash text, action text, content text)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_audit_queue' LANGUAGE C STRICT;

-- 0.1.0's content with every name qualified and no SET clause, so that the
-- planner inlines it (a SET clause made each call parse and plan its body).
-- STABLE, as extract() on a timestamptz is.  The text is unchanged.
CREATE OR REPLACE FUNCTION recon._audit_content(a recon.audit_log) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'seq', a.chain_seq, 'at', extract(epoch FROM a.at),
        'session_user', a.session_user_name, 'actor', a.actor,
        'action', a.action, 'mapping', a.mapping_name, 'run', a.run_id,
        'divergence', a.divergence_id, 'repair', a.repair_id,
        'reason', a.reason, 'detail', a.detail,
        'before', a.before_hash, 'after', a.after_hash)::pg_catalog.text
$$;

CREATE OR REPLACE FUNCTION recon._audit_chain() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head recon.audit_chain_head;
    tail record;
    content text;
BEGIN
    -- One writer at a time extends the chain: a row lock on the head, which
    -- only the extension owner can take (unlike a session-level lock key).
    SELECT * INTO head FROM recon.audit_chain_head FOR UPDATE;
    -- Rows this statement wrote already lie past the head: the head moves
    -- once per statement (audit_chain_advance), not once per row, whose row
    -- versions each later lock would walk (quadratic in a run's rows).  The
    -- first row of a statement still links to the head, so rows removed
    -- from the chain's end are seen.
    SELECT a.chain_seq, a.row_hash INTO tail FROM recon.audit_log a
     WHERE a.chain_seq > head.chain_seq ORDER BY a.chain_seq DESC LIMIT 1;
    IF FOUND THEN
        head.chain_seq := tail.chain_seq;
        head.row_hash := tail.row_hash;
    END IF;
    NEW.chain_seq := head.chain_seq + 1;
    NEW.prev_hash := head.row_hash;
    NEW.key_id := recon._audit_key_id();
    content := recon._audit_content(NEW);
    NEW.row_hash := recon._audit_hash(NEW.key_id, NEW.prev_hash || content);
    PERFORM recon._audit_queue(NEW.chain_seq, NEW.row_hash, NEW.action, content);
    RETURN NEW;
END
$$;

-- Moves the head to the chain's last row after each statement that wrote
-- rows (the statement's row triggers hold the head's lock).
CREATE FUNCTION recon._audit_chain_advance() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE tail record;
BEGIN
    SELECT a.chain_seq, a.row_hash INTO tail
      FROM recon.audit_log a, recon.audit_chain_head h
     WHERE a.chain_seq > h.chain_seq ORDER BY a.chain_seq DESC LIMIT 1;
    IF FOUND THEN
        UPDATE recon.audit_chain_head SET chain_seq = tail.chain_seq, row_hash = tail.row_hash;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_chain_advance AFTER INSERT ON recon.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION recon._audit_chain_advance();
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain_advance;

DROP FUNCTION recon.verify_audit();
CREATE FUNCTION recon.verify_audit(anchor_seq bigint DEFAULT NULL, anchor_hash text DEFAULT NULL,
                                   OUT ok boolean, OUT checked bigint, OUT first_bad_id bigint,
                                   OUT reason text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r recon.audit_log;
    expect_prev text := repeat('0', 64);
    expect_seq bigint := 1;
    keyed boolean := recon._audit_key_id() IS NOT NULL;
    seen_keyed boolean := false;
    anchor_found boolean := false;
    head recon.audit_chain_head;
BEGIN
    ok := true; checked := 0; first_bad_id := NULL; reason := NULL;
    IF (anchor_seq IS NULL) <> (anchor_hash IS NULL) THEN
        RAISE EXCEPTION 'anchor_seq and anchor_hash go together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass both, as returned by recon.audit_head(), or neither.';
    END IF;
    FOR r IN SELECT * FROM recon.audit_log ORDER BY chain_seq LOOP
        checked := checked + 1;
        IF r.chain_seq <> expect_seq THEN
            reason := format('row %s missing before this row', expect_seq);
        ELSIF r.prev_hash <> expect_prev THEN
            reason := 'prev_hash does not link to the previous row';
        ELSIF r.key_id IS NULL AND seen_keyed THEN
            reason := 'an unkeyed row after keyed rows';
        ELSIF r.row_hash IS DISTINCT FROM
              recon._audit_hash(r.key_id, r.prev_hash || recon._audit_content(r)) THEN
            reason := 'row_hash does not match the row';
        END IF;
        IF reason IS NOT NULL THEN
            ok := false; first_bad_id := r.audit_id;
            RETURN;
        END IF;
        seen_keyed := seen_keyed OR r.key_id IS NOT NULL;
        IF r.chain_seq = anchor_seq THEN
            IF r.row_hash <> anchor_hash THEN
                ok := false; first_bad_id := r.audit_id;
                reason := 'the anchor row has another hash now';
                RETURN;
            END IF;
            anchor_found := true;
        END IF;
        expect_prev := r.row_hash;
        expect_seq := expect_seq + 1;
    END LOOP;
    IF anchor_seq IS NOT NULL AND NOT anchor_found THEN
        ok := false;
        reason := 'the anchor row is no longer in the chain';
        RETURN;
    END IF;
    SELECT * INTO head FROM recon.audit_chain_head;
    IF head.chain_seq <> expect_seq - 1 OR head.row_hash <> expect_prev THEN
        ok := false;
        reason := 'the chain does not end at its recorded head: rows were removed from its end';
        RETURN;
    END IF;
    IF keyed AND checked > 0 AND NOT seen_keyed THEN
        ok := false;
        reason := 'recon.audit_key_file is set but no row is keyed: call recon.rotate_audit_key()';
    END IF;
END
$$;

CREATE FUNCTION recon.audit_head(OUT chain_seq bigint, OUT row_hash text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.chain_seq, a.row_hash FROM recon.audit_log a ORDER BY a.chain_seq DESC LIMIT 1
$$;

-- Records that the audit key changed (or was set): the first row under the new key.
CREATE FUNCTION recon.rotate_audit_key(note text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'recon_rotate_audit_key' LANGUAGE C;

------------------------------------------------------------------------
-- Entry points added in 0.2.0
------------------------------------------------------------------------
-- What recon writes for a value, as canonical extended JSON {"v": ...}.
CREATE FUNCTION recon.bson_of(value anyelement, options jsonb DEFAULT '{}')
    RETURNS text AS 'MODULE_PATHNAME', 'recon_bson_of' LANGUAGE C;

-- Columns added to, or changed in, mapped sources since their mapping accepted them.
CREATE VIEW recon.schema_drift AS
SELECT m.name AS mapping, a.attname::text AS column_name, 'added (not compared)'::text AS change
  FROM recon.mappings m
  JOIN pg_catalog.pg_attribute a ON a.attrelid = m.source AND a.attnum > 0 AND NOT a.attisdropped
 WHERE m.columns IS NOT NULL AND NOT m.columns ? a.attname
   AND NOT coalesce(m.options->'exclude', '[]') ? a.attname
UNION ALL
SELECT m.name, c.key, CASE WHEN a.attname IS NULL THEN 'dropped or renamed' ELSE 'changed type' END
  FROM recon.mappings m
  CROSS JOIN LATERAL jsonb_each_text(m.columns) c
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = m.source AND a.attname = c.key AND NOT a.attisdropped
 WHERE m.columns IS NOT NULL AND (a.attname IS NULL OR a.atttypid::text <> c.value);

CREATE FUNCTION recon.alter_mapping_owner(name text, new_owner regrole)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_alter_mapping_owner' LANGUAGE C STRICT;

-- Samples: a run of kind 'sample' and its estimate.
ALTER TABLE recon.runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE recon.runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('sweep', 'cdc', 'sample'));
ALTER TABLE recon.runs ADD COLUMN estimate jsonb;
COMMENT ON COLUMN recon.runs.estimate IS
    'a sample''s estimated divergence rates and their 95 % Wilson intervals';
CREATE FUNCTION recon.sample(mapping text, "rows" integer DEFAULT 1000, documents integer DEFAULT NULL,
                             seed integer DEFAULT NULL,
                             OUT run_id bigint, OUT rows_sampled bigint, OUT rows_divergent bigint,
                             OUT divergence_rate float8, OUT rate_low float8, OUT rate_high float8,
                             OUT documents_sampled bigint, OUT documents_extra bigint,
                             OUT extra_rate float8, OUT extra_low float8, OUT extra_high float8)
    AS 'MODULE_PATHNAME', 'recon_sample' LANGUAGE C;

-- One row per mapping: is it healthy, and if not, why (for dashboards and
-- postgres_exporter: see monitoring/postgres_exporter.yml).
CREATE VIEW recon.health AS
SELECT m.name AS mapping,
       r.run_id AS last_run_id,
       r.kind AS last_run_kind,
       r.status AS last_run_status,
       r.finished_at AS last_run_at,
       extract(epoch FROM pg_catalog.clock_timestamp() - r.finished_at)::bigint AS last_run_age_seconds,
       (SELECT count(*) FROM recon.divergences d
         WHERE d.mapping_id = m.mapping_id AND d.status = 'open') AS open_divergences,
       (SELECT count(*) FROM recon.repairs p
         WHERE p.mapping_id = m.mapping_id AND p.status = 'planned' AND p.needs_approval) AS awaiting_approval,
       (SELECT count(*) FROM recon.repairs p
         WHERE p.mapping_id = m.mapping_id AND p.status = 'applying') AS in_doubt_repairs,
       (SELECT count(*) FROM recon.repairs p
         WHERE p.mapping_id = m.mapping_id AND p.status = 'failed') AS failed_repairs,
       (SELECT count(*) FROM recon.schema_drift s WHERE s.mapping = m.name) AS drifted_columns,
       m.cdc_enabled,
       c.lag_seconds AS cdc_lag_seconds,
       c.retained_wal_bytes AS cdc_retained_wal_bytes,
       c.broken AS cdc_broken,
       COALESCE(c.quarantined, 0) AS cdc_quarantined,
       ARRAY(SELECT p FROM pg_catalog.unnest(ARRAY[
           CASE WHEN r.run_id IS NULL THEN 'never checked' END,
           CASE WHEN r.status = 'failed' THEN 'last run failed' END,
           CASE WHEN r.status = 'gated' THEN 'last run tripped the quality gate' END,
           CASE WHEN EXISTS (SELECT 1 FROM recon.schema_drift s WHERE s.mapping = m.name)
                THEN 'schema drift' END,
           CASE WHEN c.broken IS NOT NULL THEN 'change checks suspended' END,
           CASE WHEN COALESCE(c.quarantined, 0) > 0 THEN 'quarantined keys' END,
           CASE WHEN EXISTS (SELECT 1 FROM recon.repairs p WHERE p.mapping_id = m.mapping_id
                                AND p.status = 'applying') THEN 'repairs in doubt' END
         ]) AS p WHERE p IS NOT NULL) AS problems
  FROM recon.mappings m
  LEFT JOIN LATERAL (SELECT run_id, kind, status, finished_at FROM recon.runs x
                      WHERE x.mapping_id = m.mapping_id AND x.kind IN ('sweep', 'sample')
                        AND x.status <> 'running'
                      ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN recon.cdc_status c ON c.mapping = m.name;
COMMENT ON VIEW recon.health IS
    'one row per mapping: last sweep or sample, open divergences, repairs waiting or in doubt, drift, change checks; problems is empty when healthy';

-- recon.health with what a pager alerts on: divergences by kind, the age of
-- the oldest, and one status (ok, warning, critical).
CREATE VIEW recon.mapping_health AS
SELECT h.*,
       d.open_missing, d.open_extra, d.open_mismatch,
       extract(epoch FROM pg_catalog.clock_timestamp() - d.oldest_open)::bigint
           AS oldest_open_divergence_age_seconds,
       CASE WHEN h.last_run_status IN ('failed', 'gated') OR h.cdc_broken IS NOT NULL
                 OR h.in_doubt_repairs > 0 THEN 'critical'
            WHEN pg_catalog.cardinality(h.problems) > 0 OR h.open_divergences > 0
                 OR h.awaiting_approval > 0 OR h.failed_repairs > 0 THEN 'warning'
            ELSE 'ok' END AS status
  FROM recon.health h
  JOIN recon.mappings m ON m.name = h.mapping
  LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE kind = 'missing') AS open_missing,
                            count(*) FILTER (WHERE kind = 'extra') AS open_extra,
                            count(*) FILTER (WHERE kind = 'mismatch') AS open_mismatch,
                            min(first_seen) AS oldest_open
                       FROM recon.divergences x
                      WHERE x.mapping_id = m.mapping_id AND x.status = 'open') d ON true;
COMMENT ON VIEW recon.mapping_health IS
    'recon.health plus open divergences by kind, the age of the oldest, and status: critical (last run failed or gated, change checks suspended, repairs in doubt), warning (any other problem, open divergences, repairs waiting), ok';

-- Running sweeps and samples (shared memory; needs recon in
-- shared_preload_libraries), as pg_stat_progress_* show commands.
CREATE FUNCTION recon.sweep_progress_slots(OUT pid integer, OUT mapping_id bigint, OUT mapping text,
        OUT run_id bigint, OUT kind text, OUT phase text, OUT started_at timestamptz,
        OUT phase_started_at timestamptz, OUT rows_read bigint, OUT docs_read bigint,
        OUT rows_estimate double precision, OUT candidates bigint, OUT divergences bigint,
        OUT range_no integer)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'recon_sweep_progress_slots' LANGUAGE C;
CREATE VIEW recon.sweep_progress AS
SELECT s.pid, s.mapping, NULLIF(s.run_id, 0) AS run_id, s.kind, s.phase,
       s.rows_read, s.docs_read, s.rows_estimate::bigint AS rows_estimate,
       s.candidates, s.divergences,
       pg_catalog.clock_timestamp() - s.started_at AS elapsed,
       pg_catalog.clock_timestamp() - s.phase_started_at AS in_phase,
       CASE WHEN s.rows_estimate > 0 THEN
            least(100, round((100 * (s.rows_read + s.docs_read) / (2 * s.rows_estimate))::numeric, 1))
       END AS read_percent,
       -- the reading phases, extrapolated; re-checks and recording come after
       CASE WHEN s.rows_estimate > 0 AND s.rows_read + s.docs_read > 0
                 AND s.phase IN ('reading source', 'reading collection')
                 AND s.rows_read + s.docs_read < 2 * s.rows_estimate THEN
            (pg_catalog.clock_timestamp() - s.started_at)
              * ((2 * s.rows_estimate - s.rows_read - s.docs_read) / (s.rows_read + s.docs_read))
       END AS reading_eta,
       s.range_no
  FROM recon.sweep_progress_slots() s;
COMMENT ON VIEW recon.sweep_progress IS
    'one row per running sweep or sample of this database (one per worker of a range sweep, with the range it is on): phase, rows and documents read, candidates and divergences so far, elapsed time and an estimate of the reading that remains';

-- What a sweep would say of one document (raw BSON, or extended JSON),
-- compared with its row read as the mapping's owner.
CREATE FUNCTION recon.compare_document(mapping text, document bytea,
                                       OUT kind text, OUT fields text[], OUT reason text)
    AS 'MODULE_PATHNAME', 'recon_compare_document_bson' LANGUAGE C STRICT;
CREATE FUNCTION recon.compare_document(mapping text, document text,
                                       OUT kind text, OUT fields text[], OUT reason text)
    AS 'MODULE_PATHNAME', 'recon_compare_document_json' LANGUAGE C STRICT;

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------
REVOKE ALL ON recon.redaction_key, recon.audit_chain_head FROM PUBLIC;
REVOKE ALL ON FUNCTION recon._random_bytes(integer), recon._audit_hash(text, text),
                       recon._audit_key_id(), recon._audit_chain_advance(),
                       recon._audit_queue(bigint, text, text, text),
                       recon.verify_audit(bigint, text), recon.audit_head(),
                       recon.rotate_audit_key(text), recon.alter_mapping_owner(text, regrole)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.verify_audit(bigint, text), recon.audit_head() TO recon_auditor;
GRANT EXECUTE ON FUNCTION recon.alter_mapping_owner(text, regrole) TO recon_admin;
REVOKE ALL ON FUNCTION recon.compare_document(text, bytea), recon.compare_document(text, text),
                       recon.sample(text, integer, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.sample(text, integer, integer, integer) TO recon_operator;
GRANT EXECUTE ON FUNCTION recon.compare_document(text, bytea), recon.compare_document(text, text)
    TO recon_operator;
REVOKE ALL ON FUNCTION recon.bson_of(anyelement, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.bson_of(anyelement, jsonb)
    TO recon_admin, recon_operator, recon_approver, recon_auditor;
GRANT SELECT ON recon.schema_drift TO recon_admin, recon_operator, recon_auditor;
REVOKE ALL ON FUNCTION recon._slot_name() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon._slot_name() TO recon_admin, recon_operator, recon_approver, recon_auditor;
REVOKE ALL ON recon.health FROM PUBLIC;
GRANT SELECT ON recon.health TO recon_admin, recon_operator, recon_approver, recon_auditor;
REVOKE ALL ON recon.mapping_health, recon.sweep_progress FROM PUBLIC;
REVOKE ALL ON FUNCTION recon.sweep_progress_slots() FROM PUBLIC;
GRANT SELECT ON recon.mapping_health TO recon_admin, recon_operator, recon_approver, recon_auditor;
GRANT SELECT ON recon.sweep_progress TO recon_admin, recon_operator, recon_auditor;
GRANT EXECUTE ON FUNCTION recon.sweep_progress_slots() TO recon_admin, recon_operator, recon_auditor;
REVOKE ALL ON recon.cdc_quarantine FROM PUBLIC;
GRANT SELECT ON recon.cdc_quarantine TO recon_admin, recon_operator, recon_auditor;
GRANT DELETE ON recon.cdc_quarantine TO recon_admin, recon_operator;

-- The change worker writes one recon.cdc_queue row per changed key; checking
-- a foreign key for each of them cost a third of that write.  drop_mapping
-- deletes a mapping's queue rows itself (the cascade did before).
ALTER TABLE recon.cdc_queue DROP CONSTRAINT cdc_queue_mapping_id_fkey;

-- Every mapping option: its type, default (as written in the options, or
-- "none"), what it accepts and what it does; validation reads the same table.
CREATE FUNCTION recon.mapping_options()
    RETURNS TABLE(name text, type text, default_value text, accepted text, description text)
    AS 'MODULE_PATHNAME', 'recon_mapping_options' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION recon.mapping_options() IS
    'the mapping options add_mapping and alter_mapping accept (doc/mappings.md)';
REVOKE ALL ON FUNCTION recon.mapping_options() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.mapping_options()
    TO recon_admin, recon_operator, recon_approver, recon_auditor;

------------------------------------------------------------------------
-- Range sweeps (issue 11): a sweep split into _id ranges, each a unit of
-- work recorded here, resumable and swept by parallel workers.
------------------------------------------------------------------------
ALTER TABLE recon.runs ADD COLUMN ranges integer;
ALTER TABLE recon.runs ADD COLUMN workers integer;
ALTER TABLE recon.runs ADD COLUMN abandoned_at timestamptz;
COMMENT ON COLUMN recon.runs.ranges IS
    'a range sweep: its units of work in recon.sweep_ranges (NULL: a single pass)';
COMMENT ON COLUMN recon.runs.workers IS
    'a range sweep: its background workers (0: swept in the foreground by recon.range_sweep)';
COMMENT ON COLUMN recon.runs.abandoned_at IS
    'a range sweep given up by recon.abandon_sweep (status failed, error says who and why)';

CREATE TABLE recon.sweep_ranges (
    run_id           bigint NOT NULL REFERENCES recon.runs ON DELETE CASCADE,
    range_no         integer NOT NULL,
    kind             text NOT NULL DEFAULT 'range' CHECK (kind IN ('range', 'other_types')),
    lower_key        jsonb,
    upper_key        jsonb,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'abandoned')),
    worker_pid       integer,
    attempts         integer NOT NULL DEFAULT 0,
    started_at       timestamptz,
    finished_at      timestamptz,
    rows_source      bigint NOT NULL DEFAULT 0,
    docs_target      bigint NOT NULL DEFAULT 0,
    candidates       bigint NOT NULL DEFAULT 0,
    divergences      bigint NOT NULL DEFAULT 0,
    new_divergences  bigint NOT NULL DEFAULT 0,
    repairs_planned  bigint NOT NULL DEFAULT 0,
    duplicate_keys   bigint NOT NULL DEFAULT 0,
    duplicate_key    text,
    PRIMARY KEY (run_id, range_no)
);
COMMENT ON TABLE recon.sweep_ranges IS
    'the units of work of range sweeps: keys in [lower_key, upper_key) (NULL: open), or the documents whose _id is of another type (kind other_types); a range is done when its records committed';
COMMENT ON COLUMN recon.sweep_ranges.status IS
    'pending, running (claimed by worker_pid; taken over when that worker is gone), done, or abandoned (recon.abandon_sweep)';

DROP FUNCTION recon.start_sweep(text);
CREATE FUNCTION recon.start_sweep(mapping text, workers integer DEFAULT 1)
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_start_sweep' LANGUAGE C;
CREATE PROCEDURE recon.range_sweep(mapping text, ranges integer DEFAULT NULL,
                                   INOUT run_id bigint DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'recon_range_sweep' LANGUAGE C;
CREATE PROCEDURE recon.resume_sweep(run_id bigint)
    AS 'MODULE_PATHNAME', 'recon_resume_sweep' LANGUAGE C;
CREATE FUNCTION recon.abandon_sweep(run_id bigint, reason text)
    RETURNS integer AS 'MODULE_PATHNAME', 'recon_abandon_sweep' LANGUAGE C;

REVOKE ALL ON recon.sweep_ranges FROM PUBLIC;
GRANT SELECT ON recon.sweep_ranges TO recon_admin, recon_operator, recon_approver, recon_auditor;
REVOKE ALL ON FUNCTION recon.start_sweep(text, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE recon.range_sweep(text, integer, bigint), recon.resume_sweep(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.start_sweep(text, integer) TO recon_operator;
GRANT EXECUTE ON PROCEDURE recon.range_sweep(text, integer, bigint), recon.resume_sweep(bigint)
    TO recon_operator;
REVOKE ALL ON FUNCTION recon.abandon_sweep(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.abandon_sweep(bigint, text) TO recon_operator;
