/*
 * cdc_decode.c — the change worker's logical decoding, in its own process.
 *
 * The worker acquires its database's slot once and keeps one decoding
 * context on it for as long as it runs, the way a walsender or pg_squeeze
 * does: PostgreSQL logs "starting logical decoding" once per worker, not
 * once per poll, and each poll reads WAL from where the last one stopped
 * instead of re-decoding from the slot's restart point.  recon's output
 * plugin hands every changed key to the sink below (decoder.h), no text in
 * between.  Keys are spooled in a sort bounded by logical_decoding_work_mem
 * (a million-row transaction spills to a temporary file, as the reorder
 * buffer itself does), each key once, and handled in slices: keys already
 * due are checked at once (cdc.c) and only those still differing queued,
 * the others go to recon.cdc_queue.  Only after that commits is the slot's
 * position confirmed, so a crash re-decodes instead of losing changes
 * (duplicates collapse on the queue's key).
 */
#include "postgres.h"

#include "canonical.h"
#include "cdc.h"
#include "decoder.h"
#include "mapping.h"
#include "recon.h"

#include "access/rmgr.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/reorderbuffer.h"
#include "replication/slot.h"
#include "storage/sinval.h"
#include "storage/standbydefs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/tuplesort.h"

/* keys written to the queue per INSERT */
#define QUEUE_SLICE 10000

/* The decoding context kept between polls (in TopMemoryContext). */
static LogicalDecodingContext *decode_ctx = NULL;

/*
 * Set from the start of decoding until the slot is confirmed: meanwhile the
 * context has read past keys that are not durable yet, so after an error it
 * must not go on from where it is (those keys would be lost) but restart
 * from the slot's confirmed position.
 */
static bool ahead_of_slot = false;

/*
 * Decoding reads catalogs as of each change, everything else as of now, and
 * both go through the same caches.  Flushing every cache on each switch (as
 * pg_logical_slot_get_changes does) makes every poll re-read catalogs and
 * re-plan every statement: most of the worker's CPU.  The switch needs no
 * flush when no catalog changed in between, which two things tell: the
 * shared-invalidation counter (every committed catalog change is broadcast)
 * and the decoded WAL (a commit that carries invalidations).  A change whose
 * invalidation arrives later flushes its entries then, as in any backend.
 * catalog_epoch is the counter when the caches were last known to hold the
 * present catalogs only.
 */
static uint64 catalog_epoch = 0;
static bool catalog_epoch_valid = false;

/* What one call of recon_cdc_decode collects. */
typedef struct Spool
{
	CdcMapping **entry_map;		/* mapping of each decoded entry */
	FmgrInfo  **key_out;		/* per mapping: output function of each key column */
	CdcMapping *maps;
	int			nmaps;
	bool		checked;		/* a batch of decoded keys was checked this cycle */
	Tuplesortstate *sort;		/* (mapping, key, key text, committed_at) by mapping, key */
	TupleDesc	desc;
	TupleTableSlot *put;
	ResourceOwner owner;		/* the cycle's: owns the sort's temporary files */
	int64		nkeys;
	StringInfoData key;
	StringInfoData text;
} Spool;

typedef struct QueueKey
{
	int64		mapping_id;
	CanonDigest keyhash;
} QueueKey;

typedef struct QueueEntry
{
	QueueKey	k;
	CdcMapping *c;
	char	   *key;
	int			keylen;
	char	   *keytext;
	TimestampTz committed_at;
	int			settle_ms;		/* -1 once checked (not queued) */
} QueueEntry;

/*
 * The entries the plugin decodes for: each mapping's table (its key
 * columns), then the child relation of each of its embedded arrays (the
 * join columns: a changed child re-checks its parent).
 */
static DecodedRel *
build_entries(CdcMapping *maps, int nmaps, Spool *sp, int *nrels)
{
	int			n = 0,
				i,
				e,
				j;
	DecodedRel *rels;

	for (i = 0; i < nmaps; i++)
		n += 1 + maps[i].m->nembeds;
	rels = palloc0(sizeof(DecodedRel) * (n + 1));
	sp->entry_map = palloc0(sizeof(CdcMapping *) * (n + 1));
	sp->key_out = palloc0(sizeof(FmgrInfo *) * (nmaps + 1));
	n = 0;
	for (i = 0; i < nmaps; i++)
	{
		const ReconMapping *m = maps[i].m;

		sp->key_out[i] = palloc0(sizeof(FmgrInfo) * m->nkeys);
		for (j = 0; j < m->nkeys; j++)
		{
			Oid			outfn;
			bool		varlena;

			getTypeOutputInfo(m->keys[j].typid, &outfn, &varlena);
			fmgr_info(outfn, &sp->key_out[i][j]);
		}
		for (e = -1; e < m->nembeds; e++, n++)
		{
			rels[n].relid = e < 0 ? m->relid : m->embeds[e].relid;
			rels[n].entry = n;
			rels[n].nkeys = m->nkeys;
			for (j = 0; j < m->nkeys; j++)
				rels[n].keys[j] = e < 0 ? m->keys[j].attnum : m->embeds[e].join_attnums[j];
			sp->entry_map[n] = &maps[i];
		}
	}
	*nrels = n;
	return rels;
}

