/*
 * sweep.c — recon.sweep(): one pass over the source and one natural-order
 * pass over the collection, matched by key in bounded memory.
 *
 * Each side streams (canonical key, 128-bit digest of the mapped fields)
 * into temporary files partitioned by key hash.  Partitions are then
 * matched one at a time in memory: keys on one side only and keys whose
 * digests differ become candidates, which recheck.c re-reads on both
 * sides before anything is recorded.  No key-range paging is used, so the
 * collection is read once whatever server serves it.
 */
#include "postgres.h"

#include "sweep.h"
#include "canonical.h"
#include "catalog.h"
#include "docshape.h"
#include "mapping.h"
#include "mongo_client.h"
#include "progress.h"
#include "recheck.h"
#include "recon.h"
#include "target.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/buffile.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define SIDE_SOURCE 0
#define SIDE_TARGET 1

typedef struct Spill
{
	int			nparts;
	BufFile   **files;
	int64	   *rows;			/* source entries per partition */
	int			level;			/* 0: first split; > 0: re-split of an oversized partition */
} Spill;

typedef struct SpillEntry
{
	uint8		side;
	uint32		keylen;
	char	   *key;
	CanonDigest keyhash;		/* digest of key: partitions and matches */
	CanonDigest digest;
	uint32		idlen;
	char	   *id;				/* BSON {_id: value}, target side only */
} SpillEntry;

/*
 * An entry in a spill file: this header, then key and id.  The key's
 * digest is kept with it, so that matching and re-splitting a partition
 * do not hash the key again.  The side is not written: pass_target gives
 * every document's entry an id (a BSON document, 5 bytes even when empty),
 * a row's entry has none.  The struct has no padding, so no uninitialised
 * byte goes out.
 */
typedef struct SpillHeader
{
	CanonDigest keyhash;
	CanonDigest digest;
	uint32		keylen;
	uint32		idlen;
} SpillHeader;

StaticAssertDecl(sizeof(SpillHeader) == 2 * sizeof(CanonDigest) + 2 * sizeof(uint32),
				 "SpillHeader has no padding");

/* A source row of the partition being matched, by its key's digest. */
typedef struct MatchEntry
{
	CanonDigest keyhash;		/* hash key */
	CanonDigest digest;
	char	   *key;
	uint32		keylen;
	bool		matched;
	char		status;			/* simplehash's */
} MatchEntry;

/*
 * The partition's table: simplehash, open addressing and inlined.  A
 * digest is already a hash: the bucket hash is the high half of h[0], as
 * canon_digest_hash takes it; partitioning uses other bits (the low bits
 * of h[0], then of h[1]), so within a partition these still vary.
 */
#define SH_PREFIX matchtab
#define SH_ELEMENT_TYPE MatchEntry
#define SH_KEY_TYPE CanonDigest
#define SH_KEY keyhash
#define SH_HASH_KEY(tb, key) ((uint32) ((key).h[0] >> 32))
#define SH_EQUAL(tb, a, b) ((a).h[0] == (b).h[0] && (a).h[1] == (b).h[1])
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define SPILL_RECORD_ASSEMBLED 256	/* entries up to this size are written at once */

/* Append an entry (its keyhash set) to the partition its key hashes to (at this spill's level). */
static void
spill_write(Spill *s, SpillEntry *e)
{
	SpillHeader hdr;
	uint32		part;
	BufFile    *f;

	part = (uint32) (s->level == 0 ? e->keyhash.h[0] : e->keyhash.h[1] >> (6 * (s->level - 1))) &
		(s->nparts - 1);
	f = s->files[part];
	if (e->side == SIDE_SOURCE)
		s->rows[part]++;
	hdr.keyhash = e->keyhash;
	hdr.digest = e->digest;
	hdr.keylen = e->keylen;
	hdr.idlen = e->idlen;
	if (unlikely((e->side == SIDE_TARGET) != (e->idlen > 0)))
		elog(ERROR, "recon: sweep spill entry of side %d has an id of %u bytes", e->side, e->idlen);
	if (sizeof(hdr) + e->keylen + e->idlen <= SPILL_RECORD_ASSEMBLED)
	{
		/* one BufFileWrite per entry, not three: each call has its own overhead */
		char		rec[SPILL_RECORD_ASSEMBLED];

		memcpy(rec, &hdr, sizeof(hdr));
		memcpy(rec + sizeof(hdr), e->key, e->keylen);
		if (e->idlen)
			memcpy(rec + sizeof(hdr) + e->keylen, e->id, e->idlen);
		BufFileWrite(f, rec, sizeof(hdr) + e->keylen + e->idlen);
		return;
	}
	BufFileWrite(f, &hdr, sizeof(hdr));
	BufFileWrite(f, e->key, e->keylen);
	if (e->idlen)
		BufFileWrite(f, e->id, e->idlen);
}

