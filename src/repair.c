/*
 * repair.c — applying planned repairs to MongoDB (recon.apply_repairs)
 * and the four-eyes approval of repairs (approve_repairs, reject_repairs).
 *
 * Each batch commits its intent ("applying") before any write, then in a
 * second transaction re-reads the source rows FOR SHARE and the current
 * documents, writes compare-and-set (a document that changed since recon
 * saw it is left alone), reads the documents back and commits the result.
 * A crash between the two leaves repairs "applying": the next call
 * resolves them by reading, and only writes where the document still
 * looks as recon saw it.
 */
#include "postgres.h"

#include "repair.h"
#include "canonical.h"
#include "catalog.h"
#include "docshape.h"
#include "mapping.h"
#include "mongo_client.h"
#include "recheck.h"
#include "recon.h"
#include "target.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

typedef enum Outcome
{
	OUT_NONE,					/* to be written */
	OUT_CONSISTENT,				/* already agreed: nothing written */
	OUT_CONFLICT,
	OUT_FAILED
} Outcome;

typedef struct RepairItem
{
	ReconKeyed	k;
	int64		repair_id;
	int64		divergence_id;
	char	   *action;
	char	   *seen_hash;		/* target hash when the divergence was recorded */
	char	   *options_hash;	/* mapping options it was planned under (NULL: 0.1.0) */
	int			attempts;		/* > 1: a retry of an in-doubt repair */
	Outcome		outcome;
	bool		written;
	char	   *message;
	char	   *operation;		/* redacted JSON of what was sent */
} RepairItem;

