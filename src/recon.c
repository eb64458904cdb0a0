/*
 * recon.c — module entry: GUCs, the privilege switch every entry point
 * uses, audit-row writing and small SPI helpers.
 *
 * Entry points are plain C functions (not SECURITY DEFINER): each checks
 * that the caller holds the recon role for its job, records the caller as
 * the actor, then works as the extension owner with a pinned search_path,
 * so that roles need no direct write privilege on recon's tables.  Both
 * are undone when the entry point returns (a GUC nest level, as functions
 * with SET clauses have) or fails (the transaction's own undo).
 *
 * Reads of a mapping's source never run as the extension owner: they run
 * as the mapping's owner under SECURITY_RESTRICTED_OPERATION, as VACUUM
 * runs index expressions, after checking that the owner may still read
 * every mapped column and that no row-level policy hides rows from it.
 */
#include "postgres.h"

#include "recon.h"
#include "audit.h"
#include "embed.h"
#include "mapping.h"
#include "mongo_client.h"
#include "worker.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/resowner.h"
#include "utils/rls.h"
#include "catalog/pg_authid.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

int			recon_batch_size = 1000;
int			recon_pass_batch_size = 8000;
int			recon_partition_rows = 65536;
int			recon_connect_timeout_ms = 5000;
int			recon_socket_timeout_ms = 30000;
int			recon_recheck_timeout_ms = 600000;
int			recon_recheck_scan_keys = 10000;
int			recon_recheck_in_keys = 2000;
int			recon_recheck_reads = RECHECK_READS_AUTO;

static const struct config_enum_entry recheck_reads_options[] = {
	{"auto", RECHECK_READS_AUTO, false},
	{"keyed", RECHECK_READS_KEYED, false},
	{"scan", RECHECK_READS_SCAN, false},
	{NULL, 0, false}
};
int			recon_progress_rows = 100000;
int			recon_audit_log_level = LOG;
int			recon_write_batch_size = 50;
int			recon_max_workers = 4;
int			recon_naptime_s = 5;
int			recon_poll_ms = 200;
char	   *recon_databases = NULL;
char	   *recon_debug_fail_key = NULL;
static int	recon_debug_pause_point = PAUSE_NONE;
int			recon_cdc_batch_window_ms = 100;
static char *recon_cdc_recheck_ms_text = NULL;
int			recon_cdc_recheck_n = 3;
int			recon_cdc_recheck_ms[RECON_MAX_RECHECKS] = {200, 400, 800};

/*
 * Parse "ms,ms,..." (the change checks' re-check schedule): up to
 * RECON_MAX_RECHECKS delays of 1 ms to 1 hour, possibly none ("").
 */
static bool
parse_recheck_schedule(const char *text, int *out, int *n)
{
	const char *p = text;

	*n = 0;
	while (*p == ' ')
		p++;
	while (*p)
	{
		char	   *end;
		long		ms = strtol(p, &end, 10);

		if (end == p || ms < 1 || ms > 3600000 || *n >= RECON_MAX_RECHECKS)
			return false;
		out[(*n)++] = (int) ms;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
		else if (*p)
			return false;
		while (*p == ' ')
			p++;
	}
	return true;
}

static bool
check_recheck_schedule(char **newval, void **extra, GucSource source)
{
	int			ms[RECON_MAX_RECHECKS];
	int			n;

	if (!parse_recheck_schedule(*newval, ms, &n))
	{
		GUC_check_errdetail("recon.cdc_recheck_ms is a comma-separated list of up to %d delays in milliseconds (1 to 3600000), e.g. \"200,400,800\".",
							RECON_MAX_RECHECKS);
		return false;
	}
	return true;
}

static void
assign_recheck_schedule(const char *newval, void *extra)
{
	(void) parse_recheck_schedule(newval, recon_cdc_recheck_ms, &recon_cdc_recheck_n);
}
static int	recon_debug_pause_ms = 10000;

