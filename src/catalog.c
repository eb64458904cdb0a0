/*
 * catalog.c — the one writer of recon's records: recon.runs,
 * recon.divergences, recon.repairs and recon.audit_log.
 *
 * Every state change of a run, a divergence or a repair, and every audit
 * row, is a function here, so each rule (how a run fails, which
 * divergences a sweep resolves, the quality gate, what an audit row of
 * each action holds) is written once.  Sweeps, samples, change checks and
 * repairs decide *what* happened; this file records it.  The audit chain's
 * links and hashes are added by the trigger recon._audit_chain (SQL) and
 * audit.c.  scripts/check_boundaries.sh fails the tests when another file
 * writes one of these tables.
 */
#include "postgres.h"

#include "catalog.h"
#include "mapping.h"
#include "recon.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

/* audit_log.action of each ReconAuditAction */
static const char *const audit_action_names[AUDIT_N_ACTIONS] = {
	[AUDIT_NONE] = NULL,
	[AUDIT_RUN_STARTED] = "run.started",
	[AUDIT_RUN_FINISHED] = "run.finished",
	[AUDIT_DIVERGENCE_OPENED] = "divergence.opened",
	[AUDIT_DIVERGENCE_CLOSED] = "divergence.closed",
	[AUDIT_REPAIR_PLANNED] = "repair.planned",
	[AUDIT_REPAIR_APPROVED] = "repair.approved",
	[AUDIT_REPAIR_REJECTED] = "repair.rejected",
	[AUDIT_REPAIR_APPLYING] = "repair.applying",
	[AUDIT_REPAIR_APPLIED] = "repair.applied",
	[AUDIT_REPAIR_VERIFIED] = "repair.verified",
	[AUDIT_REPAIR_CONFLICT] = "repair.conflict",
	[AUDIT_REPAIR_FAILED] = "repair.failed",
	[AUDIT_GATE_TRIPPED] = "gate.tripped",
	[AUDIT_GATE_WRITE_ERRORS] = "gate.write_errors",
	[AUDIT_MAPPING_CREATED] = "mapping.created",
	[AUDIT_MAPPING_ALTERED] = "mapping.altered",
	[AUDIT_MAPPING_DROPPED] = "mapping.dropped",
	[AUDIT_MAPPING_OWNER_CHANGED] = "mapping.owner_changed",
	[AUDIT_CDC_ENABLED] = "cdc.enabled",
	[AUDIT_CDC_DISABLED] = "cdc.disabled",
	[AUDIT_KEY_ROTATED] = "key.rotated",
	[AUDIT_RUN_RESUMED] = "run.resumed",
	[AUDIT_RUN_ABANDONED] = "run.abandoned",
};

/* The name audit_log.action holds for an action; an unset action is a bug. */
static const char *
recon_audit_action_name(ReconAuditAction action)
{
	if (action <= AUDIT_NONE || action >= AUDIT_N_ACTIONS || audit_action_names[action] == NULL)
		elog(ERROR, "recon: audit action %d has no name", (int) action);
	return audit_action_names[action];
}

/* An action name as an SPI text parameter. */
static Datum
action_datum(ReconAuditAction action)
{
	return CStringGetTextDatum(recon_audit_action_name(action));
}

/* ---------------------------------------------------------------------
 * Audit rows
 * --------------------------------------------------------------------- */

#define AUDIT_NARGS 10