static bool
same_hash(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static char *
bson_json(const bson_t *b)
{
	return recon_bson_to_json_text(b);
}

/*
 * Decide what item needs and queue the write in bulk.  Returns true when
 * a write was queued.
 */
static bool
build_write(const ReconMapping *m, RepairItem *r, mongoc_bulk_operation_t *bulk,
			bson_t *filter, bson_t *body, bson_t *shown)
{
	List	   *paths;
	bool	   *mask = palloc0(sizeof(bool) * (m->nfields + 1));
	char	   *now_hash;
	const char *now_action;
	bson_error_t err;
	bool		ok = true;
	bool		queued = false;

	if (recon_compare_item(m, &r->k, &paths, mask))
	{
		r->outcome = OUT_CONSISTENT;
		return false;
	}
	now_hash = recon_item_target_hash(&r->k);
	if (!same_hash(now_hash, r->seen_hash))
	{
		r->outcome = OUT_CONFLICT;
		r->message = "the document changed since recon saw it; re-check with a new sweep";
		return false;
	}
	if (!r->k.src_present && strcmp(r->action, "delete") != 0)
	{
		r->outcome = OUT_CONFLICT;
		r->message = "the source row was deleted since the sweep; re-check with a new sweep";
		return false;
	}
	if (r->options_hash && strcmp(r->options_hash, m->options_hash) != 0)
	{
		r->outcome = OUT_CONFLICT;
		r->message = "the mapping's options changed since this repair was planned; a new sweep plans it again";
		return false;
	}
	/* what was planned (and approved) is what may be written, nothing else */
	now_action = recon_repair_action(m, r->k.src_present, r->k.doc != NULL);
	if (now_action == NULL || strcmp(now_action, r->action) != 0)
	{
		r->outcome = OUT_CONFLICT;
		r->message = now_action == NULL ?
			psprintf("the %s that was planned is no longer allowed; a new sweep plans again", r->action) :
			psprintf("the repair would now be a%s %s, not the %s that was planned;"
					 " a new sweep plans it again", strchr("aeiou", now_action[0]) ? "n" : "",
					 now_action, r->action);
		return false;
	}

	if (r->k.src_present && r->k.doc == NULL)
	{
		recon_build_document(m, r->k.values, r->k.nulls, body, false);
		recon_build_document(m, r->k.values, r->k.nulls, shown, true);
		ok = mongoc_bulk_operation_insert_with_opts(bulk, body, NULL, &err);
		r->operation = psprintf("{\"insert\": %s}", bson_json(shown));
	}
	else
	{
		if (m->repair_replace)
			recon_build_whole_cas_filter(m, r->k.doc, filter);
		else
			recon_build_cas_filter(m, r->k.doc, filter);
		if (!r->k.src_present)
		{
			bson_iter_t idit;

			ok = mongoc_bulk_operation_remove_one_with_opts(bulk, filter, NULL, &err);
			/* the filter holds every mapped value as seen: show the _id only */
			if (bson_iter_init_find(&idit, filter, "_id"))
				bson_append_iter(shown, "_id", 3, &idit);
			r->operation = psprintf("{\"delete\": %s, \"if_unchanged\": true}", bson_json(shown));
		}
		else if (m->repair_replace)
		{
			recon_build_replace_update(m, r->k.values, r->k.nulls, r->k.doc, body, false);
			recon_build_document(m, r->k.values, r->k.nulls, shown, true);
			ok = mongoc_bulk_operation_update_one_with_opts(bulk, filter, body, NULL, &err);
			r->operation = psprintf("{\"replace\": %s}", bson_json(shown));
		}
		else
		{
			recon_build_update(m, r->k.values, r->k.nulls, body, false, mask);
			recon_build_update(m, r->k.values, r->k.nulls, shown, true, mask);
			if (bson_count_keys(body) == 0)
			{
				r->outcome = OUT_CONSISTENT;	/* only unmapped fields differ */
				goto done;
			}
			ok = mongoc_bulk_operation_update_one_with_opts(bulk, filter, body, NULL, &err);
			r->operation = psprintf("{\"update\": %s}", bson_json(shown));
		}
	}
	queued = ok;
	if (!ok)
	{
		r->outcome = OUT_FAILED;
		r->message = recon_mongo_safe_message(err.message);
	}
done:
	return queued;
}

typedef struct BuildWriteArgs
{
	const ReconMapping *m;
	RepairItem *r;
	mongoc_bulk_operation_t *bulk;
	bson_t	   *filter,
			   *body,
			   *shown;
	bool		queued;
} BuildWriteArgs;

static void
build_write_cb(void *arg)
{
	BuildWriteArgs *a = arg;

	a->queued = build_write(a->m, a->r, a->bulk, a->filter, a->body, a->shown);
}

/*
 * build_write for one item, isolated: a value that cannot be written (a
 * jsonb number no BSON type holds exactly, a document nested too deeply)
 * fails that repair with its reason, and the batch goes on.
 */
static bool
queue_write(const ReconMapping *m, RepairItem *r, mongoc_bulk_operation_t *bulk)
{
	bson_t		filter = BSON_INITIALIZER,
				body = BSON_INITIALIZER,
				shown = BSON_INITIALIZER;
	BuildWriteArgs a = {m, r, bulk, &filter, &body, &shown, false};
	char	   *why;

	if (!recon_try(build_write_cb, &a, &why))
	{
		r->outcome = OUT_FAILED;
		r->message = psprintf("cannot be written: %s", why);
		a.queued = false;
	}
	bson_destroy(&filter);
	bson_destroy(&body);
	bson_destroy(&shown);
	return a.queued;
}

/* Per-operation errors of a bulk reply, by operation index; returns how many. */
static int
collect_write_errors(const bson_t *reply, RepairItem **byop, int nops)
{
	bson_iter_t it,
				arr;
	int			found = 0;

	if (!bson_iter_init_find(&it, reply, "writeErrors") || !bson_iter_recurse(&it, &arr))
		return 0;
	while (bson_iter_next(&arr))
	{
		bson_iter_t e;
		int			idx = -1;
		int			code = 0;
		const char *msg = "write error";

		if (!bson_iter_recurse(&arr, &e))
			continue;
		while (bson_iter_next(&e))
		{
			if (strcmp(bson_iter_key(&e), "index") == 0)
				idx = bson_iter_as_int64(&e);
			else if (strcmp(bson_iter_key(&e), "code") == 0)
				code = bson_iter_as_int64(&e);
			else if (strcmp(bson_iter_key(&e), "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&e))
				msg = bson_iter_utf8(&e, NULL);
		}
		if (idx < 0 || idx >= nops)
			continue;
		found++;
		byop[idx]->written = false;
		/* a duplicate _id on insert: someone else wrote the document meanwhile */
		byop[idx]->outcome = code == 11000 ? OUT_CONFLICT : OUT_FAILED;
		byop[idx]->message = psprintf("MongoDB error %d: %s", code, recon_mongo_safe_message(msg));
	}
	return found;
}

/*
 * Queue the write each undecided item needs and send them as one unordered
 * bulk write.  Per-operation errors fail or conflict those items, a refused
 * command fails them all; on a transport error the outcome is unknown, so it
 * raises and the repairs stay "applying" (in doubt) for the next call.
 */
static void
execute_bulk(const ReconMapping *m, const ReconTarget *t, RepairItem *items, int n)
{
	mongoc_collection_t *coll = recon_mongo_collection(t, m->collection);
	bson_t		opts = BSON_INITIALIZER;
	bson_t		reply = BSON_INITIALIZER;
	mongoc_bulk_operation_t *bulk;
	RepairItem **byop = palloc(sizeof(RepairItem *) * (n + 1));
	int			nops = 0,
				i;
	bson_error_t err;
	bool		transport_error = false;

	BSON_APPEND_BOOL(&opts, "ordered", false);
	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (items[i].outcome != OUT_NONE)
				continue;
			if (queue_write(m, &items[i], bulk))
			{
				items[i].written = true;
				byop[nops++] = &items[i];
			}
		}
		recon_debug_pause(PAUSE_BEFORE_WRITE);
		if (nops > 0 && !mongoc_bulk_operation_execute(bulk, &reply, &err))
		{
			/*
			 * Per-operation errors fail those repairs.  Otherwise the whole
			 * command failed: on the wire the outcome is unknown (in doubt);
			 * refused by the server, nothing was written (failed, with its
			 * reason) — never a "conflict" found by reading back.
			 */
			if (collect_write_errors(&reply, byop, nops) == 0)
			{
				if (err.domain == MONGOC_ERROR_STREAM || err.domain == MONGOC_ERROR_SERVER_SELECTION)
					transport_error = true;
				else
				{
					char	   *why = psprintf("MongoDB refused the write: %s (code %u)",
											   recon_mongo_safe_message(err.message), err.code);

					for (i = 0; i < nops; i++)
					{
						byop[i]->written = false;
						byop[i]->outcome = OUT_FAILED;
						byop[i]->message = why;
					}
				}
			}
		}
	}
	PG_FINALLY();
	{
		mongoc_bulk_operation_destroy(bulk);
		mongoc_collection_destroy(coll);
		bson_destroy(&opts);
		bson_destroy(&reply);
	}
	PG_END_TRY();
	/* outcome unknown: leave them "applying" (in doubt) for the next call */
	if (transport_error)
		recon_mongo_raise(&err, "applying repairs (they stay in doubt and are resolved by the next recon.apply_repairs)");
}

/* After writing: read back, and call a repair verified only if it agrees now. */
static void
verify_written(const ReconMapping *m, const ReconTarget *t, RepairItem *items, int n)
{
	ReconKeyed *keys = palloc0(sizeof(ReconKeyed) * n);
	int		   *map = palloc(sizeof(int) * n);
	int			nk = 0,
				i;

	for (i = 0; i < n; i++)
		if (items[i].written && items[i].outcome == OUT_NONE)
		{
			keys[nk] = items[i].k;
			map[nk++] = i;
		}
	if (nk == 0)
		return;
	recon_read_sides(m, t, keys, nk, NULL);
	for (i = 0; i < nk; i++)
	{
		RepairItem *r = &items[map[i]];
		List	   *paths;

		/*
		 * Rows that existed are still held FOR SHARE: keep what was read.  A
		 * delete had no row to lock: the fresh read says whether one appeared
		 * while its document was deleted.
		 */
		if (strcmp(r->action, "delete") != 0)
		{
			keys[i].src_present = r->k.src_present;
			keys[i].values = r->k.values;
			keys[i].nulls = r->k.nulls;
		}
		if (strcmp(r->action, "delete") == 0 && keys[i].src_present)
		{
			r->outcome = OUT_CONFLICT;
			r->message = "the source row appeared while its document was deleted; a new sweep or change check re-creates the document";
		}
		else if (!recon_compare_item(m, &keys[i], &paths, NULL))
		{
			r->outcome = OUT_CONFLICT;
			r->message = "read-back differs: the write did not take effect (the document changed concurrently, or the batch stopped at an earlier error)";
		}
		r->k.doc = keys[i].doc;
		r->k.doc_canon = keys[i].doc_canon;
	}
}

/*
 * Record each item's outcome (verified, conflict, failed) with its audit
 * row; an in-doubt retry that finds its earlier write in place counts as
 * applied.  *consecutive_failures counts failures in a row, for the
 * max_write_errors gate.
 */
static void
record_outcomes(const ReconMapping *m, int64 run_id, const char *actor, RepairItem *items,
				int n, int *consecutive_failures)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		RepairItem *r = &items[i];
		const char *status;
		ReconAuditAction action;
		char	   *after = NULL;
		ReconRepairOutcome o;

		switch (r->outcome)
		{
			case OUT_NONE:
				status = "verified";
				action = AUDIT_REPAIR_APPLIED;
				after = recon_item_target_hash(&r->k);
				*consecutive_failures = 0;
				break;
			case OUT_CONSISTENT:
				status = "verified";
				action = AUDIT_REPAIR_VERIFIED;
				after = recon_item_target_hash(&r->k);
				r->message = r->written ? NULL : "already consistent: nothing written";
				/*
				 * In doubt, and the document no longer looks as recon saw it but
				 * as recon would write it: the earlier attempt's write landed.
				 * Record it as the change recon made.
				 */
				if (!r->written && r->attempts > 1 && !same_hash(after, r->seen_hash))
				{
					action = AUDIT_REPAIR_APPLIED;
					r->message = "in doubt: the earlier attempt's write is in place (nothing written again)";
				}
				*consecutive_failures = 0;
				break;
			case OUT_CONFLICT:
				status = "conflict";
				action = AUDIT_REPAIR_CONFLICT;
				break;
			default:
				status = "failed";
				action = AUDIT_REPAIR_FAILED;
				(*consecutive_failures)++;
				break;
		}
		o.repair_id = r->repair_id;
		o.divergence_id = r->divergence_id;
		o.status = status;
		o.action = action;
		o.after_hash = after;
		o.message = r->message;
		o.operation = r->operation;
		o.seen_hash = r->seen_hash;
		recon_repair_record_outcome(m, run_id, actor, &o);
	}
}

