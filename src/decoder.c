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
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "recon.h"
#include "cdcmsg.h"

typedef struct DecodedRel
{
	Oid			relid;
	int			entry;			/* its position in the "relations" option */
	int			nkeys;
	AttrNumber	keys[INDEX_MAX_KEYS];
} DecodedRel;

typedef struct DecoderState
{
	MemoryContext cxt;
	int			nrels;
	DecodedRel *rels;
	bool		txn_wrote;
} DecoderState;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

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

/* The next entry naming relid after *from (start with NULL), or NULL. */
static DecodedRel *
next_rel(DecoderState *st, Oid relid, DecodedRel *from)
{
	int			i;

	for (i = from ? from->entry + 1 : 0; i < st->nrels; i++)
		if (st->rels[i].relid == relid)
			return &st->rels[i];
	return NULL;
}

static void
begin_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	((DecoderState *) ctx->output_plugin_private)->txn_wrote = false;
}

/*
 * Append the key of tuple as text; false when a key value is an unchanged
 * TOAST pointer (never detoasted here).
 */
static bool
append_key(StringInfo out, Relation rel, DecodedRel *dr, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < dr->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, dr->keys[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(tuple, dr->keys[i], desc, &isnull);
		Oid			outfn;
		bool		varlena;

		appendStringInfoChar(out, '\t');
		if (isnull)
		{
			appendStringInfoString(out, "\\N");
			continue;
		}
		if (att->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
			return false;
		getTypeOutputInfo(att->atttypid, &outfn, &varlena);
		recon_msg_append_escaped(out, OidOutputFunctionCall(outfn, d));
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

static void
emit_key(LogicalDecodingContext *ctx, Relation rel, DecodedRel *dr, char op, HeapTuple tuple,
		 StringInfo scratch)
{
	resetStringInfo(scratch);
	appendStringInfo(scratch, "%c\t%u.%d", op, dr->relid, dr->entry);
	if (!append_key(scratch, rel, dr, tuple))
	{
		resetStringInfo(scratch);
		appendStringInfo(scratch, "S\t%u.%d", dr->relid, dr->entry);
	}
	emit_line(ctx, scratch->data, scratch->len);
}

static void
change_for_entry(LogicalDecodingContext *ctx, Relation rel, DecodedRel *dr,
				 ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	MemoryContext old;
	StringInfoData line;
	HeapTuple	newtup = NULL,
				oldtup = NULL;

	old = MemoryContextSwitchTo(st->cxt);
	initStringInfo(&line);
	if (change->data.tp.newtuple)
		newtup = &change->data.tp.newtuple->tuple;
	if (change->data.tp.oldtuple)
		oldtup = &change->data.tp.oldtuple->tuple;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (newtup)
				emit_key(ctx, rel, dr, 'I', newtup, &line);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			if (newtup)
				emit_key(ctx, rel, dr, 'U', newtup, &line);
			/* the old key: present when the key changed (or identity full) */
			if (oldtup)
			{
				StringInfoData oldk,
							newk;

				initStringInfo(&oldk);
				initStringInfo(&newk);
				if (!append_key(&oldk, rel, dr, oldtup) ||
					!newtup || !append_key(&newk, rel, dr, newtup) ||
					strcmp(oldk.data, newk.data) != 0)
					emit_key(ctx, rel, dr, 'D', oldtup, &line);
			}
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (oldtup)
				emit_key(ctx, rel, dr, 'D', oldtup, &line);
			else
			{
				/* no old key (REPLICA IDENTITY NOTHING): only a sweep can tell */
				resetStringInfo(&line);
				appendStringInfo(&line, "S\t%u.%d", dr->relid, dr->entry);
				emit_line(ctx, line.data, line.len);
			}
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
	DecodedRel *dr = NULL;

	while ((dr = next_rel(st, RelationGetRelid(rel), dr)) != NULL)
		change_for_entry(ctx, rel, dr, change);
}

static void
truncate_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
			Relation relations[], ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	int			i;

	for (i = 0; i < nrelations; i++)
	{
		DecodedRel *dr = NULL;
		char		buf[48];

		while ((dr = next_rel(st, RelationGetRelid(relations[i]), dr)) != NULL)
		{
			snprintf(buf, sizeof(buf), "T\t%u.%d", dr->relid, dr->entry);
			emit_line(ctx, buf, strlen(buf));
			st->txn_wrote = true;
		}
	}
}

static void
commit_cb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	DecoderState *st = ctx->output_plugin_private;
	char		buf[48];

	if (!st->txn_wrote)
		return;
	snprintf(buf, sizeof(buf), "X\t" INT64_FORMAT, (int64) txn->xact_time.commit_time);
	emit_line(ctx, buf, strlen(buf));
}

static bool
filter_by_origin_cb(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return false;
}

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