/* Write one audit row; NULL/0 fields are stored as NULL. */
void
recon_audit(const ReconAudit *a)
{
	static const char *sql =
		"INSERT INTO recon.audit_log (actor, action, mapping_name, run_id, divergence_id,"
		" repair_id, reason, detail, before_hash, after_hash)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::jsonb, '{}'), $9, $10)";
	Oid			types[AUDIT_NARGS] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[AUDIT_NARGS];
	char		n[AUDIT_NARGS + 1];
	const char *texts[] = {a->actor, recon_audit_action_name(a->action), a->mapping};
	const char *more[] = {a->reason, a->detail, a->before_hash, a->after_hash};
	int64		ids[] = {a->run_id, a->divergence_id, a->repair_id};
	int			i;

	memset(n, ' ', AUDIT_NARGS);
	n[AUDIT_NARGS] = '\0';
	for (i = 0; i < 3; i++)
	{
		v[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		n[i] = texts[i] ? ' ' : 'n';
		v[3 + i] = Int64GetDatum(ids[i]);
		n[3 + i] = ids[i] ? ' ' : 'n';
	}
	for (i = 0; i < 4; i++)
	{
		v[6 + i] = more[i] ? CStringGetTextDatum(more[i]) : (Datum) 0;
		n[6 + i] = more[i] ? ' ' : 'n';
	}
	recon_spi_exec(sql, AUDIT_NARGS, types, v, n, SPI_OK_INSERT);
}

/*
 * Audit what a run recorded, in id order: the divergences it opened and
 * the repairs it planned (first_run_id/run_id = run_id, ids above the
 * given ones; with this_xact, only rows this transaction wrote: a range
 * of a range sweep).  Written at the run's end (a sweep), after each range
 * (a range sweep) or after each batch of checks (a change run), so the
 * chain's lock is held briefly.
 */
static void
audit_run_records(int64 mapping_id, int64 run_id, const char *actor, const char *opened_reason,
				  int64 after_divergence, int64 after_repair, bool this_xact,
				  int64 *last_divergence, int64 *last_repair)
{
	Oid			t[8] = {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, BOOLOID};
	Datum		v[8] = {Int64GetDatum(mapping_id), Int64GetDatum(run_id), CStringGetTextDatum(actor),
		CStringGetTextDatum(opened_reason), Int64GetDatum(after_divergence),
	Int64GetDatum(after_repair), action_datum(AUDIT_DIVERGENCE_OPENED), BoolGetDatum(this_xact)};
	Oid			t2[6] = {INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID, BOOLOID};
	Datum		v2[6] = {Int64GetDatum(run_id), CStringGetTextDatum(actor), Int64GetDatum(after_repair),
	action_datum(AUDIT_REPAIR_PLANNED), Int64GetDatum(mapping_id), BoolGetDatum(this_xact)};

	*last_divergence = recon_spi_int64("WITH a AS (INSERT INTO recon.audit_log (actor, action, mapping_name,"
									   " run_id, divergence_id, reason, detail, after_hash)"
									   " SELECT $3, $7, m.name, $2, d.divergence_id, $4,"
									   " jsonb_build_object('kind', d.kind, 'key', d.key, 'fields', d.fields,"
									   " 'source_hash', d.source_hash, 'target_hash', d.target_hash), d.target_hash"
									   " FROM recon.divergences d JOIN recon.mappings m USING (mapping_id)"
									   " WHERE d.first_run_id = $2 AND d.mapping_id = $1 AND d.divergence_id > $5"
									   " AND (NOT $8 OR d.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id()))"
									   " ORDER BY d.divergence_id RETURNING divergence_id)"
									   " SELECT coalesce(max(divergence_id), $5) FROM a", 8, t, v);
	*last_repair = recon_spi_int64("WITH a AS (INSERT INTO recon.audit_log (actor, action, mapping_name,"
								   " run_id, divergence_id, repair_id, reason, detail)"
								   " SELECT $2, $4, m.name, $1, r.divergence_id, r.repair_id,"
								   " coalesce(r.approval_reason, 'policy: auto'),"
								   " jsonb_build_object('action', r.action, 'operation', r.operation,"
								   " 'needs_approval', r.needs_approval)"
								   " FROM recon.repairs r JOIN recon.mappings m USING (mapping_id)"
								   " WHERE r.run_id = $1 AND r.mapping_id = $5 AND r.repair_id > $3"
								   " AND (NOT $6 OR r.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id()))"
								   " ORDER BY r.repair_id RETURNING repair_id)"
								   " SELECT coalesce(max(repair_id), $3) FROM a", 6, t2, v2);
}

/*
 * A change run's records not audited yet (cdc_state remembers the last
 * audited ids).
 */
void
recon_audit_change_run_records(const ReconMapping *m, int64 run_id, const char *actor)
{
	Oid			t[3] = {INT8OID, INT8OID, INT8OID};
	Datum		v[3] = {Int64GetDatum(m->id), 0, 0};
	int64		last_d,
				last_r;

	SPI_execute_with_args("SELECT audited_divergence_id, audited_repair_id FROM recon.cdc_state"
						  " WHERE mapping_id = $1", 1, t, v, NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "recon: mapping \"%s\" has no change-check state", m->name);
	{
		bool		isnull;
		int64		after_d = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		int64		after_r = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

		audit_run_records(m->id, run_id, actor, "change check", after_d, after_r, false,
						  &last_d, &last_r);
	}
	v[1] = Int64GetDatum(last_d);
	v[2] = Int64GetDatum(last_r);
	recon_spi_exec("UPDATE recon.cdc_state SET audited_divergence_id = greatest(audited_divergence_id, $2),"
				   " audited_repair_id = greatest(audited_repair_id, $3) WHERE mapping_id = $1",
				   3, t, v, NULL, SPI_OK_UPDATE);
}

/* ---------------------------------------------------------------------
 * Runs
 * --------------------------------------------------------------------- */

/* A run row of this kind (sweep, sample, cdc), running, started by actor. */
int64
recon_run_start(const ReconMapping *m, const char *kind, const char *actor)
{
	Oid			ty[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[4] = {Int64GetDatum(m->id), CStringGetTextDatum(m->name),
		CStringGetTextDatum(actor), CStringGetTextDatum(kind)};

	return recon_spi_int64("INSERT INTO recon.runs (mapping_id, mapping_name, kind, status,"
						   " started_by) VALUES ($1, $2, $4, 'running', $3) RETURNING run_id",
						   4, ty, v);
}

/*
 * A run that could not go on.  finished_at keeps the time a run that had
 * finished ended (apply_repairs fails a finished run).
 */
void
recon_run_fail(int64 run_id, const char *why)
{
	Oid			t[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(run_id), CStringGetTextDatum(why)};

	recon_spi_exec("UPDATE recon.runs SET status = 'failed', error = $2,"
				   " finished_at = coalesce(finished_at, clock_timestamp()) WHERE run_id = $1",
				   2, t, v, NULL, SPI_OK_UPDATE);
}

/* The mapping's change run, if running, ends (a new worker, or checks disabled). */
void
recon_run_end_change_run(int64 mapping_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(mapping_id)};

	recon_spi_exec("UPDATE recon.runs SET status = 'finished', finished_at = clock_timestamp()"
				   " WHERE run_id = (SELECT run_id FROM recon.cdc_state WHERE mapping_id = $1)"
				   " AND status = 'running'", 1, t, v, NULL, SPI_OK_UPDATE);
}

/* A change run's counters after a batch of checked keys. */
void
recon_run_count_checks(int64 run_id, int64 checked, const ReconRunStats *stats)
{
	Oid			t[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		v[4] = {Int64GetDatum(run_id), Int64GetDatum(checked),
	Int64GetDatum(stats->divergences), Int64GetDatum(stats->repairs_planned)};

	recon_spi_exec("UPDATE recon.runs SET candidates = candidates + $2,"
				   " divergences = divergences + $3, repairs_planned = repairs_planned + $4"
				   " WHERE run_id = $1", 4, t, v, NULL, SPI_OK_UPDATE);
}

/* A sample's estimate (rates and intervals, jsonb text). */
void
recon_run_set_estimate(int64 run_id, const char *json)
{
	Oid			ty[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(run_id), CStringGetTextDatum(json)};

	recon_spi_exec("UPDATE recon.runs SET estimate = $2::jsonb WHERE run_id = $1", 2, ty, v,
				   NULL, SPI_OK_UPDATE);
}

/* ---------------------------------------------------------------------
 * The quality gate
 * --------------------------------------------------------------------- */

/*
 * The one quality-gate formula, for sweeps, samples and change checks:
 * the share of compared keys that diverge, against max_divergence_ratio.
 * Returns why it trips, or NULL (no gate, too few keys compared yet, or
 * under the ratio).
 */
static char *
recon_quality_gate(const ReconMapping *m, int64 divergences, double compared, double min_compared)
{
	if (m->max_divergence_ratio < 0 || compared <= 0 || compared < min_compared ||
		divergences / compared <= m->max_divergence_ratio)
		return NULL;
	return psprintf("divergence ratio %.4f exceeds max_divergence_ratio %g",
					divergences / compared, m->max_divergence_ratio);
}

static void
audit_gate(const ReconMapping *m, int64 run_id, const char *actor, const char *reason,
		   int64 divergences, double compared)
{
	ReconAudit	a = {0};

	a.actor = actor;
	a.action = AUDIT_GATE_TRIPPED;
	a.mapping = m->name;
	a.run_id = run_id;
	a.reason = reason;
	a.detail = psprintf("{\"divergences\": %lld, \"compared\": %.0f, \"max_divergence_ratio\": %g}",
						(long long) divergences, compared, m->max_divergence_ratio);
	recon_audit(&a);
}

/*
 * A tripped gate: every repair the run planned and has not applied needs
 * an approval.
 */
static void
gate_repairs(int64 run_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};

	recon_spi_exec("UPDATE recon.repairs SET needs_approval = true,"
				   " approval_reason = 'quality gate: divergence ratio'"
				   " WHERE run_id = $1 AND status = 'planned'", 1, t, v, NULL, SPI_OK_UPDATE);
}

/*
 * The gate over a change run's checks so far (the keys it checked are the
 * keys it compared), once at least min_checked were checked.  A tripped
 * run stays gated; its trip is audited once.
 */
bool
recon_change_run_gated(const ReconMapping *m, int64 run_id, const char *actor, double min_checked)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};
	int64		divergences,
				checked;
	char	   *reason;
	bool		isnull;

	if (m->max_divergence_ratio < 0)
		return false;
	SPI_execute_with_args("SELECT status = 'gated', divergences, candidates FROM recon.runs"
						  " WHERE run_id = $1", 1, t, v, NULL, false, 1);
	if (SPI_processed != 1)
		return false;
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return true;
	divergences = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	checked = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	reason = recon_quality_gate(m, divergences, (double) checked, min_checked);
	if (reason == NULL)
		return false;
	{
		Oid			t2[2] = {INT8OID, TEXTOID};
		Datum		v2[2] = {Int64GetDatum(run_id), CStringGetTextDatum(reason)};

		recon_spi_exec("UPDATE recon.runs SET status = 'gated', gate_reason = $2"
					   " WHERE run_id = $1 AND status = 'running'", 2, t2, v2, NULL, SPI_OK_UPDATE);
	}
	gate_repairs(run_id);
	audit_gate(m, run_id, actor, reason, divergences, (double) checked);
	return true;
}

