/*
 * recheck.c — re-reading candidate keys on both sides and recording what
 * still diverges: the divergence row and its planned repair.
 *
 * A key the sweep flagged is read again (source rows by key, documents by
 * one $in query per batch).  If it changed since the pass it is given
 * settle_ms to converge and read once more; only what still differs is
 * recorded.  Repairs read both sides with the same function.
 */
#include "postgres.h"

#include "recheck.h"
#include "canonical.h"
#include "catalog.h"
#include "docshape.h"
#include "mapping.h"
#include "mongo_client.h"
#include "recon.h"
#include "target.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buffile.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#define RECHECK_ROUNDS 3

typedef struct KeyIndex
{
	CanonDigest keyhash;
	int			idx;
} KeyIndex;

/*
 * A hash table (in the current context) from each item's key digest to its
 * index in items, so that rows and documents read back in any order find
 * their item; find_key confirms the whole key.
 */
static HTAB *
index_keys(ReconKeyed *items, int n)
{
	HASHCTL		ctl;
	HTAB	   *h;
	int			i;

	ctl.keysize = sizeof(CanonDigest);
	ctl.entrysize = sizeof(KeyIndex);
	ctl.hash = canon_digest_hash;
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("recon keys", n * 2, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_CONTEXT);
	for (i = 0; i < n; i++)
	{
		CanonDigest kh = canon_digest(items[i].key, items[i].keylen);
		KeyIndex   *e = hash_search(h, &kh, HASH_ENTER, NULL);

		e->idx = i;
	}
	return h;
}

static int
find_key(HTAB *h, ReconKeyed *items, const char *key, int keylen)
{
	CanonDigest kh = canon_digest(key, keylen);
	KeyIndex   *e = hash_search(h, &kh, HASH_FIND, NULL);

	if (e == NULL || items[e->idx].keylen != keylen ||
		memcmp(items[e->idx].key, key, keylen) != 0)
		return -1;
	return e->idx;
}

/*
 * A source row read by key answers the key it canonicalises to (as a
 * look-up by "=" may find a row whose key is equal but not identical, the
 * row is matched by its own canonical key); unmatched rows are ignored.
 */
static void
take_source_row(const ReconMapping *m, HTAB *h, ReconKeyed *items, Datum *values, bool *nulls,
				StringInfo key)
{
	int			idx;

	resetStringInfo(key);
	recon_key_canon_datums(m, values, nulls, key);
	idx = find_key(h, items, key->data, key->len);
	if (idx < 0)
		return;
	items[idx].src_present = true;
	items[idx].values = values;
	items[idx].nulls = nulls;
}

/*
 * The unique index a plain table's rows can be fetched by key: valid,
 * immediate, unique, btree, on exactly the key columns, each in the
 * operator family of its type's default operator class and with the
 * column's collation, so that its equality is the one the SQL look-up's
 * "=" would use.  Returns its OID
 * (InvalidOid: none) and, per key, the index column it sits in.
 */
static Oid
key_index(const ReconMapping *m, Relation rel, int *index_col)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	ir = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = ir->rd_index;
		bool		ok = ix->indisunique && ix->indimmediate && ix->indisvalid && ix->indislive &&
			ir->rd_rel->relam == BTREE_AM_OID && ix->indnkeyatts == m->nkeys &&
			RelationGetIndexExpressions(ir) == NIL && RelationGetIndexPredicate(ir) == NIL;
		int			c,
					k;

		for (c = 0; ok && c < m->nkeys; c++)
		{
			AttrNumber	att = ix->indkey.values[c];
			Form_pg_attribute a;
			Oid			opclass;

			for (k = 0; k < m->nkeys && m->keys[k].attnum != att; k++)
				;
			if (att <= 0 || k == m->nkeys)
			{
				ok = false;
				break;
			}
			a = TupleDescAttr(RelationGetDescr(rel), att - 1);
			opclass = GetDefaultOpClass(a->atttypid, BTREE_AM_OID);
			ok = OidIsValid(opclass) &&
				ir->rd_opcintype[c] == a->atttypid &&
				ir->rd_opfamily[c] == get_opclass_family(opclass) &&
				ir->rd_indcollation[c] == a->attcollation;
			if (ok)
				index_col[k] = c;
		}
		index_close(ir, AccessShareLock);
		if (ok)
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(indexes);
	return found;
}

/*
 * The source rows of n keys of a plain table, fetched one by one through
 * its unique key index: no query to parse and plan per batch.  Runs as the
 * owner after the same checks as the SQL look-up (recon_source_enter); no
 * user-written code runs but the key types' input functions, which the SQL
 * look-up calls too.  Returns false, having read nothing, when the table
 * has no such index.
 */