static const struct config_enum_entry pause_point_options[] = {
	{"none", PAUSE_NONE, false},
	{"after_intent", PAUSE_AFTER_INTENT, false},
	{"before_write", PAUSE_BEFORE_WRITE, false},
	{"after_write", PAUSE_AFTER_WRITE, false},
	{"before_recheck", PAUSE_BEFORE_RECHECK, false},
	{"between_ranges", PAUSE_BETWEEN_RANGES, false},
	{"in_item", PAUSE_IN_ITEM, false},
	{NULL, 0, false}
};

static const struct config_enum_entry audit_level_options[] = {
	{"off", 0, false},
	{"debug1", DEBUG1, false},
	{"log", LOG, false},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{"warning", WARNING, false},
	{NULL, 0, false}
};

void		_PG_init(void);
static void forget_priv_on_abort(XactEvent event, void *arg);
static void forget_priv_on_subabort(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

/*
 * Module load: define and register every recon.* setting and reserve the
 * prefix, hook the privilege switch into (sub)transaction abort, and start
 * the audit, MongoDB-client and (when preloaded) background-worker modules.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("recon.batch_size",
							"Documents per MongoDB batch (not a sweep's pass: recon.pass_batch_size) and keys per re-check batch.",
							NULL, &recon_batch_size, 1000, 10, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.pass_batch_size",
							"Documents per MongoDB batch in a sweep's pass over the collection.",
							"Fewer, larger replies cost the backend less per document; MongoDB caps a reply at 16 MB.",
							&recon_pass_batch_size, 8000, 10, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.partition_rows",
							"Entries per in-memory partition when a sweep matches keys.",
							"Bounds sweep memory: about 100 bytes per entry.",
							&recon_partition_rows, 65536, 1024, 10000000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.write_batch_size",
							"Repairs per MongoDB bulk write (and per intent/result transaction pair).",
							"FerretDB 1.24 stalls on update batches of about 100 operations; MongoDB takes more.",
							&recon_write_batch_size, 50, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.connect_timeout_ms",
							"Connect and server-selection timeout for MongoDB.",
							NULL, &recon_connect_timeout_ms, 5000, 100, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.socket_timeout_ms",
							"Socket timeout for MongoDB operations.",
							NULL, &recon_socket_timeout_ms, 30000, 100, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.recheck_timeout_ms",
							"How long one re-read of candidate keys may wait for MongoDB's reply.",
							"Its socket timeout and maxTimeMS: a server that scans the collection for a keyed"
							" look-up (FerretDB) answers late, not never.  Cancel is honoured all the same.",
							&recon_recheck_timeout_ms, 600000, 1000, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.recheck_scan_keys",
							"Candidate keys re-read per collection scan when keyed look-ups cost a scan.",
							"Bounds the re-check's memory (one document copy per key) on such servers.",
							&recon_recheck_scan_keys, 10000, 10, 1000000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.recheck_in_keys",
							"Up to this many candidates are re-read by one $in query even where keyed look-ups cost a scan.",
							"Such a server scans the collection once for the query and returns only these documents;"
							" its cost grows with the number of keys, so more candidates are re-read by passes.",
							&recon_recheck_in_keys, 2000, 1, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("recon.recheck_reads",
							 "How a sweep re-reads candidate documents: keyed ($in), scan, or auto.",
							 "auto times the first keyed batch and switches to passes over the collection"
							 " when a keyed look-up costs about a pass (a server without an _id index for it).",
							 &recon_recheck_reads, RECHECK_READS_AUTO, recheck_reads_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.progress_rows",
							"Emit a progress NOTICE every this many rows or documents (0: never).",
							NULL, &recon_progress_rows, 100000, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("recon.audit_log_level",
							 "Server-log level at which audit rows are also written (for SIEM).",
							 NULL, &recon_audit_log_level, LOG, audit_level_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("recon.debug_pause_point",
							 "Testing aid: pause apply_repairs at this point.",
							 "Crash tests kill the backend or stop MongoDB during the pause.",
							 &recon_debug_pause_point, PAUSE_NONE, pause_point_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.debug_pause_ms",
							"Testing aid: length of the recon.debug_pause_point pause.",
							NULL, &recon_debug_pause_ms, 10000, 0, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.max_workers",
							"Most change workers the launcher runs (one per database).",
							NULL, &recon_max_workers, 4, 0, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.naptime",
							"Seconds between the launcher's looks for databases to follow.",
							NULL, &recon_naptime_s, 5, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("recon.poll_interval_ms",
							"How often an idle change worker reads its slot and queue.",
							NULL, &recon_poll_ms, 200, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("recon.cdc_recheck_ms",
							   "Delays (ms) of the re-checks of a changed key that still differs.",
							   "A key that differs at its first check (settle_ms after its commit) is "
							   "re-checked after each delay in turn and recorded if it still differs at the last.",
							   &recon_cdc_recheck_ms_text, "200,400,800",
							   PGC_SIGHUP, 0, check_recheck_schedule, assign_recheck_schedule, NULL);
	DefineCustomIntVariable("recon.cdc_batch_window_ms",
							"Keys due within this many ms are checked with the keys due now.",
							"One source query and one MongoDB look-up per mapping serve every key due "
							"in the window, first checks and re-checks alike.",
							&recon_cdc_batch_window_ms, 100, 0, 10000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("recon.databases",
							   "Databases the launcher considers (comma-separated; empty: all).",
							   NULL, &recon_databases, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("recon.debug_fail_key",
							   "Testing aid: change checks of this key (its JSON text) always fail.",
							   "Isolation tests check that one failing key is quarantined and never stops the others.",
							   &recon_debug_fail_key, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("recon");

	RegisterXactCallback(forget_priv_on_abort, NULL);
	RegisterSubXactCallback(forget_priv_on_subabort, NULL);
	recon_audit_init();
	if (process_shared_preload_libraries_in_progress)
		recon_workers_init();
	recon_mongo_init();
}

/* Sleep ms milliseconds, staying responsive to cancel and shutdown. */
void
recon_sleep_ms(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * The active snapshot a background sweep pushed itself, which it may put
 * down while it waits: nothing it holds then needs the snapshot.
 */
static Snapshot recon_owned_snapshot = NULL;

/*
 * A background sweep names the active snapshot it pushed itself (own true),
 * which recon_settle_sleep may then put down while it waits; false forgets it.
 */
void
recon_own_snapshot(bool own)
{
	recon_owned_snapshot = own ? GetActiveSnapshot() : NULL;
}

/*
 * The settle wait of a re-check.  A sweep that owns its transaction (the
 * background worker) waits with no snapshot, so the wait holds back no
 * vacuum horizon; the re-read after it takes a new one anyway.  A sweep
 * run as an SQL function cannot put its statement's snapshot down.
 */
void
recon_settle_sleep(long ms)
{
	bool		release = recon_owned_snapshot != NULL && ActiveSnapshotSet() &&
		GetActiveSnapshot() == recon_owned_snapshot;

	if (release)
	{
		PopActiveSnapshot();
		InvalidateCatalogSnapshot();
	}
	recon_sleep_ms(ms);
	if (release)
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		recon_owned_snapshot = GetActiveSnapshot();
	}
}

/*
 * Testing aid: sleep recon.debug_pause_ms at the named point when
 * recon.debug_pause_point names it (crash tests act during the pause); a
 * no-op otherwise.  Cancel and shutdown still interrupt the sleep.
 */
void
recon_debug_pause(ReconPausePoint point)
{
	if (recon_debug_pause_point != point || recon_debug_pause_ms <= 0)
		return;
	elog(LOG, "recon: pausing %d ms at debug pause point %d", recon_debug_pause_ms, (int) point);
	recon_sleep_ms(recon_debug_pause_ms);
}

/* ---------------------------------------------------------------------
 * Privileges
 * --------------------------------------------------------------------- */

static Oid
recon_owner(void)
{
	Oid			nsp = get_namespace_oid("recon", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema recon");
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

bool		recon_in_worker = false;

/* The privilege switch in effect, so commits can step out of it. */
static ReconPriv *active_priv = NULL;

static void
forget_priv_on_abort(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT)
		active_priv = NULL;		/* the abort itself restored the user */
}

/* A subtransaction that entered an entry point and failed took it along. */
static void
forget_priv_on_subabort(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && active_priv &&
		active_priv->xact_level >= GetCurrentTransactionNestLevel())
		active_priv = NULL;
}

static void
pin_search_path(GucAction action)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, action, true, 0, false);
}