static void finish_run(const ReconMapping *m, int64 run_id, const char *actor, int64 rows,
					   int64 docs, ReconRunStats *stats, bool partial, bool audit_records);

/* ---------------------------------------------------------------------
 * Ending a sweep or a sample
 * --------------------------------------------------------------------- */

/*
 * Open divergences a complete run no longer sees have resolved
 * themselves; their open repairs are void.  Only what this run could have
 * re-read: a divergence recorded after the run started (by a change
 * check, say) is not this run's to resolve.  Returns how many resolved.
 */
static int64
resolve_unseen(int64 mapping_id, int64 run_id, const char *actor)
{
	Oid			t[4] = {INT8OID, INT8OID, TEXTOID, TEXTOID};
	Datum		v[4] = {Int64GetDatum(mapping_id), Int64GetDatum(run_id), CStringGetTextDatum(actor),
	action_datum(AUDIT_DIVERGENCE_CLOSED)};

	recon_spi_exec("UPDATE recon.repairs r SET status = 'superseded' FROM recon.divergences d"
				   " WHERE d.divergence_id = r.divergence_id AND d.mapping_id = $1"
				   " AND d.status = 'open' AND d.last_run_id <> $2"
				   " AND d.last_seen < (SELECT started_at FROM recon.runs WHERE run_id = $2)"
				   " AND r.status IN ('planned', 'approved')",
				   2, t, v, NULL, SPI_OK_UPDATE);
	return recon_spi_int64("WITH c AS (UPDATE recon.divergences SET status = 'resolved',"
						   " closed_at = now() WHERE mapping_id = $1 AND status = 'open'"
						   " AND last_run_id <> $2"
						   " AND last_seen < (SELECT started_at FROM recon.runs WHERE run_id = $2)"
						   " RETURNING divergence_id, kind, key)"
						   " , a AS (INSERT INTO recon.audit_log (actor, action, mapping_name, run_id,"
						   " divergence_id, reason, detail) SELECT $3, $4,"
						   " (SELECT name FROM recon.mappings WHERE mapping_id = $1), $2,"
						   " divergence_id, 'no longer divergent', jsonb_build_object('kind', kind, 'key', key)"
						   " FROM c ORDER BY divergence_id RETURNING 1)"
						   " SELECT count(*) FROM a", 4, t, v);
}

/*
 * End a run: resolve what it no longer sees (a sweep; a sample saw only
 * part of the mapping and resolves nothing), apply the quality gate,
 * write its audit rows and its counts.
 */
void
recon_finish_run(const ReconMapping *m, int64 run_id, const char *actor, int64 rows, int64 docs,
				 ReconRunStats *stats, bool partial)
{
	finish_run(m, run_id, actor, rows, docs, stats, partial, true);
}

/*
 * The end of any sweep or sample; audit_records false when the run's
 * divergences and repairs were audited as they were recorded (range by
 * range).
 */