/*
 * Add one decoded (entry's mapping, key, key text, commit time) to the cycle's
 * sort, which spills past logical_decoding_work_mem.  The sort's temporary
 * files belong to the cycle's resource owner, not to the decoded transaction
 * the plugin runs in.
 */
static void
spool_put(Spool *sp, int entry, const char *key, int keylen, const char *text,
		  TimestampTz committed_at)
{
	bytea	   *kb = palloc(VARHDRSZ + keylen);
	TupleTableSlot *slot = sp->put;

	SET_VARSIZE(kb, VARHDRSZ + keylen);
	memcpy(VARDATA(kb), key, keylen);
	ExecClearTuple(slot);
	slot->tts_values[0] = Int32GetDatum(sp->entry_map[entry] - sp->maps);
	slot->tts_values[1] = PointerGetDatum(kb);
	slot->tts_values[2] = CStringGetTextDatum(text);
	slot->tts_values[3] = TimestampTzGetDatum(committed_at);
	memset(slot->tts_isnull, 0, sizeof(bool) * 4);
	ExecStoreVirtualTuple(slot);
	{
		/*
		 * The plugin runs inside the transaction the reorder buffer opens
		 * (and aborts) per decoded transaction: a temporary file the sort
		 * spills to must belong to the cycle, not to that transaction.
		 */
		ResourceOwner save = CurrentResourceOwner;

		CurrentResourceOwner = sp->owner;
		tuplesort_puttupleslot(sp->sort, slot);
		CurrentResourceOwner = save;
	}
	ExecClearTuple(slot);
	pfree(kb);
	pfree(DatumGetPointer(slot->tts_values[2]));
	sp->nkeys++;
}

/*
 * The plugin's key callback: the canonical key (as the checks compare it)
 * and its text form (for people), straight from the tuple.  A key with a
 * NULL names no document and is not queued.  Runs in the plugin's
 * per-change memory context.
 */
static void
sink_key(void *arg, const DecodedRel *dr, Relation rel, HeapTuple tuple, TimestampTz committed_at)
{
	Spool	   *sp = arg;
	CdcMapping *c = sp->entry_map[dr->entry];
	FmgrInfo   *out = sp->key_out[c - sp->maps];
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	resetStringInfo(&sp->key);
	resetStringInfo(&sp->text);
	for (i = 0; i < dr->nkeys; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, dr->keys[i], desc, &isnull);

		if (isnull)
			return;
		canon_datum(&sp->key, c->m->keys[i].type, d, false, &c->m->canon, NULL);
		if (i > 0)
			appendStringInfoChar(&sp->text, ',');
		appendStringInfoString(&sp->text, OutputFunctionCall(&out[i], d));
	}
	spool_put(sp, dr->entry, sp->key.data, sp->key.len, sp->text.data, committed_at);
}

/* The plugin's sweep callback: an empty key asks for a full sweep. */
static void
sink_sweep(void *arg, const DecodedRel *dr, TimestampTz committed_at)
{
	spool_put((Spool *) arg, dr->entry, "", 0, "(full sweep)", committed_at);
}

/* In process the plugin calls the sink; any text output would be a bug. */
static void
refuse_text_output(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
	elog(ERROR, "recon: unexpected text output while decoding in the change worker");
}

/*
 * Collect one changed key of mapping c in the slice's table (allocated in the
 * current context, the slice's): a key changed again keeps one entry with
 * its latest commit time.
 */