static void
read_exact(BufFile *f, void *ptr, size_t len)
{
	if (BufFileRead(f, ptr, len) != len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read recon sweep temporary file")));
}

/* The next entry of a spill file (false at its end); key and id share one palloc'd chunk, e->key. */
static bool
spill_read(BufFile *f, SpillEntry *e)
{
	SpillHeader hdr;
	size_t		got = BufFileRead(f, &hdr, sizeof(hdr));

	if (got == 0)
		return false;
	if (got != sizeof(hdr))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read recon sweep temporary file")));
	e->side = hdr.idlen > 0 ? SIDE_TARGET : SIDE_SOURCE;
	e->keylen = hdr.keylen;
	e->keyhash = hdr.keyhash;
	e->digest = hdr.digest;
	e->idlen = hdr.idlen;
	e->key = palloc(hdr.keylen + hdr.idlen);
	read_exact(f, e->key, hdr.keylen + hdr.idlen);
	e->id = hdr.idlen ? e->key + hdr.keylen : NULL;
	return true;
}

static void
progress(const ReconMapping *m, const char *what, int64 n)
{
	if ((n & 1023) == 0)		/* recon.sweep_progress, often enough, cheaply */
		recon_progress_set(what[0] == 'r' ? PROGRESS_ROWS : PROGRESS_DOCS, n);
	if (recon_progress_rows > 0 && n % recon_progress_rows == 0)
		ereport(NOTICE,
				(errmsg("recon: sweep of \"%s\": %lld %s read", m->name, (long long) n, what)));
}

/* ---------------------------------------------------------------------
 * Pass over the source
 * --------------------------------------------------------------------- */

/*
 * Every row of a plain table, read with a heap scan into a slot, deformed
 * only up to the last mapped column: no executor, no tuple copies.  No
 * user-written code runs in a heap scan; the owner's privileges are
 * checked (recon_source_enter) as for a query, and a table whose row
 * security applies to the owner is refused there.
 */
static int64
scan_table_rows(const ReconMapping *m, ReconRowFn fn, void *arg)
{
	int			ncols = m->nkeys + m->nfields;
	AttrNumber *attnos = palloc(sizeof(AttrNumber) * ncols);
	Datum	   *values = palloc(sizeof(Datum) * ncols);
	bool	   *nulls = palloc(sizeof(bool) * ncols);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "recon source rows",
												 ALLOCSET_DEFAULT_SIZES);
	ReconSourceSave as_owner;
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			maxatt = 0;
	int64		rows = 0;
	int			i;

	for (i = 0; i < ncols; i++)
	{
		attnos[i] = i < m->nkeys ? m->keys[i].attnum : m->fields[i - m->nkeys].attnum;
		maxatt = Max(maxatt, attnos[i]);
	}
	recon_source_enter(m, &as_owner);
	rel = table_open(m->relid, AccessShareLock);
	snap = RegisterSnapshot(GetTransactionSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, maxatt);
		for (i = 0; i < ncols; i++)
		{
			values[i] = slot->tts_values[attnos[i] - 1];
			nulls[i] = slot->tts_isnull[attnos[i] - 1];
		}
		old = MemoryContextSwitchTo(rowcxt);
		fn(arg, values, nulls);
		MemoryContextSwitchTo(old);
		if (++rows % recon_batch_size == 0)
			MemoryContextReset(rowcxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);	/* the lock is held to the end of the run */
	recon_source_exit(&as_owner);
	MemoryContextDelete(rowcxt);
	return rows;
}

/*
 * Hand each row of the source to fn.  A plain table with no sql_suffix is
 * heap-scanned; anything else runs "SELECT <mapped columns> FROM <source>
 * t<sql_suffix>" as the mapping's owner (every execution step: prepare,
 * each fetch, close), batch by batch in a memory context reset between
 * batches.
 */
int64
recon_source_rows(const ReconMapping *m, const char *sql_suffix, int nargs, Oid *argtypes,
				  Datum *args, ReconRowFn fn, void *arg)
{
	char	   *sql;
	MemoryContext cxt = CurrentMemoryContext;	/* SPI calls return in SPI's context */
	SPIPlanPtr	plan;
	Portal		portal;
	ReconSourceSave as_owner;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "recon source batch",
												ALLOCSET_DEFAULT_SIZES);
	int			ncols = m->nkeys + m->nfields;
	Datum	   *values = palloc(sizeof(Datum) * ncols);
	bool	   *nulls = palloc(sizeof(bool) * ncols);
	int64		rows = 0;

	if (sql_suffix == NULL && m->nembeds == 0 && get_rel_relkind(m->relid) == RELKIND_RELATION)
		return scan_table_rows(m, fn, arg);
	sql = recon_source_scan_sql(m, sql_suffix);
	recon_source_enter(m, &as_owner);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "recon: could not prepare \"%s\"", sql);
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	MemoryContextSwitchTo(cxt);
	recon_source_exit(&as_owner);
	for (;;)
	{
		MemoryContext old;
		uint64		i;

		CHECK_FOR_INTERRUPTS();
		recon_source_enter(m, &as_owner);
		SPI_cursor_fetch(portal, true, recon_batch_size);
		MemoryContextSwitchTo(cxt);
		recon_source_exit(&as_owner);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(batch);
		for (i = 0; i < SPI_processed; i++)
		{
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
			fn(arg, values, nulls);
			rows++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
		SPI_freetuptable(SPI_tuptable);
	}
	recon_source_enter(m, &as_owner);
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
	recon_source_exit(&as_owner);
	MemoryContextDelete(batch);
	return rows;
}

typedef struct SpillRowArgs
{
	const ReconMapping *m;
	Spill	   *spill;
	StringInfoData key;
	StringInfoData row;
	int64		rows;
} SpillRowArgs;