static void
finish_run(const ReconMapping *m, int64 run_id, const char *actor, int64 rows, int64 docs,
		   ReconRunStats *stats, bool partial, bool audit_records)
{
	int64		resolved = 0;
	double		compared = Max(rows, docs);
	char	   *gate = NULL;
	char	   *failed = NULL;
	int64		last_d,
				last_r;
	ReconAudit	a = {0};

	/*
	 * A key held by several rows: what this run saw of them is not the truth
	 * of one row.  The run fails, resolves nothing, and nothing it planned
	 * may be applied (its divergences stay recorded and audited).
	 */
	if (stats->duplicate_keys > 0)
		failed = psprintf("the source has %lld duplicate key value(s), first %s: the mapping's key must identify one row",
						  (long long) stats->duplicate_keys, stats->duplicate_key);

	if (partial)
		;						/* a sample: what it did not draw is not known */
	else if (failed)
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(run_id)};

		recon_spi_exec("UPDATE recon.repairs SET status = 'superseded' WHERE run_id = $1"
					   " AND status = 'planned'", 1, t, v, NULL, SPI_OK_UPDATE);
	}
	else
		resolved = resolve_unseen(m->id, run_id, actor);

	if (!failed)
		gate = recon_quality_gate(m, stats->divergences, compared, 0);
	if (gate)					/* before the planned repairs are audited: they show it */
		gate_repairs(run_id);

	if (audit_records)
		audit_run_records(m->id, run_id, actor, partial ? "sample" : "sweep", 0, 0, false,
						  &last_d, &last_r);
	if (gate)
		audit_gate(m, run_id, actor, gate, stats->divergences, compared);

	{
		Oid			t[11] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, TEXTOID, TEXTOID};
		Datum		v[11] = {Int64GetDatum(run_id),
			CStringGetTextDatum(failed ? "failed" : gate ? "gated" : "finished"),
			Int64GetDatum(rows), Int64GetDatum(docs), Int64GetDatum(stats->candidates),
			Int64GetDatum(stats->divergences), Int64GetDatum(stats->new_divergences),
			Int64GetDatum(resolved), Int64GetDatum(stats->repairs_planned),
			gate ? CStringGetTextDatum(gate) : (Datum) 0,
		failed ? CStringGetTextDatum(failed) : (Datum) 0};
		char		n[12] = "           ";

		n[9] = gate ? ' ' : 'n';
		n[10] = failed ? ' ' : 'n';
		recon_spi_exec("UPDATE recon.runs SET status = $2, finished_at = clock_timestamp(),"
					   " rows_source = $3, docs_target = $4, candidates = $5, divergences = $6,"
					   " new_divergences = $7, resolved = $8, repairs_planned = $9, gate_reason = $10,"
					   " error = coalesce($11, error)"
					   " WHERE run_id = $1", 11, t, v, n, SPI_OK_UPDATE);
		if (failed)
			ereport(WARNING,
					(errmsg("recon: sweep of \"%s\" failed: duplicate keys in the source", m->name),
					 errdetail("%s", failed),
					 errhint("Choose key columns that identify one row (a unique index), or fix the data.")));
	}
	a.actor = actor;
	a.action = AUDIT_RUN_FINISHED;
	a.mapping = m->name;
	a.run_id = run_id;
	a.reason = failed ? failed : gate ? "gated" : "finished";
	a.detail = psprintf("{\"rows_source\": %lld, \"docs_target\": %lld, \"divergences\": %lld,"
						" \"new_divergences\": %lld, \"resolved\": %lld, \"repairs_planned\": %lld}",
						(long long) rows, (long long) docs, (long long) stats->divergences,
						(long long) stats->new_divergences, (long long) resolved,
						(long long) stats->repairs_planned);
	recon_audit(&a);
}

/* ---------------------------------------------------------------------
 * Divergences
 * --------------------------------------------------------------------- */

#define REPLAN_FIRST_AT 64		/* divergences: below, any plan is cheap */

/*
 * Plans over the tables a run grows are cached for the session, and inside
 * one transaction nothing re-plans them: the statistics do not change until
 * it commits.  Planned while a table was nearly empty (a new install, or
 * after drop_mapping emptied recon.divergences), PostgreSQL's foreign-key
 * check of each planned repair scans recon.divergences, and keeps doing so
 * while the run grows the table: quadratic in the run's divergences.
 * Invalidating the tables' relcache entries each time the divergences a
 * transaction recorded double has every such plan re-made at the size the
 * table has reached (the planner reads a table's current length): a few
 * re-plans per run.
 */
static void
replan_as_tables_grow(void)
{
	static const char *const grown[] = {"divergences", "repairs", "audit_log"};
	static LocalTransactionId counted_in = InvalidLocalTransactionId;
	static uint64 recorded;
	static uint64 replan_at;
	Oid			nsp;
	int			i;

	if (MyProc->lxid != counted_in)
	{
		counted_in = MyProc->lxid;
		recorded = 0;
		replan_at = REPLAN_FIRST_AT;
	}
	if (++recorded < replan_at)
		return;
	replan_at *= 2;
	nsp = get_namespace_oid("recon", false);
	for (i = 0; i < lengthof(grown); i++)
	{
		Oid			rel = get_relname_relid(grown[i], nsp);

		if (OidIsValid(rel))
			CacheInvalidateRelcacheByRelid(rel);
	}
	/* the next statement's CommandCounterIncrement applies them here */
}

/*
 * Record (or refresh) the open divergence of a key; returns its id and
 * whether it is new.
 */
int64
recon_divergence_record(const ReconMapping *m, int64 run_id, const ReconDivergenceRow *d,
						bool *is_new)
{
	static const char *sql =
		"INSERT INTO recon.divergences AS d (mapping_id, first_run_id, last_run_id, kind, key,"
		" key_canon, fields, source_hash, target_hash, source_image, target_image, reason)"
		" VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
		" ON CONFLICT (mapping_id, key_canon) WHERE status = 'open' DO UPDATE SET"
		" last_run_id = EXCLUDED.last_run_id, last_seen = now(), kind = EXCLUDED.kind,"
		" fields = EXCLUDED.fields, source_hash = EXCLUDED.source_hash,"
		" target_hash = EXCLUDED.target_hash, source_image = EXCLUDED.source_image,"
		" target_image = EXCLUDED.target_image, reason = EXCLUDED.reason"
		" RETURNING divergence_id, (xmax = 0)";
	Oid			types[11] = {INT8OID, INT8OID, TEXTOID, JSONBOID, BYTEAOID, TEXTARRAYOID,
	TEXTOID, TEXTOID, JSONBOID, JSONBOID, TEXTOID};
	Datum		v[11];
	char		n[12] = "           ";
	bool		isnull;
	int64		divergence_id;

	replan_as_tables_grow();
	v[0] = Int64GetDatum(m->id);
	v[1] = Int64GetDatum(run_id);
	v[2] = CStringGetTextDatum(d->kind);
	v[3] = d->key;
	v[4] = PointerGetDatum(d->key_canon);
	v[5] = d->fields;
	v[6] = d->source_hash ? CStringGetTextDatum(d->source_hash) : (Datum) 0;
	n[6] = d->source_hash ? ' ' : 'n';
	v[7] = d->target_hash ? CStringGetTextDatum(d->target_hash) : (Datum) 0;
	n[7] = d->target_hash ? ' ' : 'n';
	v[8] = d->source_image;
	n[8] = d->source_image ? ' ' : 'n';
	v[9] = d->target_image;
	n[9] = d->target_image ? ' ' : 'n';
	v[10] = d->reason ? CStringGetTextDatum(d->reason) : (Datum) 0;
	n[10] = d->reason ? ' ' : 'n';
	recon_spi_exec(sql, 11, types, v, n, SPI_OK_INSERT_RETURNING);
	divergence_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*is_new = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable); /* else each one is kept until SPI_finish */
	return divergence_id;
}

