/*
 * cdc.c — the change worker: it follows logical decoding and checks each
 * changed key (enable_cdc and disable_cdc are in cdc_admin.c, the decoding
 * itself in cdc_decode.c).
 *
 * One logical slot per database ("recon_<dboid>", plugin "recon"), which
 * the worker holds and decodes in process (cdc_decode.c): changed keys that
 * are due already are checked there and then, the others go to the durable
 * queue recon.cdc_queue (one row per key), and only after that commits is
 * the slot confirmed, so a crash re-reads changes instead of losing them
 * (duplicates collapse on the queue's key).  Keys are checked settle_ms
 * after their commit, together with every key due
 * in the same short window (recon.cdc_batch_window_ms) whatever its round,
 * re-checked on the recon.cdc_recheck_ms schedule while they differ, and
 * recorded as divergences only if they still differ at the last re-check;
 * with repair = auto the worker applies the planned repairs itself.
 */
#include "postgres.h"

#include "cdc.h"
#include "canonical.h"
#include "catalog.h"
#include "docshape.h"
#include "mapping.h"
#include "mongo_client.h"
#include "recheck.h"
#include "ranges.h"
#include "recon.h"
#include "repair.h"
#include "sweep.h"
#include "target.h"
#include "worker.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

PGDLLEXPORT void recon_change_worker_main(Datum arg);

/* ---------------------------------------------------------------------
 * The change worker
 * --------------------------------------------------------------------- */

typedef struct LoadArgs
{
	const char *name;
	CdcMapping *c;
} LoadArgs;

/*
 * Load one followed mapping for this cycle, under recon_try so that a broken
 * one fails alone: the mapping, its owner's SELECT on the source, its target,
 * and this worker's change run; a new worker process ends the previous
 * worker's run and starts its own.  SPI connected.
 */
static void
load_one_mapping(void *arg)
{
	LoadArgs   *la = arg;
	CdcMapping *c = la->c;
	Oid			t[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		v[3];

	c->m = recon_mapping_load(la->name);
	recon_source_check(c->m);	/* an owner that lost SELECT suspends its mapping only */
	c->t = recon_target_lookup(c->m->serverid, c->m->owner);

	v[0] = Int64GetDatum(c->m->id);
	v[1] = Int32GetDatum(MyProcPid);
	v[2] = CStringGetTextDatum(c->m->name);
	/* a new worker process starts a new CDC run */
	recon_spi_exec("INSERT INTO recon.cdc_state (mapping_id) VALUES ($1)"
				   " ON CONFLICT (mapping_id) DO NOTHING", 1, t, v, NULL, SPI_OK_INSERT);
	c->run_id = recon_spi_int64("SELECT coalesce((SELECT run_id FROM recon.cdc_state"
								" WHERE mapping_id = $1 AND worker_pid = $2), 0)", 2, t, v);
	if (c->run_id == 0)
	{
		recon_run_end_change_run(c->m->id);
		c->run_id = recon_run_start(c->m, "cdc", CDC_ACTOR);
		{
			Oid			t4[4] = {INT8OID, INT4OID, TEXTOID, INT8OID};
			Datum		v4[4] = {v[0], v[1], v[2], Int64GetDatum(c->run_id)};

			recon_spi_exec("UPDATE recon.cdc_state SET run_id = $4, worker_pid = $2,"
						   " started_at = now(), changes = 0, checks = 0, divergences = 0,"
						   " errors = 0 WHERE mapping_id = $1", 4, t4, v4, NULL, SPI_OK_UPDATE);
		}
	}
}

/*
 * Mark a mapping whose checks cannot run (its source dropped, its schema
 * drifted, its server gone): the other mappings go on, its queued keys
 * wait, and the next cycle tries again.
 */
static void
mark_broken(const char *name, const char *why)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2] = {CStringGetTextDatum(name), CStringGetTextDatum(why)};

	recon_spi_exec("UPDATE recon.cdc_state s SET broken = $2, errors = s.errors + 1,"
				   " last_error = $2, last_error_at = clock_timestamp()"
				   " FROM recon.mappings m WHERE m.mapping_id = s.mapping_id AND m.name = $1"
				   " AND s.broken IS DISTINCT FROM $2", 2, t, v, NULL, SPI_OK_UPDATE);
}