/*
 * The claimed repairs among ids still "applying", locked (rows another
 * session holds are skipped), with their keys and the target hash recon saw,
 * into *out (palloc'd); returns how many.  SPI connected.
 */
static int
load_batch(Datum ids, RepairItem **out)
{
	Oid			t[1] = {INT8ARRAYOID};
	Datum		v[1] = {ids};
	RepairItem *items;
	uint64		i;

	recon_spi_exec("SELECT r.repair_id, r.divergence_id, r.action, d.key_canon, d.target_hash,"
				   " r.options_hash, r.attempts FROM recon.repairs r JOIN recon.divergences d USING (divergence_id)"
				   " WHERE r.repair_id = ANY($1) AND r.status = 'applying'"
				   " ORDER BY r.repair_id FOR UPDATE OF r SKIP LOCKED",
				   1, t, v, NULL, SPI_OK_SELECT);
	items = palloc0(sizeof(RepairItem) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *kc;
		RepairItem *r = &items[i];

		r->repair_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->divergence_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		r->action = SPI_getvalue(tup, desc, 3);
		kc = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 4, &isnull));
		r->k.key = VARDATA(kc);
		r->k.keylen = VARSIZE(kc) - VARHDRSZ;
		r->seen_hash = SPI_getvalue(tup, desc, 5);
		r->options_hash = SPI_getvalue(tup, desc, 6);
		r->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		if (canon_key_is_unexpected(r->k.key, r->k.keylen))
		{
			/* an _id of unexpected type: the key bytes carry {_id: value} */
			bson_t		id;

			if (canon_unexpected_key_id(r->k.key, r->k.keylen, &id))
			{
				r->k.id = bson_get_data(&id);
				r->k.idlen = id.len;
			}
		}
	}
	*out = items;
	return (int) SPI_processed;
}