static bool
fetch_source_rows(const ReconMapping *m, HTAB *h, ReconKeyed *items, int n)
{
	int			ncols = m->nkeys + m->nfields;
	int		   *index_col = palloc(sizeof(int) * m->nkeys);
	ScanKeyData *sk = palloc(sizeof(ScanKeyData) * m->nkeys);
	FmgrInfo   *eqproc = palloc(sizeof(FmgrInfo) * m->nkeys);
	Oid		   *typinput = palloc(sizeof(Oid) * m->nkeys);
	Oid		   *typioparam = palloc(sizeof(Oid) * m->nkeys);
	AttrNumber *attnos = palloc(sizeof(AttrNumber) * ncols);
	int			maxatt = 0;
	ReconSourceSave as_owner;
	Relation	rel,
				irel;
	Oid			indexoid;
	Snapshot	snap;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	StringInfoData key;
	int			i,
				k;

	if (m->nembeds > 0 || get_rel_relkind(m->relid) != RELKIND_RELATION)
		return false;
	recon_source_enter(m, &as_owner);
	rel = table_open(m->relid, AccessShareLock);
	indexoid = key_index(m, rel, index_col);
	if (!OidIsValid(indexoid))
	{
		table_close(rel, AccessShareLock);
		recon_source_exit(&as_owner);
		return false;
	}
	irel = index_open(indexoid, AccessShareLock);
	for (k = 0; k < m->nkeys; k++)
	{
		int			c = index_col[k];

		fmgr_info(get_opcode(get_opfamily_member(irel->rd_opfamily[c], irel->rd_opcintype[c],
												 irel->rd_opcintype[c], BTEqualStrategyNumber)),
				  &eqproc[k]);
		getTypeInputInfo(m->keys[k].typid, &typinput[k], &typioparam[k]);
	}
	for (i = 0; i < ncols; i++)
	{
		attnos[i] = i < m->nkeys ? m->keys[i].attnum : m->fields[i - m->nkeys].attnum;
		maxatt = Max(maxatt, attnos[i]);
	}
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());	/* as a statement of its own would */
	scan = index_beginscan(rel, irel, snap, m->nkeys, 0);
	slot = table_slot_create(rel, NULL);
	initStringInfo(&key);
	for (i = 0; i < n; i++)
	{
		List	   *texts;

		CHECK_FOR_INTERRUPTS();
		if (canon_key_is_unexpected(items[i].key, items[i].keylen))
			continue;			/* an _id no row can have */
		texts = recon_key_canon_to_texts(m, items[i].key, items[i].keylen);
		for (k = 0; k < m->nkeys; k++)
		{
			int			c = index_col[k];

			ScanKeyEntryInitializeWithInfo(&sk[c], 0, c + 1, BTEqualStrategyNumber, InvalidOid,
										   irel->rd_indcollation[c], &eqproc[k],
										   OidInputFunctionCall(typinput[k], list_nth(texts, k),
																typioparam[k], -1));
		}
		index_rescan(scan, sk, m->nkeys, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			Datum	   *values = palloc(sizeof(Datum) * ncols);
			bool	   *nulls = palloc(sizeof(bool) * ncols);

			slot_getsomeattrs(slot, maxatt);
			for (k = 0; k < ncols; k++)
			{
				Form_pg_attribute a = TupleDescAttr(slot->tts_tupleDescriptor, attnos[k] - 1);

				nulls[k] = slot->tts_isnull[attnos[k] - 1];
				values[k] = nulls[k] ? (Datum) 0 :
					datumCopy(slot->tts_values[attnos[k] - 1], a->attbyval, a->attlen);
			}
			take_source_row(m, h, items, values, nulls, &key);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	index_close(irel, AccessShareLock);
	table_close(rel, AccessShareLock);
	recon_source_exit(&as_owner);
	return true;
}

/*
 * Read the source rows and target documents of n keys.  lock is appended
 * to the source query (e.g. " FOR SHARE OF t").  Results land in items[].
 */
static void
read_source_side(const ReconMapping *m, HTAB *h, ReconKeyed *items, int n, const char *lock)
{
	MemoryContext cxt = CurrentMemoryContext;	/* SPI calls return in SPI's context */
	int			ncols = m->nkeys + m->nfields;
	int			i,
				k;
	StringInfoData key;

	initStringInfo(&key);
	for (i = 0; i < n; i++)
	{
		items[i].src_present = false;
		items[i].doc = NULL;
	}
	/* a plain table is read through its key index; locking (repairs) goes through SQL */
	if (lock == NULL && fetch_source_rows(m, h, items, n))
		return;

	/* one query, keys as parallel text arrays */
	{
		Oid		   *types = palloc(sizeof(Oid) * m->nkeys);
		Datum	   *args = palloc(sizeof(Datum) * m->nkeys);
		ArrayBuildState **ab = palloc0(sizeof(ArrayBuildState *) * m->nkeys);
		bool		any = false;
		uint64		r;

		for (i = 0; i < n; i++)
		{
			List	   *texts;

			if (canon_key_is_unexpected(items[i].key, items[i].keylen))
				continue;		/* an _id no row can have */
			texts = recon_key_canon_to_texts(m, items[i].key, items[i].keylen);
			for (k = 0; k < m->nkeys; k++)
				ab[k] = accumArrayResult(ab[k], CStringGetTextDatum(list_nth(texts, k)), false,
										 TEXTOID, CurrentMemoryContext);
			any = true;
		}
		if (any)
		{
			ReconSourceSave as_owner;
			int			rc;

			for (k = 0; k < m->nkeys; k++)
			{
				types[k] = TEXTARRAYOID;
				args[k] = makeArrayResult(ab[k], CurrentMemoryContext);
			}

			/*
			 * Locking needs UPDATE rights the mapping's owner need not have:
			 * the rows are locked by key as recon (repairs need a table, so no
			 * user-written code runs for it, and restricted all the same), then
			 * read as the owner.  Locked rows cannot change before the read.
			 */
			if (lock)
			{
				Oid			save_userid;
				int			save_sec;

				GetUserIdAndSecContext(&save_userid, &save_sec);
				SetUserIdAndSecContext(save_userid, save_sec | SECURITY_RESTRICTED_OPERATION);
				rc = SPI_execute_with_args(recon_source_key_lock_sql(m, lock), m->nkeys, types,
										   args, NULL, false, 0);
				MemoryContextSwitchTo(cxt);
				SetUserIdAndSecContext(save_userid, save_sec);
				if (rc < 0)
					elog(ERROR, "recon: source lock failed");
			}
			recon_source_enter(m, &as_owner);
			rc = SPI_execute_with_args(recon_source_key_lookup_sql(m, NULL), m->nkeys, types, args,
									   NULL, false, 0);
			MemoryContextSwitchTo(cxt);
			recon_source_exit(&as_owner);
			if (rc < 0)
				elog(ERROR, "recon: source re-read failed");
			for (r = 0; r < SPI_processed; r++)
			{
				Datum	   *values = palloc(sizeof(Datum) * ncols);
				bool	   *nulls = palloc(sizeof(bool) * ncols);
				HeapTuple	tup = SPI_copytuple(SPI_tuptable->vals[r]);

				CHECK_FOR_INTERRUPTS();
				heap_deform_tuple(tup, SPI_tuptable->tupdesc, values, nulls);
				take_source_row(m, h, items, values, nulls, &key);
			}
			SPI_freetuptable(SPI_tuptable);
		}
	}
}

/*
 * Where a pass over the collection puts the documents of the keys it
 * re-reads when they are too many to hold (recheck_spilled): a temporary
 * file, and each item's place in it (fileno -1: no document).
 */
typedef struct DocSpill
{
	BufFile    *file;
	int		   *fileno;
	off_t	   *offset;
} DocSpill;

/* The item's document: a palloc'd copy of len bytes (nothing to free on error paths). */
static void
keep_document(ReconKeyed *it, const uint8_t *bytes, uint32 len)
{
	uint8_t    *data = palloc(len);
	bson_t	   *copy = palloc_bson_aligned(sizeof(bson_t));

	memcpy(data, bytes, len);
	bson_init_static(copy, data, len);
	it->doc = copy;
}

/*
 * The documents of n keys: one $in query, or (REREAD_SCAN) one pass over
 * the collection keeping the documents of these keys — what a server that
 * scans the collection for $in does anyway, but with replies that stream.
 * With spill, the documents go to spill's file instead of memory.
 */
static void
read_target_side(const ReconMapping *m, const ReconTarget *t, HTAB *h, ReconKeyed *items, int n,
				 ReconRereadMode mode, DocSpill *spill)
{
	int			i;

	{
		mongoc_collection_t *coll = recon_mongo_collection(t, m->collection);
		bson_t		filter = BSON_INITIALIZER;
		bson_t		in = BSON_INITIALIZER;
		mongoc_cursor_t *cursor;
		const bson_t *doc;
		bson_error_t err;
		bool		failed = false;
		int			ni = 0;

		for (i = 0; i < n; i++)
		{
			bson_iter_t it;

			items[i].doc = NULL;
			if (mode == REREAD_SCAN)
				continue;
			if (recon_id_iter(&it, items[i].id, items[i].idlen))
			{
				char		ikey[16];

				snprintf(ikey, sizeof(ikey), "%d", ni++);
				bson_append_iter(&in, ikey, -1, &it);
			}
			else if (!canon_key_is_unexpected(items[i].key, items[i].keylen))
				recon_append_id_candidates_from_canon(m, &in, &ni, items[i].key, items[i].keylen);
		}
		if (mode == REREAD_KEYED)
		{
			bson_t		idf;

			if (ni == 0)
			{
				/* no document can match: no query at all */
				bson_destroy(&in);
				bson_destroy(&filter);
				mongoc_collection_destroy(coll);
				return;
			}
			bson_append_document_begin(&filter, "_id", 3, &idf);
			bson_append_array(&idf, "$in", 3, &in);
			bson_append_document_end(&filter, &idf);
		}
		bson_destroy(&in);

		{
			/*
			 * Small reply batches: a server that scans the collection for $in
			 * (FerretDB) then answers each getMore within the socket timeout.
			 */
			bson_t		opts = BSON_INITIALIZER;

			BSON_APPEND_INT32(&opts, "batchSize", mode == REREAD_SCAN ? recon_batch_size : 100);
			BSON_APPEND_INT64(&opts, "maxTimeMS", recon_recheck_timeout_ms);
			cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
			bson_destroy(&opts);
		}
		PG_TRY();
		{
			StringInfoData key;

			initStringInfo(&key);
			while (mongoc_cursor_next(cursor, &doc))
			{
				int			idx;

				CHECK_FOR_INTERRUPTS();
				resetStringInfo(&key);
				if (!recon_doc_key_canon(m, doc, &key))
					canon_unexpected_key(&key, doc);
				idx = find_key(h, items, key.data, key.len);
				if (idx < 0)
					continue;
				if (spill)
				{
					uint32		len = doc->len;

					BufFileTell(spill->file, &spill->fileno[idx], &spill->offset[idx]);
					BufFileWrite(spill->file, &len, sizeof(len));
					BufFileWrite(spill->file, (void *) bson_get_data(doc), len);
				}
				else
					keep_document(&items[idx], bson_get_data(doc), doc->len);
			}
			failed = mongoc_cursor_error(cursor, &err);
		}
		PG_FINALLY();
		{
			mongoc_cursor_destroy(cursor);
			mongoc_collection_destroy(coll);
			bson_destroy(&filter);
		}
		PG_END_TRY();
		if (failed)
			recon_mongo_raise(&err, "re-reading documents");
	}
}

static void
read_sides(const ReconMapping *m, const ReconTarget *t, ReconKeyed *items, int n,
		   const char *lock, ReconRereadMode mode)
{
	HTAB	   *h = index_keys(items, n);

	read_source_side(m, h, items, n, lock);
	read_target_side(m, t, h, items, n, mode, NULL);
	hash_destroy(h);
}

/*
 * Read the source row and the document of n keys into items[] (values and
 * nulls, doc; absent ones cleared), the row as the mapping's owner; lock
 * (e.g. " FOR SHARE OF t"), if given, locks the rows first.  One $in query
 * per call.  SPI connected; results in the current context.
 */
void
recon_read_sides(const ReconMapping *m, const ReconTarget *t, ReconKeyed *items, int n,
				 const char *lock)
{
	read_sides(m, t, items, n, lock, REREAD_KEYED);
}

/*
 * A sweep's re-read: replies may take recon.recheck_timeout_ms (a server
 * that scans for $in answers late, not never).
 */
static void
sweep_reread(const ReconMapping *m, const ReconTarget *t, ReconKeyed *items, int n,
			 ReconRereadMode mode)
{
	recon_mongo_long_reads(true);
	PG_TRY();
	{
		read_sides(m, t, items, n, NULL, mode);
	}
	PG_FINALLY();
	{
		recon_mongo_long_reads(false);
	}
	PG_END_TRY();
}

/*
 * Does a keyed look-up of this candidate take longer than limit_ms?  On a
 * server that serves $in from the _id index it answers in milliseconds;
 * one that scans the collection for it runs into maxTimeMS (or the socket
 * timeout, if it ignores maxTimeMS).
 */
bool
recon_keyed_read_costs_a_scan(const ReconMapping *m, const ReconTarget *t,
							  const ReconCandidate *c, int limit_ms)
{
	mongoc_collection_t *coll = recon_mongo_collection(t, m->collection);
	bson_t		filter = BSON_INITIALIZER;
	bson_t		idf,
				in;
	bson_t		opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t err;
	bool		failed;
	int			ni = 0;
	bson_iter_t it;

	bson_append_document_begin(&filter, "_id", 3, &idf);
	bson_append_array_begin(&idf, "$in", 3, &in);
	if (recon_id_iter(&it, c->id, c->idlen))
		bson_append_iter(&in, "0", 1, &it);
	else
		recon_append_id_candidates_from_canon(m, &in, &ni, c->key, c->keylen);
	bson_append_array_end(&idf, &in);
	bson_append_document_end(&filter, &idf);
	BSON_APPEND_INT64(&opts, "maxTimeMS", limit_ms);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	PG_TRY();
	{
		while (mongoc_cursor_next(cursor, &doc))
			CHECK_FOR_INTERRUPTS();
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
	if (!failed)
		return false;
	/* MaxTimeMSExpired (50), or a reply later than the socket timeout */
	if ((err.domain == MONGOC_ERROR_SERVER && err.code == 50) ||
		(err.domain == MONGOC_ERROR_STREAM && err.code == MONGOC_ERROR_STREAM_SOCKET))
		return true;
	recon_mongo_raise(&err, "timing a keyed look-up");
}

/* The source rows of n keys only (items[].doc is left as the caller set it). */
void
recon_read_source(const ReconMapping *m, ReconKeyed *items, int n)
{
	HTAB	   *h = index_keys(items, n);
	bson_t	  **docs = palloc(sizeof(bson_t *) * n);
	int			i;

	for (i = 0; i < n; i++)
		docs[i] = items[i].doc;
	read_source_side(m, h, items, n, NULL);
	for (i = 0; i < n; i++)
		items[i].doc = docs[i];
	hash_destroy(h);
}

/*
 * Why a document cannot be compared as an ordinary one, or NULL: an _id
 * no row can have, a mapped field named twice.
 */
char *
recon_document_reason(const ReconMapping *m, const ReconKeyed *it)
{
	const char *twice;

	if (canon_key_is_unexpected(it->key, it->keylen))
	{
		const char *type = recon_unexpected_key_type(it->key, it->keylen);

		return type ? psprintf("its _id (BSON %s) cannot be a key of this mapping", type)
			: pstrdup("the document has no _id");
	}
	if (it->doc && (twice = recon_doc_ambiguous_path(m, it->doc)) != NULL)
		return psprintf("the document names field \"%s\" more than once: no one value can be compared or repaired",
						twice);
	return NULL;
}

/* A StringInfo that starts small (the default 1 kB adds up over a batch). */
static void
init_small_stringinfo(StringInfo s)
{
	s->maxlen = 128;
	s->data = palloc(s->maxlen);
	s->data[0] = '\0';
	s->len = 0;
	s->cursor = 0;
}

/*
 * Fill the item's canonical forms (src_canon, doc_canon: key, then fields)
 * and compare them: true when they agree (both absent counts as agreeing);
 * otherwise *paths lists the differing paths and mask (if given) the
 * differing fields.  Read both sides first.
 */
bool
recon_compare_item(const ReconMapping *m, ReconKeyed *it, List **paths, bool *mask)
{
	bool	   *sd = palloc0(sizeof(bool) * (m->nfields + 1));
	bool	   *dd = palloc0(sizeof(bool) * (m->nfields + 1));

	/* small to begin with: a batch holds thousands of these */
	init_small_stringinfo(&it->src_canon);
	init_small_stringinfo(&it->doc_canon);
	appendBinaryStringInfo(&it->src_canon, it->key, it->keylen);
	appendBinaryStringInfo(&it->doc_canon, it->key, it->keylen);
	if (it->src_present)
		recon_row_canon(m, it->values, it->nulls, &it->src_canon, sd);
	if (it->doc)
		recon_doc_canon(m, it->doc, &it->doc_canon, dd);
	*paths = NIL;
	if (!it->src_present && !it->doc)
		return true;
	if (!it->src_present || !it->doc)
		return false;
	return recon_diff_fields(m, it->src_canon.data + it->keylen, sd,
							 it->doc_canon.data + it->keylen, dd, it->doc, paths, mask) == 0;
}

static char *
recon_item_source_hash(const ReconKeyed *it)
{
	return it->src_present ? canon_sha256_hex(it->src_canon.data, it->src_canon.len) : NULL;
}

/*
 * SHA-256 of the document's canonical form as recon_compare_item filled it,
 * or NULL when there is no document: what a repair checks the document
 * against before writing (it must not have changed since recorded).
 */
char *
recon_item_target_hash(const ReconKeyed *it)
{
	return it->doc ? canon_sha256_hex(it->doc_canon.data, it->doc_canon.len) : NULL;
}

/* The JSON key shown to users: the mapping's key, or the raw _id. */
static Datum
key_jsonb(const ReconMapping *m, const ReconKeyed *it)
{
	if (canon_key_is_unexpected(it->key, it->keylen))
	{
		bson_t		idd;
		Datum		whole;

		if (!canon_unexpected_key_id(it->key, it->keylen, &idd))
			return DirectFunctionCall1(jsonb_in, CStringGetDatum("null"));
		whole = recon_bson_to_jsonb_safe(&idd);
		return DirectFunctionCall2(jsonb_object_field, whole, CStringGetTextDatum("_id"));
	}
	return DirectFunctionCall1(jsonb_in,
							   CStringGetDatum(recon_key_canon_to_json(m, it->key, it->keylen)));
}

typedef struct ImageArgs
{
	const ReconMapping *m;
	const ReconKeyed *it;
	bool		target;			/* the document (redacted), else the row as a document */
	Datum		image;
} ImageArgs;

/*
 * image_of's body, under recon_try: the redacted document, or the row as the
 * redacted document it should be, as jsonb; building either may raise for a
 * value JSON or BSON cannot hold.
 */
static void
image_cb(void *arg)
{
	ImageArgs  *a = arg;
	bson_t		doc = BSON_INITIALIZER;

	PG_TRY();
	{
		if (a->target)
			recon_redacted_copy(a->m, a->it->doc, &doc);
		else
			recon_build_document(a->m, a->it->values, a->it->nulls, &doc, true);
		a->image = recon_bson_to_jsonb(&doc);
	}
	PG_FINALLY();
	{
		bson_destroy(&doc);
	}
	PG_END_TRY();
}

/*
 * The image of one side, redacted.  One that cannot be built — a row no
 * document can hold, a document JSON cannot show (invalid UTF-8...) —
 * becomes {tag: why} and sets *reason: the reason, never the value.
 */
static Datum
image_of(const ReconMapping *m, const ReconKeyed *it, bool target, char **reason)
{
	ImageArgs	a = {m, it, target, (Datum) 0};
	char	   *why;

	if (recon_try(image_cb, &a, &why))
		return a.image;
	*reason = psprintf(target ? "the document cannot be shown: %s"
					   : "the row cannot be written to MongoDB: %s", why);
	return DirectFunctionCall1(jsonb_in,
							   CStringGetDatum(recon_reason_json(target ? "$recon_unreadable"
																 : "$recon_unwritable", why)));
}

typedef struct PlanArgs
{
	const ReconMapping *m;
	const ReconKeyed *it;
	const bool *mask;
	const char *action;
	char	   *op;
} PlanArgs;

static char *planned_operation(const ReconMapping *m, const ReconKeyed *it, const bool *mask,
							   const char **action);

/*
 * The repair decision, one for planning and applying: what a key needs
 * given where it is — "insert" (a row, no document), "update" or
 * "replace" (both, by repair_mode), "delete" (a document, no row, when
 * delete_extra), or NULL (nothing recon may write).
 */
const char *
recon_repair_action(const ReconMapping *m, bool in_source, bool in_target)
{
	if (in_source && !in_target)
		return "insert";
	if (in_source)
		return m->repair_replace ? "replace" : "update";
	if (in_target && m->delete_extra)
		return "delete";
	return NULL;
}

static void
planned_operation_cb(void *arg)
{
	PlanArgs   *a = arg;

	a->op = planned_operation(a->m, a->it, a->mask, &a->action);
}

/* The MongoDB operation a repair would send, redacted, as jsonb text. */
static char *
planned_operation(const ReconMapping *m, const ReconKeyed *it, const bool *mask,
				  const char **action)
{
	bson_t		op = BSON_INITIALIZER;
	bson_t		sub;
	bson_iter_t idit;
	char	   *json = NULL;

	*action = recon_repair_action(m, it->src_present, it->doc != NULL);
	PG_TRY();
	{
		if (*action == NULL)
			;
		else if (strcmp(*action, "insert") == 0)
		{
			bson_append_document_begin(&op, "insert", -1, &sub);
			recon_build_document(m, it->values, it->nulls, &sub, true);
			bson_append_document_end(&op, &sub);
		}
		else if (strcmp(*action, "delete") == 0)
		{
			bson_append_document_begin(&op, "delete", -1, &sub);
			if (bson_iter_init_find(&idit, it->doc, "_id"))
				bson_append_iter(&sub, "_id", 3, &idit);
			bson_append_document_end(&op, &sub);
		}
		else
		{
			bson_append_document_begin(&op, "filter", -1, &sub);
			if (bson_iter_init_find(&idit, it->doc, "_id"))
				bson_append_iter(&sub, "_id", 3, &idit);
			bson_append_document_end(&op, &sub);
			if (strcmp(*action, "replace") == 0)
			{
				bson_append_document_begin(&op, "replacement", -1, &sub);
				recon_build_document(m, it->values, it->nulls, &sub, true);
				bson_append_document_end(&op, &sub);
			}
			else
			{
				bson_append_document_begin(&op, "update", -1, &sub);
				recon_build_update(m, it->values, it->nulls, &sub, true, mask);
				bson_append_document_end(&op, &sub);
				if (bson_count_keys(&sub) == 0)
					*action = NULL;		/* only unmapped fields differ */
			}
		}
		if (*action)
			json = recon_bson_to_json_text(&op);
	}
	PG_FINALLY();
	{
		bson_destroy(&op);
	}
	PG_END_TRY();
	return json;
}

/*
 * Plan the repair of a recorded divergence unless repair = off or an
 * earlier one is in doubt: supersede older planned ones and insert one that
 * needs approval unless repair = auto (a delete always does).  A row no
 * document can hold gets a failed repair saying so, never a write.
 *
 * A divergence recorded just now (is_new) has no earlier repairs, so they
 * are not looked up: that is most of a big run's divergences, and a look-up
 * planned while recon.repairs was empty scans it for each one.
 */
static void
plan_repair(const ReconMapping *m, int64 run_id, int64 divergence_id, bool is_new,
			const ReconKeyed *it, const bool *mask, ReconRunStats *stats)
{
	ReconRepairPlan plan = {0};
	PlanArgs	pa = {m, it, mask, NULL, NULL};
	char	   *reason;

	if (m->repair == REPAIR_OFF)
		return;
	if (!is_new)
	{
		/* an in-doubt repair is resolved by apply_repairs before anything new */
		if (recon_repair_in_doubt(divergence_id))
			return;
		recon_repairs_supersede(divergence_id);
	}
	if (!recon_try(planned_operation_cb, &pa, &reason))
	{
		/* a row no document can hold: a failed repair that says so, never a write */
		pa.op = recon_reason_json("unwritable", reason);
		pa.action = it->doc ? (m->repair_replace ? "replace" : "update") : "insert";
		plan.failed = psprintf("cannot be written: %s", reason);
	}
	if (pa.action == NULL)
		return;
	plan.divergence_id = divergence_id;
	plan.run_id = run_id;
	plan.action = pa.action;
	plan.operation = pa.op;
	plan.needs_approval = m->repair != REPAIR_AUTO || strcmp(pa.action, "delete") == 0;
	plan.approval_reason = strcmp(pa.action, "delete") == 0 ? "deletes an extra document" :
		m->repair != REPAIR_AUTO ? "policy: approve" : NULL;
	recon_repair_insert(m, &plan);
	if (plan.failed == NULL)
		stats->repairs_planned++;
}

/*
 * Record a key that still differs after its re-reads (catalog.c writes
 * the row) and plan its repair.
 */
void
recon_record_divergence(const ReconMapping *m, int64 run_id, ReconKeyed *it, List *paths,
						const bool *mask, ReconRunStats *stats)
{
	ReconDivergenceRow d = {0};
	char	   *reason = NULL;
	ArrayBuildState *ab = NULL;
	ListCell   *lc;
	bytea	   *kc = palloc(VARHDRSZ + it->keylen);
	int64		divergence_id;
	bool		is_new;

	SET_VARSIZE(kc, VARHDRSZ + it->keylen);
	memcpy(VARDATA(kc), it->key, it->keylen);
	foreach(lc, paths)
		ab = accumArrayResult(ab, CStringGetTextDatum(lfirst(lc)), false, TEXTOID,
							  CurrentMemoryContext);
	d.kind = !it->doc ? "missing" : !it->src_present ? "extra" : "mismatch";
	d.key = key_jsonb(m, it);
	d.key_canon = kc;
	d.fields = ab ? makeArrayResult(ab, CurrentMemoryContext) :
		PointerGetDatum(construct_empty_array(TEXTOID));
	d.source_hash = recon_item_source_hash(it);
	d.target_hash = recon_item_target_hash(it);
	d.source_image = it->src_present ? image_of(m, it, false, &reason) : (Datum) 0;
	d.target_image = it->doc ? image_of(m, it, true, &reason) : (Datum) 0;
	{
		char	   *doc_reason = recon_document_reason(m, it);

		if (doc_reason)
			reason = doc_reason;
	}
	d.reason = reason;
	divergence_id = recon_divergence_record(m, run_id, &d, &is_new);
	stats->divergences++;
	if (is_new)
		stats->new_divergences++;
	plan_repair(m, run_id, divergence_id, is_new, it, mask, stats);
}

/*
 * Judge items[from, to) after a re-read: a key that converged is dropped,
 * one still differing is recorded, and one that moved since the last look
 * (and may still settle: not the last round) is kept for another round, at
 * items[keep...] (keep never passes the item being judged).  Returns the
 * new keep.  Images, the planned operation and the SQL of each record are
 * allocated in itemcxt and freed item by item.
 */
static int
judge_items(const ReconMapping *m, int64 run_id, ReconKeyed *items, int from, int to, int keep,
			bool last_round, bool *mask, MemoryContext itemcxt, ReconRunStats *stats)
{
	int			i;

	for (i = from; i < to; i++)
	{
		ReconKeyed *it = &items[i];
		List	   *paths;
		bool		moved;
		CanonDigest sd,
					dd;

		CHECK_FOR_INTERRUPTS();
		if (recon_compare_item(m, it, &paths, mask))
			continue;			/* converged since the pass */
		sd = canon_digest(it->src_canon.data + it->keylen, it->src_canon.len - it->keylen);
		dd = canon_digest(it->doc_canon.data + it->keylen, it->doc_canon.len - it->keylen);
		moved = it->src_present != it->seen_src || (it->doc != NULL) != it->seen_doc ||
			(it->src_present && memcmp(&sd, &it->src_digest, sizeof(sd)) != 0) ||
			(it->doc && memcmp(&dd, &it->doc_digest, sizeof(dd)) != 0);
		if (moved && !last_round && m->settle_ms > 0)
		{
			/* in flight: give the writer settle_ms, then look again */
			ReconKeyed *k = &items[keep++];

			*k = *it;
			k->seen_src = it->src_present;
			k->seen_doc = it->doc != NULL;
			k->src_digest = sd;
			k->doc_digest = dd;
			continue;
		}
		{
			MemoryContext old = MemoryContextSwitchTo(itemcxt);

			recon_record_divergence(m, run_id, it, paths, mask, stats);
			MemoryContextSwitchTo(old);
			MemoryContextReset(itemcxt);
		}
	}
	return keep;
}

/*
 * A round of re-reads by a pass over the collection for more keys than one
 * batch: the pass writes the documents of these keys to a temporary file,
 * then the keys are judged recon.batch_size at a time, each batch's rows
 * read by key and its documents from the file, in memory freed after each
 * batch.  So the round holds a few hundred bytes per key however many
 * keys a pass takes (recon.recheck_scan_keys), not their rows and
 * documents.  The documents are read before the rows here: a key written
 * in between differs from what the pass saw and gets another round, as any
 * key that moved, unless this is the last round or settle_ms is 0 (then it
 * is recorded, as a key that moves during any last look is).  Later rounds
 * take only the keys that moved, rarely more than a batch: those are read
 * rows first.  Returns how many items are kept for another round.
 */
static int
recheck_spilled(const ReconMapping *m, const ReconTarget *t, int64 run_id, ReconKeyed *items,
				int n, bool last_round, bool *mask, MemoryContext itemcxt, ReconRunStats *stats)
{
	MemoryContext batchcxt = AllocSetContextCreate(CurrentMemoryContext, "recon re-check batch",
												   ALLOCSET_DEFAULT_SIZES);
	DocSpill	spill;
	HTAB	   *h;
	int			keep = 0;
	int			from,
				i;

	spill.file = BufFileCreateTemp(false);
	spill.fileno = palloc(sizeof(int) * n);
	spill.offset = palloc(sizeof(off_t) * n);
	for (i = 0; i < n; i++)
	{
		spill.fileno[i] = -1;
		items[i].doc = NULL;
	}
	h = index_keys(items, n);
	recon_mongo_long_reads(true);
	PG_TRY();
	{
		read_target_side(m, t, h, items, n, REREAD_SCAN, &spill);
	}
	PG_FINALLY();
	{
		recon_mongo_long_reads(false);
	}
	PG_END_TRY();
	hash_destroy(h);

	for (from = 0; from < n; from += recon_batch_size)
	{
		int			to = Min(n, from + recon_batch_size);
		MemoryContext old = MemoryContextSwitchTo(batchcxt);
		HTAB	   *bh = index_keys(items + from, to - from);

		read_source_side(m, bh, items + from, to - from, NULL);
		for (i = from; i < to; i++)
		{
			uint32		len;
			uint8_t    *data;
			bson_t	   *copy;

			CHECK_FOR_INTERRUPTS();
			if (spill.fileno[i] < 0)
				continue;
			if (BufFileSeek(spill.file, spill.fileno[i], spill.offset[i], SEEK_SET) != 0 ||
				BufFileRead(spill.file, &len, sizeof(len)) != sizeof(len))
				elog(ERROR, "recon: could not read back a re-read document");
			data = palloc(len);
			if (BufFileRead(spill.file, data, len) != len)
				elog(ERROR, "recon: could not read back a re-read document");
			copy = palloc_bson_aligned(sizeof(bson_t));
			bson_init_static(copy, data, len);
			items[i].doc = copy;
		}
		keep = judge_items(m, run_id, items, from, to, keep, last_round, mask, itemcxt, stats);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batchcxt);
	}
	BufFileClose(spill.file);
	MemoryContextDelete(batchcxt);
	return keep;
}

/*
 * Re-read a sweep's candidate keys and record what still differs: a key
 * that moved since the pass gets settle_ms (doubling, RECHECK_ROUNDS reads in
 * all) to converge before it is judged.  Re-reads by a pass over the
 * collection of more keys than a batch go through a temporary file
 * (recheck_spilled).  Per-item allocations are freed item by item; SPI
 * connected.
 */
void
recon_recheck_candidates(const ReconMapping *m, const ReconTarget *t, int64 run_id,
						 ReconCandidate *cands, int ncands, ReconRereadMode mode,
						 ReconRunStats *stats)
{
	ReconKeyed *items = palloc0(sizeof(ReconKeyed) * ncands);
	bool	   *mask = palloc0(sizeof(bool) * (m->nfields + 1));
	MemoryContext itemcxt = AllocSetContextCreate(CurrentMemoryContext, "recon re-check item",
												  ALLOCSET_DEFAULT_SIZES);
	int			n = ncands;
	int			round,
				i;

	stats->candidates += ncands;
	for (i = 0; i < ncands; i++)
	{
		items[i].key = cands[i].key;
		items[i].keylen = cands[i].keylen;
		items[i].id = cands[i].id;
		items[i].idlen = cands[i].idlen;
		items[i].seen_src = cands[i].in_source;
		items[i].seen_doc = cands[i].in_target;
		items[i].src_digest = cands[i].src_digest;
		items[i].doc_digest = cands[i].doc_digest;
	}

	for (round = 0; round < RECHECK_ROUNDS && n > 0; round++)
	{
		bool		last_round = round == RECHECK_ROUNDS - 1;

		if (round > 0)
			recon_settle_sleep((long) m->settle_ms << (round - 1));
		else
			recon_debug_pause(PAUSE_BEFORE_RECHECK);
		if (mode == REREAD_SCAN && n > recon_batch_size)
			n = recheck_spilled(m, t, run_id, items, n, last_round, mask, itemcxt, stats);
		else
		{
			sweep_reread(m, t, items, n, mode);
			n = judge_items(m, run_id, items, 0, n, 0, last_round, mask, itemcxt, stats);
		}
	}
	MemoryContextDelete(itemcxt);
}