/* A source row, as the source pass hands it over: its key and digest go to the spill. */
static void
spill_row(void *arg, Datum *values, bool *nulls)
{
	SpillRowArgs *a = arg;
	SpillEntry	e;
	uint64		mark = canon_json_doubles_mark();

	resetStringInfo(&a->key);
	resetStringInfo(&a->row);
	recon_key_canon_datums(a->m, values, nulls, &a->key);
	recon_row_canon(a->m, values, nulls, &a->row, NULL);
	e.side = SIDE_SOURCE;
	e.key = a->key.data;
	e.keylen = a->key.len;
	e.keyhash = canon_digest_since(a->key.data, a->key.len, mark);
	e.digest = canon_digest_since(a->row.data, a->row.len, mark);
	e.idlen = 0;
	spill_write(a->spill, &e);
	progress(a->m, "rows", ++a->rows);
}

/*
 * The rows of the source, or of one key range of it: a range reads
 * "WHERE key >= lower AND key < upper" (text keys in the "C" collation,
 * which orders as MongoDB orders strings: by their UTF-8 bytes).
 */
static int64
pass_source(const ReconMapping *m, const ReconRange *r, Spill *spill)
{
	SpillRowArgs a;
	StringInfoData where;
	Oid			types[2];
	Datum		args[2];
	int			nargs = 0;

	a.m = m;
	a.spill = spill;
	a.rows = 0;
	initStringInfo(&a.key);
	initStringInfo(&a.row);
	if (r == NULL)
		return recon_source_rows(m, NULL, 0, NULL, NULL, spill_row, &a);
	if (r->other_types)
		return 0;				/* every row's key is of the key's own type */
	initStringInfo(&where);
	for (int i = 0; i < 2; i++)
	{
		const char *bound = i == 0 ? r->lower : r->upper;

		if (bound == NULL)
			continue;
		appendStringInfo(&where, "%s t.%s%s %s $%d", nargs ? " AND" : " WHERE",
						 quote_identifier(m->keys[0].column), r->int_key ? "" : " COLLATE \"C\"",
						 i == 0 ? ">=" : "<", nargs + 1);
		types[nargs] = r->int_key ? INT8OID : TEXTOID;
		args[nargs] = r->int_key ? Int64GetDatum(i == 0 ? r->lower_int : r->upper_int) :
			CStringGetTextDatum(bound);
		nargs++;
	}
	return recon_source_rows(m, where.data, nargs, types, args, spill_row, &a);
}

/* ---------------------------------------------------------------------
 * Pass over the collection
 * --------------------------------------------------------------------- */

static void
projection_for(const ReconMapping *m, bson_t *opts)
{
	bson_t		proj;
	int			i;

	BSON_APPEND_INT32(opts, "batchSize", recon_pass_batch_size);
	if (m->report_extra_fields)
		return;					/* unmapped fields are part of the comparison */
	bson_append_document_begin(opts, "projection", -1, &proj);
	BSON_APPEND_INT32(&proj, "_id", 1);
	for (i = 0; i < m->nfields; i++)
		BSON_APPEND_INT32(&proj, m->fields[i].path, 1);
	bson_append_document_end(opts, &proj);
}

/*
 * The filter of one key range: {_id: {$gte: lower, $lt: upper}}.  MongoDB
 * compares only values of one type class (numbers with numbers, whatever
 * their BSON type; strings with strings), so the ranges of a mapping
 * together hold every document whose _id is of the key's class, and the
 * unit of the other types ({$not: {$type: ...}}) holds the rest: each
 * document is in exactly one unit.
 */
static void
range_filter(const ReconRange *r, bson_t *filter)
{
	bson_t		cond;
	const char *class = r->int_key ? "number" : "string";

	bson_append_document_begin(filter, "_id", 3, &cond);
	if (r->other_types)
	{
		bson_t		not;

		bson_append_document_begin(&cond, "$not", 4, &not);
		BSON_APPEND_UTF8(&not, "$type", class);
		bson_append_document_end(&cond, &not);
	}
	else if (r->lower == NULL && r->upper == NULL)
		BSON_APPEND_UTF8(&cond, "$type", class);
	else
	{
		for (int i = 0; i < 2; i++)
		{
			const char *bound = i == 0 ? r->lower : r->upper;
			const char *op = i == 0 ? "$gte" : "$lt";

			if (bound == NULL)
				continue;
			if (r->int_key)
				BSON_APPEND_INT64(&cond, op, i == 0 ? r->lower_int : r->upper_int);
			else
				BSON_APPEND_UTF8(&cond, op, bound);
		}
	}
	bson_append_document_end(filter, &cond);
}

/*
 * The pass over the collection: every document (of range r, when given), in natural order (projected
 * to _id and the mapped paths unless extra fields are reported), spilled as
 * (canonical key, digest, {_id}); an _id no key can have gets an unexpected
 * key.  Returns how many were read; MongoDB errors raise.
 */
