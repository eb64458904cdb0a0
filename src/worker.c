/*
 * worker.c — background processes: the launcher, which keeps one change
 * worker running per database with CDC-enabled mappings, the shared
 * memory through which enable_cdc wakes it (at commit), and background
 * sweeps (recon.start_sweep and its worker).
 *
 * The launcher is a static background worker (registered when recon is
 * in shared_preload_libraries) connected to no database: it lists
 * pg_database, starts a change worker for each candidate database that
 * has none, and sleeps recon.naptime.  A change worker that finds no
 * CDC mapping in its database marks it idle and exits; enable_cdc clears
 * the mark and sets the launcher's latch.
 */
#include "postgres.h"

#include "worker.h"
#include "catalog.h"
#include "mapping.h"
#include "progress.h"
#include "ranges.h"
#include "recon.h"
#include "sweep.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#define MAX_DB_SLOTS 64
#define IDLE_RECHECK_MS 60000

typedef struct DbSlot
{
	Oid			dboid;
	TimestampTz idle_until;		/* no CDC mapping seen: skip until then */
} DbSlot;

typedef struct ReconShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	DbSlot		dbs[MAX_DB_SLOTS];
	TimestampTz created_at;		/* set again after a crash: no process of before lives */
} ReconShared;

static ReconShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

bool		recon_preloaded = false;

PGDLLEXPORT void recon_launcher_main(Datum arg);

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ReconShared)));
	RequestAddinShmemSpace(MAXALIGN(recon_progress_shmem_size()));
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("recon", sizeof(ReconShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(ReconShared));
		SpinLockInit(&shared->mutex);
		shared->created_at = GetCurrentTimestamp();
	}
	recon_progress_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
recon_workers_init(void)
{
	BackgroundWorker bgw;

	recon_preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "recon");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "recon_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "recon launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "recon launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * When shared memory was (re)created: the server's start, or its restart
 * after a crash.  0 without recon preloaded.
 */
TimestampTz
recon_shmem_created_at(void)
{
	return shared ? shared->created_at : 0;
}

/* enable_cdc: this database has work now; wake the launcher. */
static void
recon_wake_launcher(Oid dboid)
{
	int			i;
	Latch	   *latch;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < MAX_DB_SLOTS; i++)
		if (shared->dbs[i].dboid == dboid)
			shared->dbs[i].idle_until = 0;
	latch = shared->launcher_latch;
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* A change worker found nothing to do in dboid. */
void
recon_mark_db_idle(Oid dboid)
{
	int			i,
				free_slot = -1;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < MAX_DB_SLOTS; i++)
	{
		if (shared->dbs[i].dboid == dboid)
			break;
		if (shared->dbs[i].dboid == InvalidOid && free_slot < 0)
			free_slot = i;
	}
	if (i == MAX_DB_SLOTS)
		i = free_slot;
	if (i >= 0)
	{
		shared->dbs[i].dboid = dboid;
		shared->dbs[i].idle_until =
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), IDLE_RECHECK_MS);
	}
	SpinLockRelease(&shared->mutex);
}

static bool
db_is_idle(Oid dboid)
{
	int			i;
	bool		idle = false;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < MAX_DB_SLOTS; i++)
		if (shared->dbs[i].dboid == dboid)
			idle = shared->dbs[i].idle_until > GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
	return idle;
}

/* ---------------------------------------------------------------------
 * Launcher
 * --------------------------------------------------------------------- */

typedef struct Running
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} Running;