/*
 * A dropped mapping's divergences and repairs go with it; its runs and
 * the audit log stay (history).
 */
void
recon_forget_mapping_records(const char *mapping_name)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(mapping_name)};

	recon_spi_exec("DELETE FROM recon.repairs WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = $1)",
				   1, t, v, NULL, SPI_OK_DELETE);
	recon_spi_exec("DELETE FROM recon.divergences WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = $1)",
				   1, t, v, NULL, SPI_OK_DELETE);
}

/* ---------------------------------------------------------------------
 * Repairs
 * --------------------------------------------------------------------- */

/* An earlier repair of this divergence is being applied (or in doubt). */
bool
recon_repair_in_doubt(int64 divergence_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(divergence_id)};

	return recon_spi_int64("SELECT count(*) FROM recon.repairs WHERE divergence_id = $1"
						   " AND status = 'applying'", 1, t, v) > 0;
}

/* Repairs of a divergence planned or approved earlier are void: it was seen again. */
void
recon_repairs_supersede(int64 divergence_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(divergence_id)};

	recon_spi_exec("UPDATE recon.repairs SET status = 'superseded' WHERE divergence_id = $1"
				   " AND status IN ('planned', 'approved')", 1, t, v, NULL, SPI_OK_UPDATE);
}

/*
 * A planned repair, bound to the options it was planned under (an
 * alter_mapping voids it); one that can never be written is recorded
 * failed, with why.
 */
void
recon_repair_insert(const ReconMapping *m, const ReconRepairPlan *p)
{
	Oid			t[10] = {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID};
	Datum		v[10];
	char		nulls[11] = "          ";

	v[0] = Int64GetDatum(p->divergence_id);
	v[1] = Int64GetDatum(p->run_id);
	v[2] = Int64GetDatum(m->id);
	v[3] = CStringGetTextDatum(p->action);
	v[4] = CStringGetTextDatum(p->operation);
	v[5] = BoolGetDatum(p->needs_approval);
	v[6] = p->approval_reason ? CStringGetTextDatum(p->approval_reason) : (Datum) 0;
	nulls[6] = p->approval_reason ? ' ' : 'n';
	v[7] = CStringGetTextDatum(m->options_hash);
	v[8] = CStringGetTextDatum(p->failed ? "failed" : "planned");
	v[9] = p->failed ? CStringGetTextDatum(p->failed) : (Datum) 0;
	nulls[9] = p->failed ? ' ' : 'n';
	recon_spi_exec("INSERT INTO recon.repairs (divergence_id, run_id, mapping_id, action,"
				   " operation, needs_approval, approval_reason, options_hash, status, error)"
				   " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)",
				   10, t, v, nulls, SPI_OK_INSERT);
}

/*
 * Claim up to limit repairs of a run that may be applied now (approved,
 * in doubt, or planned under an auto policy) and audit the intent; the
 * caller commits before writing.  Returns how many, their ids in *ids.
 */
int
recon_repairs_claim(const ReconMapping *m, int64 run_id, const char *actor, int limit, Datum *ids)
{
	Oid			t[4] = {INT8OID, BOOLOID, INT4OID, TEXTOID};
	Datum		v[4] = {Int64GetDatum(run_id), BoolGetDatum(m->repair == REPAIR_AUTO),
	Int32GetDatum(limit), CStringGetTextDatum(actor)};
	ArrayBuildState *ab = NULL;
	uint64		i;
	int			n;

	recon_spi_exec("WITH c AS (SELECT repair_id, status AS was FROM recon.repairs"
				   " WHERE run_id = $1 AND (status IN ('approved', 'applying')"
				   "   OR (status = 'planned' AND NOT needs_approval AND $2))"
				   " ORDER BY repair_id LIMIT $3 FOR UPDATE SKIP LOCKED)"
				   " UPDATE recon.repairs r SET status = 'applying', attempts = attempts + 1,"
				   " applied_by = $4 FROM c WHERE r.repair_id = c.repair_id"
				   " RETURNING r.repair_id, c.was",
				   4, t, v, NULL, SPI_OK_UPDATE_RETURNING);
	n = (int) SPI_processed;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		ab = accumArrayResult(ab, id, false, INT8OID, CurrentMemoryContext);
	}
	if (n == 0)
		return 0;
	*ids = makeArrayResult(ab, CurrentMemoryContext);
	{
		Oid			t2[4] = {INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		v2[4] = {*ids, CStringGetTextDatum(actor), CStringGetTextDatum(m->name),
		action_datum(AUDIT_REPAIR_APPLYING)};

		recon_spi_exec("INSERT INTO recon.audit_log (actor, action, mapping_name, run_id,"
					   " divergence_id, repair_id, reason, detail, before_hash)"
					   " SELECT $2, $4, $3, r.run_id, r.divergence_id, r.repair_id,"
					   " CASE WHEN r.attempts > 1 THEN 'in doubt: resolving by reading the document'"
					   " WHEN r.decided_by IS NOT NULL THEN 'approved by ' || r.decided_by"
					   " ELSE 'policy: auto' END,"
					   " jsonb_build_object('action', r.action, 'attempt', r.attempts),"
					   " d.target_hash FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)"
					   " WHERE r.repair_id = ANY($1) ORDER BY r.repair_id",
					   4, t2, v2, NULL, SPI_OK_INSERT);
	}
	return n;
}

/*
 * What applying one repair found: its status, the divergence repaired
 * when verified, and its audit row.
 */