static int64
pass_target(const ReconMapping *m, const ReconTarget *t, const ReconRange *r, Spill *spill)
{
	mongoc_collection_t *coll = recon_mongo_collection(t, m->collection);
	bson_t		filter = BSON_INITIALIZER;
	bson_t		opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t err;
	bool		failed = false;
	int64		docs = 0;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "recon target batch",
												ALLOCSET_DEFAULT_SIZES);

	projection_for(m, &opts);
	if (r != NULL)
		range_filter(r, &filter);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	PG_TRY();
	{
		MemoryContext old = MemoryContextSwitchTo(batch);
		StringInfoData key,
					row;

		initStringInfo(&key);
		initStringInfo(&row);
		while (mongoc_cursor_next(cursor, &doc))
		{
			SpillEntry	e;
			bson_iter_t it;
			bson_t		idd = BSON_INITIALIZER;
			uint64		mark = canon_json_doubles_mark();

			CHECK_FOR_INTERRUPTS();
			resetStringInfo(&key);
			resetStringInfo(&row);
			if (!recon_doc_key_canon(m, doc, &key))
				canon_unexpected_key(&key, doc);
			recon_doc_canon(m, doc, &row, NULL);
			if (bson_iter_init_find(&it, doc, "_id"))
				bson_append_iter(&idd, "_id", 3, &it);
			e.side = SIDE_TARGET;
			e.key = key.data;
			e.keylen = key.len;
			e.keyhash = canon_digest_since(key.data, key.len, mark);
			e.digest = canon_digest_since(row.data, row.len, mark);
			e.idlen = idd.len;
			e.id = (char *) bson_get_data(&idd);
			spill_write(spill, &e);
			bson_destroy(&idd);
			if (++docs % 1024 == 0)
			{
				/* canonical scratch memory of the last documents */
				MemoryContextReset(batch);
				initStringInfo(&key);
				initStringInfo(&row);
			}
			progress(m, "documents", docs);
		}
		MemoryContextSwitchTo(old);
		failed = mongoc_cursor_error(cursor, &err);
	}
	PG_FINALLY();
	{
		mongoc_cursor_destroy(cursor);
		mongoc_collection_destroy(coll);
		bson_destroy(&filter);
		bson_destroy(&opts);
	}
	PG_END_TRY();
	MemoryContextDelete(batch);
	if (failed)
		recon_mongo_raise(&err, "reading the collection");
	return docs;
}

/* ---------------------------------------------------------------------
 * Matching
 * --------------------------------------------------------------------- */

/*
 * Candidates wait here across partitions, so that the re-reads go out in
 * as few batches as possible: on a server that scans the collection for
 * every $in query (FerretDB), that is what re-checking costs.
 */
typedef struct CandidateBatch
{
	MemoryContext copies;		/* keys and ids of waiting candidates */
	MemoryContext work;			/* the re-check of one batch */
	MemoryContext match;		/* one partition's matching; reset after each */
	ReconCandidate *cands;
	int			n;
	int			cap;			/* candidates per re-check batch */
	ReconRereadMode mode;
	bool		chosen;			/* the mode is chosen (probe or setting) */
	double		pass_ms;		/* the pass over the collection took this long */
} CandidateBatch;

/*
 * Choose how this sweep re-reads its candidates, before the first re-read.
 * A keyed look-up of one candidate is tried with a time limit of 1 % of
 * the pass over the collection: on MongoDB it is an index look-up and
 * answers at once; a server that scans the collection for it (FerretDB)
 * does not, and then candidates are re-read by passes over the
 * collection, recon.recheck_scan_keys at a time — one pass instead of one
 * scan per recon.batch_size keys.
 */
static void
choose_reread_mode(const ReconMapping *m, const ReconTarget *t, CandidateBatch *b)
{
	int			limit_ms = (int) Min(5000.0, Max(50.0, b->pass_ms / 100));
	int			i;

	b->chosen = true;
	if (recon_recheck_reads != RECHECK_READS_AUTO || b->pass_ms < 1000 ||
		recon_recheck_scan_keys <= b->cap)
		return;
	for (i = 0; i < b->n; i++)
		if (b->cands[i].id != NULL || !canon_key_is_unexpected(b->cands[i].key, b->cands[i].keylen))
			break;
	if (i == b->n || !recon_keyed_read_costs_a_scan(m, t, &b->cands[i], limit_ms))
		return;
	ereport(LOG,
			(errmsg("recon: sweep of \"%s\" re-reads candidates by passes over the collection",
					m->name),
			 errdetail("A keyed look-up took over %d ms (the pass over the collection %.0f ms):"
					   " the server scans the collection for it.", limit_ms, b->pass_ms)));
	b->mode = REREAD_SCAN;
	b->cap = recon_recheck_scan_keys;
	b->cands = repalloc(b->cands, sizeof(ReconCandidate) * b->cap);
}

/*
 * Re-check the waiting candidates (choosing the re-read mode first if not
 * yet chosen), then free their copies and the re-check's memory.
 *
 * Where passes were chosen (auto), a batch of at most recon.batch_size or
 * recon.recheck_in_keys keys is still re-read by one $in: the server scans
 * the collection once for it, as for a pass, but sends only these
 * documents, so the backend decodes a few documents instead of all of
 * them.  The server's cost of $in grows with its keys (it compares each
 * document with each key), so more keys than that go by passes.
 */