static void
queue_put(HTAB *h, CdcMapping *c, const char *key, int keylen, const char *keytext,
		  TimestampTz committed_at)
{
	QueueKey	qk;
	QueueEntry *e;
	bool		found;

	memset(&qk, 0, sizeof(qk));
	qk.mapping_id = c->m->id;
	qk.keyhash = canon_digest(key, keylen);
	e = hash_search(h, &qk, HASH_ENTER, &found);
	if (!found)
	{
		e->key = palloc(keylen + 1);
		memcpy(e->key, key, keylen);
		e->keylen = keylen;
		e->keytext = pstrdup(keytext);
		e->c = c;
		e->settle_ms = c->m->settle_ms;
		e->committed_at = committed_at;
	}
	else if (committed_at > e->committed_at)
		e->committed_at = committed_at;
}

/*
 * Check the collected keys that are due already (within the batch window),
 * per mapping and recon.batch_size at a time; mark each one checked
 * (settle_ms < 0) unless its batch could not be checked.  Fewer than a
 * batch (a steady trickle of changes) are checked together with the
 * mapping's due queued keys (re-checks, typically): one MongoDB round per
 * cycle, not two.  More (a backlog) are checked in full batches, and the
 * rest is queued to fill the next round with the keys falling due by then.
 */
static void
check_due_now(Spool *sp, HTAB *h)
{
	TimestampTz horizon = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), recon_cdc_batch_window_ms);
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "recon cdc decoded batch",
													ALLOCSET_DEFAULT_SIZES);
	int			mi;

	for (mi = 0; mi < sp->nmaps; mi++)
	{
		CdcMapping *c = &sp->maps[mi];
		CdcDecodedKey *batch = palloc(sizeof(CdcDecodedKey) * recon_batch_size);
		QueueEntry **owners = palloc(sizeof(QueueEntry *) * recon_batch_size);
		HASH_SEQ_STATUS seq;
		QueueEntry *e;
		int			n = 0,
					j;
		int64		due = 0,
					budget;

		hash_seq_init(&seq, h);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (e->c == c && e->keylen > 0 &&
				TimestampTzPlusMilliseconds(e->committed_at, e->settle_ms) <= horizon)
				due++;
		budget = due < recon_batch_size ? due : due - due % recon_batch_size;
		if (budget == 0)
			continue;
		hash_seq_init(&seq, h);
		for (;;)
		{
			e = budget > 0 ? hash_seq_search(&seq) : NULL;
			if (e != NULL &&
				(e->c != c || e->keylen == 0 ||
				 TimestampTzPlusMilliseconds(e->committed_at, e->settle_ms) > horizon))
				continue;
			if (e != NULL)
			{
				batch[n].key = e->key;
				batch[n].keylen = e->keylen;
				batch[n].keytext = e->keytext;
				batch[n].committed_at = e->committed_at;
				owners[n++] = e;
				budget--;
			}
			if (n > 0 && (e == NULL || n == recon_batch_size))
			{
				MemoryContext old = MemoryContextSwitchTo(batch_cxt);
				bool		checked;

				CHECK_FOR_INTERRUPTS();
				checked = recon_cdc_check_decoded(c, batch, n, n < recon_batch_size);
				MemoryContextSwitchTo(old);
				MemoryContextReset(batch_cxt);
				if (checked)
				{
					for (j = 0; j < n; j++)
						owners[j]->settle_ms = -1;
					sp->checked = true;
					c->rounded = true;
				}
				n = 0;
			}
			if (e == NULL)
			{
				if (budget == 0)
					hash_seq_term(&seq);	/* stopped before the end */
				break;
			}
		}
	}
	MemoryContextDelete(batch_cxt);
}

/*
 * Write the collected keys to the durable queue (one statement), after
 * checking those already due: those need no queue row.
 */
