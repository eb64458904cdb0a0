/*
 * ranges.c — range sweeps: a sweep split into _id ranges, each range a
 * unit of work recorded in recon.sweep_ranges, so that a sweep that is
 * killed, cancelled or fails resumes from the ranges not done, and
 * several workers sweep ranges in parallel (worker.c starts them).
 *
 * A range is swept by the single-pass machinery (sweep.c,
 * recon_sweep_pass) restricted to its keys, in one transaction that also
 * records it done: a crash loses only the range in progress.  The run
 * ends (recon_finish_run's rules, counts summed over the ranges) once,
 * after its last range.  Entry points: CALL recon.range_sweep() and CALL
 * recon.resume_sweep() in the foreground (procedures: they commit per
 * range), recon.start_sweep(mapping, workers) in the background.
 */
#include "postgres.h"

#include "ranges.h"
#include "catalog.h"
#include "mapping.h"
#include "mongo_client.h"
#include "progress.h"
#include "recon.h"
#include "sweep.h"
#include "target.h"
#include "worker.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* Ranges of a foreground range sweep when neither the call nor the mapping says. */
#define DEFAULT_FOREGROUND_RANGES 8

/*
 * Create a range run of the mapping: boundaries from the source's key
 * distribution, about nranges ranges.  One sweep of a mapping at a time:
 * the mapping's row is locked as for a single-pass sweep, and a mapping
 * with an unfinished range run is refused.  The caller commits.
 */
int64
recon_range_run_start(const char *name, const char *actor, int nranges, int workers,
					  const char *how)
{
	ReconMapping *m = recon_mapping_load(name);
	ReconTarget *t;
	bool		int_key = recon_range_key_is_int(m);
	char	  **bounds;
	int			nbounds;

	if (nranges < 1 || nranges > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ranges must be between 1 and 10000"),
				 errhint("A few ranges per worker balance the work; more make resumption finer.")));
	recon_lock_mapping_for_run(m);
	recon_refuse_if_range_run(m);
	recon_notice_new_columns(m);
	t = recon_target_lookup(m->serverid, m->owner);
	(void) recon_mongo_client(t);	/* fail early and clearly when unreachable */
	bounds = recon_range_bounds(m, nranges, &nbounds);
	return recon_range_run_create(m, actor, bounds, nbounds, int_key, workers, how);
}

/* The mapping of a run, in the caller's memory context. */
static char *
run_mapping_name(int64 run_id)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *name = NULL;

	SPI_execute_with_args("SELECT mapping_name FROM recon.runs WHERE run_id = $1", 1, t, v, NULL,
						  false, 1);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed == 1)
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return name;
}

/*
 * A procedure has no active snapshot after it commits, and the sweep's
 * reads of the source (read-only SPI) run in the active one: push one per
 * transaction, and take it down before each commit.  A background worker
 * has its own (recon_commit renews it).
 */
static bool pushed_snapshot = false;

static void
range_xact_begin(void)
{
	if (!recon_in_worker && !ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed_snapshot = true;
	}
}

static void
range_commit(void)
{
	if (pushed_snapshot)
	{
		PopActiveSnapshot();
		pushed_snapshot = false;
	}
	recon_commit();
	if (recon_in_worker)
		recon_own_snapshot(true);	/* settle waits may put it down */
	range_xact_begin();
}

/* A bound of an integer key, as stored (decimal text). */
static int64
int_bound(const char *text)
{
	return text ? DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(text))) : 0;
}

/*
 * Sweep the ranges of run_id that nobody else is sweeping, one
 * transaction each, until none is left; then end the run if all its
 * ranges are done (only one of several workers does).  SPI must be
 * connected non-atomic (a procedure, or a background worker), in a
 * transaction of its own (committed here first).
 */