static void
flush_candidates(const ReconMapping *m, const ReconTarget *t, int64 run_id,
				 CandidateBatch *b, ReconRunStats *stats)
{
	MemoryContext old;
	ReconRereadMode mode;

	if (b->n == 0)
		return;
	if (!b->chosen)
		choose_reread_mode(m, t, b);
	mode = b->mode;
	if (mode == REREAD_SCAN && recon_recheck_reads == RECHECK_READS_AUTO &&
		b->n <= Max(recon_batch_size, recon_recheck_in_keys))
		mode = REREAD_KEYED;
	ereport(DEBUG1,
			(errmsg_internal("recon: sweep of \"%s\" re-reads %d candidates %s", m->name, b->n,
							 mode == REREAD_SCAN ? "by a pass over the collection" :
							 "by $in queries")));
	old = MemoryContextSwitchTo(b->work);
	recon_recheck_candidates(m, t, run_id, b->cands, b->n, mode, stats);
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->work);
	MemoryContextReset(b->copies);
	b->n = 0;
	recon_progress_set(PROGRESS_CANDIDATES, stats->candidates);
	recon_progress_set(PROGRESS_DIVERGENCES, stats->divergences);
}

/*
 * Queue a key the passes saw differ: src or tgt NULL for a key on one side
 * only.  Key and _id are copied into the batch's memory, since the spill
 * entries are not kept; a full batch is re-checked at once.
 */
static void
add_candidate(const ReconMapping *m, const ReconTarget *t, int64 run_id, CandidateBatch *b,
			  SpillEntry *src, SpillEntry *tgt, ReconRunStats *stats)
{
	ReconCandidate *c = &b->cands[b->n++];
	SpillEntry *any = src ? src : tgt;

	memset(c, 0, sizeof(*c));
	c->key = MemoryContextAlloc(b->copies, any->keylen);
	memcpy(c->key, any->key, any->keylen);
	c->keylen = any->keylen;
	c->in_source = src != NULL;
	c->in_target = tgt != NULL;
	if (src)
		c->src_digest = src->digest;
	if (tgt)
	{
		uint8_t    *id = MemoryContextAlloc(b->copies, tgt->idlen);

		memcpy(id, tgt->id, tgt->idlen);
		c->doc_digest = tgt->digest;
		c->id = id;
		c->idlen = tgt->idlen;
	}
	recon_progress_set(PROGRESS_CANDIDATES, stats->candidates + b->n);
	if (b->n == b->cap)
	{
		if (!b->chosen)
		{
			choose_reread_mode(m, t, b);
			if (b->n < b->cap)
				return;			/* passes take more keys: keep collecting */
		}
		flush_candidates(m, t, run_id, b, stats);
	}
}

/* The source row of a match entry, as add_candidate takes it. */
static SpillEntry *
source_entry(const MatchEntry *me, SpillEntry *e)
{
	memset(e, 0, sizeof(*e));
	e->side = SIDE_SOURCE;
	e->key = me->key;
	e->keylen = me->keylen;
	e->keyhash = me->keyhash;
	e->digest = me->digest;
	return e;
}

/*
 * Match one partition's spilled entries in memory (the caller's context,
 * deleted afterwards): source keys into a hash table, then each document
 * against it.  Unmatched keys and differing digests become candidates; a
 * key on two source rows is counted as a duplicate, never silently picked.
 * rows, the partition's source entries, sizes the table; no more than
 * recon.partition_rows of them, since a partition that could not be split
 * again may hold many rows of one key, which take one entry.
 */