static void
throttle(const ReconMapping *m, instr_time start, int64 done)
{
	instr_time	now;
	double		elapsed_ms,
				due_ms;

	if (m->max_repairs_per_second <= 0)
		return;
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	elapsed_ms = INSTR_TIME_GET_MILLISEC(now);
	due_ms = done * 1000.0 / m->max_repairs_per_second;
	if (due_ms > elapsed_ms)
		recon_sleep_ms((long) (due_ms - elapsed_ms));
}

/*
 * Apply what run_id's policy and approvals allow, batch by batch, each
 * intent committed before its writes.  SPI must be connected non-atomic
 * (a procedure, or a background worker).  Returns false when a gate
 * stopped it.
 */
bool
recon_apply_run(const ReconMapping *m, const ReconTarget *t, int64 run_id, const char *actor,
				int64 *verified, int64 *conflicts, int64 *failed)
{
	MemoryContext batchcxt;
	int			batch_limit = recon_write_batch_size;
	int			failures = 0;
	int64		done = 0;
	instr_time	start;
	bool		completed = true;
	const ReconMapping *given = m;

	if (m->repair == REPAIR_OFF)
		return true;
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "recon repair batch",
									 ALLOCSET_DEFAULT_SIZES);
	INSTR_TIME_SET_CURRENT(start);

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(batchcxt);
		Datum		ids;
		RepairItem *items;
		int			n,
					i;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Every transaction works from the mapping as it is now, its source
		 * locked: a column retyped or dropped since stops the run here,
		 * before anything is claimed (schema drift), and an alter_mapping
		 * since the plan voids the plan.
		 */
		m = recon_mapping_load(given->name);
		if (m->max_repairs_per_second > 0)
			batch_limit = Max(1, Min(batch_limit, (int) m->max_repairs_per_second));
		n = recon_repairs_claim(m, run_id, actor, batch_limit, &ids);
		recon_commit();			/* the intent is durable before any write */
		if (n == 0)
		{
			MemoryContextSwitchTo(old);
			break;
		}
		recon_debug_pause(PAUSE_AFTER_INTENT);

		m = recon_mapping_load(given->name);
		n = load_batch(ids, &items);
		if (n > 0)
		{
			ReconKeyed *keys = palloc0(sizeof(ReconKeyed) * n);

			for (i = 0; i < n; i++)
				keys[i] = items[i].k;
			recon_read_sides(m, t, keys, n, " FOR SHARE OF t");
			for (i = 0; i < n; i++)
				items[i].k = keys[i];
			execute_bulk(m, t, items, n);
			recon_debug_pause(PAUSE_AFTER_WRITE);
			verify_written(m, t, items, n);
			record_outcomes(m, run_id, actor, items, n, &failures);
			for (i = 0; i < n; i++)
			{
				*verified += (items[i].outcome == OUT_NONE || items[i].outcome == OUT_CONSISTENT);
				*conflicts += items[i].outcome == OUT_CONFLICT;
				*failed += items[i].outcome == OUT_FAILED;
			}
		}
		done += n;
		if (failures >= m->max_write_errors)
		{
			char	   *why = psprintf("%d consecutive MongoDB write errors (max_write_errors = %d)",
									   failures, m->max_write_errors);

			recon_run_fail_write_errors(m, run_id, actor, why);
			recon_commit();
			MemoryContextSwitchTo(old);
			ereport(WARNING,
					(errmsg("recon: stopped applying repairs"),
					 errdetail("%s", why),
					 errhint("See recon.repairs.error for the failed repairs.")));
			completed = false;
			break;
		}
		recon_commit();
		MemoryContextSwitchTo(old);
		MemoryContextReset(batchcxt);
		throttle(m, start, done);
	}
	MemoryContextDelete(batchcxt);
	return completed;
}