void
recon_range_run_work(int64 run_id, const char *actor)
{
	MemoryContext rangecxt = AllocSetContextCreate(CurrentMemoryContext, "recon sweep range",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = CurrentMemoryContext;
	char	   *name = run_mapping_name(run_id);
	int			swept = 0;
	bool		finished;
	ReconMapping *m;

	if (name == NULL)
		elog(ERROR, "recon: run %lld does not exist", (long long) run_id);
	range_commit();
	for (;;)
	{
		ReconRange	r = {0};
		int			range_no;
		bool		claimed,
					held;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(rangecxt);
		claimed = recon_range_claim(run_id, &range_no, &r);
		range_commit();			/* the claim shows in recon.sweep_ranges */
		if (!claimed)
			break;
		held = recon_range_hold(run_id, range_no);
		if (held)
		{
			ReconTarget *t;
			ReconRunStats stats = {0};
			int64		rows = 0,
						docs = 0;

			m = recon_mapping_load(name);
			r.int_key = recon_range_key_is_int(m);
			if (r.int_key)
			{
				r.lower_int = int_bound(r.lower);
				r.upper_int = int_bound(r.upper);
			}
			t = recon_target_lookup(m->serverid, m->owner);
			recon_progress_begin(m->id, m->name, "sweep", run_id, -1);
			recon_progress_range(range_no);
			recon_sweep_pass(m, t, run_id, &r, &rows, &docs, &stats);
			recon_progress_phase(SWEEP_PHASE_RECORDING);
			recon_range_done(m, run_id, range_no, actor, rows, docs, &stats);
			swept++;
		}
		range_commit();			/* the range's records and its done mark, together */
		MemoryContextSwitchTo(caller);
		MemoryContextReset(rangecxt);
		if (held)
			recon_debug_pause(PAUSE_BETWEEN_RANGES);
	}
	MemoryContextSwitchTo(caller);
	m = recon_mapping_load(name);
	finished = recon_range_run_finish(m, run_id, actor);
	range_commit();
	if (pushed_snapshot)
	{
		PopActiveSnapshot();
		pushed_snapshot = false;
	}
	MemoryContextDelete(rangecxt);
	if (!recon_in_worker)
		ereport(NOTICE,
				(errmsg("recon: run %lld: %d range(s) swept here; %s", (long long) run_id, swept,
						finished ? "the run is finished" :
						"the run goes on elsewhere (another session or worker holds a range) or has failed")));
}

/*
 * The mapping and status ("running" or "failed") of a range run that is
 * still open, so that it can be resumed or abandoned; errors if there is no
 * such run, if it is of another mapping than mapping_expected (if given),
 * if it is not a range run, or if it has ended (finished, gated, or
 * abandoned by recon.abandon_sweep).
 */
static void
open_range_run(int64 run_id, const char *mapping_expected, char **mapping, char **status)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(run_id)};
	MemoryContext cxt = CurrentMemoryContext;
	bool		single_pass;

	SPI_execute_with_args("SELECT mapping_name, CASE WHEN abandoned_at IS NULL THEN status"
						  " ELSE 'abandoned' END, ranges FROM recon.runs WHERE run_id = $1",
						  1, t, v, NULL, false, 1);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %lld does not exist", (long long) run_id),
				 errhint("See SELECT run_id, mapping_name, status FROM recon.runs.")));
	*mapping = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &single_pass);	/* ranges NULL */
	if (mapping_expected && strcmp(mapping_expected, *mapping) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("run %lld is a sweep of mapping \"%s\", not \"%s\"", (long long) run_id,
						*mapping, mapping_expected),
				 errhint("Pass run_id => NULL to start a new range sweep.")));
	if (single_pass)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld is not a range sweep", (long long) run_id),
				 errdetail("Only range sweeps record their progress; a single-pass sweep or a change-check run has nothing to resume or abandon."),
				 errhint("Start a new sweep: CALL recon.range_sweep('%s').", *mapping)));
	if (strcmp(*status, "running") != 0 && strcmp(*status, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has already ended (%s)", (long long) run_id, *status),
				 errhint("Start a new sweep: CALL recon.range_sweep('%s').", *mapping)));
}

