/* recon 0.1.0 — catalog, audit chain, roles and SQL entry points. */

\echo Use "CREATE EXTENSION recon" to load this file. \quit

------------------------------------------------------------------------
-- Roles (cluster-wide: created once, reused by every database)
------------------------------------------------------------------------
DO $roles$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['recon_admin', 'recon_operator',
                             'recon_approver', 'recon_auditor']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

------------------------------------------------------------------------
-- Targets: the foreign-data wrapper only validates options.
------------------------------------------------------------------------
CREATE FUNCTION recon._fdw_validator(text[], oid) RETURNS void
    AS 'MODULE_PATHNAME', 'recon_fdw_validator' LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER recon_mongo VALIDATOR recon._fdw_validator;
GRANT USAGE ON FOREIGN DATA WRAPPER recon_mongo TO recon_admin;

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------
CREATE TABLE recon.mappings (
    mapping_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    source       regclass NOT NULL,
    server_name  text NOT NULL,
    collection   text NOT NULL,
    key_columns  text[] NOT NULL,
    options      jsonb NOT NULL DEFAULT '{}',
    cdc_enabled  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (server_name, collection)
);

CREATE TABLE recon.runs (
    run_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mapping_id       bigint NOT NULL REFERENCES recon.mappings ON DELETE CASCADE,
    mapping_name     text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('sweep', 'cdc')),
    status           text NOT NULL CHECK (status IN ('running', 'finished', 'gated', 'failed')),
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at      timestamptz,
    started_by       text NOT NULL,
    rows_source      bigint NOT NULL DEFAULT 0,
    docs_target      bigint NOT NULL DEFAULT 0,
    candidates       bigint NOT NULL DEFAULT 0,
    divergences      bigint NOT NULL DEFAULT 0,
    new_divergences  bigint NOT NULL DEFAULT 0,
    resolved         bigint NOT NULL DEFAULT 0,
    repairs_planned  bigint NOT NULL DEFAULT 0,
    gate_reason      text,
    error            text
);

CREATE TABLE recon.divergences (
    divergence_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mapping_id     bigint NOT NULL REFERENCES recon.mappings ON DELETE CASCADE,
    first_run_id   bigint NOT NULL REFERENCES recon.runs,
    last_run_id    bigint NOT NULL REFERENCES recon.runs,
    kind           text NOT NULL CHECK (kind IN ('missing', 'extra', 'mismatch')),
    key            jsonb NOT NULL,
    key_canon      bytea NOT NULL,
    fields         text[] NOT NULL DEFAULT '{}',
    source_hash    text,
    target_hash    text,
    source_image   jsonb,
    target_image   jsonb,
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'resolved', 'repaired')),
    first_seen     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    closed_at      timestamptz
);
CREATE UNIQUE INDEX divergences_open_key
    ON recon.divergences (mapping_id, key_canon) WHERE status = 'open';
CREATE INDEX divergences_last_run ON recon.divergences (last_run_id);

CREATE TABLE recon.repairs (
    repair_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    divergence_id   bigint NOT NULL REFERENCES recon.divergences,
    run_id          bigint NOT NULL REFERENCES recon.runs,
    mapping_id      bigint NOT NULL REFERENCES recon.mappings ON DELETE CASCADE,
    action          text NOT NULL CHECK (action IN ('insert', 'update', 'replace', 'delete')),
    operation       jsonb NOT NULL,
    needs_approval  boolean NOT NULL,
    approval_reason text,
    status          text NOT NULL DEFAULT 'planned'
                    CHECK (status IN ('planned', 'approved', 'rejected', 'applying',
                                      'verified', 'conflict', 'failed', 'superseded')),
    planned_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_by      text,
    decided_at      timestamptz,
    decision_note   text,
    attempts        integer NOT NULL DEFAULT 0,
    applied_at      timestamptz,
    applied_by      text,
    written_hash    text,
    verified_hash   text,
    error           text
);
CREATE INDEX repairs_run ON recon.repairs (run_id, status);
CREATE UNIQUE INDEX repairs_one_live_per_divergence ON recon.repairs (divergence_id)
    WHERE status IN ('planned', 'approved', 'applying');

------------------------------------------------------------------------
-- Change-driven checks (logical decoding): the durable queue of changed
-- keys and the per-mapping worker state.
------------------------------------------------------------------------
CREATE TABLE recon.cdc_queue (
    mapping_id    bigint NOT NULL REFERENCES recon.mappings ON DELETE CASCADE,
    key_canon     bytea NOT NULL,          -- empty: the whole mapping needs a sweep
    key           text,                    -- the key as text, for people
    committed_at  timestamptz NOT NULL,    -- commit of the latest change of this key
    enqueued_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    due_at        timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (mapping_id, key_canon)
);
CREATE INDEX cdc_queue_due ON recon.cdc_queue (due_at);