static void
queue_flush(Spool *sp, HTAB *h)
{
	HASH_SEQ_STATUS seq;
	QueueEntry *e;
	ArrayBuildState *ids = NULL,
			   *keys = NULL,
			   *texts = NULL,
			   *commits = NULL,
			   *dues = NULL,
			   *all_ids = NULL,
			   *all_commits = NULL;
	int			n = 0;

	check_due_now(sp, h);
	hash_seq_init(&seq, h);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		bytea	   *kb;

		CHECK_FOR_INTERRUPTS();
		all_ids = accumArrayResult(all_ids, Int64GetDatum(e->k.mapping_id), false, INT8OID, CurrentMemoryContext);
		all_commits = accumArrayResult(all_commits, TimestampTzGetDatum(e->committed_at), false,
									   TIMESTAMPTZOID, CurrentMemoryContext);
		if (e->settle_ms < 0)
			continue;			/* checked already */
		kb = palloc(VARHDRSZ + e->keylen);
		SET_VARSIZE(kb, VARHDRSZ + e->keylen);
		memcpy(VARDATA(kb), e->key, e->keylen);
		ids = accumArrayResult(ids, Int64GetDatum(e->k.mapping_id), false, INT8OID, CurrentMemoryContext);
		keys = accumArrayResult(keys, PointerGetDatum(kb), false, BYTEAOID, CurrentMemoryContext);
		texts = accumArrayResult(texts, CStringGetTextDatum(e->keytext), false, TEXTOID, CurrentMemoryContext);
		commits = accumArrayResult(commits, TimestampTzGetDatum(e->committed_at), false,
								   TIMESTAMPTZOID, CurrentMemoryContext);
		dues = accumArrayResult(dues, TimestampTzGetDatum(TimestampTzPlusMilliseconds(e->committed_at, e->settle_ms)),
								false, TIMESTAMPTZOID, CurrentMemoryContext);
		n++;
	}
	if (n > 0)
	{
		Oid			t[5] = {INT8ARRAYOID, BYTEAARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID};
		Datum		v[5] = {makeArrayResult(ids, CurrentMemoryContext),
			makeArrayResult(keys, CurrentMemoryContext),
			makeArrayResult(texts, CurrentMemoryContext),
			makeArrayResult(commits, CurrentMemoryContext),
		makeArrayResult(dues, CurrentMemoryContext)};

		recon_spi_exec("INSERT INTO recon.cdc_queue AS q (mapping_id, key_canon, key, committed_at, due_at)"
					   " SELECT * FROM unnest($1, $2, $3, $4, $5)"
					   " ON CONFLICT (mapping_id, key_canon) DO UPDATE SET"
					   " committed_at = greatest(q.committed_at, EXCLUDED.committed_at),"
					   " due_at = greatest(q.due_at, EXCLUDED.due_at), attempts = 0",
					   5, t, v, NULL, SPI_OK_INSERT);
	}
	if (all_ids != NULL)
	{
		Oid			t[2] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		v[2] = {makeArrayResult(all_ids, CurrentMemoryContext),
		makeArrayResult(all_commits, CurrentMemoryContext)};

		recon_spi_exec("UPDATE recon.cdc_state s SET changes = s.changes + c.n,"
					   " last_commit_at = greatest(s.last_commit_at, c.last)"
					   " FROM (SELECT id, count(*) AS n, max(ts) AS last"
					   "       FROM unnest($1, $2) AS u(id, ts) GROUP BY id) c"
					   " WHERE s.mapping_id = c.id",
					   2, t, v, NULL, SPI_OK_UPDATE);
	}
}

/*
 * Move the spooled keys to the queue, QUEUE_SLICE distinct keys per
 * statement.  The spool is sorted by mapping and key, so each key's
 * changes are adjacent and fall in one slice: a key changed many times in
 * the decoded WAL is checked (or queued) once.
 */