void
recon_repair_record_outcome(const ReconMapping *m, int64 run_id, const char *actor,
							const ReconRepairOutcome *o)
{
	Oid			t[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		v[5];
	char		nl[6] = "     ";
	ReconAudit	a = {0};

	v[0] = Int64GetDatum(o->repair_id);
	v[1] = CStringGetTextDatum(o->status);
	v[2] = o->after_hash ? CStringGetTextDatum(o->after_hash) : (Datum) 0;
	nl[2] = o->after_hash ? ' ' : 'n';
	v[3] = o->message ? CStringGetTextDatum(o->message) : (Datum) 0;
	nl[3] = o->message ? ' ' : 'n';
	v[4] = Int64GetDatum(o->divergence_id);
	recon_spi_exec("UPDATE recon.repairs SET status = $2, applied_at = clock_timestamp(),"
				   " verified_hash = $3, written_hash = CASE WHEN $2 = 'verified' THEN $3 END,"
				   " error = $4 WHERE repair_id = $1", 5, t, v, nl, SPI_OK_UPDATE);
	if (strcmp(o->status, "verified") == 0)
		recon_spi_exec("UPDATE recon.divergences SET status = 'repaired', closed_at = now()"
					   " WHERE divergence_id = $5 AND status = 'open'", 5, t, v, nl, SPI_OK_UPDATE);

	a.actor = actor;
	a.action = o->action;
	a.mapping = m->name;
	a.run_id = run_id;
	a.divergence_id = o->divergence_id;
	a.repair_id = o->repair_id;
	a.reason = o->message ? o->message : "source of truth re-read at apply time";
	a.detail = o->operation ? psprintf("{\"operation\": %s}", o->operation) : NULL;
	a.before_hash = o->seen_hash;
	a.after_hash = o->after_hash;
	recon_audit(&a);
}

/* Too many write errors in a row: the run fails, audited as a gate. */
void
recon_run_fail_write_errors(const ReconMapping *m, int64 run_id, const char *actor, const char *why)
{
	ReconAudit	a = {0};

	recon_run_fail(run_id, why);
	a.actor = actor;
	a.action = AUDIT_GATE_WRITE_ERRORS;
	a.mapping = m->name;
	a.run_id = run_id;
	a.reason = why;
	recon_audit(&a);
}

/*
 * Approve or reject planned repairs of a run (all, or those in
 * repair_ids) planned before this statement; each decision audited.
 * Returns how many were decided.
 */
int64
recon_repairs_decide(int64 run_id, Datum repair_ids, bool all, const char *note,
					 const char *actor, bool approve)
{
	Oid			t[6] = {INT8OID, INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[6];
	char		nl[7] = "      ";

	v[0] = Int64GetDatum(run_id);
	v[1] = all ? (Datum) 0 : repair_ids;
	nl[1] = all ? 'n' : ' ';
	v[2] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nl[2] = note ? ' ' : 'n';
	v[3] = CStringGetTextDatum(actor);
	v[4] = CStringGetTextDatum(approve ? "approved" : "rejected");
	v[5] = action_datum(approve ? AUDIT_REPAIR_APPROVED : AUDIT_REPAIR_REJECTED);
	return recon_spi_int64_nulls("WITH c AS (UPDATE recon.repairs SET status = $5, decided_by = $4,"
								 " decided_at = clock_timestamp(), decision_note = $3"
								 " WHERE run_id = $1 AND status = 'planned'"
								 " AND planned_at <= statement_timestamp()"
								 " AND ($2 IS NULL OR repair_id = ANY($2))"
								 " RETURNING repair_id, divergence_id, mapping_id, action, operation),"
								 " a AS (INSERT INTO recon.audit_log (actor, action, mapping_name, run_id,"
								 " divergence_id, repair_id, reason, detail)"
								 " SELECT $4, $6, m.name, $1, c.divergence_id, c.repair_id,"
								 " coalesce($3, 'no note'), jsonb_build_object('action', c.action,"
								 " 'operation', c.operation)"
								 " FROM c JOIN recon.mappings m USING (mapping_id) ORDER BY c.repair_id RETURNING 1)"
								 " SELECT count(*) FROM a", 6, t, v, nl);
}

/* ---------------------------------------------------------------------
 * Range sweeps: recon.sweep_ranges
 * --------------------------------------------------------------------- */

/* A bound as the key's JSON (a number or a string), or NULL (open). */
static void
bound_arg(const char *bound, Datum *v, char *n)
{
	*v = bound ? CStringGetTextDatum(bound) : (Datum) 0;
	*n = bound ? ' ' : 'n';
}

/*
 * A range run: its run row, one unit of work per key range between the
 * given ascending bounds (the first and last open-ended) and one for the
 * documents whose _id is of another type, and its run.started audit row.
 * The caller commits them together.
 */
int64
recon_range_run_create(const ReconMapping *m, const char *actor, char **bounds, int nbounds,
					   bool int_key, int workers, const char *how)
{
	Oid			ty[6] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID};
	Datum		v[6] = {Int64GetDatum(m->id), CStringGetTextDatum(m->name),
		CStringGetTextDatum(actor), Int32GetDatum(nbounds + 2), Int32GetDatum(workers)};
	int64		run_id;
	int			i;
	ReconAudit	a = {0};

	run_id = recon_spi_int64("INSERT INTO recon.runs (mapping_id, mapping_name, kind, status,"
							 " started_by, ranges, workers) VALUES ($1, $2, 'sweep', 'running', $3, $4, $5)"
							 " RETURNING run_id", 5, ty, v);
	for (i = 0; i <= nbounds + 1; i++)
	{
		Oid			t[5] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
		Datum		w[5];
		char		n[6] = "     ";

		w[0] = Int64GetDatum(run_id);
		w[1] = Int32GetDatum(i + 1);
		w[2] = CStringGetTextDatum(i <= nbounds ? "range" : "other_types");
		bound_arg(i > 0 && i <= nbounds ? bounds[i - 1] : NULL, &w[3], &n[3]);
		bound_arg(i < nbounds ? bounds[i] : NULL, &w[4], &n[4]);
		recon_spi_exec(int_key ?
					   "INSERT INTO recon.sweep_ranges (run_id, range_no, kind, lower_key, upper_key)"
					   " VALUES ($1, $2, $3, pg_catalog.to_jsonb($4::bigint), pg_catalog.to_jsonb($5::bigint))" :
					   "INSERT INTO recon.sweep_ranges (run_id, range_no, kind, lower_key, upper_key)"
					   " VALUES ($1, $2, $3, pg_catalog.to_jsonb($4), pg_catalog.to_jsonb($5))",
					   5, t, w, n, SPI_OK_INSERT);
	}
	a.actor = actor;
	a.action = AUDIT_RUN_STARTED;
	a.mapping = m->name;
	a.run_id = run_id;
	a.reason = how;
	a.detail = psprintf("{\"ranges\": %d, \"workers\": %d}", nbounds + 2, workers);
	recon_audit(&a);
	return run_id;
}

/* The mapping's range run that has not finished (running), or 0. */
int64
recon_range_run_unfinished(int64 mapping_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(mapping_id)};

	return recon_spi_int64("SELECT coalesce(pg_catalog.min(run_id), 0) FROM recon.runs"
						   " WHERE mapping_id = $1 AND status = 'running' AND ranges IS NOT NULL",
						   1, t, v);
}