static bool
wanted_database(const char *name)
{
	List	   *names;
	ListCell   *lc;
	char	   *copy;

	if (recon_databases == NULL || recon_databases[0] == '\0')
		return true;
	copy = pstrdup(recon_databases);
	if (!SplitIdentifierString(copy, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * The OIDs of the databases a change worker may serve (connectable, not
 * templates, named in recon.databases when it is set), read from pg_database
 * in a transaction of its own; the list is allocated in the caller's context.
 */
static List *
candidate_databases(void)
{
	List	   *out = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate || !wanted_database(NameStr(db->datname)))
			continue;
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			out = lappend_oid(out, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return out;
}

/*
 * Register a change worker for dboid, told to notify the launcher when it
 * stops; NULL, with a WARNING, when no worker slot is free.  Never restarted
 * by the postmaster: the launcher starts another on its next round.
 */
static BackgroundWorkerHandle *
start_change_worker(Oid dboid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "recon");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "recon_change_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "recon change worker for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "recon change worker");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		ereport(WARNING,
				(errmsg("recon: could not start a change worker for database %u", dboid),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	return handle;
}

/*
 * Entry of the launcher (a static background worker, no database): every
 * recon.naptime, or when woken, start a change worker for each candidate
 * database that has none and was not marked idle, at most recon.max_workers
 * at once.  Runs until shutdown.
 */
void
recon_launcher_main(Datum arg)
{
	Running		running[MAX_DB_SLOTS];
	int			nrunning = 0;
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("recon launcher");

	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = MyLatch;
	SpinLockRelease(&shared->mutex);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "recon launcher loop",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		/* forget workers that exited */
		for (i = 0; i < nrunning;)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(running[i].handle, &pid) == BGWH_STOPPED)
			{
				pfree(running[i].handle);
				running[i] = running[--nrunning];
			}
			else
				i++;
		}

		dbs = candidate_databases();
		foreach(lc, dbs)
		{
			Oid			dboid = lfirst_oid(lc);
			bool		have = false;

			CHECK_FOR_INTERRUPTS();
			for (i = 0; i < nrunning; i++)
				have |= (running[i].dboid == dboid);
			if (have || db_is_idle(dboid) || nrunning >= Min(recon_max_workers, MAX_DB_SLOTS))
				continue;
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
				BackgroundWorkerHandle *h = start_change_worker(dboid);

				MemoryContextSwitchTo(old);
				if (h)
				{
					running[nrunning].dboid = dboid;
					running[nrunning].handle = h;
					nrunning++;
				}
			}
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 recon_naptime_s * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * Waking the launcher at commit
 * --------------------------------------------------------------------- */

static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static void
cdc_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		recon_wake_launcher(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

/* Wake the launcher when the current transaction commits (enable_cdc). */
void
recon_wake_launcher_at_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(cdc_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/* ---------------------------------------------------------------------
 * Background sweeps
 * --------------------------------------------------------------------- */

/*
 * Register a background worker of this database that works on run_id
 * (function: its entry point in recon.so; type and name: what
 * pg_stat_activity shows).  It waits for the run's row to commit.  False
 * when no worker slot is free.
 */
static bool
register_run_worker(int64 run_id, const char *function, const char *type, const char *name)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "recon");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
	bgw.bgw_main_arg = Int64GetDatum(run_id);
	memcpy(bgw.bgw_extra, &MyDatabaseId, sizeof(Oid));
	return RegisterDynamicBackgroundWorker(&bgw, &handle);
}

/*
 * Start n range workers for run_id (they wait for its row to commit).
 * Returns how many could be started.
 */
int
recon_start_range_workers(int64 run_id, int n)
{
	int			started = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		/* never restarted by the postmaster: the launcher's agent resumes the run */
		if (!register_run_worker(run_id, "recon_range_worker_main", "recon range worker",
								 psprintf("recon range worker %d of run " INT64_FORMAT, i + 1, run_id)))
			break;
		started++;
	}
	if (started < n)
		ereport(WARNING,
				(errmsg("recon: started %d of %d range workers for run " INT64_FORMAT, started, n, run_id),
				 errhint("Raise max_worker_processes; the workers started share the ranges.")));
	return started;
}

/*
 * recon.start_sweep(mapping text, workers integer DEFAULT 1) → run_id
 * (recon_operator): a sweep in the background.  One worker and no option
 * "sweep_ranges": the single-pass sweep, in one worker that starts once
 * this transaction commits (it gives up after a minute if it never does).
 * Otherwise a range run (ranges from the option, else 4 per worker) swept
 * by that many workers in parallel.  Needs recon in shared_preload_libraries
 * and free worker slots.
 */
PG_FUNCTION_INFO_V1(recon_start_sweep);
Datum
recon_start_sweep(PG_FUNCTION_ARGS)
{
	char	   *name;
	int			workers = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	ReconPriv	priv;
	ReconMapping *m;
	int64		run_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mapping must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (workers < 1 || workers > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workers must be between 1 and 64"),
				 errhint("Each worker holds its own MongoDB connection; max_worker_processes bounds them all.")));
	recon_priv_enter(&priv, "recon_operator", "recon.start_sweep");
	if (!recon_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recon.start_sweep requires recon in shared_preload_libraries"),
				 errhint("Add recon to shared_preload_libraries and restart, or call recon.sweep().")));
	SPI_connect();
	recon_pin_search_path();
	m = recon_mapping_load(name);
	if (workers > 1 || m->sweep_ranges > 0)
	{
		run_id = recon_range_run_start(name, priv.caller_name,
									   m->sweep_ranges > 0 ? m->sweep_ranges : 4 * workers,
									   workers, "recon.start_sweep");
		SPI_finish();
		if (recon_start_range_workers(run_id, workers) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a background sweep"),
					 errhint("Raise max_worker_processes, or CALL recon.range_sweep() instead.")));
		recon_priv_exit(&priv);
		PG_RETURN_INT64(run_id);
	}
	run_id = recon_run_start(m, "sweep", priv.caller_name);
	SPI_finish();

	if (!register_run_worker(run_id, "recon_sweep_worker_main", "recon sweep worker",
							 psprintf("recon sweep of run " INT64_FORMAT, run_id)))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background sweep"),
				 errhint("Raise max_worker_processes, or call recon.sweep() instead.")));
	recon_priv_exit(&priv);
	PG_RETURN_INT64(run_id);
}