/*
 * CALL recon.apply_repairs(run_id bigint): apply the run's repairs that its
 * policy and approvals allow (recon_operator), committing as it goes, so only
 * as a CALL outside a transaction block.  Reports the counts of verified,
 * conflicting and failed repairs in a NOTICE.
 */
PG_FUNCTION_INFO_V1(recon_apply_repairs);
Datum
recon_apply_repairs(PG_FUNCTION_ARGS)
{
	CallContext *cc = (CallContext *) fcinfo->context;
	int64		run_id;
	ReconPriv	priv;
	char	   *mapping_name;
	ReconMapping *m;
	ReconTarget *t;
	int64		verified = 0,
				conflicts = 0,
				failed = 0;

	if (cc == NULL || !IsA(cc, CallContext) || cc->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("recon.apply_repairs cannot run inside a transaction block"),
				 errdetail("It commits each repair's intent before writing to MongoDB and its result after."),
				 errhint("CALL recon.apply_repairs(run_id) on its own, in autocommit mode.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);

	recon_priv_enter(&priv, "recon_operator", "recon.apply_repairs");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	recon_pin_search_path();
	{
		Oid			ty[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(run_id)};

		SPI_execute_with_args("SELECT mapping_name, status = 'running' AND ranges IS NOT NULL"
							  " FROM recon.runs WHERE run_id = $1",
							  1, ty, v, NULL, false, 1);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("run %lld does not exist", (long long) run_id),
					 errhint("See SELECT run_id, mapping_name, status FROM recon.runs.")));
		mapping_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		/*
		 * A range sweep still sweeping has not applied its quality gate: its
		 * planned repairs wait for the run to end.
		 */
		if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "t") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("run %lld is a range sweep that has not finished", (long long) run_id),
					 errdetail("Its quality gate is applied when its last range is done."),
					 errhint("Wait for it, or CALL recon.resume_sweep(%lld), then apply its repairs.",
							 (long long) run_id)));
	}
	m = recon_mapping_load(mapping_name);
	t = recon_target_lookup(m->serverid, m->owner);
	if (m->repair == REPAIR_OFF)
		ereport(NOTICE,
				(errmsg("mapping \"%s\" has repair = off: nothing is applied", m->name)));
	(void) recon_apply_run(m, t, run_id, priv.caller_name, &verified, &conflicts, &failed);
	ereport(NOTICE,
			(errmsg("recon: %lld repairs verified, %lld conflicts, %lld failed",
					(long long) verified, (long long) conflicts, (long long) failed)));
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Approvals
 * --------------------------------------------------------------------- */

