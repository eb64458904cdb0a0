/*
 * sample.c — recon.sample(): a random sample of source rows and of
 * documents, checked with the sweep's re-check rules (re-read, settle,
 * re-read), recorded like a sweep's findings, and the mapping's estimated
 * divergence rates with 95 % Wilson score intervals.
 *
 * Rows are drawn with TABLESAMPLE BERNOULLI ... REPEATABLE (seed) from a
 * table (ORDER BY random() after setseed for a view), documents with
 * $sample (a seeded pass over the _ids where the server has no $sample).
 * A sample resolves nothing: what it did not draw is not known.
 */
#include "postgres.h"

#include <math.h>

#include "canonical.h"
#include "catalog.h"
#include "docshape.h"
#include "mapping.h"
#include "mongo_client.h"
#include "progress.h"
#include "recheck.h"
#include "recon.h"
#include "sweep.h"
#include "target.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define SAMPLE_MAX 1000000

/* Keys drawn, waiting for their re-check. */
typedef struct SampleKeys
{
	MemoryContext cxt;
	ReconCandidate *cands;
	int			n;
	int			cap;
} SampleKeys;

/*
 * Keep one drawn key for the re-check, copied into k->cxt with the drawn
 * document's {_id: value} (doc may be NULL: a drawn row), marked as seen on
 * neither side so that a key differing at its first re-read is given
 * settle_ms and read again.
 */
static void
keys_add(SampleKeys *k, const char *key, int keylen, const bson_t *doc)
{
	ReconCandidate *c;
	MemoryContext old = MemoryContextSwitchTo(k->cxt);

	if (k->n == k->cap)
	{
		k->cap *= 2;
		k->cands = repalloc(k->cands, sizeof(ReconCandidate) * k->cap);
	}
	c = &k->cands[k->n++];
	memset(c, 0, sizeof(*c));
	c->key = palloc(keylen);
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	if (doc)
	{
		bson_iter_t it;
		bson_t		tmp = BSON_INITIALIZER;
		uint8_t    *data;

		/* {_id: value}: how the re-read finds the document */
		if (bson_iter_init_find(&it, doc, "_id"))
			bson_append_iter(&tmp, "_id", 3, &it);
		data = palloc(tmp.len);
		memcpy(data, bson_get_data(&tmp), tmp.len);
		c->id = data;
		c->idlen = tmp.len;
		bson_destroy(&tmp);
	}

	/*
	 * Seen on neither side: a key that differs at its first re-read is given
	 * settle_ms and read again, as a sweep's candidate that moved.
	 */
	c->in_source = false;
	c->in_target = false;
	MemoryContextSwitchTo(old);
}

/* Re-check the drawn keys in batches; returns how many were recorded as divergent. */
static int64
keys_recheck(const ReconMapping *m, const ReconTarget *t, int64 run_id, SampleKeys *k,
			 ReconRunStats *stats)
{
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "recon sample re-check",
											   ALLOCSET_DEFAULT_SIZES);
	int64		before = stats->divergences;
	int			i;

	for (i = 0; i < k->n; i += recon_batch_size)
	{
		MemoryContext old = MemoryContextSwitchTo(work);

		recon_recheck_candidates(m, t, run_id, k->cands + i, Min(recon_batch_size, k->n - i),
								 recon_recheck_reads == RECHECK_READS_SCAN ? REREAD_SCAN : REREAD_KEYED,
								 stats);
		MemoryContextSwitchTo(old);
		MemoryContextReset(work);
	}
	MemoryContextDelete(work);
	return stats->divergences - before;
}

typedef struct RowDraw
{
	const ReconMapping *m;
	SampleKeys *keys;
	StringInfoData key;
} RowDraw;

static void
draw_row(void *arg, Datum *values, bool *nulls)
{
	RowDraw    *d = arg;

	resetStringInfo(&d->key);
	recon_key_canon_datums(d->m, values, nulls, &d->key);
	keys_add(d->keys, d->key.data, d->key.len, NULL);
}