static void
match_partition(const ReconMapping *m, const ReconTarget *t, int64 run_id, BufFile *f,
				int64 rows, CandidateBatch *batch, ReconRunStats *stats)
{
	matchtab_hash *h = matchtab_create(CurrentMemoryContext,
									   (uint32) Min(rows, (int64) recon_partition_rows) + 1, NULL);
	matchtab_iterator iter;
	SpillEntry	e,
				src;
	MatchEntry *me;

	if (BufFileSeek(f, 0, 0, SEEK_SET) != 0)
		elog(ERROR, "recon: could not rewind sweep spill file");
	while (spill_read(f, &e))
	{
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (e.side == SIDE_SOURCE)
		{
			me = matchtab_insert(h, e.keyhash, &found);
			if (found && me->keylen == e.keylen && memcmp(me->key, e.key, e.keylen) == 0)
			{
				/* the key does not identify one row: never pick one silently */
				if (stats->duplicate_keys++ == 0)
					stats->duplicate_key = MemoryContextStrdup(TopTransactionContext,
															   recon_key_canon_to_json(m, e.key, e.keylen));
				continue;
			}
			me->digest = e.digest;
			me->key = e.key;
			me->keylen = e.keylen;
			me->matched = false;
			continue;
		}
		me = matchtab_lookup(h, e.keyhash);
		if (me != NULL && (me->keylen != e.keylen || memcmp(me->key, e.key, e.keylen) != 0))
			me = NULL;			/* 128-bit collision of two keys: treat as unmatched */
		if (me == NULL)
			add_candidate(m, t, run_id, batch, NULL, &e, stats);
		else
		{
			me->matched = true;
			if (memcmp(&me->digest, &e.digest, sizeof(CanonDigest)) != 0)
				add_candidate(m, t, run_id, batch, source_entry(me, &src), &e, stats);
		}
		pfree(e.key);			/* and the id with it */
	}
	matchtab_start_iterate(h, &iter);
	while ((me = matchtab_iterate(h, &iter)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (!me->matched)
			add_candidate(m, t, run_id, batch, source_entry(me, &src), NULL, stats);
	}
}

/*
 * Match one partition; one that holds more source rows than
 * recon.partition_rows (the estimate was wrong: stale statistics, a view) is
 * split again on other bits of the key hash first, so memory stays bounded
 * whatever the estimate said.
 */
static void
match_spilled(const ReconMapping *m, const ReconTarget *t, int64 run_id, BufFile *f,
			  int64 rows, int level, CandidateBatch *batch, ReconRunStats *stats)
{
	MemoryContext old;

	if (rows > recon_partition_rows && level < 10)
	{
		Spill		sub;
		SpillEntry	e;
		int			i;

		sub.nparts = 2;
		while (sub.nparts < 64 && rows / sub.nparts > recon_partition_rows)
			sub.nparts *= 2;
		sub.level = level + 1;
		sub.files = palloc(sizeof(BufFile *) * sub.nparts);
		sub.rows = palloc0(sizeof(int64) * sub.nparts);
		for (i = 0; i < sub.nparts; i++)
			sub.files[i] = BufFileCreateTemp(false);
		if (BufFileSeek(f, 0, 0, SEEK_SET) != 0)
			elog(ERROR, "recon: could not rewind sweep spill file");
		while (spill_read(f, &e))
		{
			CHECK_FOR_INTERRUPTS();
			spill_write(&sub, &e);
			pfree(e.key);		/* and the id with it */
		}
		BufFileClose(f);
		for (i = 0; i < sub.nparts; i++)
			match_spilled(m, t, run_id, sub.files[i], sub.rows[i], level + 1, batch, stats);
		return;
	}
	old = MemoryContextSwitchTo(batch->match);
	match_partition(m, t, run_id, f, rows, batch, stats);
	MemoryContextSwitchTo(old);
	MemoryContextReset(batch->match);
	BufFileClose(f);
}

/*
 * How many partitions (a power of two, at most 4096) the passes spill into,
 * for about recon.partition_rows entries each, from share (0..1) of the
 * source's estimated row count (the collection's, when the source has
 * none); *rows_estimate gets the estimate (0 if unknown) for
 * recon.sweep_progress.
 */
static int
choose_partitions(const ReconMapping *m, const ReconTarget *t, double share, double *rows_estimate)
{
	Relation	rel = relation_open(m->relid, AccessShareLock);
	double		est = rel->rd_rel->reltuples;
	int			n = 1;
	mongoc_collection_t *coll;
	bson_error_t err;
	int64		docs;

	/* views and partitioned parents have no reltuples of their own */
	if (est < 0 && RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		est = (double) RelationGetNumberOfBlocks(rel) * 100;
	relation_close(rel, AccessShareLock);

	/*
	 * Only when the source gives no estimate (views, partitioned parents)
	 * ask the collection: FerretDB answers that with a full scan.
	 */
	if (est < 0)
	{
		coll = recon_mongo_collection(t, m->collection);
		docs = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &err);
		mongoc_collection_destroy(coll);
		est = docs > 0 ? (double) docs : 0;
	}
	est *= share;
	*rows_estimate = est;
	/* both sides land in the partitions: ~2 entries per row */
	while (n < 4096 && est * 2 / n > recon_partition_rows)
		n *= 2;
	return n;
}

/* ---------------------------------------------------------------------
 * The run
 * --------------------------------------------------------------------- */

static void
try_lock_nowait(void *arg)
{
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(*(int64 *) arg)};

	recon_spi_exec("SELECT 1 FROM recon.mappings WHERE mapping_id = $1 FOR NO KEY UPDATE NOWAIT",
				   1, t, v, NULL, SPI_OK_SELECT);
}

/*
 * One sweep of a mapping at a time: a second one waits for the first to
 * end (as long as lock_timeout allows), so two runs never plan repairs of
 * one divergence against each other.
 */
void
recon_lock_mapping_for_run(const ReconMapping *m)
{
	int64		id = m->id;
	Oid			t[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(id)};

	if (recon_try(try_lock_nowait, &id, NULL))
		return;
	ereport(NOTICE,
			(errmsg("waiting for the sweep of mapping \"%s\" that is already running", m->name),
			 errhint("lock_timeout bounds the wait; see recon.runs WHERE status = 'running'.")));
	recon_spi_exec("SELECT 1 FROM recon.mappings WHERE mapping_id = $1 FOR NO KEY UPDATE",
				   1, t, v, NULL, SPI_OK_SELECT);
}

/*
 * The mapping's key, if its sweeps can be split into _id ranges: one
 * column of integer type (MongoDB numbers compare by value across int32,
 * int64 and double) or of text/varchar (strings compare by UTF-8 bytes,
 * as text COLLATE "C" does).  Returns whether it is an integer key;
 * refuses any other key.
 */
