--
-- monitoring: recon.health says, per mapping, whether it is healthy and why not.
--
\! mongo_tool drop rt_mon.h
CREATE TABLE mon_h (id int PRIMARY KEY, v text);
INSERT INTO mon_h VALUES (1, 'a'), (2, 'b');
\! printf '%s\n' '{"_id": 1, "v": "a"}' '{"_id": 2, "v": "changed"}' | mongo_tool insert rt_mon.h
SELECT recon.add_mapping('mon_h', 'public.mon_h', 'mongo1', 'rt_mon.h', options => '{"repair": "approve"}') > 0 AS added;
-- never checked
SELECT mapping, last_run_id IS NULL AS no_run, open_divergences, problems FROM recon.health WHERE mapping = 'mon_h';
SELECT mapping, status FROM recon.mapping_health WHERE mapping = 'mon_h';
-- a sweep with one divergence: its repair waits for approval, nothing is wrong with the mapping
SELECT recon.sweep('mon_h') > 0 AS swept;
SELECT mapping, last_run_kind, last_run_status, last_run_age_seconds >= 0 AS aged, open_divergences,
       awaiting_approval, in_doubt_repairs, failed_repairs, drifted_columns, cdc_enabled, problems
  FROM recon.health WHERE mapping = 'mon_h';
-- one status a pager can alert on: a divergence waiting is a warning
SELECT status, open_missing, open_extra, open_mismatch, oldest_open_divergence_age_seconds >= 0 AS aged
  FROM recon.mapping_health WHERE mapping = 'mon_h';
-- the quality gate trips: the health row says so
SELECT recon.alter_mapping('mon_h', '{"max_divergence_ratio": 0.1}');
SELECT recon.sweep('mon_h') > 0 AS swept;
SELECT last_run_status, problems FROM recon.health WHERE mapping = 'mon_h';
SELECT status FROM recon.mapping_health WHERE mapping = 'mon_h';
-- a column added to the source is drift
ALTER TABLE mon_h ADD COLUMN extra int;
SELECT drifted_columns, problems FROM recon.health WHERE mapping = 'mon_h';
-- the monitoring roles may read it; PUBLIC may not
SELECT has_table_privilege('recon_auditor', 'recon.health', 'SELECT') AS auditor,
       has_table_privilege('public', 'recon.health', 'SELECT') AS public,
       has_table_privilege('recon_auditor', 'recon.mapping_health', 'SELECT') AS auditor_mh,
       has_table_privilege('recon_operator', 'recon.sweep_progress', 'SELECT') AS operator_progress,
       has_table_privilege('public', 'recon.sweep_progress', 'SELECT') AS public_progress;
-- a healthy mapping: in sync, swept, nothing waiting
SELECT recon.alter_mapping('mon_h', '{"max_divergence_ratio": null}') IS NOT NULL AS altered;
SELECT recon.alter_mapping('mon_h', '{}') IS NOT NULL AS accepted;
UPDATE mon_h SET v = 'changed' WHERE id = 2;
\! mongo_tool update rt_mon.h '{"_id": 2}' '{"$set": {"extra": null}}'
SELECT recon.sweep('mon_h') > 0 AS swept;
SELECT status, open_divergences, problems FROM recon.mapping_health WHERE mapping = 'mon_h';
-- no sweep is running now
SELECT count(*) AS running FROM recon.sweep_progress;
SELECT recon.drop_mapping('mon_h');
DROP TABLE mon_h;
