/*
 * diagnostics.c — read-only functions that show how recon sees values and
 * documents: value_matches, canonical_form, canonical_form_bson, bson_of,
 * fetch_document and compare_document.  They let a DBA check a comparison rule, and the tests
 * exercise the canonical model through libbson (including values such as
 * Decimal128 and NaN that the test server cannot store).
 */
#include "postgres.h"

#include "canonical.h"
#include "coltype.h"
#include "docshape.h"
#include "mapping.h"
#include "recheck.h"
#include "recon.h"
#include "target.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

/*
 * The comparison options of a diagnostic call from its jsonb argument argno
 * (absent or NULL: a mapping's defaults), as a mapping would set them:
 * null_equals_missing and timestamp_precision; other keys are ignored.
 */
static void
diag_options(FunctionCallInfo fcinfo, int argno, CanonOptions *o)
{
	Jsonb	   *opts;
	JsonbValue *v;

	recon_mapping_canon_defaults(o);	/* as a mapping that sets neither */
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	opts = PG_GETARG_JSONB_P(argno);
	v = getKeyJsonValueFromContainer(&opts->root, "null_equals_missing", 19, NULL);
	if (v && v->type == jbvBool)
		o->null_equals_missing = v->val.boolean;
	v = getKeyJsonValueFromContainer(&opts->root, "timestamp_precision", 19, NULL);
	if (v && v->type == jbvString)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

		o->ts_unit_us = canon_parse_precision(s);
		if (o->ts_unit_us == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid timestamp_precision \"%s\"", s),
					 errhint("Use \"s\", \"ms\" or \"us\".")));
	}
}

static CanonType *
diag_type(Oid typid)
{
	char	   *why = NULL;
	CanonType  *t = canon_type_for(typid, &why);

	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recon cannot compare values of type %s", format_type_be(typid)),
				 errdetail("Unsupported: %s. Supported: %s.", why, canon_supported_types()),
				 errhint("Cast the value to a supported type.")));
	return t;
}

/* An extended-JSON document as a palloc'd BSON document: nothing to free on error. */
static bson_t *
parse_extended_json(text *json, const char *example)
{
	char	   *s = text_to_cstring(json);
	bson_error_t err;
	bson_t	   *parsed = bson_new_from_json((const uint8_t *) s, -1, &err);
	bson_t	   *doc;
	uint8_t    *data;

	if (parsed == NULL)
	{
		char		msg[sizeof(err.message)];

		strlcpy(msg, err.message, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid MongoDB extended JSON"),
				 errdetail("%s", msg),
				 errhint("Give a document such as '%s'.", example)));
	}
	data = palloc(parsed->len);
	memcpy(data, bson_get_data(parsed), parsed->len);
	doc = palloc_bson_aligned(sizeof(bson_t));
	bson_init_static(doc, data, parsed->len);
	bson_destroy(parsed);
	return doc;
}

/* Canonical form of the first field of an extended-JSON document ('{}' = missing). */
static void
diag_bson_canon(text *json, const CanonType *type, const CanonOptions *o, StringInfo out, bool *dbl)
{
	bson_t	   *doc = parse_extended_json(json, "{\"v\": {\"$numberDecimal\": \"1.5\"}}");
	bson_iter_t it;

	if (bson_iter_init(&it, doc) && bson_iter_next(&it))
		canon_bson(out, type, &it, o, dbl);
	else
		canon_bson(out, type, NULL, o, dbl);
}

/*
 * recon.value_matches(value anyelement, bson_json text, options jsonb)
 * → boolean: whether recon would find the value equal to the first field of
 * the extended-JSON document ('{}': the field is missing).  NULL bson_json
 * gives NULL; an unsupported type of value is an error.
 */
PG_FUNCTION_INFO_V1(recon_value_matches);
Datum
recon_value_matches(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
	CanonType  *type = diag_type(typid);
	CanonOptions o;
	StringInfoData a,
				b;
	bool		ad,
				bd;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	diag_options(fcinfo, 2, &o);
	initStringInfo(&a);
	initStringInfo(&b);
	canon_datum(&a, type, PG_GETARG_DATUM(0), PG_ARGISNULL(0), &o, &ad);
	diag_bson_canon(PG_GETARG_TEXT_PP(1), type, &o, &b, &bd);
	PG_RETURN_BOOL(canon_values_equal(a.data, a.len, ad, b.data, b.len, bd));
}