/*
 * Commit and continue in a new transaction (SPI connected non-atomic).
 * A background worker has no portal to own a snapshot, so it holds one
 * itself between commits (SPI_commit wants none active).
 */
void
recon_commit(void)
{
	/*
	 * The next transaction must start as the caller: an abort restores the
	 * user its transaction started with, and that must never be the owner.
	 * The commit pops the pinned search_path; it is pinned again after.
	 */
	if (active_priv)
		SetUserIdAndSecContext(active_priv->save_userid, active_priv->save_sec_context);
	if (recon_in_worker)
		PopActiveSnapshot();
	SPI_commit();
	if (recon_in_worker)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (active_priv)
	{
		SetUserIdAndSecContext(active_priv->owner,
							   active_priv->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		active_priv->guc_nest = NewGUCNestLevel();
		active_priv->xact_level = GetCurrentTransactionNestLevel();
	}
	recon_pin_search_path();
}

/*
 * Pin search_path for recon's own queries.  In an entry point it is saved
 * at the entry's GUC nest level and restored when the entry point returns;
 * a background worker owns its session and simply sets it.
 */
void
recon_pin_search_path(void)
{
	pin_search_path(recon_in_worker && active_priv == NULL ? GUC_ACTION_SET : GUC_ACTION_SAVE);
}

/*
 * Start of every SQL entry point: error unless the caller has the privileges
 * of role, remember the caller (the audit actor), then act as the extension
 * owner with search_path pinned until recon_priv_exit; an error undoes both.
 * what names the operation in the permission error.
 */
void
recon_priv_enter(ReconPriv *priv, const char *role, const char *what)
{
	Oid			roleid = get_role_oid(role, false);

	priv->caller = GetUserId();
	priv->caller_name = GetUserNameFromId(priv->caller, false);
	if (!has_privs_of_role(priv->caller, roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", what),
				 errdetail("Role \"%s\" is not a member of %s.", priv->caller_name, role),
				 errhint("GRANT %s TO the role that should do this.", role)));

	GetUserIdAndSecContext(&priv->save_userid, &priv->save_sec_context);
	priv->owner = recon_owner();
	SetUserIdAndSecContext(priv->owner,
						   priv->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	priv->guc_nest = NewGUCNestLevel();
	priv->xact_level = GetCurrentTransactionNestLevel();
	active_priv = priv;
	recon_pin_search_path();
}

/*
 * End of an entry point: restore search_path and the caller's identity that
 * recon_priv_enter replaced.  Not needed on error: the abort undoes both.
 */
void
recon_priv_exit(ReconPriv *priv)
{
	AtEOXact_GUC(true, priv->guc_nest);
	SetUserIdAndSecContext(priv->save_userid, priv->save_sec_context);
	active_priv = NULL;
}

/* The caller may change the mapping: its owner, a member of it, or a superuser. */
void
recon_check_mapping_owner(const ReconMapping *m, const ReconPriv *priv, const char *what)
{
	if (superuser_arg(priv->caller) ||
		(OidIsValid(m->owner) && has_privs_of_role(priv->caller, m->owner)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of mapping \"%s\" to %s it", m->name, what),
			 errdetail("Mapping \"%s\" belongs to %s.", m->name,
					   OidIsValid(m->owner) ? GetUserNameFromId(m->owner, true) ?
					   psprintf("role \"%s\"", GetUserNameFromId(m->owner, true)) :
					   "a dropped role" : "a dropped role"),
			 errhint("Ask its owner or a superuser; a superuser can transfer it with recon.alter_mapping_owner().")));
}

/* ---------------------------------------------------------------------
 * Source reads as the mapping's owner
 * --------------------------------------------------------------------- */

static void
source_denied(const ReconMapping *m, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read the source of mapping \"%s\"", m->name),
			 errdetail("%s", detail),
			 errhint("Source reads run with the privileges of the mapping's owner: GRANT SELECT on"
					 " the mapped columns to it, or transfer the mapping with recon.alter_mapping_owner().")));
}

