/*
 * decoder.c — recon's logical decoding output plugin ("recon", in recon.so).
 *
 * It emits only the keys of changed rows of the relations the change
 * worker names in the "relations" option ("relid:attnum,attnum;..."; the
 * n-th entry is entry n, from 0), one line per change and entry naming the
 * relation (a relation may be named by several entries: a mapped table
 * that is also the child of another mapping), tab-separated, key values in
 * their text form:
 *
 *   I|U|D <relid>.<entry> <key>...   a row with this key changed (for an UPDATE
 *                                    that moves the key, the old key comes as a D line)
 *   T <relid>.<entry>                the relation was truncated: sweep it
 *   S <relid>.<entry>                a key could not be read: sweep it
 *   X <commit time µs>               end of a transaction that emitted lines
 *
 * Values that are NULL print as \N; tabs, newlines and backslashes are
 * escaped.  Unchanged TOAST values are never fetched: a key stored out of
 * line and not part of the change becomes an S line.
 *
 * That text form is for SQL callers (diagnostics, tests).  The change
 * worker decodes in its own process and sets recon_decode_sink: the same
 * decisions then reach it as calls with the tuple, no text in between.
 */
#include "postgres.h"

#include "decoder.h"
#include "cdcmsg.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

ReconDecodeSink *recon_decode_sink = NULL;

typedef struct DecoderState
{
	MemoryContext cxt;
	int			nrels;
	DecodedRel *rels;
	bool		txn_wrote;
} DecoderState;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/*
 * Parse the "relations" option ("relid:attnum,attnum;...") into st->rels,
 * entry n being the n-th item; extra key columns past INDEX_MAX_KEYS are
 * ignored.  A malformed item is an error that stops decoding.
 */
static void
parse_relations(DecoderState *st, const char *spec)
{
	char	   *copy = pstrdup(spec);
	char	   *save1 = NULL;
	char	   *item;
	int			cap = 8;

	st->rels = palloc0(sizeof(DecodedRel) * cap);
	for (item = strtok_r(copy, ";", &save1); item; item = strtok_r(NULL, ";", &save1))
	{
		char	   *colon = strchr(item, ':');
		char	   *save2 = NULL;
		char	   *att;
		DecodedRel *r;

		if (colon == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid recon decoder relation spec \"%s\"", item)));
		if (st->nrels == cap)
		{
			cap *= 2;
			st->rels = repalloc(st->rels, sizeof(DecodedRel) * cap);
		}
		r = &st->rels[st->nrels];
		r->entry = st->nrels++;
		*colon = '\0';
		r->relid = (Oid) strtoul(item, NULL, 10);
		r->nkeys = 0;
		for (att = strtok_r(colon + 1, ",", &save2); att && r->nkeys < INDEX_MAX_KEYS;
			 att = strtok_r(NULL, ",", &save2))
			r->keys[r->nkeys++] = (AttrNumber) atoi(att);
	}
}

/*
 * Plugin startup: binary output, a per-change memory context under the
 * decoding context, and the entries of the "relations" option (the change
 * worker passes none: its sink brings them).  Another option is an error.
 */
static void
startup_cb(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	DecoderState *st = palloc0(sizeof(DecoderState));
	ListCell   *lc;

	st->cxt = AllocSetContextCreate(ctx->context, "recon decoder", ALLOCSET_DEFAULT_SIZES);
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "relations") == 0)
			parse_relations(st, def->arg ? strVal(def->arg) : "");
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is not known to the recon decoder", def->defname)));
	}
	ctx->output_plugin_private = st;
}

/*
 * The next entry naming relid after *from (start with NULL), or NULL; the
 * in-process sink's entries when there is one, else the "relations" option's.
 */
static const DecodedRel *
next_rel(DecoderState *st, Oid relid, const DecodedRel *from)
{
	const DecodedRel *rels = recon_decode_sink ? recon_decode_sink->rels : st->rels;
	int			nrels = recon_decode_sink ? recon_decode_sink->nrels : st->nrels;
	int			i;

	for (i = from ? from->entry + 1 : 0; i < nrels; i++)
		if (rels[i].relid == relid)
			return &rels[i];
	return NULL;
}

static void
begin_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	((DecoderState *) ctx->output_plugin_private)->txn_wrote = false;
}

/*
 * Can the key of tuple be read here?  Not when a key value is an unchanged
 * TOAST pointer (never detoasted: the row would have to be re-read).
 */
static bool
key_readable(Relation rel, const DecodedRel *dr, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < dr->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, dr->keys[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(tuple, dr->keys[i], desc, &isnull);

		if (!isnull && att->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
			return false;
	}
	return true;
}

/* Do two tuples carry the same key (binary equality: a false "no" costs one extra check)? */
static bool
same_key(Relation rel, const DecodedRel *dr, HeapTuple a, HeapTuple b)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < dr->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, dr->keys[i] - 1);
		bool		anull,
					bnull;
		Datum		da = heap_getattr(a, dr->keys[i], desc, &anull);
		Datum		db = heap_getattr(b, dr->keys[i], desc, &bnull);

		if (anull != bnull)
			return false;
		if (!anull && !datumIsEqual(da, db, att->attbyval, att->attlen))
			return false;
	}
	return true;
}

