/*
 * recon.c — module entry: GUCs, the privilege switch every entry point
 * uses, audit-row writing and small SPI helpers.
 *
 * Entry points are plain C functions (not SECURITY DEFINER): each checks
 * that the caller holds the recon role for its job, records the caller as
 * the actor, then works as the extension owner with a pinned search_path,
 * so that roles need no direct write privilege on recon's tables.
 */
#include "postgres.h"

#include "recon.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

int			recon_batch_size = 1000;
int			recon_partition_rows = 65536;
int			recon_connect_timeout_ms = 5000;
int			recon_socket_timeout_ms = 30000;
int			recon_progress_rows = 100000;
int			recon_audit_log_level = LOG;
int			recon_write_batch_size = 50;
static int	recon_debug_pause_point = PAUSE_NONE;
static int	recon_debug_pause_ms = 10000;

static const struct config_enum_entry pause_point_options[] = {
	{"none", PAUSE_NONE, false},
	{"after_intent", PAUSE_AFTER_INTENT, false},
	{"after_write", PAUSE_AFTER_WRITE, false},
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

void
_PG_init(void)
{
	DefineCustomIntVariable("recon.batch_size",
							"Documents per MongoDB batch and keys per re-check batch.",
							NULL, &recon_batch_size, 1000, 10, 100000,
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
	DefineCustomStringVariable("recon.databases",
							   "Databases the launcher considers (comma-separated; empty: all).",
							   NULL, &recon_databases, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("recon");

	RegisterXactCallback(forget_priv_on_abort, NULL);
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
	 */
	if (active_priv)
		SetUserIdAndSecContext(active_priv->save_userid, active_priv->save_sec_context);
	if (recon_in_worker)
		PopActiveSnapshot();
	SPI_commit();
	if (recon_in_worker)
		PushActiveSnapshot(GetTransactionSnapshot());
	if (active_priv)
		SetUserIdAndSecContext(active_priv->owner,
							   active_priv->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	recon_pin_search_path();
}

void
recon_pin_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}

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
	active_priv = priv;
	recon_pin_search_path();
}

void
recon_priv_exit(ReconPriv *priv)
{
	SetUserIdAndSecContext(priv->save_userid, priv->save_sec_context);
	active_priv = NULL;
}

/* ---------------------------------------------------------------------
 * SPI helpers
 * --------------------------------------------------------------------- */

void
recon_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
			   const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "recon: SPI returned %d for \"%s\"", rc, sql);
}

int64
recon_spi_int64(const char *sql, int nargs, Oid *types, Datum *values)
{
	return recon_spi_int64_nulls(sql, nargs, types, values, NULL);
}

int64
recon_spi_int64_nulls(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	bool		isnull;
	Datum		d;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1);

	if (rc < 0 || SPI_processed != 1)
		elog(ERROR, "recon: expected one row from \"%s\"", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* ---------------------------------------------------------------------
 * Audit
 * --------------------------------------------------------------------- */

#define AUDIT_NARGS 10

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
	const char *texts[] = {a->actor, a->action, a->mapping};
	int			i;

	memset(n, ' ', AUDIT_NARGS);
	n[AUDIT_NARGS] = '\0';
	for (i = 0; i < 3; i++)
	{
		v[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		if (!texts[i])
			n[i] = 'n';
	}
	v[3] = Int64GetDatum(a->run_id);
	n[3] = a->run_id ? ' ' : 'n';
	v[4] = Int64GetDatum(a->divergence_id);
	n[4] = a->divergence_id ? ' ' : 'n';
	v[5] = Int64GetDatum(a->repair_id);
	n[5] = a->repair_id ? ' ' : 'n';
	v[6] = a->reason ? CStringGetTextDatum(a->reason) : (Datum) 0;
	n[6] = a->reason ? ' ' : 'n';
	v[7] = a->detail ? CStringGetTextDatum(a->detail) : (Datum) 0;
	n[7] = a->detail ? ' ' : 'n';
	v[8] = a->before_hash ? CStringGetTextDatum(a->before_hash) : (Datum) 0;
	n[8] = a->before_hash ? ' ' : 'n';
	v[9] = a->after_hash ? CStringGetTextDatum(a->after_hash) : (Datum) 0;
	n[9] = a->after_hash ? ' ' : 'n';
	recon_spi_exec(sql, AUDIT_NARGS, types, v, n, SPI_OK_INSERT);
}

/* Called by the audit trigger: copies each audit row to the server log. */
PG_FUNCTION_INFO_V1(recon_audit_emit);
Datum
recon_audit_emit(PG_FUNCTION_ARGS)
{
	if (recon_audit_log_level != 0)
		ereport(recon_audit_log_level,
				(errmsg("recon audit: %s", text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errdetail_log("%s", text_to_cstring(PG_GETARG_TEXT_PP(1))),
				 errhidestmt(true)));
	PG_RETURN_VOID();
}