/*
 * approve_repairs and reject_repairs (recon_approver): decide the run's
 * planned repairs, those in repair_ids or all (a change-check run needs the
 * ids), with note.  The login and role that started the run may not decide
 * (four eyes).  Returns how many were decided.
 */
static Datum
decide(FunctionCallInfo fcinfo, bool approve)
{
	int64		run_id;
	ReconPriv	priv;
	char	   *started_by;
	char	   *started_login;
	char	   *kind;
	char	   *login;
	const char *what = approve ? "recon.approve_repairs" : "recon.reject_repairs";
	Oid			t[1] = {INT8OID};
	Datum		v[1];
	int64		count;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	recon_priv_enter(&priv, "recon_approver", what);
	SPI_connect();
	recon_pin_search_path();
	v[0] = Int64GetDatum(run_id);
	SPI_execute_with_args("SELECT started_by, started_login, kind FROM recon.runs WHERE run_id = $1",
						  1, t, v, NULL, true, 1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %lld does not exist", (long long) run_id)));
	started_by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	started_login = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

	/*
	 * Four eyes are two people: the approver's login and role are compared
	 * with the run's login and role, so SET ROLE cannot make one person two.
	 * Two logins acting through one group role are still two people.
	 */
	login = GetUserNameFromId(GetSessionUserId(), false);
	if (strcmp(login, started_login) == 0 || strcmp(login, started_by) == 0 ||
		strcmp(priv.caller_name, started_login) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("login \"%s\" started this run and cannot also decide its repairs",
						login),
				 errdetail("The run was started by login \"%s\" acting as role \"%s\"; repairs need a second person (four eyes).",
						   started_login, started_by),
				 errhint("Ask a member of recon_approver who logs in as someone else.")));
	if (PG_ARGISNULL(1) && strcmp(kind, "cdc") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("repair_ids are required to decide repairs of a change-check run"),
				 errdetail("A change-check run keeps planning repairs; deciding all of them would decide repairs nobody has seen."),
				 errhint("Pass the repair_ids you reviewed (planned repairs of this run in recon.repairs).")));

	count = recon_repairs_decide(run_id, PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
								 PG_ARGISNULL(1),
								 PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
								 priv.caller_name, approve);
	if (!PG_ARGISNULL(1))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		int			given = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		if (count < given)
			ereport(NOTICE,
					(errmsg("%lld of %d repairs %s", (long long) count, given, approve ? "approved" : "rejected"),
					 errdetail("The others are not planned repairs of run %lld.", (long long) run_id)));
	}
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_INT64(count);
}

/*
 * recon.approve_repairs(run_id bigint, repair_ids bigint[], note text)
 * → bigint: approve planned repairs (see decide).
 */
PG_FUNCTION_INFO_V1(recon_approve_repairs);
Datum
recon_approve_repairs(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, true);
}

/*
 * recon.reject_repairs(run_id bigint, repair_ids bigint[], note text)
 * → bigint: reject planned repairs (see decide).
 */
PG_FUNCTION_INFO_V1(recon_reject_repairs);
Datum
recon_reject_repairs(PG_FUNCTION_ARGS)
{
	return decide(fcinfo, false);
}
