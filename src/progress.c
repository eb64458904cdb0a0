/*
 * progress.c — the progress of running sweeps and samples, one slot per
 * backend in shared memory (as pg_stat_progress_* are fed), read by
 * recon.sweep_progress.  A run is in the caller's transaction, so its
 * recon.runs row is not visible to others until commit; this is.
 *
 * Each backend writes only its own slot, under a change counter (odd
 * while writing), and readers copy a slot until they see an even, stable
 * counter: no lock is taken on the sweep's path.  A slot is cleared at
 * the end of the transaction that began it, whether it commits or not.
 * Without recon in shared_preload_libraries there is no shared memory and
 * the view is empty.
 */
#include "postgres.h"

#include "progress.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static void recon_progress_end(void);

typedef struct ProgressSlot
{
	uint32		changecount;	/* odd while the owner writes */
	int			pid;			/* 0: free */
	Oid			dboid;
	int64		mapping_id;
	int64		run_id;
	char		mapping[NAMEDATALEN * 2];
	char		kind[16];
	int			phase;
	double		rows_estimate;
	TimestampTz started_at;
	TimestampTz phase_started_at;
	int64		counters[PROGRESS_NCOUNTERS];
	int			range_no;		/* the range a range sweep is on; 0: a single pass */
} ProgressSlot;

static ProgressSlot *slots = NULL;
static ProgressSlot *mine = NULL;
static bool callback_registered = false;

/* Shared memory to request at startup: one slot per possible backend. */
Size
recon_progress_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(ProgressSlot));
}

/* Called from the shmem startup hook, under AddinShmemInitLock. */
void
recon_progress_shmem_init(void)
{
	bool		found;

	slots = ShmemInitStruct("recon sweep progress", recon_progress_shmem_size(), &found);
	if (!found)
		memset(slots, 0, recon_progress_shmem_size());
}

static void
write_begin(void)
{
	mine->changecount++;
	pg_write_barrier();
}

static void
write_end(void)
{
	pg_write_barrier();
	mine->changecount++;
}

static void
clear_at_xact_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		recon_progress_end();
}

/*
 * Publish this backend's run of a mapping (kind "sweep" or "sample") in its
 * slot, cleared when the transaction ends; called again for the same mapping,
 * it only adds the run_id and row estimate (< 0: unknown).  A no-op without
 * shared memory (recon not preloaded).
 */
void
recon_progress_begin(int64 mapping_id, const char *mapping, const char *kind, int64 run_id,
					 double rows_estimate)
{
	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(clear_at_xact_end, NULL);
		callback_registered = true;
	}
	if (mine != NULL && mine->mapping_id == mapping_id)
	{
		/* the same run, now with its id and estimate */
		write_begin();
		mine->run_id = run_id;
		mine->rows_estimate = rows_estimate;
		write_end();
		return;
	}
	mine = &slots[MyBackendId - 1];
	write_begin();
	mine->pid = MyProcPid;
	mine->dboid = MyDatabaseId;
	mine->mapping_id = mapping_id;
	mine->run_id = run_id;
	strlcpy(mine->mapping, mapping, sizeof(mine->mapping));
	strlcpy(mine->kind, kind, sizeof(mine->kind));
	mine->phase = SWEEP_PHASE_STARTING;
	mine->rows_estimate = rows_estimate;
	mine->started_at = mine->phase_started_at = GetCurrentTimestamp();
	memset(mine->counters, 0, sizeof(mine->counters));
	mine->range_no = 0;
	write_end();
}

/* This backend's run is on one range of a range sweep. */
void
recon_progress_range(int range_no)
{
	if (mine == NULL)
		return;
	write_begin();
	mine->range_no = range_no;
	write_end();
}

/*
 * Enter a new phase of this backend's published run, restarting its phase
 * clock; a no-op when no run is published.
 */
void
recon_progress_phase(ReconSweepPhase phase)
{
	if (mine == NULL)
		return;
	write_begin();
	mine->phase = phase;
	mine->phase_started_at = GetCurrentTimestamp();
	write_end();
}

/*
 * Set one counter of this backend's published run to value (a running
 * total); a no-op when no run is published.  Cheap: no lock is taken.
 */
void
recon_progress_set(ReconProgressCounter counter, int64 value)
{
	if (mine == NULL)
		return;
	write_begin();
	mine->counters[counter] = value;
	write_end();
}

static void
recon_progress_end(void)
{
	if (mine == NULL)
		return;
	write_begin();
	mine->pid = 0;
	write_end();
	mine = NULL;
}

/* A phase as recon.sweep_progress shows it; "unknown" for any other value. */
static const char *
phase_name(int phase)
{
	switch (phase)
	{
		case SWEEP_PHASE_STARTING:
			return "starting";
		case SWEEP_PHASE_SOURCE:
			return "reading source";
		case SWEEP_PHASE_COLLECTION:
			return "reading collection";
		case SWEEP_PHASE_MATCHING:
			return "matching and re-checking";
		case SWEEP_PHASE_RECORDING:
			return "recording";
		default:
			return "unknown";
	}
}

/*
 * recon.sweep_progress_slots(): one row per running sweep or sample of
 * this database, copied consistently from its slot.
 */
PG_FUNCTION_INFO_V1(recon_sweep_progress_slots);
Datum
recon_sweep_progress_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (slots == NULL)
		return (Datum) 0;
	for (i = 0; i < MaxBackends; i++)
	{
		ProgressSlot copy;
		Datum		values[14];
		bool		nulls[14] = {0};
		int			tries;

		CHECK_FOR_INTERRUPTS();
		for (tries = 0; tries < 1000; tries++)
		{
			uint32		before = slots[i].changecount;

			pg_read_barrier();
			memcpy(&copy, &slots[i], sizeof(copy));
			pg_read_barrier();
			if (before % 2 == 0 && before == slots[i].changecount)
				break;
		}
		if (tries == 1000 || copy.pid == 0 || copy.dboid != MyDatabaseId)
			continue;
		copy.mapping[sizeof(copy.mapping) - 1] = '\0';
		copy.kind[sizeof(copy.kind) - 1] = '\0';
		values[0] = Int32GetDatum(copy.pid);
		values[1] = Int64GetDatum(copy.mapping_id);
		values[2] = CStringGetTextDatum(copy.mapping);
		values[3] = Int64GetDatum(copy.run_id);
		values[4] = CStringGetTextDatum(copy.kind);
		values[5] = CStringGetTextDatum(phase_name(copy.phase));
		values[6] = TimestampTzGetDatum(copy.started_at);
		values[7] = TimestampTzGetDatum(copy.phase_started_at);
		values[8] = Int64GetDatum(copy.counters[PROGRESS_ROWS]);
		values[9] = Int64GetDatum(copy.counters[PROGRESS_DOCS]);
		if (copy.rows_estimate >= 0)
			values[10] = Float8GetDatum(copy.rows_estimate);
		else
			nulls[10] = true;
		values[11] = Int64GetDatum(copy.counters[PROGRESS_CANDIDATES]);
		values[12] = Int64GetDatum(copy.counters[PROGRESS_DIVERGENCES]);
		values[13] = Int32GetDatum(copy.range_no);
		nulls[13] = copy.range_no == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