/* Load CDC mappings, each on its own; make sure each has a running CDC run of this worker. */
static CdcMapping *
load_cdc_mappings(int *n)
{
	CdcMapping *maps;
	uint64		i;
	List	   *names = NIL;
	ListCell   *lc;
	int			k = 0;

	SPI_execute("SELECT name FROM recon.mappings WHERE cdc_enabled ORDER BY name", false, 0);
	for (i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	maps = palloc0(sizeof(CdcMapping) * (list_length(names) + 1));
	foreach(lc, names)
	{
		LoadArgs	la = {lfirst(lc), &maps[k]};
		char	   *why;

		if (!recon_try(load_one_mapping, &la, &why))
		{
			ereport(LOG,
					(errmsg("recon: change checks of mapping \"%s\" are suspended: %s",
							(char *) lfirst(lc), why)));
			mark_broken(lfirst(lc), why);
			continue;
		}
		{
			Oid			t[1] = {INT8OID};
			Datum		v[1] = {Int64GetDatum(maps[k].m->id)};

			recon_spi_exec("UPDATE recon.cdc_state SET broken = NULL WHERE mapping_id = $1"
						   " AND broken IS NOT NULL", 1, t, v, NULL, SPI_OK_UPDATE);
			/* changes made while it was suspended were not decoded for it: sweep once */
			if (SPI_processed > 0)
				recon_spi_exec("INSERT INTO recon.cdc_queue (mapping_id, key_canon, key, committed_at, due_at)"
							   " VALUES ($1, '', 'full sweep after suspension', clock_timestamp(),"
							   " clock_timestamp()) ON CONFLICT DO NOTHING", 1, t, v, NULL, SPI_OK_INSERT);
		}
		k++;
	}
	*n = k;
	return maps;
}

/*
 * The quality gate over a change run's checks so far, once at least 10
 * keys were checked (catalog.c holds the formula).
 */
static bool
check_gate(CdcMapping *c)
{
	return recon_change_run_gated(c->m, c->run_id, CDC_ACTOR, 10);
}

/* What checking a set of keys decided (kept only when the whole set succeeded). */
typedef struct CheckOut
{
	List	   *done;			/* bytea keys to dequeue */
	List	   *retry;			/* bytea keys to re-check ... */
	List	   *retry_ms;		/* ... after this many ms (int) ... */
	List	   *retry_at;		/* ... (their index in a set checked whole) ... */
	TimestampTz read_at;		/* ... counted from when MongoDB was read */
	ReconRunStats stats;
} CheckOut;

typedef struct CheckArgs
{
	CdcMapping *c;
	ReconKeyed *items;
	int		   *attempts;
	TimestampTz *committed;		/* each key's latest commit */
	int			n;
	bool	   *mask;
	CheckOut   *out;
} CheckArgs;

/*
 * check_batch's body, run in a subtransaction: read both sides of a set of
 * keys and decide each one (matched: done; differing: re-checked on the
 * recon.cdc_recheck_ms schedule, then recorded as a divergence).  Any error
 * fails the whole set and the subtransaction undoes what it recorded.
 */
static void
check_keys_cb(void *arg)
{
	CheckArgs  *a = arg;
	CdcMapping *c = a->c;
	int			j,
				allowance_ms = c->m->settle_ms;

	/* settle_ms + the whole re-check schedule: what the application's write is given */
	for (j = 0; j < recon_cdc_recheck_n; j++)
		allowance_ms += recon_cdc_recheck_ms[j];
	recon_read_sides(c->m, c->t, a->items, a->n, NULL);
	a->out->read_at = GetCurrentTimestamp();
	for (j = 0; j < a->n; j++)
	{
		List	   *paths;
		ReconKeyed *it = &a->items[j];
		bytea	   *kb = palloc(VARHDRSZ + it->keylen);

		CHECK_FOR_INTERRUPTS();
		SET_VARSIZE(kb, VARHDRSZ + it->keylen);
		memcpy(VARDATA(kb), it->key, it->keylen);
		/* testing aid: a key whose check always fails (recon.debug_fail_key) */
		if (recon_debug_fail_key && recon_debug_fail_key[0] &&
			!canon_key_is_unexpected(it->key, it->keylen) &&
			strcmp(recon_key_canon_to_json(c->m, it->key, it->keylen), recon_debug_fail_key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("recon.debug_fail_key: the check of key %s fails", recon_debug_fail_key)));
		/*
		 * A key that still differs is re-checked on the schedule.  From the
		 * first re-check on, a read that came settle_ms + the whole schedule
		 * or more after the key's commit decides: the application's write
		 * has had all the time the remaining re-checks would give it, and on
		 * a server slower than the schedule each of them would only add a
		 * round.  Every recorded key was read at least twice.
		 */
		if (recon_compare_item(c->m, it, &paths, a->mask))
			a->out->done = lappend(a->out->done, kb);
		else if (a->attempts[j] < recon_cdc_recheck_n &&
				 (a->attempts[j] == 0 ||
				  a->out->read_at < TimestampTzPlusMilliseconds(a->committed[j], allowance_ms)))
		{
			a->out->retry = lappend(a->out->retry, kb);
			a->out->retry_ms = lappend_int(a->out->retry_ms, recon_cdc_recheck_ms[a->attempts[j]]);
			a->out->retry_at = lappend_int(a->out->retry_at, j);
		}
		else
		{
			recon_record_divergence(c->m, c->run_id, it, paths, a->mask, &a->out->stats);
			a->out->done = lappend(a->out->done, kb);
		}
	}
}

static void
merge_out(CheckOut *into, const CheckOut *one)
{
	into->done = list_concat(into->done, one->done);
	into->retry = list_concat(into->retry, one->retry);
	into->retry_ms = list_concat(into->retry_ms, one->retry_ms);
	into->read_at = Max(into->read_at, one->read_at);
	into->stats.candidates += one->stats.candidates;
	into->stats.divergences += one->stats.divergences;
	into->stats.new_divergences += one->stats.new_divergences;
	into->stats.repairs_planned += one->stats.repairs_planned;
}

static Datum
list_to_array(List *l, Oid elemtype)
{
	ArrayBuildState *ab = NULL;
	ListCell   *lc;

	if (l == NIL)
		return PointerGetDatum(construct_empty_array(elemtype));
	foreach(lc, l)
		ab = accumArrayResult(ab, elemtype == INT4OID ? Int32GetDatum(lfirst_int(lc)) :
							  PointerGetDatum(lfirst(lc)), false, elemtype, CurrentMemoryContext);
	return makeArrayResult(ab, CurrentMemoryContext);
}

/* Errors about the target or the connection, not about one key. */
static bool
target_wide_error(int code)
{
	return code == ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION ||
		code == ERRCODE_FDW_ERROR ||
		code == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ||
		code == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		ERRCODE_TO_CATEGORY(code) == ERRCODE_CONNECTION_EXCEPTION;
}

#define QUARANTINE_AFTER 5

/*
 * A key whose check failed: try again later (backing off), and after
 * QUARANTINE_AFTER failures move it to recon.cdc_quarantine, so it never
 * holds up the others.
 */
static void
fail_key(CdcMapping *c, ReconKeyed *it, const char *why)
{
	bytea	   *kb = palloc(VARHDRSZ + it->keylen);
	Oid			t[3] = {INT8OID, BYTEAOID, TEXTOID};
	Datum		v[3];

	SET_VARSIZE(kb, VARHDRSZ + it->keylen);
	memcpy(VARDATA(kb), it->key, it->keylen);
	v[0] = Int64GetDatum(c->m->id);
	v[1] = PointerGetDatum(kb);
	v[2] = CStringGetTextDatum(why);
	recon_spi_exec("UPDATE recon.cdc_queue SET failures = failures + 1, last_error = $3,"
				   " due_at = clock_timestamp() + least(60000, 500 * (1 << least(failures, 7)))"
				   " * interval '1 millisecond' WHERE mapping_id = $1 AND key_canon = $2",
				   3, t, v, NULL, SPI_OK_UPDATE);
	recon_spi_exec("WITH q AS (DELETE FROM recon.cdc_queue WHERE mapping_id = $1 AND key_canon = $2"
				   " AND failures >= " CppAsString2(QUARANTINE_AFTER) " RETURNING *)"
				   " INSERT INTO recon.cdc_quarantine (mapping_id, key_canon, key, committed_at, failures,"
				   " last_error) SELECT mapping_id, key_canon, key, committed_at, failures, last_error FROM q"
				   " ON CONFLICT (mapping_id, key_canon) DO UPDATE SET failures = EXCLUDED.failures,"
				   " last_error = EXCLUDED.last_error, quarantined_at = clock_timestamp()",
				   2, t, v, NULL, SPI_OK_INSERT);
	if (SPI_processed > 0)
		ereport(WARNING,
				(errmsg("recon: key %s of mapping \"%s\" quarantined after %d failed checks",
						canon_key_is_unexpected(it->key, it->keylen) ? "(unexpected _id)" :
						recon_key_canon_to_json(c->m, it->key, it->keylen), c->m->name,
						QUARANTINE_AFTER),
				 errdetail("%s", why),
				 errhint("See recon.cdc_quarantine; DELETE the row there after fixing the cause and sweep.")));
	recon_spi_exec("UPDATE recon.cdc_state SET errors = errors + 1, last_error = $3,"
				   " last_error_at = clock_timestamp() WHERE mapping_id = $1", 3, t, v, NULL, SPI_OK_UPDATE);
}

/*
 * One source query and one $in query for the whole set.  A set that fails
 * for one key's sake is retried key by key when isolate is set, so that one
 * bad key fails alone; otherwise the caller is told (false).  MongoDB
 * unreachable or refusing us is no fault of a key: that is an error.
 */
static bool
check_batch(CdcMapping *c, ReconKeyed *items, int *attempts, TimestampTz *committed, int n,
			bool isolate, CheckOut *out)
{
	bool	   *mask = palloc0(sizeof(bool) * (c->m->nfields + 1));
	CheckArgs	ca = {c, items, attempts, committed, n, mask, out};
	char	   *why;
	int			code;
	int			j;

	if (recon_try_code(check_keys_cb, &ca, &why, &code))
		return true;
	if (target_wide_error(code))
		ereport(ERROR, (errcode(code), errmsg("%s", why)));
	*out = (CheckOut) {0};
	if (!isolate)
	{
		ereport(LOG,
				(errmsg("recon: %d changed keys of mapping \"%s\" go to the queue: one of them could not be checked",
						n, c->m->name),
				 errdetail("%s", why)));
		return false;
	}
	for (j = 0; j < n; j++)
	{
		CheckOut	one = {0};
		CheckArgs	ka = {c, &items[j], &attempts[j], &committed[j], 1, mask, &one};

		CHECK_FOR_INTERRUPTS();
		if (recon_try_code(check_keys_cb, &ka, &why, &code))
			merge_out(out, &one);
		else if (target_wide_error(code))
			ereport(ERROR, (errcode(code), errmsg("%s", why)));
		else
			fail_key(c, &items[j], why);
	}
	return true;
}

/* The run's and the mapping's counters after n checked keys; audit what was recorded. */
static void
count_checks(CdcMapping *c, int n, const ReconRunStats *stats)
{
	Oid			t[3] = {INT8OID, INT8OID, INT8OID};
	Datum		v[3] = {Int64GetDatum(c->m->id), Int64GetDatum(n), Int64GetDatum(stats->divergences)};

	recon_spi_exec("UPDATE recon.cdc_state SET checks = checks + $2, divergences = divergences + $3,"
				   " last_check_at = clock_timestamp() WHERE mapping_id = $1",
				   3, t, v, NULL, SPI_OK_UPDATE);
	recon_run_count_checks(c->run_id, n, stats);
	if (stats->divergences > 0)
	{
		recon_audit_change_run_records(c->m, c->run_id, CDC_ACTOR);
		c->recorded = true;
	}
}

/* Checked keys leave the queue. */
static void
dequeue(CdcMapping *c, List *keys)
{
	Oid			t[2] = {INT8OID, BYTEAARRAYOID};
	Datum		v[2] = {Int64GetDatum(c->m->id), list_to_array(keys, BYTEAOID)};

	recon_spi_exec("DELETE FROM recon.cdc_queue WHERE mapping_id = $1 AND key_canon = ANY($2)",
				   2, t, v, NULL, SPI_OK_DELETE);
}

/* Queued keys that still differ wait for their next re-check, counted from the MongoDB read. */
static void
requeue(CdcMapping *c, List *keys, List *ms, TimestampTz read_at)
{
	Oid			t[4] = {INT8OID, BYTEAARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID};
	Datum		v[4] = {Int64GetDatum(c->m->id), list_to_array(keys, BYTEAOID), list_to_array(ms, INT4OID),
	TimestampTzGetDatum(read_at ? read_at : GetCurrentTimestamp())};

	recon_spi_exec("UPDATE recon.cdc_queue q SET attempts = q.attempts + 1,"
				   " due_at = $4 + r.ms * interval '1 millisecond'"
				   " FROM unnest($2, $3) AS r(k, ms) WHERE q.mapping_id = $1 AND q.key_canon = r.k",
				   4, t, v, NULL, SPI_OK_UPDATE);
}

/*
 * Keys the decoder found already due (a backlog, a large transaction, or
 * changes committed settle_ms before the poll): checked before they are
 * queued, so a key that matches never touches the queue.  With
 * with_queue, the queue's own due keys of the mapping join the batch (up to
 * recon.batch_size in all), so that the cycle makes one MongoDB round, not
 * two.  The slot is confirmed only after this transaction commits, as for
 * queued keys: a crash re-decodes them.  A decoded key that still differs
 * is queued for its first re-check, and one whose older change waits in
 * the queue leaves it when the new one matches.  Returns false, having
 * changed nothing, when a key could not be checked: the caller queues the
 * decoded keys, and the cycle's round checks everything key by key.
 */
bool
recon_cdc_check_decoded(CdcMapping *c, const CdcDecodedKey *keys, int n, bool with_queue)
{
	int			cap = Max(n, recon_batch_size);
	ReconKeyed *items = palloc0(sizeof(ReconKeyed) * cap);
	int		   *attempts = palloc0(sizeof(int) * cap);
	TimestampTz *committed = palloc(sizeof(TimestampTz) * cap);
	CheckOut	out = {0};
	int			total = n,
				j;
	bool		queued;

	for (j = 0; j < n; j++)
	{
		items[j].key = keys[j].key;
		items[j].keylen = keys[j].keylen;
		committed[j] = keys[j].committed_at;
	}
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(c->m->id)};

		queued = recon_spi_int64("SELECT count(*) FROM (SELECT FROM recon.cdc_queue WHERE mapping_id = $1 LIMIT 1) q",
								 1, t, v) > 0;
	}
	if (with_queue && queued && n < recon_batch_size)
	{
		Oid			t[2] = {INT8OID, INT4OID};
		Datum		v[2] = {Int64GetDatum(c->m->id), Int32GetDatum(recon_batch_size - n)};
		HASHCTL		ctl;
		HTAB	   *decoded;
		uint64		r;
		SPITupleTable *tt;

		ctl.keysize = sizeof(CanonDigest);
		ctl.entrysize = sizeof(CanonDigest);
		ctl.hcxt = CurrentMemoryContext;
		decoded = hash_create("recon decoded keys", n + 1, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (j = 0; j < n; j++)
		{
			CanonDigest d = canon_digest(keys[j].key, keys[j].keylen);

			(void) hash_search(decoded, &d, HASH_ENTER, NULL);
		}
		recon_spi_exec(psprintf("SELECT key_canon, attempts, committed_at FROM recon.cdc_queue"
								" WHERE mapping_id = $1 AND key_canon <> ''"
								" AND due_at <= clock_timestamp() + interval '%d milliseconds'"
								" ORDER BY due_at LIMIT $2", recon_cdc_batch_window_ms),
					   2, t, v, NULL, SPI_OK_SELECT);
		tt = SPI_tuptable;
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			bytea	   *kc = DatumGetByteaPCopy(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
			CanonDigest d = canon_digest(VARDATA(kc), VARSIZE(kc) - VARHDRSZ);

			CHECK_FOR_INTERRUPTS();
			if (hash_search(decoded, &d, HASH_FIND, NULL) != NULL)
				continue;		/* its new change is checked as decoded */
			items[total].key = VARDATA(kc);
			items[total].keylen = VARSIZE(kc) - VARHDRSZ;
			attempts[total] = DatumGetInt32(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
			committed[total] = DatumGetTimestampTz(SPI_getbinval(tt->vals[r], tt->tupdesc, 3, &isnull));
			total++;
		}
	}
	if (!check_batch(c, items, attempts, committed, total, false, &out))
		return false;
	if (out.done != NIL && queued)
		dequeue(c, out.done);
	if (out.retry != NIL)
	{
		List	   *dk = NIL,
				   *dms = NIL,
				   *texts = NIL,
				   *qk = NIL,
				   *qms = NIL;
		ListCell   *lk,
				   *lm,
				   *la;
		ArrayBuildState *cab = NULL;

		forthree(lk, out.retry, lm, out.retry_ms, la, out.retry_at)
		{
			int			at = lfirst_int(la);

			if (at >= n)
			{
				qk = lappend(qk, lfirst(lk));
				qms = lappend_int(qms, lfirst_int(lm));
				continue;
			}
			dk = lappend(dk, lfirst(lk));
			dms = lappend_int(dms, lfirst_int(lm));
			texts = lappend(texts, cstring_to_text(keys[at].keytext));
			cab = accumArrayResult(cab, TimestampTzGetDatum(keys[at].committed_at), false,
								   TIMESTAMPTZOID, CurrentMemoryContext);
		}
		if (qk != NIL)
			requeue(c, qk, qms, out.read_at);
		if (dk != NIL)
		{
			Oid			t[6] = {INT8OID, BYTEAARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID,
			TIMESTAMPTZOID};
			Datum		v[6] = {Int64GetDatum(c->m->id), list_to_array(dk, BYTEAOID),
				list_to_array(texts, TEXTOID), makeArrayResult(cab, CurrentMemoryContext),
			list_to_array(dms, INT4OID), TimestampTzGetDatum(out.read_at)};

			recon_spi_exec("INSERT INTO recon.cdc_queue AS q (mapping_id, key_canon, key, committed_at, due_at, attempts)"
						   " SELECT $1, k, kt, ct, $6 + ms * interval '1 millisecond', 1"
						   " FROM unnest($2, $3, $4, $5) AS r(k, kt, ct, ms)"
						   " ON CONFLICT (mapping_id, key_canon) DO UPDATE SET"
						   " committed_at = greatest(q.committed_at, EXCLUDED.committed_at),"
						   " due_at = EXCLUDED.due_at, attempts = 1",
						   6, t, v, NULL, SPI_OK_INSERT);
		}
	}
	count_checks(c, total, &out.stats);
	return true;
}

/* Check due keys; returns true when a full batch was due. */
static bool
check_due_keys(CdcMapping *maps, int nmaps)
{
	uint64		nrows,
				i;
	int			limit = recon_batch_size;
	int			mi;

	/*
	 * Every key due now or within the window, whatever its round, in one
	 * batch per mapping.  Only this worker (it holds the slot) takes keys
	 * from the queue, so they need no row locks.
	 */
	recon_spi_exec(psprintf("SELECT mapping_id, key_canon, attempts, committed_at FROM recon.cdc_queue"
							" WHERE due_at <= clock_timestamp() + interval '%d milliseconds'"
							" ORDER BY due_at LIMIT %d",
							recon_cdc_batch_window_ms, limit), 0, NULL, NULL, NULL, SPI_OK_SELECT);
	nrows = SPI_processed;
	if (nrows == 0)
		return false;
	{
		SPITupleTable *tt = SPI_tuptable;

		for (mi = 0; mi < nmaps; mi++)
		{
			CdcMapping *c = &maps[mi];
			ReconKeyed *items;
			int		   *attempts;
			TimestampTz *committed;
			int			n = 0;
			bool		sweep = false;
			CheckOut	out = {0};

			if (c->rounded)
				continue;		/* its due keys were checked with its decoded ones */
			items = palloc0(sizeof(ReconKeyed) * nrows);
			attempts = palloc0(sizeof(int) * nrows);
			committed = palloc0(sizeof(TimestampTz) * nrows);

			for (i = 0; i < nrows; i++)
			{
				bool		isnull;
				int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
				bytea	   *kc;

				CHECK_FOR_INTERRUPTS();
				if (id != c->m->id)
					continue;
				kc = DatumGetByteaPCopy(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
				if (VARSIZE(kc) == VARHDRSZ)
				{
					sweep = true;
					continue;
				}
				items[n].key = VARDATA(kc);
				items[n].keylen = VARSIZE(kc) - VARHDRSZ;
				attempts[n] = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
				committed[n] = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
				n++;
			}
			if (sweep)
			{
				Oid			t[1] = {INT8OID};
				Datum		v[1] = {Int64GetDatum(c->m->id)};

				ereport(LOG, (errmsg("recon: full sweep of mapping \"%s\" after a TRUNCATE or an unreadable key",
									 c->m->name)));
				(void) recon_sweep_mapping(c->m->name, CDC_ACTOR, 0);
				recon_spi_exec("DELETE FROM recon.cdc_queue WHERE mapping_id = $1 AND key_canon = ''",
							   1, t, v, NULL, SPI_OK_DELETE);
			}
			if (n == 0)
				continue;

			/* the whole cycle fails on a target-wide error: every key stays queued */
			(void) check_batch(c, items, attempts, committed, n, true, &out);
			if (out.done != NIL)
				dequeue(c, out.done);
			if (out.retry != NIL)
				requeue(c, out.retry, out.retry_ms, out.read_at);
			count_checks(c, n, &out.stats);
		}
	}
	recon_commit();
	return nrows >= (uint64) limit;
}

/* repair = auto: the worker applies what its checks recorded, under the same gates and audit */
static void
apply_recorded(CdcMapping *maps, int nmaps)
{
	int			mi;

	for (mi = 0; mi < nmaps; mi++)
	{
		CdcMapping *c = &maps[mi];
		int64		verified = 0,
					conflicts = 0,
					failed = 0;

		if (!c->recorded || c->m->repair != REPAIR_AUTO)
			continue;
		c->recorded = false;
		if (check_gate(c))
		{
			recon_commit();
			continue;
		}
		(void) recon_apply_run(c->m, c->t, c->run_id, CDC_ACTOR, &verified, &conflicts, &failed);
	}
}

/*
 * After a failed cycle (its transaction aborted): count the error for every
 * followed mapping and push the queue's due times settle_ms ahead, in a
 * transaction of its own.  A failure here is swallowed; the next cycle
 * retries.
 */
static void
record_worker_error(const char *message)
{
	PG_TRY();
	{
		Oid			t[1] = {TEXTOID};
		Datum		v[1] = {CStringGetTextDatum(message)};

		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		recon_pin_search_path();
		recon_spi_exec("UPDATE recon.cdc_state SET errors = errors + 1, last_error = $1,"
					   " last_error_at = clock_timestamp()"
					   " WHERE mapping_id IN (SELECT mapping_id FROM recon.mappings WHERE cdc_enabled)",
					   1, t, v, NULL, SPI_OK_UPDATE);
		/*
		 * After a failure (MongoDB down, typically) the application's own
		 * writes are late too: give them settle_ms from now before checking.
		 */
		v[0] = CStringGetTextDatum(recon_mapping_option_default("settle_ms"));
		recon_spi_exec("UPDATE recon.cdc_queue q SET due_at = greatest(q.due_at, clock_timestamp()"
					   " + coalesce(m.options->>'settle_ms', $1)::float8 * interval '1 millisecond')"
					   " FROM recon.mappings m WHERE m.mapping_id = q.mapping_id",
					   1, t, v, NULL, SPI_OK_UPDATE);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
}

/* Milliseconds until the cycle after this one has keys to check (-1: none queued). */
static long next_due_ms = -1;

/*
 * When the next queued key of a loaded mapping falls due (keys of suspended
 * mappings wait for their mapping and must not wake the worker).
 */
static long
ms_until_next_due(CdcMapping *maps, int nmaps)
{
	ArrayBuildState *ids = NULL;
	int			i;
	bool		isnull;
	Datum		d;
	Oid			t[1] = {INT8ARRAYOID};
	Datum		v[1];

	if (nmaps == 0)
		return -1;
	for (i = 0; i < nmaps; i++)
		ids = accumArrayResult(ids, Int64GetDatum(maps[i].m->id), false, INT8OID, CurrentMemoryContext);
	v[0] = makeArrayResult(ids, CurrentMemoryContext);
	recon_spi_exec("SELECT extract(epoch FROM min(due_at) - clock_timestamp()) * 1000"
				   " FROM recon.cdc_queue WHERE mapping_id = ANY($1)", 1, t, v, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return -1;
	return (long) Max(0.0, DatumGetFloat8(DirectFunctionCall1(numeric_float8, d)));
}

/* One cycle: decode, queue, check.  Returns true when there is more to do. */
static bool
cdc_cycle(const char *slot)
{
	CdcMapping *maps;
	int			nmaps;
	bool		busy,
				checked;

	StartTransactionCommand();
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	PushActiveSnapshot(GetTransactionSnapshot());
	recon_pin_search_path();

	if (recon_spi_int64("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'recon'",
						0, NULL, NULL) > 0)
		recon_resume_orphaned_range_runs();	/* the launcher's agent in this database */
	if (recon_spi_int64("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'recon'",
						0, NULL, NULL) == 0 ||
		recon_spi_int64("SELECT count(*) FROM recon.mappings WHERE cdc_enabled", 0, NULL, NULL) == 0)
	{
		/* nothing to follow here: drop the slot if we own one, and go */
		Oid			t[1] = {TEXTOID};
		Datum		v[1] = {CStringGetTextDatum(slot)};

		recon_cdc_decode_close();

		if (recon_spi_int64("SELECT count(*) FROM pg_catalog.pg_replication_slots"
							" WHERE slot_name = $1 AND NOT active", 1, t, v) > 0)
		{
			recon_spi_exec("SELECT pg_catalog.pg_drop_replication_slot($1)", 1, t, v, NULL, SPI_OK_SELECT);
			ereport(LOG, (errmsg("recon: dropped slot %s: no mapping follows changes here", slot)));
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
		recon_mark_db_idle(MyDatabaseId);
		proc_exit(0);
	}

	/* a missing or invalidated slot: changes may be lost, so sweep everything */
	{
		Oid			t[1] = {TEXTOID};
		Datum		v[1] = {CStringGetTextDatum(slot)};
		bool		lost = recon_spi_int64("SELECT count(*) FROM pg_catalog.pg_replication_slots"
										   " WHERE slot_name = $1 AND wal_status = 'lost'", 1, t, v) > 0;

		if (lost)
			recon_cdc_decode_close();
		if (lost)
			recon_spi_exec("SELECT pg_catalog.pg_drop_replication_slot($1)", 1, t, v, NULL, SPI_OK_SELECT);
		if (lost || !recon_cdc_slot_exists(slot))
		{
			recon_cdc_create_slot(slot);
			recon_spi_exec("INSERT INTO recon.cdc_queue (mapping_id, key_canon, key, committed_at, due_at)"
						   " SELECT mapping_id, '', '(full sweep: slot recreated)', now(), now()"
						   " FROM recon.mappings WHERE cdc_enabled ON CONFLICT DO NOTHING",
						   0, NULL, NULL, NULL, SPI_OK_INSERT);
			ereport(LOG,
					(errmsg("recon: created slot %s%s; every mapping gets a full sweep", slot,
							lost ? " (the old one was invalidated)" : "")));
		}
	}
	maps = load_cdc_mappings(&nmaps);
	recon_commit();

	busy = recon_cdc_decode(slot, maps, nmaps, &checked);

	/*
	 * One MongoDB round per mapping and cycle: a mapping whose decoded keys
	 * were checked (with its due queued keys) leaves the keys that fell due
	 * meanwhile to the next cycle, which comes at once; the others have
	 * their round now.
	 */
	busy |= check_due_keys(maps, nmaps);
	busy |= checked;
	apply_recorded(maps, nmaps);
	next_due_ms = ms_until_next_due(maps, nmaps);

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	return busy;
}

/*
 * Background worker entry for one database (arg: its OID, from the launcher):
 * runs cdc_cycle in a per-cycle memory context until no mapping follows
 * changes (it then exits), logging and counting a failed cycle and retrying it
 * after recon.naptime.  Idle, it sleeps until the next poll or queued key.
 */
void
recon_change_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	char	   *slot;
	MemoryContext cycle_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("recon change worker");
	recon_in_worker = true;
	/* short MongoDB timeouts keep SIGTERM and cancel responsive */
	SetConfigOption("recon.socket_timeout_ms", "2000", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("recon.connect_timeout_ms", "1000", PGC_SUSET, PGC_S_OVERRIDE);
	recon_mongo_keep_reply_memory(true);	/* its own process: for its whole life */

	slot = MemoryContextStrdup(TopMemoryContext, recon_cdc_slot_name(dboid));
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "recon change worker cycle",
									  ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, (errmsg("recon: change worker started for database %u", dboid)));

	for (;;)
	{
		bool		busy = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(cycle_cxt);

		/*
		 * SPI's non-atomic procedure context hangs off PortalContext, which a
		 * background worker does not have: give it the cycle's, so that it is
		 * freed with the cycle, also after a failed one.
		 */
		PortalContext = cycle_cxt;
		PG_TRY();
		{
			busy = cdc_cycle(slot);
		}
		PG_CATCH();
		{
			ErrorData  *e;

			/* a per-item failure: log, count, keep the queue, retry later */
			MemoryContextSwitchTo(cycle_cxt);
			e = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			recon_cdc_decode_after_error();
			record_worker_error(e->message);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 recon_naptime_s * 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		PortalContext = NULL;
		MemoryContextReset(cycle_cxt);
		if (!busy)
		{
			/* the next poll, or sooner when queued keys fall due (a re-check, typically) */
			long		wait_ms = recon_poll_ms;

			if (next_due_ms >= 0)
				wait_ms = Max(10, Min(wait_ms, next_due_ms - recon_cdc_batch_window_ms));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