/*
 * May the mapping's owner read every mapped column of the source, with
 * no row-level policy hiding rows from it?  (Hidden rows would be
 * reported as "extra" and their documents deleted.)
 */
void
recon_source_check(const ReconMapping *m)
{
	const char *owner_name;
	int			i;

	if (!OidIsValid(m->owner) ||
		(owner_name = GetUserNameFromId(m->owner, true)) == NULL)
		source_denied(m, "The role that owned the mapping no longer exists.");
	if (pg_class_aclcheck(m->relid, m->owner, ACL_SELECT) != ACLCHECK_OK)
	{
		for (i = 0; i < m->nkeys + m->nfields; i++)
		{
			const ReconField *f = i < m->nkeys ? &m->keys[i] : &m->fields[i - m->nkeys];

			if (f->embed)
				continue;		/* checked with its child relation below */
			if (pg_attribute_aclcheck(m->relid, f->attnum, m->owner, ACL_SELECT) != ACLCHECK_OK)
				source_denied(m, psprintf("Role \"%s\" may not read column \"%s\" of %s.",
										  owner_name, f->column, m->relname));
		}
	}
	recon_embeds_check(m, owner_name);
	if (check_enable_rls(m->relid, m->owner, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security applies to the source of mapping \"%s\"", m->name),
				 errdetail("Policies on %s may hide rows from role \"%s\"; hidden rows would be"
						   " reported as extra documents and repaired away.", m->relname, owner_name),
				 errhint("Map a relation without policies for that role, or let it bypass them"
						 " (table owner without FORCE ROW LEVEL SECURITY, or BYPASSRLS).")));
}