CREATE TABLE recon.cdc_state (
    mapping_id       bigint PRIMARY KEY REFERENCES recon.mappings ON DELETE CASCADE,
    run_id           bigint REFERENCES recon.runs,
    worker_pid       integer,
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    changes          bigint NOT NULL DEFAULT 0,
    checks           bigint NOT NULL DEFAULT 0,
    divergences      bigint NOT NULL DEFAULT 0,
    errors           bigint NOT NULL DEFAULT 0,
    last_commit_at   timestamptz,
    last_check_at    timestamptz,
    last_error       text,
    last_error_at    timestamptz,
    audited_divergence_id bigint NOT NULL DEFAULT 0,
    audited_repair_id     bigint NOT NULL DEFAULT 0
);

------------------------------------------------------------------------
-- Audit log: append-only, hash-chained.
------------------------------------------------------------------------
CREATE TABLE recon.audit_log (
    audit_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_seq      bigint NOT NULL UNIQUE,
    at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_user_name text NOT NULL DEFAULT pg_catalog."session_user"(),
    actor          text NOT NULL,
    action         text NOT NULL,
    mapping_name   text,
    run_id         bigint,
    divergence_id  bigint,
    repair_id      bigint,
    reason         text,
    detail         jsonb NOT NULL DEFAULT '{}',
    before_hash    text,
    after_hash     text,
    prev_hash      text NOT NULL,
    row_hash       text NOT NULL
);

-- The content a row's hash covers, in a representation that does not
-- depend on DateStyle, TimeZone or column order.
CREATE FUNCTION recon._audit_content(a recon.audit_log) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'seq', a.chain_seq, 'at', extract(epoch FROM a.at),
        'session_user', a.session_user_name, 'actor', a.actor,
        'action', a.action, 'mapping', a.mapping_name, 'run', a.run_id,
        'divergence', a.divergence_id, 'repair', a.repair_id,
        'reason', a.reason, 'detail', a.detail,
        'before', a.before_hash, 'after', a.after_hash)::text
$$;

CREATE FUNCTION recon._audit_emit(text, text) RETURNS void
    AS 'MODULE_PATHNAME', 'recon_audit_emit' LANGUAGE C STRICT;

CREATE FUNCTION recon._audit_chain() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE last recon.audit_log;
BEGIN
    -- One writer at a time extends the chain; held to commit.
    PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('recon.audit_log')::bigint);
    SELECT * INTO last FROM recon.audit_log ORDER BY chain_seq DESC LIMIT 1;
    NEW.chain_seq := COALESCE(last.chain_seq, 0) + 1;
    NEW.prev_hash := COALESCE(last.row_hash, repeat('0', 64));
    NEW.row_hash := encode(sha256(convert_to(NEW.prev_hash || recon._audit_content(NEW), 'UTF8')), 'hex');
    PERFORM recon._audit_emit(NEW.action, recon._audit_content(NEW));
    RETURN NEW;
END
$$;

CREATE FUNCTION recon._audit_refuse() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'recon.audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on the audit log is refused for every role.', TG_OP),
              HINT = 'Audit rows are never changed or removed; verify them with recon.verify_audit().';
END
$$;

CREATE TRIGGER audit_chain BEFORE INSERT ON recon.audit_log
    FOR EACH ROW EXECUTE FUNCTION recon._audit_chain();
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON recon.audit_log
    FOR EACH ROW EXECUTE FUNCTION recon._audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON recon.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION recon._audit_refuse();
-- Fire in replica mode too (session_replication_role = replica).
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_chain;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_update;
ALTER TABLE recon.audit_log ENABLE ALWAYS TRIGGER audit_no_truncate;