/*
 * Claim the next range of a running run that nobody works on: a pending
 * one first, else one left 'running' by a worker that is gone (its row is
 * not locked: the worker that sweeps a range holds its row).  The claim
 * (status, pid) is for people and is committed by the caller before the
 * range is swept; recon_range_hold then takes the range.  False when no
 * range is left to claim.
 */
bool
recon_range_claim(int64 run_id, int *range_no, ReconRange *r)
{
	Oid			t[2] = {INT8OID, INT4OID};
	Datum		v[2] = {Int64GetDatum(run_id), Int32GetDatum(MyProcPid)};
	bool		isnull;
	int			units;

	recon_spi_exec("WITH c AS (SELECT s.range_no FROM recon.sweep_ranges s"
				   " WHERE s.run_id = $1 AND s.status IN ('pending', 'running')"
				   " AND EXISTS (SELECT 1 FROM recon.runs r WHERE r.run_id = $1 AND r.status = 'running')"
				   " ORDER BY s.status = 'running', s.range_no LIMIT 1 FOR UPDATE OF s SKIP LOCKED)"
				   " UPDATE recon.sweep_ranges s SET status = 'running', worker_pid = $2,"
				   " started_at = pg_catalog.clock_timestamp(), attempts = s.attempts + 1"
				   " FROM c WHERE s.run_id = $1 AND s.range_no = c.range_no"
				   " RETURNING s.range_no, s.kind = 'other_types', s.lower_key #>> '{}',"
				   " s.upper_key #>> '{}', (SELECT r.ranges FROM recon.runs r WHERE r.run_id = $1)",
				   2, t, v, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		return false;
	*range_no = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	r->other_types = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	r->lower = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	r->upper = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	units = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	r->share = r->other_types ? 0.0 : 1.0 / Max(units - 1, 1);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * Take the range this backend claimed, for the rest of the transaction
 * that sweeps it (its row stays locked until it is recorded done).
 * False when another worker took it over meanwhile.
 */
bool
recon_range_hold(int64 run_id, int range_no)
{
	Oid			t[3] = {INT8OID, INT4OID, INT4OID};
	Datum		v[3] = {Int64GetDatum(run_id), Int32GetDatum(range_no), Int32GetDatum(MyProcPid)};

	recon_spi_exec("SELECT 1 FROM recon.sweep_ranges WHERE run_id = $1 AND range_no = $2"
				   " AND status = 'running' AND worker_pid = $3"
				   " AND EXISTS (SELECT 1 FROM recon.runs r WHERE r.run_id = $1 AND r.status = 'running')"
				   " FOR UPDATE SKIP LOCKED",
				   3, t, v, NULL, SPI_OK_SELECT);
	return SPI_processed == 1;
}

/*
 * A range is swept: audit what it recorded (the divergences it opened and
 * the repairs it planned: the rows this transaction wrote) and mark it
 * done with its counts, in the transaction that recorded them, so that a
 * crash loses the range whole or not at all.
 */
void
recon_range_done(const ReconMapping *m, int64 run_id, int range_no, const char *actor,
				 int64 rows, int64 docs, const ReconRunStats *stats)
{
	int64		last_d,
				last_r;

	/* what this range recorded (its transaction's rows), audited with it */
	audit_run_records(m->id, run_id, actor, "sweep", 0, 0, true, &last_d, &last_r);
	{
		Oid			t[10] = {INT8OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, TEXTOID};
		Datum		v[10] = {Int64GetDatum(run_id), Int32GetDatum(range_no), Int64GetDatum(rows),
			Int64GetDatum(docs), Int64GetDatum(stats->candidates), Int64GetDatum(stats->divergences),
			Int64GetDatum(stats->new_divergences), Int64GetDatum(stats->repairs_planned),
			Int64GetDatum(stats->duplicate_keys),
		stats->duplicate_key ? CStringGetTextDatum(stats->duplicate_key) : (Datum) 0};
		char		n[11] = "          ";

		n[9] = stats->duplicate_key ? ' ' : 'n';
		recon_spi_exec("UPDATE recon.sweep_ranges SET status = 'done', finished_at = pg_catalog.clock_timestamp(),"
					   " rows_source = $3, docs_target = $4, candidates = $5, divergences = $6,"
					   " new_divergences = $7, repairs_planned = $8, duplicate_keys = $9, duplicate_key = $10"
					   " WHERE run_id = $1 AND range_no = $2", 10, t, v, n, SPI_OK_UPDATE);
	}
}

/*
 * End a range run whose ranges are all done, once: under the run row's
 * lock, so that of several workers finishing together exactly one ends
 * it (the others find it no longer running).  Its counts are the sums of
 * its ranges'; its records were audited range by range.  Returns whether
 * this call ended it.
 */
bool
recon_range_run_finish(const ReconMapping *m, int64 run_id, const char *actor)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};
	ReconRunStats stats = {0};
	int64		rows,
				docs;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	recon_spi_exec("SELECT 1 FROM recon.runs WHERE run_id = $1 AND status = 'running' FOR UPDATE",
				   1, t, v, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	recon_spi_exec("SELECT pg_catalog.count(*) FILTER (WHERE status <> 'done'),"
				   " coalesce(pg_catalog.sum(rows_source), 0)::bigint,"
				   " coalesce(pg_catalog.sum(docs_target), 0)::bigint,"
				   " coalesce(pg_catalog.sum(candidates), 0)::bigint,"
				   " coalesce(pg_catalog.sum(divergences), 0)::bigint,"
				   " coalesce(pg_catalog.sum(new_divergences), 0)::bigint,"
				   " coalesce(pg_catalog.sum(repairs_planned), 0)::bigint,"
				   " coalesce(pg_catalog.sum(duplicate_keys), 0)::bigint,"
				   " (pg_catalog.array_agg(duplicate_key ORDER BY range_no)"
				   "   FILTER (WHERE duplicate_key IS NOT NULL))[1]"
				   " FROM recon.sweep_ranges WHERE run_id = $1", 1, t, v, NULL, SPI_OK_SELECT);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)) > 0)
		return false;
	rows = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	docs = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	stats.candidates = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	stats.divergences = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	stats.new_divergences = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	stats.repairs_planned = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	stats.duplicate_keys = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	stats.duplicate_key = SPI_getvalue(tup, desc, 9);
	finish_run(m, run_id, actor, rows, docs, &stats, false, false);
	return true;
}