static void record_run_failure(int64 run_id, const char *message);

/*
 * A background worker's run failed: report the error, record it on the run
 * in a transaction of its own, and exit.  Called in PG_CATCH.
 */
pg_attribute_noreturn()
static void
fail_run_and_exit(int64 run_id)
{
	ErrorData  *e;

	MemoryContextSwitchTo(TopMemoryContext);
	e = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	record_run_failure(run_id, e->message);
	proc_exit(1);
}

static void
record_run_failure(int64 run_id, const char *message)
{
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	recon_pin_search_path();
	recon_run_fail(run_id, message);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

PGDLLEXPORT void recon_sweep_worker_main(Datum arg);

/*
 * Entry of a background sweep (arg: run_id, database OID in bgw_extra):
 * wait up to a minute for the caller to commit the run row, then sweep with
 * the run's starter as actor, in one transaction; a failure is recorded on it.
 * Exits without doing anything if the run never shows up (rolled back).
 */
void
recon_sweep_worker_main(Datum arg)
{
	int64		run_id = DatumGetInt64(arg);
	Oid			dboid;
	int			waited;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("recon sweep worker");
	recon_in_worker = true;

	/* the caller's transaction must commit its run row first */
	for (waited = 0; waited < 600; waited++)
	{
		char	   *name = NULL;
		char	   *actor = NULL;
		bool		done = false;

		CHECK_FOR_INTERRUPTS();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		recon_pin_search_path();
		{
			Oid			t[1] = {INT8OID};
			Datum		v[1] = {Int64GetDatum(run_id)};

			SPI_execute_with_args("SELECT mapping_name, started_by FROM recon.runs"
								  " WHERE run_id = $1 AND status = 'running'", 1, t, v, NULL, false, 1);
			if (SPI_processed == 1)
			{
				name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
				actor = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			}
		}
		if (name)
		{
			PG_TRY();
			{
				recon_own_snapshot(true);
				(void) recon_sweep_mapping(name, actor, run_id);
				recon_own_snapshot(false);
				done = true;
			}
			PG_CATCH();
			{
				fail_run_and_exit(run_id);
			}
			PG_END_TRY();
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (done)
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);				/* the caller rolled back: nothing to do */
}

PGDLLEXPORT void recon_range_worker_main(Datum arg);

/*
 * A background range worker: waits for its run's row to commit, then
 * sweeps the run's ranges that nobody else holds (its own MongoDB
 * client), and ends the run if it swept the last.  An error fails the
 * run (its other workers stop at their next range; recon.resume_sweep
 * goes on from the ranges not done).  Its application_name names the run,
 * so that the launcher's agent can tell a run that lost its workers.
 */
void
recon_range_worker_main(Datum arg)
{
	int64		run_id = DatumGetInt64(arg);
	Oid			dboid;
	int			waited;
	MemoryContext work_cxt;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(psprintf("recon range worker " INT64_FORMAT, run_id));
	recon_in_worker = true;
	work_cxt = AllocSetContextCreate(TopMemoryContext, "recon range worker",
									 ALLOCSET_DEFAULT_SIZES);
	/* SPI's non-atomic procedure context hangs off PortalContext (see cdc.c) */
	PortalContext = work_cxt;

	for (waited = 0; waited < 600; waited++)
	{
		char	   *actor = NULL;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(work_cxt);
		StartTransactionCommand();
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		PushActiveSnapshot(GetTransactionSnapshot());
		recon_pin_search_path();
		{
			Oid			t[1] = {INT8OID};
			Datum		v[1] = {Int64GetDatum(run_id)};

			SPI_execute_with_args("SELECT started_by FROM recon.runs"
								  " WHERE run_id = $1 AND status = 'running'", 1, t, v, NULL, false, 1);
			if (SPI_processed == 1)
				actor = MemoryContextStrdup(work_cxt,
											SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		}
		if (actor)
		{
			PG_TRY();
			{
				recon_own_snapshot(true);
				recon_range_run_work(run_id, actor);
				recon_own_snapshot(false);
			}
			PG_CATCH();
			{
				fail_run_and_exit(run_id);
			}
			PG_END_TRY();
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
		if (actor)
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);				/* the caller rolled back, or the run ended: nothing to do */
}