/*
 * Make run_id resumable here: a range run, running (cancelled, or its
 * workers lost) or failed; a failed one only while no other range run of
 * its mapping is unfinished.  Audits the resumption; the caller commits.
 */
static void
resume_run(int64 run_id, const char *actor, const char *mapping_expected)
{
	char	   *name;
	char	   *status;
	ReconMapping *m;

	open_range_run(run_id, mapping_expected, &name, &status);
	m = recon_mapping_load(name);
	if (strcmp(status, "failed") == 0)
	{
		recon_lock_mapping_for_run(m);
		recon_refuse_if_range_run(m);
	}
	if (!recon_range_run_resume(m, run_id, actor, "recon.resume_sweep"))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld has ended or been abandoned meanwhile", (long long) run_id)));
}

static void
require_call(FunctionCallInfo fcinfo, const char *what)
{
	CallContext *cc = (CallContext *) fcinfo->context;

	if (cc == NULL || !IsA(cc, CallContext) || cc->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", what),
				 errdetail("It commits each range it sweeps."),
				 errhint("CALL %s(...) on its own, in autocommit mode.", what)));
}

/*
 * CALL recon.range_sweep(mapping, ranges => NULL, run_id => NULL): sweep
 * the mapping in key ranges here, committing each range; run_id (INOUT)
 * returns the run.  Given a run_id, resumes that run instead.
 */
PG_FUNCTION_INFO_V1(recon_range_sweep);
Datum
recon_range_sweep(PG_FUNCTION_ARGS)
{
	char	   *name;
	ReconPriv	priv;
	int64		run_id;
	TupleDesc	tupdesc;
	Datum		values[1];
	bool		nulls[1] = {false};

	require_call(fcinfo, "recon.range_sweep");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mapping must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	recon_priv_enter(&priv, "recon_operator", "recon.range_sweep");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	recon_pin_search_path();
	pushed_snapshot = false;	/* an earlier call's was taken down by its abort */
	range_xact_begin();
	if (!PG_ARGISNULL(2))
	{
		run_id = PG_GETARG_INT64(2);
		resume_run(run_id, priv.caller_name, name);
	}
	else
	{
		ReconMapping *m = recon_mapping_load(name);
		int			nranges = !PG_ARGISNULL(1) ? PG_GETARG_INT32(1) :
			m->sweep_ranges > 0 ? m->sweep_ranges : DEFAULT_FOREGROUND_RANGES;

		run_id = recon_range_run_start(name, priv.caller_name, nranges, 0, "recon.range_sweep");
	}
	ereport(NOTICE,
			(errmsg("recon: range sweep of \"%s\" is run %lld", name, (long long) run_id),
			 errhint("If it is interrupted, CALL recon.resume_sweep(%lld) finishes it.",
					 (long long) run_id)));
	recon_range_run_work(run_id, priv.caller_name);
	SPI_finish();
	recon_priv_exit(&priv);
	/* built now, in the transaction that returns it */
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "recon: recon.range_sweep must return a record");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(run_id);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * CALL recon.resume_sweep(run_id): sweep here the ranges of a range run
 * that are not done (pending, or left by a worker or session that is
 * gone), then end the run.
 */
PG_FUNCTION_INFO_V1(recon_resume_sweep);
Datum
recon_resume_sweep(PG_FUNCTION_ARGS)
{
	ReconPriv	priv;
	int64		run_id;

	require_call(fcinfo, "recon.resume_sweep");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	recon_priv_enter(&priv, "recon_operator", "recon.resume_sweep");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	recon_pin_search_path();
	pushed_snapshot = false;	/* an earlier call's was taken down by its abort */
	range_xact_begin();
	resume_run(run_id, priv.caller_name, NULL);
	recon_range_run_work(run_id, priv.caller_name);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}

/*
 * recon.abandon_sweep(run_id, reason) RETURNS integer, recon_operator: give
 * up a range run that is running (cancelled, or its workers at work) or
 * failed, for good, so that the mapping can be swept again; returns the
 * ranges it abandoned.  What its done ranges recorded stays recorded.
 */