/*
 * Become the mapping's owner, restricted, for one read of the source.
 * The executor then checks the owner's table and column privileges and
 * applies its row-level security; user-written code in a view, function
 * or operator runs with the owner's rights only.
 */
void
recon_source_enter(const ReconMapping *m, ReconSourceSave *save)
{
	recon_source_check(m);
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(m->owner, save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save->guc_nest = NewGUCNestLevel();
	pin_search_path(GUC_ACTION_SAVE);
}

/*
 * End a source read: restore search_path and the user and security context
 * that recon_source_enter replaced.
 */
void
recon_source_exit(ReconSourceSave *save)
{
	AtEOXact_GUC(true, save->guc_nest);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/* ---------------------------------------------------------------------
 * Isolating one item's work
 * --------------------------------------------------------------------- */

/*
 * Run fn(arg) in an internal subtransaction.  On error, roll it back and
 * return false with the error's message (never its detail, which may hold
 * a value) in *why, so that one bad value fails its own item and the run
 * goes on.  Cancel and shutdown are re-thrown.
 */
bool
recon_try(void (*fn) (void *arg), void *arg, char **why)
{
	return recon_try_code(fn, arg, why, NULL);
}

/* recon_try, also reporting the error's SQLSTATE. */
bool
recon_try_code(void (*fn) (void *arg), void *arg, char **why, int *sqlerrcode)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		recon_debug_pause(PAUSE_IN_ITEM);
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();

		/*
		 * Rolled back before any re-throw: an error that leaves an internal
		 * subtransaction open leaves the session in an aborted transaction
		 * block ("current transaction is aborted") after a cancel.
		 */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (e->sqlerrcode == ERRCODE_QUERY_CANCELED || e->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
			e->elevel > ERROR)
			ReThrowError(e);
		if (why)
			*why = e->message;
		if (sqlerrcode)
			*sqlerrcode = e->sqlerrcode;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/* ---------------------------------------------------------------------
 * SPI helpers
 * --------------------------------------------------------------------- */

/*
 * Prepared plans of recon's own statements, kept for the life of the
 * backend: a change worker runs the same few dozen statements every cycle,
 * and parsing and planning them each time cost more than running them.
 * Keyed by the statement's text and parameter types; the plan cache
 * re-plans after DDL or a search_path change, and privileges are checked
 * at each execution as always.  Bounded: past SPI_PLAN_CACHE_SIZE distinct
 * statements, the rest run unprepared.
 */
#define SPI_PLAN_CACHE_SIZE 256

typedef struct ReconPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *types;
	uint32		hash;
	SPIPlanPtr	plan;
} ReconPlan;

static ReconPlan spi_plans[SPI_PLAN_CACHE_SIZE * 2];
static int	spi_nplans = 0;

/*
 * The kept plan of one of recon's statements, prepared on first use into
 * the backend-lifetime cache; NULL when the cache is full (the caller runs the
 * statement unprepared).  Errors if the statement does not prepare.
 */
static SPIPlanPtr
spi_plan_for(const char *sql, int nargs, Oid *types)
{
	uint32		h = hash_bytes((const unsigned char *) sql, strlen(sql)) ^ (uint32) nargs;
	int			i = h % lengthof(spi_plans);
	ReconPlan  *e;
	SPIPlanPtr	plan;

	for (;; i = (i + 1) % lengthof(spi_plans))
	{
		e = &spi_plans[i];
		if (e->sql == NULL)
			break;
		if (e->hash == h && e->nargs == nargs && strcmp(e->sql, sql) == 0 &&
			(nargs == 0 || memcmp(e->types, types, sizeof(Oid) * nargs) == 0))
			return e->plan;
	}
	if (spi_nplans >= SPI_PLAN_CACHE_SIZE)
		return NULL;
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "recon: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "recon: could not keep the plan of \"%s\"", sql);
	e->sql = MemoryContextStrdup(TopMemoryContext, sql);
	e->types = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(nargs, 1));
	if (nargs > 0)
		memcpy(e->types, types, sizeof(Oid) * nargs);
	e->nargs = nargs;
	e->hash = h;
	e->plan = plan;
	spi_nplans++;
	return plan;
}