static void
emit_line(LogicalDecodingContext *ctx, const char *line, int len)
{
	OutputPluginPrepareWrite(ctx, true);
	appendBinaryStringInfo(ctx->out, line, len);
	OutputPluginWrite(ctx, true);
}

/* Only a sweep can tell what changed in entry dr's relation. */
static void
deliver_sweep(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, const DecodedRel *dr, char op)
{
	char		buf[48];

	if (recon_decode_sink)
	{
		recon_decode_sink->sweep(recon_decode_sink->arg, dr, txn->xact_time.commit_time);
		return;
	}
	snprintf(buf, sizeof(buf), "%c\t%u.%d", op, dr->relid, dr->entry);
	emit_line(ctx, buf, strlen(buf));
}

/* The row with tuple's key changed (op I, U or D). */
static void
deliver_key(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
			const DecodedRel *dr, char op, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData line;
	int			i;

	if (!key_readable(rel, dr, tuple))
	{
		deliver_sweep(ctx, txn, dr, 'S');
		return;
	}
	if (recon_decode_sink)
	{
		recon_decode_sink->key(recon_decode_sink->arg, dr, rel, tuple, txn->xact_time.commit_time);
		return;
	}
	initStringInfo(&line);
	appendStringInfo(&line, "%c\t%u.%d", op, dr->relid, dr->entry);
	for (i = 0; i < dr->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, dr->keys[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(tuple, dr->keys[i], desc, &isnull);
		Oid			outfn;
		bool		varlena;

		appendStringInfoChar(&line, '\t');
		if (isnull)
		{
			appendStringInfoString(&line, "\\N");
			continue;
		}
		getTypeOutputInfo(att->atttypid, &outfn, &varlena);
		recon_msg_append_escaped(&line, OidOutputFunctionCall(outfn, d));
	}
	emit_line(ctx, line.data, line.len);
}

/*
 * Deliver one change for one entry naming its relation: the new key of an
 * insert or update, the old key of a delete or of an update that moved the
 * key, or a sweep when a delete carries no old key.  Works in the plugin's
 * per-change context, reset afterwards.
 */
static void
change_for_entry(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
				 const DecodedRel *dr, ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	MemoryContext old;
	HeapTuple	newtup = NULL,
				oldtup = NULL;

	old = MemoryContextSwitchTo(st->cxt);
	if (change->data.tp.newtuple)
		newtup = &change->data.tp.newtuple->tuple;
	if (change->data.tp.oldtuple)
		oldtup = &change->data.tp.oldtuple->tuple;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (newtup)
				deliver_key(ctx, txn, rel, dr, 'I', newtup);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			if (newtup)
				deliver_key(ctx, txn, rel, dr, 'U', newtup);
			/* the old key: present when the key changed (or identity full) */
			if (oldtup && (!newtup || !same_key(rel, dr, oldtup, newtup)))
				deliver_key(ctx, txn, rel, dr, 'D', oldtup);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (oldtup)
				deliver_key(ctx, txn, rel, dr, 'D', oldtup);
			else
				deliver_sweep(ctx, txn, dr, 'S');	/* REPLICA IDENTITY NOTHING */
			break;
		default:
			break;
	}
	st->txn_wrote = true;
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->cxt);
}

static void
change_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
		  ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	const DecodedRel *dr = NULL;

	while ((dr = next_rel(st, RelationGetRelid(rel), dr)) != NULL)
		change_for_entry(ctx, txn, rel, dr, change);
}

static void
truncate_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
			Relation relations[], ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	int			i;

	for (i = 0; i < nrelations; i++)
	{
		const DecodedRel *dr = NULL;

		while ((dr = next_rel(st, RelationGetRelid(relations[i]), dr)) != NULL)
		{
			deliver_sweep(ctx, txn, dr, 'T');
			st->txn_wrote = true;
		}
	}
}

static void
commit_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	DecoderState *st = ctx->output_plugin_private;
	char		buf[48];

	if (!st->txn_wrote || recon_decode_sink)
		return;
	snprintf(buf, sizeof(buf), "X\t" INT64_FORMAT, (int64) txn->xact_time.commit_time);
	emit_line(ctx, buf, strlen(buf));
}

static bool
filter_by_origin_cb(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return false;
}

/*
 * Entry point PostgreSQL calls to load the "recon" output plugin: it
 * decodes changes and truncates, and never filters by replication origin.
 */
void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = startup_cb;
	cb->begin_cb = begin_cb;
	cb->change_cb = change_cb;
	cb->truncate_cb = truncate_cb;
	cb->commit_cb = commit_cb;
	cb->filter_by_origin_cb = filter_by_origin_cb;
}