PG_FUNCTION_INFO_V1(recon_abandon_sweep);
Datum
recon_abandon_sweep(PG_FUNCTION_ARGS)
{
	ReconPriv	priv;
	int64		run_id;
	char	   *reason;
	char	   *name;
	char	   *status;
	int			abandoned;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id must not be NULL")));
	reason = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (reason[strspn(reason, " \t\r\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("abandoning a sweep needs a reason"),
				 errdetail("The reason is kept in recon.runs.error and in the audit trail."),
				 errhint("SELECT recon.abandon_sweep(run_id, 'why');")));
	run_id = PG_GETARG_INT64(0);
	recon_priv_enter(&priv, "recon_operator", "recon.abandon_sweep");
	SPI_connect();
	recon_pin_search_path();
	open_range_run(run_id, NULL, &name, &status);
	abandoned = recon_range_run_abandon(name, run_id, priv.caller_name, reason);
	SPI_finish();
	recon_priv_exit(&priv);
	ereport(NOTICE,
			(errmsg("recon: run %lld of \"%s\" abandoned: %d range(s) not swept", (long long) run_id,
					name, abandoned)));
	PG_RETURN_INT32(abandoned);
}

/* ---------------------------------------------------------------------
 * Resuming background range runs whose workers are gone
 * --------------------------------------------------------------------- */

#define ORPHAN_CHECK_MS 10000

/*
 * recon_resume_orphaned_range_runs' body (run under recon_try): every
 * background range run left running with no range worker of its own is
 * marked resumed (audited) and gets its workers again.
 */
static void
resume_orphans(void *arg)
{
	uint64		i,
				n;
	SPITupleTable *tt;

	if (recon_spi_int64("SELECT pg_catalog.count(*) FROM pg_catalog.pg_class"
						" WHERE oid = pg_catalog.to_regclass('recon.sweep_ranges')", 0, NULL, NULL) == 0)
		return;					/* recon not updated to 0.2.0 here */

	/*
	 * A background range run still running with no range worker of its own:
	 * they were lost (a crash, a restart, a terminated worker).  A run
	 * started a moment ago may not have its workers up yet, unless it
	 * started before the server last (re)started.
	 */
	Oid			t[1] = {TIMESTAMPTZOID};
	Datum		v[1] = {TimestampTzGetDatum(recon_shmem_created_at())};

	recon_spi_exec("SELECT r.run_id, r.started_by, r.workers FROM recon.runs r"
				   " WHERE r.status = 'running' AND r.ranges IS NOT NULL AND r.workers > 0"
				   " AND r.started_at < greatest($1, pg_catalog.clock_timestamp() - interval '2 s')"
				   " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
				   "   WHERE a.backend_type = 'recon range worker'"
				   "   AND a.application_name = 'recon range worker ' || r.run_id)"
				   " ORDER BY r.run_id", 1, t, v, NULL, SPI_OK_SELECT);
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		int64		run_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *actor = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		int			workers = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		char	   *name = run_mapping_name(run_id);
		ReconMapping *m = recon_mapping_load(name);
		int			started;

		if (!recon_range_run_resume(m, run_id, actor, "its workers were lost: resumed by the launcher"))
			continue;			/* abandoned (or ended) since the look */
		started = recon_start_range_workers(run_id, workers);
		ereport(LOG,
				(errmsg("recon: range sweep run %lld of \"%s\" had no worker left: %d started",
						(long long) run_id, name, started)));
	}
}

/*
 * Called by the change worker of each database (the launcher's agent
 * there) every few seconds: background range runs whose workers are gone
 * get new ones.  Errors are logged, never raised: change checks go on.
 */
void
recon_resume_orphaned_range_runs(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	char	   *why = NULL;

	if (last != 0 && !TimestampDifferenceExceeds(last, now, ORPHAN_CHECK_MS))
		return;
	last = now;
	if (!recon_try(resume_orphans, NULL, &why))
		ereport(LOG,
				(errmsg("recon: could not resume range sweeps whose workers were lost: %s", why)));
}