/* Run one of recon's statements, prepared once per backend when the cache has room. */
static int
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, long count)
{
	SPIPlanPtr	plan = spi_plan_for(sql, nargs, types);

	if (plan == NULL)
		return SPI_execute_with_args(sql, nargs, types, values, nulls, false, count);
	return SPI_execute_plan(plan, values, nulls, false, count);
}

/*
 * Run one of recon's statements (SPI connected), elog'ing unless SPI returns
 * expected; the result stays in SPI_tuptable for the caller.  nulls as for
 * SPI_execute_plan; the current memory context is kept.
 */
void
recon_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
			   const char *nulls, int expected)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = spi_run(sql, nargs, types, values, nulls, 0);

	/* SPI returns in its procedure context: allocations would pile up there until SPI_finish */
	MemoryContextSwitchTo(cxt);
	if (rc != expected)
		elog(ERROR, "recon: SPI returned %d for \"%s\"", rc, sql);
}

/*
 * The first column, an int8, of the first row sql returns (0 when NULL); an
 * elog when it fails or returns no row.  SPI connected.
 */
int64
recon_spi_int64(const char *sql, int nargs, Oid *types, Datum *values)
{
	return recon_spi_int64_nulls(sql, nargs, types, values, NULL);
}

/*
 * recon_spi_int64 with some parameters NULL (nulls as for SPI_execute_plan).
 * It frees its result set (SPI_tuptable is not to be read after it), so calls
 * made per item do not pile memory up until SPI_finish.
 */
int64
recon_spi_int64_nulls(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	bool		isnull;
	Datum		d;
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = spi_run(sql, nargs, types, values, nulls, 1);

	MemoryContextSwitchTo(cxt);

	if (rc < 0 || SPI_processed != 1)
		elog(ERROR, "recon: expected one row from \"%s\"", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* a result set lives until SPI_finish: per-divergence calls must not pile them up */
	SPI_freetuptable(SPI_tuptable);
	return isnull ? 0 : DatumGetInt64(d);
}