/*
 * recon.canonical_form(value anyelement, options jsonb) → text: the
 * canonical value recon compares for a PostgreSQL value, rendered by
 * canon_to_text (NULL value: its null).  An unsupported type is an error.
 */
PG_FUNCTION_INFO_V1(recon_canonical_form_datum);
Datum
recon_canonical_form_datum(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
	CanonType  *type = diag_type(typid);
	CanonOptions o;
	StringInfoData a,
				out;

	diag_options(fcinfo, 1, &o);
	initStringInfo(&a);
	initStringInfo(&out);
	canon_datum(&a, type, PG_GETARG_DATUM(0), PG_ARGISNULL(0), &o, NULL);
	canon_to_text(&out, a.data, a.len);
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

/*
 * What recon would write for a value: {"v": <value>} as canonical extended
 * JSON, which keeps every BSON type ($numberInt, $numberLong, $numberDouble,
 * $numberDecimal...), so recon.value_matches(x, recon.bson_of(x)) holds.
 */
PG_FUNCTION_INFO_V1(recon_bson_of);
Datum
recon_bson_of(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
	CanonType  *type = diag_type(typid);
	CanonOptions o;
	bson_t		doc = BSON_INITIALIZER;
	char	   *json = NULL;
	text	   *result;

	diag_options(fcinfo, 1, &o);
	PG_TRY();
	{
		char	   *s;

		recon_append_value(&doc, "v", type, PG_GETARG_DATUM(0),
						   PG_ARGISNULL(0), &o);
		s = bson_as_canonical_extended_json(&doc, NULL);
		json = pstrdup(s);
		bson_free(s);
	}
	PG_FINALLY();
	{
		bson_destroy(&doc);
	}
	PG_END_TRY();
	result = cstring_to_text(json);
	PG_RETURN_TEXT_P(result);
}

/*
 * recon.canonical_form_bson(bson_json text, type regtype, options jsonb)
 * → text: the canonical value of the document's first field read as a column
 * of that type would be, so it can be set beside canonical_form's.  NULL in,
 * NULL out.
 */
PG_FUNCTION_INFO_V1(recon_canonical_form_bson);
Datum
recon_canonical_form_bson(PG_FUNCTION_ARGS)
{
	CanonOptions o;
	StringInfoData a,
				out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	diag_options(fcinfo, 2, &o);
	initStringInfo(&a);
	initStringInfo(&out);
	diag_bson_canon(PG_GETARG_TEXT_PP(0), diag_type(PG_GETARG_OID(1)), &o, &a, NULL);
	canon_to_text(&out, a.data, a.len);
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

/* The document of one key: key is a JSON scalar, or an object for composite keys. */
PG_FUNCTION_INFO_V1(recon_fetch_document);
Datum
recon_fetch_document(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *key = PG_GETARG_JSONB_P(1);
	ReconPriv	priv;
	ReconMapping *m;
	ReconTarget *t;
	ReconKeyed	item;
	StringInfoData kc;
	Datum		result = (Datum) 0;
	int			i;

	recon_priv_enter(&priv, "recon_operator", "recon.fetch_document");
	SPI_connect();
	recon_pin_search_path();
	m = recon_mapping_load(name);
	t = recon_target_lookup(m->serverid, m->owner);
	initStringInfo(&kc);
	for (i = 0; i < m->nkeys; i++)
	{
		Oid			ty[2] = {JSONBOID, TEXTOID};
		Datum		v[2] = {JsonbPGetDatum(key), CStringGetTextDatum(m->keys[i].column)};
		char	   *sql = psprintf("SELECT (CASE WHEN jsonb_typeof($1) = 'object' THEN $1->>$2"
								   " ELSE $1#>>'{}' END)::%s", format_type_be_qualified(m->keys[i].typid));
		bool		isnull;
		Datum		d;

		if (SPI_execute_with_args(sql, 2, ty, v, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "recon: key conversion failed");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key has no value for column \"%s\"", m->keys[i].column),
					 errhint("Composite keys are given as an object: {\"col\": value, ...}.")));
		canon_datum(&kc, m->keys[i].type, d, false, &m->canon, NULL);
	}
	memset(&item, 0, sizeof(item));
	item.key = kc.data;
	item.keylen = kc.len;
	recon_read_sides(m, t, &item, 1, NULL);
	if (item.doc)
	{
		bson_t		red = BSON_INITIALIZER;

		PG_TRY();
		{
			recon_redacted_copy(m, item.doc, &red);
			result = recon_bson_to_jsonb(&red);
		}
		PG_FINALLY();
		{
			bson_destroy(&red);
		}
		PG_END_TRY();
		result = SPI_datumTransfer(result, false, -1);
	}
	SPI_finish();
	recon_priv_exit(&priv);
	if (!item.doc)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

typedef struct ShowArgs
{
	const bson_t *doc;
} ShowArgs;

static void
show_document_cb(void *arg)
{
	(void) recon_bson_to_jsonb(((ShowArgs *) arg)->doc);
}

/*
 * What a sweep would say of one document: its row is read by the
 * document's _id (as the mapping's owner) and compared as a sweep
 * compares.  The document is raw BSON, so values no server hands over
 * intact (a field named twice, invalid UTF-8, a dotted name) can be tried.
 */
static Datum
compare_document(FunctionCallInfo fcinfo, const char *name, const bson_t *doc)
{
	ReconPriv	priv;
	ReconMapping *m;
	ReconKeyed	item;
	StringInfoData kc;
	List	   *paths = NIL;
	const char *kind;
	char	   *reason;
	char	   *why;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	ArrayBuildState *ab = NULL;
	ListCell   *lc;
	ShowArgs	show = {doc};
	MemoryContext caller = CurrentMemoryContext;
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "recon: compare_document must return a record");
	recon_priv_enter(&priv, "recon_operator", "recon.compare_document");
	SPI_connect();
	recon_pin_search_path();
	m = recon_mapping_load(name);
	initStringInfo(&kc);
	if (!recon_doc_key_canon(m, doc, &kc))
		canon_unexpected_key(&kc, doc);
	memset(&item, 0, sizeof(item));
	item.key = kc.data;
	item.keylen = kc.len;
	item.doc = (bson_t *) doc;
	recon_read_source(m, &item, 1);
	if (recon_compare_item(m, &item, &paths, NULL))
		kind = "equal";
	else if (!item.src_present)
		kind = "extra";
	else
		kind = "mismatch";
	reason = recon_document_reason(m, &item);
	if (reason == NULL && !recon_try(show_document_cb, &show, &why))
		reason = psprintf("the document cannot be shown: %s", why);

	MemoryContextSwitchTo(caller);
	foreach(lc, paths)
		ab = accumArrayResult(ab, CStringGetTextDatum(lfirst(lc)), false, TEXTOID, caller);
	values[0] = CStringGetTextDatum(kind);
	values[1] = ab ? makeArrayResult(ab, caller) : PointerGetDatum(construct_empty_array(TEXTOID));
	values[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[2] = reason == NULL;
	tuple = heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * recon.compare_document(mapping text, document bytea) → (kind, fields,
 * reason): compare_document on raw BSON.  Only its frame is checked, so that
 * contents no server hands over intact can be tried.  recon_operator.
 */
PG_FUNCTION_INFO_V1(recon_compare_document_bson);
Datum
recon_compare_document_bson(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(1);
	bson_t		doc;

	/* only the frame is checked: what lies inside is what is being tried */
	if (!bson_init_static(&doc, (const uint8_t *) VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("not a BSON document"),
				 errhint("Give the document's bytes as MongoDB stores them (e.g. from mongodump).")));
	return compare_document(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), &doc);
}

/*
 * recon.compare_document(mapping text, document text) → (kind, fields,
 * reason): compare_document on a document given as MongoDB extended JSON.
 * recon_operator.
 */
PG_FUNCTION_INFO_V1(recon_compare_document_json);
Datum
recon_compare_document_json(PG_FUNCTION_ARGS)
{
	bson_t	   *doc = parse_extended_json(PG_GETARG_TEXT_PP(1), "{\"_id\": 1, \"name\": \"x\"}");

	return compare_document(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), doc);
}