/* About n rows of the source, drawn at random (repeatable for a seed). */
static void
draw_rows(const ReconMapping *m, int n, double seed, SampleKeys *keys)
{
	RowDraw		d;
	char		relkind = get_rel_relkind(m->relid);
	double		reltuples = 0;
	char	   *suffix;
	Oid			types[2] = {FLOAT4OID, FLOAT8OID};
	Datum		args[2];

	d.m = m;
	d.keys = keys;
	initStringInfo(&d.key);
	if (relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW)
	{
		Oid			t1[1] = {OIDOID};
		Datum		v1[1] = {ObjectIdGetDatum(m->relid)};
		bool		isnull;

		if (SPI_execute_with_args("SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = $1",
								  1, t1, v1, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			reltuples = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													 1, &isnull));
	}
	if (reltuples >= 1)
	{
		/* each row with probability n / reltuples: about n rows, uniformly */
		args[0] = Float4GetDatum((float4) Min(100.0, 100.0 * n / reltuples));
		args[1] = Float8GetDatum(seed);
		suffix = psprintf(" TABLESAMPLE BERNOULLI ($1) REPEATABLE ($2) LIMIT %d", 2 * n);
		(void) recon_source_rows(m, suffix, 2, types, args, draw_row, &d);
	}
	else
	{
		/* a view, or a table never analyzed: read it all, keep n at random */
		Oid			t1[1] = {FLOAT8OID};
		Datum		v1[1] = {Float8GetDatum(seed / 2147483648.0)};

		if (SPI_execute_with_args("SELECT pg_catalog.setseed($1)", 1, t1, v1, NULL, false, 0) < 0)
			elog(ERROR, "recon: setseed failed");
		suffix = psprintf(" ORDER BY pg_catalog.random() LIMIT %d", n);
		(void) recon_source_rows(m, suffix, 0, NULL, NULL, draw_row, &d);
	}
}

/*
 * About n documents at random: $sample where the server has it, else a
 * seeded pass over the _ids keeping each with probability n / count.
 * Documents whose key is in skip (rows already drawn) are not added: they
 * have a row, so they are not extras, and their row was checked.
 */
static int64
draw_documents(const ReconMapping *m, const ReconTarget *t, int n, double seed, HTAB *skip,
			   SampleKeys *keys)
{
	mongoc_collection_t *coll = recon_mongo_collection(t, m->collection);
	bson_t	   *pipeline = BCON_NEW("pipeline", "[", "{", "$sample", "{", "size", BCON_INT32(n), "}", "}",
									"{", "$project", "{", "_id", BCON_INT32(1), "}", "}", "]");
	mongoc_cursor_t *volatile cursor = NULL;	/* set inside PG_TRY, read by PG_FINALLY */
	const bson_t *doc;
	bson_error_t err;
	bool		failed = false;
	bool		fallback = false;
	int64		drawn = 0;
	double		keep = 1.0;
	uint64		rng = (uint64) (seed * 2654435761.0) | 1;

	PG_TRY();
	{
		StringInfoData key;
		int			attempt;

		initStringInfo(&key);
		for (attempt = 0; attempt < 2; attempt++)
		{
			if (attempt == 0)
				cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
			else
			{
				/* no $sample here: one pass over the _ids, Bernoulli-kept */
				bson_t		filter = BSON_INITIALIZER;
				bson_t	   *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}",
											"batchSize", BCON_INT32(recon_batch_size));
				int64		count = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &err);

				keep = count > 0 ? Min(1.0, (double) n / count) : 1.0;
				cursor = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
				bson_destroy(opts);
				bson_destroy(&filter);
			}
			while (mongoc_cursor_next(cursor, &doc))
			{
				CHECK_FOR_INTERRUPTS();
				if (attempt == 1)
				{
					/* xorshift64: repeatable for a seed */
					rng ^= rng << 13;
					rng ^= rng >> 7;
					rng ^= rng << 17;
					if ((double) (rng >> 11) / (double) (UINT64CONST(1) << 53) >= keep)
						continue;
				}
				resetStringInfo(&key);
				if (!recon_doc_key_canon(m, doc, &key))
					canon_unexpected_key(&key, doc);
				drawn++;
				if (skip)
				{
					CanonDigest d = canon_digest(key.data, key.len);

					if (hash_search(skip, &d, HASH_FIND, NULL) != NULL)
						continue;
				}
				keys_add(keys, key.data, key.len, doc);
			}
			failed = mongoc_cursor_error(cursor, &err);
			mongoc_cursor_destroy(cursor);
			cursor = NULL;
			if (!failed || attempt == 1 || drawn > 0)
				break;
			fallback = true;	/* the server refused $sample: read the _ids */
			failed = false;
		}
	}
	PG_FINALLY();
	{
		if (cursor)
			mongoc_cursor_destroy(cursor);
		mongoc_collection_destroy(coll);
		bson_destroy(pipeline);
	}
	PG_END_TRY();
	if (failed)
		recon_mongo_raise(&err, "sampling documents");
	if (fallback)
		ereport(NOTICE,
				(errmsg("recon: the server has no $sample; documents of \"%s\" were sampled in one pass over their _ids",
						m->name)));
	return drawn;
}