bool
recon_range_key_is_int(const ReconMapping *m)
{
	if (m->nkeys == 1 && m->keys[0].kind == CK_INT)
		return true;
	if (m->nkeys == 1 && m->keys[0].kind == CK_TEXT &&
		(m->keys[0].typid == TEXTOID || m->keys[0].typid == VARCHAROID))
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("mapping \"%s\" cannot be swept in key ranges", m->name),
			 m->nkeys > 1 ?
			 errdetail("Its key has %d columns; range sweeps split a single-column key.", m->nkeys) :
			 errdetail("Its key column \"%s\" is of type %s; range sweeps split integer, text and varchar keys only.",
					   m->keys[0].column, format_type_be(m->keys[0].typid)),
			 errhint("Use the single-pass sweep: recon.sweep('%s'), or recon.start_sweep('%s') with one worker.",
					 m->name, m->name)));
	return false;				/* not reached */
}

/*
 * Interior boundaries that split the source into about nranges ranges of
 * equal row counts: percentiles of the key (over a sample of a large
 * table), read as the mapping's owner like every source read, in the
 * order MongoDB compares _id values.  Returns their text forms, ascending
 * and distinct; *nbounds of them (fewer than nranges - 1 when keys repeat
 * or the source is small).
 */
char	  **
recon_range_bounds(const ReconMapping *m, int nranges, int *nbounds)
{
	bool		int_key = recon_range_key_is_int(m);
	const char *coll = int_key ? "" : " COLLATE \"C\"";
	Relation	rel = relation_open(m->relid, AccessShareLock);
	double		reltuples = rel->rd_rel->reltuples;
	bool		sampled = rel->rd_rel->relkind == RELKIND_RELATION && reltuples > 100000;
	char	   *sql;
	Datum	   *fractions = palloc(sizeof(Datum) * Max(nranges, 1));
	Oid			types[1] = {FLOAT8ARRAYOID};
	Datum		args[1];
	ReconSourceSave as_owner;
	MemoryContext cxt = CurrentMemoryContext;
	char	  **bounds;
	uint64		i;
	int			rc;

	relation_close(rel, AccessShareLock);
	for (i = 1; i < (uint64) nranges; i++)
		fractions[i - 1] = Float8GetDatum((double) i / nranges);
	args[0] = PointerGetDatum(construct_array(fractions, Max(nranges - 1, 0), FLOAT8OID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	sql = psprintf("SELECT s.b::pg_catalog.text AS bound FROM (SELECT DISTINCT b FROM pg_catalog.unnest("
				   "(SELECT pg_catalog.percentile_disc($1) WITHIN GROUP (ORDER BY t.%s%s)"
				   " FROM %s t%s)) AS b) s ORDER BY s.b%s",
				   quote_identifier(m->keys[0].column), coll, m->relname,
				   sampled ? psprintf(" TABLESAMPLE SYSTEM (%g)", 100.0 * 100000 / reltuples) : "",
				   coll);
	recon_source_enter(m, &as_owner);
	rc = SPI_execute_with_args(sql, 1, types, args, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	recon_source_exit(&as_owner);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "recon: could not read the key distribution of \"%s\"", m->name);
	bounds = palloc(sizeof(char *) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
		bounds[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	*nbounds = (int) SPI_processed;
	SPI_freetuptable(SPI_tuptable);
	return bounds;
}

static void sweep_pass_body(const ReconMapping *m, const ReconTarget *t, int64 run_id,
							const ReconRange *r, int64 *rows_out, int64 *docs_out,
							ReconRunStats *stats);

/*
 * One pass over both sides — the whole mapping (r NULL) or one key range
 * of it — matched in partitions; candidates re-checked and recorded.
 * Adds what it read and found to *rows, *docs and *stats.
 */
void
recon_sweep_pass(const ReconMapping *m, const ReconTarget *t, int64 run_id, const ReconRange *r,
				 int64 *rows_out, int64 *docs_out, ReconRunStats *stats)
{
	recon_mongo_keep_reply_memory(true);
	PG_TRY();
	{
		sweep_pass_body(m, t, run_id, r, rows_out, docs_out, stats);
	}
	PG_FINALLY();
	{
		recon_mongo_keep_reply_memory(false);
	}
	PG_END_TRY();
}

/* recon_sweep_pass, while libmongoc's reply memory is kept between replies */
static void
sweep_pass_body(const ReconMapping *m, const ReconTarget *t, int64 run_id, const ReconRange *r,
				int64 *rows_out, int64 *docs_out, ReconRunStats *stats)
{
	int64		rows,
				docs;
	Spill		spill;
	double		pass_ms,
				estimate = -1;
	int			i;

	spill.nparts = choose_partitions(m, t, r ? r->share : 1.0, &estimate);
	recon_progress_begin(m->id, m->name, "sweep", run_id, estimate);
	recon_progress_phase(SWEEP_PHASE_SOURCE);
	spill.level = 0;
	spill.rows = palloc0(sizeof(int64) * spill.nparts);
	spill.files = palloc(sizeof(BufFile *) * spill.nparts);
	for (i = 0; i < spill.nparts; i++)
		spill.files[i] = BufFileCreateTemp(false);

	rows = pass_source(m, r, &spill);
	recon_progress_set(PROGRESS_ROWS, rows);
	recon_progress_phase(SWEEP_PHASE_COLLECTION);
	{
		instr_time	start,
					end;

		INSTR_TIME_SET_CURRENT(start);
		docs = pass_target(m, t, r, &spill);
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_SUBTRACT(end, start);
		pass_ms = INSTR_TIME_GET_MILLISEC(end);
	}
	recon_progress_set(PROGRESS_DOCS, docs);
	recon_progress_phase(SWEEP_PHASE_MATCHING);

	{
		CandidateBatch batch;
		bool		scan = recon_recheck_reads == RECHECK_READS_SCAN;

		batch.copies = AllocSetContextCreate(CurrentMemoryContext, "recon sweep candidates",
											 ALLOCSET_DEFAULT_SIZES);
		batch.work = AllocSetContextCreate(CurrentMemoryContext, "recon sweep re-check",
										   ALLOCSET_DEFAULT_SIZES);

		/*
		 * Partitions are matched one after another in memory of about the
		 * same size: its first block, kept across resets, is sized for a
		 * partition's keys (up to 8 MB), so that each partition reuses the
		 * pages the one before touched instead of faulting fresh ones in.
		 * (The hash table is one allocation of its own.)
		 */
		batch.match = AllocSetContextCreate(CurrentMemoryContext, "recon sweep match", 0,
											(Size) Min((int64) ALLOCSET_DEFAULT_MAXSIZE,
													   Max((int64) ALLOCSET_DEFAULT_INITSIZE,
														   (int64) recon_partition_rows * 128)),
											ALLOCSET_DEFAULT_MAXSIZE);
		batch.cap = scan ? Max(recon_recheck_scan_keys, recon_batch_size) : recon_batch_size;
		batch.cands = palloc(sizeof(ReconCandidate) * batch.cap);
		batch.n = 0;
		batch.mode = scan ? REREAD_SCAN : REREAD_KEYED;
		batch.chosen = recon_recheck_reads != RECHECK_READS_AUTO;
		batch.pass_ms = pass_ms;
		for (i = 0; i < spill.nparts; i++)
			match_spilled(m, t, run_id, spill.files[i], spill.rows[i], 0, &batch, stats);
		flush_candidates(m, t, run_id, &batch, stats);
		MemoryContextDelete(batch.copies);
		MemoryContextDelete(batch.work);
		MemoryContextDelete(batch.match);
	}
	*rows_out += rows;
	*docs_out += docs;
}

/* Columns added to the source since the mapping accepted its columns are not compared: say so. */
void
recon_notice_new_columns(const ReconMapping *m)
{
	StringInfoData cols;
	ListCell   *lc;

	if (m->new_columns == NIL)
		return;
	initStringInfo(&cols);
	foreach(lc, m->new_columns)
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(lfirst(lc)));
	ereport(NOTICE,
			(errmsg("columns added to the source of mapping \"%s\" are not compared: %s",
					m->name, cols.data),
			 errhint("Accept them with recon.alter_mapping('%s', '{}'), or exclude them.", m->name)));
}

/*
 * A range sweep of the mapping has ranges left (or has not finished): no
 * other sweep may start until it is resumed and finished.
 */
void
recon_refuse_if_range_run(const ReconMapping *m)
{
	int64		other = recon_range_run_unfinished(m->id);

	if (other != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("mapping \"%s\" has an unfinished range sweep (run %lld)", m->name,
						(long long) other),
				 errdetail("A range sweep records its ranges one by one; another sweep of the mapping would record against it."),
				 errhint("Finish it with CALL recon.resume_sweep(%lld), or wait for its workers (see recon.sweep_ranges).",
						 (long long) other)));
}

/*
 * Sweep one mapping in a single pass.  SPI must be connected and the
 * search_path pinned.  run_id 0 creates the run row; a background sweep
 * passes the row its caller created.
 */
int64
recon_sweep_mapping(const char *name, const char *actor, int64 run_id)
{
	ReconMapping *m;
	ReconTarget *t;
	int64		rows = 0,
				docs = 0;
	ReconRunStats stats = {0};

	m = recon_mapping_load(name);
	recon_progress_begin(m->id, m->name, "sweep", run_id, -1);
	recon_lock_mapping_for_run(m);
	recon_refuse_if_range_run(m);
	recon_notice_new_columns(m);
	t = recon_target_lookup(m->serverid, m->owner);
	(void) recon_mongo_client(t);	/* fail early and clearly when unreachable */

	if (run_id == 0)
		run_id = recon_run_start(m, "sweep", actor);

	recon_sweep_pass(m, t, run_id, NULL, &rows, &docs, &stats);

	recon_progress_phase(SWEEP_PHASE_RECORDING);
	{
		ReconAudit	a = {0};

		a.actor = actor;
		a.action = AUDIT_RUN_STARTED;
		a.mapping = m->name;
		a.run_id = run_id;
		a.reason = "recon.sweep";
		recon_audit(&a);
	}
	recon_finish_run(m, run_id, actor, rows, docs, &stats, false);
	return run_id;
}

/*
 * recon.sweep(mapping text) → run_id (recon_operator): compare the whole
 * mapping in one pass per side, record what still differs after re-checks
 * and plan repairs, in the caller's transaction.  Waits for a sweep of the
 * same mapping already running.
 */
PG_FUNCTION_INFO_V1(recon_sweep);
Datum
recon_sweep(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ReconPriv	priv;
	int64		run_id;

	recon_priv_enter(&priv, "recon_operator", "recon.sweep");
	SPI_connect();
	recon_pin_search_path();
	run_id = recon_sweep_mapping(name, priv.caller_name, 0);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_INT64(run_id);
}