/*
 * A range run goes on (recon.resume_sweep, or the launcher after a
 * crash): running again if it had failed, audited with why.
 */
bool
recon_range_run_resume(const ReconMapping *m, int64 run_id, const char *actor, const char *why)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};
	ReconAudit	a = {0};
	int64		left;

	/*
	 * The run row's own columns decide: an abandon_sweep that commits while
	 * this waits for the row is seen (the row is re-checked after the wait),
	 * which a look at sweep_ranges with an older snapshot would miss.
	 */
	recon_spi_exec("UPDATE recon.runs SET status = 'running', error = NULL, finished_at = NULL"
				   " WHERE run_id = $1 AND status IN ('running', 'failed') AND abandoned_at IS NULL",
				   1, t, v, NULL, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		return false;
	left = recon_spi_int64("SELECT pg_catalog.count(*) FROM recon.sweep_ranges"
						   " WHERE run_id = $1 AND status <> 'done'", 1, t, v);
	a.actor = actor;
	a.action = AUDIT_RUN_RESUMED;
	a.mapping = m->name;
	a.run_id = run_id;
	a.reason = why;
	a.detail = psprintf("{\"ranges_left\": %lld}", (long long) left);
	recon_audit(&a);
	return true;
}

/*
 * Give up a range run for good (recon.abandon_sweep): its ranges not done
 * become 'abandoned', the run 'failed' with who abandoned it and why, and
 * the abandonment is audited; its planned repairs are superseded.  Under
 * the run row's lock and every open
 * range's, so that no worker or session sweeps a range of it meanwhile: a
 * range being swept right now (its row locked) is refused with the pid to
 * cancel.  What its done ranges recorded stays.  Returns the ranges
 * abandoned; the caller has checked that the run is a range run, running
 * or failed.
 */
int
recon_range_run_abandon(const char *mapping, int64 run_id, const char *actor, const char *reason)
{
	Oid			t[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(run_id), (Datum) 0};
	ReconAudit	a = {0};
	int			abandoned;
	int			superseded;

	/* after the wait for the row, its latest version: another abandon or the end shows */
	recon_spi_exec("SELECT 1 FROM recon.runs WHERE run_id = $1 AND status IN ('running', 'failed')"
				   " AND abandoned_at IS NULL FOR UPDATE", 1, t, v, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has ended or been abandoned meanwhile", (long long) run_id)));
	if (recon_spi_int64("SELECT pg_catalog.count(*) FROM recon.sweep_ranges"
						" WHERE run_id = $1 AND status IN ('pending', 'running')", 1, t, v) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("every range of run %lld is swept", (long long) run_id),
				 errdetail("Nothing is left to abandon; the run only has to end."),
				 errhint("CALL recon.resume_sweep(%lld) ends it.", (long long) run_id)));
	recon_spi_exec("WITH mine AS (SELECT range_no FROM recon.sweep_ranges"
				   "   WHERE run_id = $1 AND status IN ('pending', 'running') FOR UPDATE SKIP LOCKED)"
				   " SELECT s.range_no, s.worker_pid FROM recon.sweep_ranges s"
				   " WHERE s.run_id = $1 AND s.status IN ('pending', 'running')"
				   " AND s.range_no NOT IN (SELECT range_no FROM mine) ORDER BY s.range_no LIMIT 1",
				   1, t, v, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		char	   *range_no = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *pid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		if (pid == NULL)		/* a claim not yet committed */
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("range %s of run %lld is being claimed", range_no, (long long) run_id),
					 errhint("Try again in a moment.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("range %s of run %lld is being swept (process %s)", range_no,
						(long long) run_id, pid),
				 errdetail("A range is abandoned only while nobody sweeps it: what it records commits with it."),
				 errhint("Cancel that process (SELECT pg_cancel_backend(%s)) or let the range finish, then abandon the run again.",
						 pid)));
	}
	recon_spi_exec("UPDATE recon.sweep_ranges SET status = 'abandoned',"
				   " finished_at = pg_catalog.clock_timestamp()"
				   " WHERE run_id = $1 AND status IN ('pending', 'running')",
				   1, t, v, NULL, SPI_OK_UPDATE);
	abandoned = (int) SPI_processed;

	/*
	 * The run never ends, so its quality gate and duplicate-key rule never
	 * apply: what its done ranges planned is not written (the next sweep
	 * plans it again), as for any run that failed.
	 */
	recon_spi_exec("UPDATE recon.repairs SET status = 'superseded' WHERE run_id = $1"
				   " AND status IN ('planned', 'approved')", 1, t, v, NULL, SPI_OK_UPDATE);
	superseded = (int) SPI_processed;
	v[1] = CStringGetTextDatum(psprintf("abandoned by %s: %s", actor, reason));
	recon_spi_exec("UPDATE recon.runs SET status = 'failed', error = $2,"
				   " abandoned_at = pg_catalog.clock_timestamp(),"
				   " finished_at = coalesce(finished_at, pg_catalog.clock_timestamp())"
				   " WHERE run_id = $1", 2, t, v, NULL, SPI_OK_UPDATE);
	a.actor = actor;
	a.action = AUDIT_RUN_ABANDONED;
	a.mapping = mapping;
	a.run_id = run_id;
	a.reason = reason;
	a.detail = psprintf("{\"ranges_abandoned\": %d, \"repairs_superseded\": %d}", abandoned,
						superseded);
	recon_audit(&a);
	return abandoned;
}