CREATE FUNCTION recon.verify_audit(OUT ok boolean, OUT checked bigint, OUT first_bad_id bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r recon.audit_log;
    expect_prev text := repeat('0', 64);
    expect_seq bigint := 1;
BEGIN
    ok := true; checked := 0; first_bad_id := NULL;
    FOR r IN SELECT * FROM recon.audit_log ORDER BY chain_seq LOOP
        checked := checked + 1;
        IF r.chain_seq <> expect_seq            -- a row was removed
           OR r.prev_hash <> expect_prev        -- reordered or relinked
           OR r.row_hash <> encode(sha256(convert_to(r.prev_hash || recon._audit_content(r), 'UTF8')), 'hex')
        THEN
            ok := false; first_bad_id := r.audit_id;
            RETURN;
        END IF;
        expect_prev := r.row_hash;
        expect_seq := expect_seq + 1;
    END LOOP;
END
$$;

------------------------------------------------------------------------
-- Entry points (C).  Each checks the caller's recon role itself and
-- then works as the extension owner with a pinned search_path.
------------------------------------------------------------------------
CREATE FUNCTION recon.add_mapping(name text, source text, server text,
                                  collection text, key text[] DEFAULT NULL,
                                  options jsonb DEFAULT '{}')
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_add_mapping' LANGUAGE C;
CREATE FUNCTION recon.alter_mapping(name text, options jsonb)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_alter_mapping' LANGUAGE C STRICT;
CREATE FUNCTION recon.drop_mapping(name text)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_drop_mapping' LANGUAGE C STRICT;

CREATE FUNCTION recon.sweep(mapping text)
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_sweep' LANGUAGE C STRICT;

CREATE PROCEDURE recon.apply_repairs(run_id bigint)
    AS 'MODULE_PATHNAME', 'recon_apply_repairs' LANGUAGE C;
CREATE FUNCTION recon.approve_repairs(run_id bigint, repair_ids bigint[] DEFAULT NULL,
                                      note text DEFAULT NULL)
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_approve_repairs' LANGUAGE C;
CREATE FUNCTION recon.reject_repairs(run_id bigint, repair_ids bigint[] DEFAULT NULL,
                                     note text DEFAULT NULL)
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_reject_repairs' LANGUAGE C;

CREATE FUNCTION recon.start_sweep(mapping text)
    RETURNS bigint AS 'MODULE_PATHNAME', 'recon_start_sweep' LANGUAGE C STRICT;
CREATE FUNCTION recon.enable_cdc(mapping text)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_enable_cdc' LANGUAGE C STRICT;
CREATE FUNCTION recon.disable_cdc(mapping text)
    RETURNS void AS 'MODULE_PATHNAME', 'recon_disable_cdc' LANGUAGE C STRICT;

CREATE VIEW recon.cdc_status AS
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
       st.worker_pid, st.run_id
  FROM recon.mappings m
  LEFT JOIN recon.cdc_state st USING (mapping_id)
  LEFT JOIN pg_catalog.pg_replication_slots s
         ON s.slot_name = 'recon_' || (SELECT oid FROM pg_catalog.pg_database
                                        WHERE datname = pg_catalog.current_database())
  LEFT JOIN (SELECT mapping_id, count(*) AS depth, min(committed_at) AS oldest
               FROM recon.cdc_queue GROUP BY mapping_id) q USING (mapping_id)
 WHERE m.cdc_enabled;

-- Diagnostics: how recon compares one value with one BSON value
-- (given as MongoDB extended JSON, e.g. '{"v": {"$numberDouble": "0.1"}}').
CREATE FUNCTION recon.value_matches(value anyelement, bson_json text,
                                    options jsonb DEFAULT '{}')
    RETURNS boolean AS 'MODULE_PATHNAME', 'recon_value_matches' LANGUAGE C;
CREATE FUNCTION recon.canonical_form(value anyelement, options jsonb DEFAULT '{}')
    RETURNS text AS 'MODULE_PATHNAME', 'recon_canonical_form_datum' LANGUAGE C;
CREATE FUNCTION recon.canonical_form_bson(bson_json text, type regtype,
                                          options jsonb DEFAULT '{}')
    RETURNS text AS 'MODULE_PATHNAME', 'recon_canonical_form_bson' LANGUAGE C;

-- Reads one target document by mapping key (read-only diagnostics).
CREATE FUNCTION recon.fetch_document(mapping text, key jsonb)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'recon_fetch_document' LANGUAGE C STRICT;

------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; each role gets its part.
------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA recon FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA recon FROM PUBLIC;
REVOKE ALL ON PROCEDURE recon.apply_repairs(bigint) FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON recon.audit_log FROM CURRENT_USER;
GRANT USAGE ON SCHEMA recon TO recon_admin, recon_operator, recon_approver, recon_auditor;

GRANT SELECT ON recon.mappings TO recon_admin, recon_operator, recon_approver, recon_auditor;
GRANT SELECT ON recon.runs, recon.divergences, recon.repairs
    TO recon_operator, recon_approver, recon_auditor;
GRANT SELECT ON recon.audit_log TO recon_auditor;
GRANT SELECT ON recon.cdc_status, recon.cdc_queue, recon.cdc_state
    TO recon_admin, recon_operator, recon_auditor;

GRANT EXECUTE ON FUNCTION recon.add_mapping(text, text, text, text, text[], jsonb),
                          recon.alter_mapping(text, jsonb),
                          recon.drop_mapping(text)
    TO recon_admin;
GRANT EXECUTE ON FUNCTION recon.sweep(text), recon.start_sweep(text) TO recon_operator;
GRANT EXECUTE ON FUNCTION recon.enable_cdc(text), recon.disable_cdc(text) TO recon_admin;
GRANT EXECUTE ON PROCEDURE recon.apply_repairs(bigint) TO recon_operator;
GRANT EXECUTE ON FUNCTION recon.approve_repairs(bigint, bigint[], text),
                          recon.reject_repairs(bigint, bigint[], text)
    TO recon_approver;
GRANT EXECUTE ON FUNCTION recon.verify_audit() TO recon_auditor;
GRANT EXECUTE ON FUNCTION recon._audit_content(recon.audit_log) TO recon_auditor;
GRANT EXECUTE ON FUNCTION recon.value_matches(anyelement, text, jsonb),
                          recon.canonical_form(anyelement, jsonb),
                          recon.canonical_form_bson(text, regtype, jsonb)
    TO recon_admin, recon_operator, recon_approver, recon_auditor;
GRANT EXECUTE ON FUNCTION recon.fetch_document(text, jsonb) TO recon_operator;