static void
spool_to_queue(Spool *sp)
{
	MemoryContext slice_cxt = AllocSetContextCreate(CurrentMemoryContext, "recon cdc queue slice",
													ALLOCSET_DEFAULT_SIZES);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(sp->desc, &TTSOpsMinimalTuple);
	HTAB	   *pending = NULL;
	HASHCTL		ctl;
	int			last_mi = -1;
	StringInfoData key,			/* the current change's key and text, out of the sort's memory */
				keytext,
				last;			/* the previous change's key */

	ctl.keysize = sizeof(QueueKey);
	ctl.entrysize = sizeof(QueueEntry);
	ctl.hcxt = slice_cxt;
	initStringInfo(&key);
	initStringInfo(&keytext);
	initStringInfo(&last);
	tuplesort_performsort(sp->sort);
	/* not copied: each tuple is valid until the next one is read, and only read in between */
	while (tuplesort_gettupleslot(sp->sort, true, false, slot, NULL))
	{
		bool		isnull;
		int			mi = DatumGetInt32(slot_getattr(slot, 1, &isnull));
		bytea	   *kb = DatumGetByteaPP(slot_getattr(slot, 2, &isnull));
		text	   *kt = DatumGetTextPP(slot_getattr(slot, 3, &isnull));
		TimestampTz committed_at = DatumGetTimestampTz(slot_getattr(slot, 4, &isnull));
		bool		same;

		CHECK_FOR_INTERRUPTS();
		resetStringInfo(&key);
		appendBinaryStringInfo(&key, VARDATA_ANY(kb), VARSIZE_ANY_EXHDR(kb));
		resetStringInfo(&keytext);
		appendBinaryStringInfo(&keytext, VARDATA_ANY(kt), VARSIZE_ANY_EXHDR(kt));
		same = mi == last_mi && key.len == last.len && memcmp(key.data, last.data, key.len) == 0;
		/* a full slice is flushed at a new key, never between two changes of one key */
		if (pending != NULL && !same && hash_get_num_entries(pending) >= QUEUE_SLICE)
		{
			MemoryContext old = MemoryContextSwitchTo(slice_cxt);

			queue_flush(sp, pending);
			MemoryContextSwitchTo(old);
			MemoryContextReset(slice_cxt);
			pending = NULL;
		}
		if (pending == NULL)
			pending = hash_create("recon cdc keys", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		{
			MemoryContext old = MemoryContextSwitchTo(slice_cxt);

			queue_put(pending, &sp->maps[mi], key.data, key.len, keytext.data, committed_at);
			MemoryContextSwitchTo(old);
		}
		last_mi = mi;
		resetStringInfo(&last);
		appendBinaryStringInfo(&last, key.data, key.len);
	}
	if (pending)
	{
		MemoryContext old = MemoryContextSwitchTo(slice_cxt);

		queue_flush(sp, pending);
		MemoryContextSwitchTo(old);
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(slice_cxt);
}

/*
 * Acquire the slot and create the decoding context kept for the life of the
 * worker, in TopMemoryContext, reading from the slot's restart point; on
 * error the slot is released again.
 */
static void
decode_open(const char *slot)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	ReplicationSlotAcquire(slot, true);
	PG_TRY();
	{
		decode_ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
										   XL_ROUTINE(.page_read = read_local_xlog_page,
													  .segment_open = wal_segment_open,
													  .segment_close = wal_segment_close),
										   (LogicalOutputPluginWriterPrepareWrite) refuse_text_output,
										   (LogicalOutputPluginWriterWrite) refuse_text_output, NULL);
		/* from the restart point, so that transactions committing after the confirmed position are whole */
		XLogBeginRead(decode_ctx->reader, MyReplicationSlot->data.restart_lsn);
	}
	PG_CATCH();
	{
		decode_ctx = NULL;
		ReplicationSlotRelease();
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * Does this WAL record change what a catalog read returns?  Every committed
 * catalog change carries its invalidation messages in its commit record (or
 * in an invalidations record); a relation-map update does too.
 */
static bool
record_changes_catalogs(XLogReaderState *r)
{
	uint8		info = XLogRecGetInfo(r) & ~XLR_INFO_MASK;

	switch (XLogRecGetRmid(r))
	{
		case RM_XACT_ID:
			{
				uint8		op = info & XLOG_XACT_OPMASK;

				if (op == XLOG_XACT_INVALIDATIONS)
					return true;
				if (op == XLOG_XACT_COMMIT || op == XLOG_XACT_COMMIT_PREPARED)
				{
					xl_xact_parsed_commit parsed;

					ParseCommitRecord(XLogRecGetInfo(r), (xl_xact_commit *) XLogRecGetData(r), &parsed);
					return parsed.nmsgs > 0 || XactCompletionRelcacheInitFileInval(parsed.xinfo);
				}
				return false;
			}
		case RM_STANDBY_ID:
			return info == XLOG_INVALIDATIONS;
		case RM_RELMAP_ID:
			return true;
		default:
			return false;
	}
}

/*
 * Free the decoding context and release the slot if this backend holds it:
 * before the slot is dropped or recreated, and when decoding must restart
 * from the slot's confirmed position.  Safe to call when nothing is open.
 */
void
recon_cdc_decode_close(void)
{
	if (decode_ctx)
		FreeDecodingContext(decode_ctx);
	decode_ctx = NULL;
	catalog_epoch_valid = false;
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
}

/*
 * Called after an aborted cycle: if decoding had read past the slot's
 * confirmed position, those keys were never queued, so drop the context and
 * the caches, and the next cycle decodes again from the slot.
 */
void
recon_cdc_decode_after_error(void)
{
	recon_decode_sink = NULL;
	if (ahead_of_slot)
	{
		/* start over from the slot: the keys read since its confirmed position were not queued */
		ahead_of_slot = false;
		InvalidateSystemCaches();
		recon_cdc_decode_close();
	}
}

/*
 * Decode the slot's new WAL, then check or queue its keys (contract in
 * cdc.h): about 100 * recon.batch_size keys a call at most, stopping between
 * records; the caches are flushed after decoding only when a catalog changed.
 * SPI connected non-atomic: it commits.
 */
bool
recon_cdc_decode(const char *slot, CdcMapping *maps, int nmaps, bool *checked)
{
	XLogRecPtr	end_of_wal = GetFlushRecPtr(NULL);
	int64		limit = (int64) recon_batch_size * 100;
	bool		more = false;
	Spool		sp;
	ReconDecodeSink sink;
	XLogRecPtr	upto;
	MemoryContext old;
	uint64		epoch_at_start;
	bool		catalog_changed = false;

	*checked = false;
	/* nothing new since the last look: nothing to decode */
	if (decode_ctx && decode_ctx->reader->EndRecPtr >= end_of_wal)
		return false;
	if (decode_ctx == NULL)
		decode_open(slot);

	memset(&sp, 0, sizeof(sp));
	sp.maps = maps;
	sp.nmaps = nmaps;
	sink.rels = build_entries(maps, nmaps, &sp, &sink.nrels);
	sink.key = sink_key;
	sink.sweep = sink_sweep;
	sink.arg = &sp;
	initStringInfo(&sp.key);
	initStringInfo(&sp.text);
	sp.desc = CreateTemplateTupleDesc(4);
	TupleDescInitEntry(sp.desc, 1, "mapping", INT4OID, -1, 0);
	TupleDescInitEntry(sp.desc, 2, "key", BYTEAOID, -1, 0);
	TupleDescInitEntry(sp.desc, 3, "key_text", TEXTOID, -1, 0);
	TupleDescInitEntry(sp.desc, 4, "committed_at", TIMESTAMPTZOID, -1, 0);
	sp.put = MakeSingleTupleTableSlot(sp.desc, &TTSOpsVirtual);
	sp.owner = CurrentResourceOwner;
	{
		AttrNumber	cols[2] = {1, 2};
		Oid			ops[2] = {Int4LessOperator, ByteaLessOperator};
		Oid			colls[2] = {InvalidOid, InvalidOid};
		bool		nulls_first[2] = {false, false};

		sp.sort = tuplesort_begin_heap(sp.desc, 2, cols, ops, colls, nulls_first,
									   logical_decoding_work_mem, NULL, TUPLESORT_NONE);
	}

	ahead_of_slot = true;
	recon_decode_sink = &sink;
	AcceptInvalidationMessages();
	if (!catalog_epoch_valid || SharedInvalidMessageCounter != catalog_epoch)
		InvalidateSystemCaches();	/* present-day entries must not serve decoding */
	epoch_at_start = SharedInvalidMessageCounter;

	/*
	 * Read up to the WAL flushed now: a catalog change whose invalidation
	 * was just received committed (and flushed) before this point, so it
	 * is decoded below and flushes the caches after decoding.
	 */
	end_of_wal = GetFlushRecPtr(NULL);

	/*
	 * The reader allocates its decode buffer, and keeps records, in the
	 * current memory context: it must outlive this cycle, as a walsender's does.
	 */
	old = MemoryContextSwitchTo(decode_ctx->context);
	while (decode_ctx->reader->EndRecPtr < end_of_wal)
	{
		char	   *errm = NULL;
		XLogRecord *record = XLogReadRecord(decode_ctx->reader, &errm);

		if (errm)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("recon: could not read WAL for change checks: %s", errm)));
		if (record != NULL)
		{
			catalog_changed |= record_changes_catalogs(decode_ctx->reader);
			LogicalDecodingProcessRecord(decode_ctx, decode_ctx->reader);
		}
		CHECK_FOR_INTERRUPTS();
		/* every commit up to here is decoded whole: a safe place to stop */
		if (sp.nkeys >= limit)
		{
			more = true;
			break;
		}
	}
	MemoryContextSwitchTo(old);
	recon_decode_sink = NULL;
	AcceptInvalidationMessages();
	/* (stopping early leaves committed catalog changes undecoded: flush) */
	if (catalog_changed || more || SharedInvalidMessageCounter != epoch_at_start)
		InvalidateSystemCaches();	/* back to the present catalogs */
	catalog_epoch = SharedInvalidMessageCounter;
	catalog_epoch_valid = true;
	upto = decode_ctx->reader->EndRecPtr;

	spool_to_queue(&sp);
	tuplesort_end(sp.sort);
	ExecDropSingleTupleTableSlot(sp.put);
	recon_commit();				/* the keys are durable ... */

	/* ... before the slot moves past them */
	LogicalConfirmReceivedLocation(upto);
	ReplicationSlotMarkDirty();
	ahead_of_slot = false;
	*checked = sp.checked;
	return more;
}