/* 95 % Wilson score interval of x successes in n trials. */
static void
wilson(int64 x, int64 n, double *rate, double *low, double *high)
{
	const double z = 1.959963984540054;
	double		p,
				denom,
				centre,
				half;

	if (n <= 0)
	{
		*rate = *low = *high = 0;
		return;
	}
	p = (double) x / n;
	denom = 1 + z * z / n;
	centre = (p + z * z / (2.0 * n)) / denom;
	half = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / denom;
	*rate = p;
	/* exact at the ends: rounding would say 3e-18 for "none seen" */
	*low = x == 0 ? 0.0 : Max(0.0, centre - half);
	*high = x == n ? 1.0 : Min(1.0, centre + half);
}

/*
 * recon.sample(mapping text, rows int, documents int, seed int) → record:
 * draw rows and documents at random (recon_operator), re-check them as a
 * sweep would, record what differs as a "sample" run, and return the
 * divergence and extra rates with 95 % Wilson intervals.  Resolves nothing.
 */
PG_FUNCTION_INFO_V1(recon_sample);
Datum
recon_sample(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			nrows = PG_ARGISNULL(1) ? 1000 : PG_GETARG_INT32(1);
	int			ndocs = PG_ARGISNULL(2) ? nrows : PG_GETARG_INT32(2);
	double		seed = PG_ARGISNULL(3) ? (double) (pg_prng_uint32(&pg_global_prng_state) % 2147483647)
		: (double) PG_GETARG_INT32(3);
	ReconPriv	priv;
	ReconMapping *m;
	ReconTarget *t;
	ReconRunStats stats = {0};
	SampleKeys	keys;
	HTAB	   *row_keys;
	HASHCTL		ctl;
	int64		run_id,
				rows_sampled,
				rows_divergent,
				docs_sampled,
				docs_extra;
	double		r[3],
				e[3];
	TupleDesc	tupdesc;
	Datum		values[11];
	bool		nulls[11] = {0};
	int			i;

	if (nrows < 0 || ndocs < 0 || nrows > SAMPLE_MAX || ndocs > SAMPLE_MAX || nrows + ndocs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a sample draws 1 to %d rows and 0 to %d documents", SAMPLE_MAX, SAMPLE_MAX),
				 errhint("For all of them, run recon.sweep().")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "recon: sample must return a record");
	recon_priv_enter(&priv, "recon_operator", "recon.sample");
	SPI_connect();
	recon_pin_search_path();
	m = recon_mapping_load(name);
	recon_lock_mapping_for_run(m);
	t = recon_target_lookup(m->serverid, m->owner);
	(void) recon_mongo_client(t);
	run_id = recon_run_start(m, "sample", priv.caller_name);
	recon_progress_begin(m->id, m->name, "sample", run_id, (double) nrows);
	recon_progress_phase(SWEEP_PHASE_SOURCE);

	keys.cxt = AllocSetContextCreate(CurrentMemoryContext, "recon sample keys", ALLOCSET_DEFAULT_SIZES);
	keys.cap = 1024;
	keys.n = 0;
	keys.cands = MemoryContextAlloc(keys.cxt, sizeof(ReconCandidate) * keys.cap);

	/* rows: mismatches and missing documents */
	if (nrows > 0)
		draw_rows(m, nrows, seed, &keys);
	rows_sampled = keys.n;
	recon_progress_set(PROGRESS_ROWS, rows_sampled);
	recon_progress_phase(SWEEP_PHASE_MATCHING);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CanonDigest);
	ctl.entrysize = sizeof(CanonDigest);
	ctl.hash = canon_digest_hash;
	ctl.hcxt = CurrentMemoryContext;
	row_keys = hash_create("recon sampled row keys", Max(keys.n, 16), &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_CONTEXT);
	for (i = 0; i < keys.n; i++)
	{
		CanonDigest d = canon_digest(keys.cands[i].key, keys.cands[i].keylen);

		(void) hash_search(row_keys, &d, HASH_ENTER, NULL);
	}
	rows_divergent = keys_recheck(m, t, run_id, &keys, &stats);

	/* documents: extras */
	MemoryContextReset(keys.cxt);
	keys.cap = 1024;
	keys.n = 0;
	keys.cands = MemoryContextAlloc(keys.cxt, sizeof(ReconCandidate) * keys.cap);
	recon_progress_phase(SWEEP_PHASE_COLLECTION);
	docs_sampled = ndocs > 0 ? draw_documents(m, t, ndocs, seed, row_keys, &keys) : 0;
	recon_progress_set(PROGRESS_DOCS, docs_sampled);
	recon_progress_phase(SWEEP_PHASE_MATCHING);
	(void) keys_recheck(m, t, run_id, &keys, &stats);
	recon_progress_set(PROGRESS_CANDIDATES, stats.candidates);
	recon_progress_set(PROGRESS_DIVERGENCES, stats.divergences);
	recon_progress_phase(SWEEP_PHASE_RECORDING);
	{
		Oid			ty[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(run_id)};

		docs_extra = recon_spi_int64("SELECT count(*) FROM recon.divergences WHERE last_run_id = $1"
									 " AND kind = 'extra'", 1, ty, v);
	}
	MemoryContextDelete(keys.cxt);

	{
		ReconAudit	a = {0};

		a.actor = priv.caller_name;
		a.action = AUDIT_RUN_STARTED;
		a.mapping = m->name;
		a.run_id = run_id;
		a.reason = "recon.sample";
		recon_audit(&a);
	}
	recon_finish_run(m, run_id, priv.caller_name, rows_sampled, docs_sampled, &stats, true);

	wilson(rows_divergent, rows_sampled, &r[0], &r[1], &r[2]);
	wilson(docs_extra, docs_sampled, &e[0], &e[1], &e[2]);
	recon_run_set_estimate(run_id,
						   psprintf("{\"seed\": %.0f, \"rows_sampled\": %lld, \"rows_divergent\": %lld,"
									" \"divergence_rate\": %.6g, \"rate_low\": %.6g, \"rate_high\": %.6g,"
									" \"documents_sampled\": %lld, \"documents_extra\": %lld,"
									" \"extra_rate\": %.6g, \"extra_low\": %.6g, \"extra_high\": %.6g}",
									seed, (long long) rows_sampled, (long long) rows_divergent,
									r[0], r[1], r[2], (long long) docs_sampled,
									(long long) docs_extra, e[0], e[1], e[2]));
	SPI_finish();
	recon_priv_exit(&priv);

	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(rows_sampled);
	values[2] = Int64GetDatum(rows_divergent);
	values[3] = Float8GetDatum(r[0]);
	values[4] = Float8GetDatum(r[1]);
	values[5] = Float8GetDatum(r[2]);
	values[6] = Int64GetDatum(docs_sampled);
	values[7] = Int64GetDatum(docs_extra);
	values[8] = Float8GetDatum(e[0]);
	values[9] = Float8GetDatum(e[1]);
	values[10] = Float8GetDatum(e[2]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
