/*
 * mapping.c — the mapping catalog: add_mapping, alter_mapping,
 * drop_mapping, the table of mapping options (validation, its errors and
 * recon.mapping_options()), and loading a mapping into the structure the
 * sweep and repairs use.
 *
 * Everything a mapping could get wrong (missing relation or column, no
 * key, duplicate keys, unsupported types, unknown options, bad collection
 * names) is refused here, before anything is compared.
 */
#include "postgres.h"

#include <math.h>

#include "mapping.h"
#include "canonical.h"
#include "catalog.h"
#include "coltype.h"
#include "embed.h"
#include "recon.h"
#include "sweep.h"
#include "target.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

/* ---------------------------------------------------------------------
 * The mapping options
 *
 * One table describes every option: validation reads its default, range
 * and allowed values here, error messages quote its "Expected ..." text,
 * check_unknown_options lists its names, and recon.mapping_options()
 * returns it row for row (doc/mappings.md shows that output, and
 * t/020_option_docs.pl keeps the two equal).  An option is added here
 * and nowhere else.
 * --------------------------------------------------------------------- */

typedef enum MappingOptionType
{
	MOPT_BOOLEAN,				/* true or false */
	MOPT_NUMBER,				/* min..max; null means the default */
	MOPT_ONE_OF,				/* one string of allowed[] */
	MOPT_COLUMNS,				/* an array of column names */
	MOPT_OBJECT					/* an object; shape says what it maps */
} MappingOptionType;

typedef struct MappingOption
{
	const char *name;
	MappingOptionType type;
	const char *dflt;			/* JSON text a user would write, or "none" */
	double		min,			/* MOPT_NUMBER */
				max;
	const char *const *allowed; /* MOPT_ONE_OF, NULL-terminated */
	const char *shape;			/* MOPT_OBJECT: the "Expected ..." text */
	const char *description;
} MappingOption;

#define OPT_NONE "none"

static const char *const extra_fields_vals[] = {"ignore", "report", NULL};
static const char *const precision_vals[] = {"s", "ms", "us", NULL};
static const char *const repair_vals[] = {"off", "approve", "auto", NULL};
static const char *const repair_mode_vals[] = {"update", "replace", NULL};

static const MappingOption mapping_options[] = {
	{"fields", MOPT_OBJECT, "{}", 0, 0, NULL,
		"an object mapping column names to document paths",
	"where columns live in the document, column to path, dots nesting (default: each under its own name)"},
	{"exclude", MOPT_COLUMNS, "[]", 0, 0, NULL, NULL,
	"columns left out of comparison and repairs"},
	{"redact", MOPT_COLUMNS, "[]", 0, 0, NULL, NULL,
	"columns kept only as HMAC-SHA-256 hashes in divergences, operations, errors and audit rows (never key columns)"},
	{"extra_fields", MOPT_ONE_OF, "\"ignore\"", 0, 0, extra_fields_vals, NULL,
	"report: a document field no column maps to is a divergence (sweeps then read whole documents)"},
	{"null_equals_missing", MOPT_BOOLEAN, "true", 0, 0, NULL, NULL,
	"a NULL column equals an absent field; repairs then unset NULL fields instead of writing null"},
	{"timestamp_precision", MOPT_ONE_OF, "\"ms\"", 0, 0, precision_vals, NULL,
	"timestamps are compared truncated to this unit"},
	{"repair", MOPT_ONE_OF, "\"approve\"", 0, 0, repair_vals, NULL,
	"repair policy: off plans nothing, approve needs an approver, auto applies (not deletes or gated runs)"},
	{"repair_mode", MOPT_ONE_OF, "\"update\"", 0, 0, repair_mode_vals, NULL,
	"update: set or unset only the differing fields, unmapped fields kept; replace: write the whole document"},
	{"delete_extra", MOPT_BOOLEAN, "false", 0, 0, NULL, NULL,
	"plan a delete for extra documents (always needs approval)"},
	{"max_divergence_ratio", MOPT_NUMBER, OPT_NONE, 0, 1, NULL, NULL,
	"quality gate: a run whose divergences exceed this share of its rows or documents is gated (none: no gate)"},
	{"max_repairs_per_second", MOPT_NUMBER, "0", 0, 1e9, NULL, NULL,
	"throttle for apply_repairs (0: unlimited)"},
	{"max_write_errors", MOPT_NUMBER, "10", 1, 1e6, NULL, NULL,
	"consecutive failed MongoDB writes that stop apply_repairs and fail the run"},
	{"settle_ms", MOPT_NUMBER, "1000", 0, 3600000, NULL, NULL,
	"milliseconds a key that changed is given before it is re-read (a sweep's moving candidate: then twice that)"},
	{"unordered", MOPT_COLUMNS, "[]", 0, 0, NULL, NULL,
	"array columns compared as multisets (order ignored, duplicates counted)"},
	{"embed", MOPT_OBJECT, OPT_NONE, 0, 0, NULL,
		"an object mapping array paths to child relation definitions",
	"array fields of embedded children, each built from a child relation"},
	{"sweep_ranges", MOPT_NUMBER, OPT_NONE, 1, 10000, NULL, NULL,
	"background sweeps (start_sweep) split into this many key ranges, resumable (none: one pass)"},
};

#define N_MAPPING_OPTIONS lengthof(mapping_options)

static const MappingOption *
option_def(const char *name)
{
	int			i;

	for (i = 0; i < N_MAPPING_OPTIONS; i++)
		if (strcmp(mapping_options[i].name, name) == 0)
			return &mapping_options[i];
	elog(ERROR, "mapping option \"%s\" is not in the option table", name);
	pg_unreachable();
}

static const char *
option_type_name(const MappingOption *o)
{
	switch (o->type)
	{
		case MOPT_BOOLEAN:
			return "boolean";
		case MOPT_NUMBER:
			return "number";
		case MOPT_ONE_OF:
			return "string";
		case MOPT_COLUMNS:
			return "column list";
		case MOPT_OBJECT:
			return "object";
	}
	pg_unreachable();
}

/*
 * What an option accepts, in words: the "Expected ..." of its errors and
 * the "accepted" column of recon.mapping_options().
 */
static char *
option_accepted(const MappingOption *o)
{
	StringInfoData s;
	int			i,
				n;

	initStringInfo(&s);
	switch (o->type)
	{
		case MOPT_BOOLEAN:
			appendStringInfoString(&s, "true or false");
			break;
		case MOPT_NUMBER:
			/* %.15g: every bound prints as the integer or decimal it is */
			appendStringInfo(&s, "a number between %.15g and %.15g, or null for the default",
							 o->min, o->max);
			break;
		case MOPT_ONE_OF:
			for (n = 0; o->allowed[n]; n++)
				;
			for (i = 0; i < n; i++)
				appendStringInfo(&s, "%s\"%s\"",
								 i == 0 ? "" : i == n - 1 ? " or " : ", ", o->allowed[i]);
			break;
		case MOPT_COLUMNS:
			appendStringInfoString(&s, "an array of column names");
			break;
		case MOPT_OBJECT:
			appendStringInfoString(&s, o->shape);
			break;
	}
	return s.data;
}

/* The default of a string option, without the JSON quotes. */
static char *
option_default_string(const MappingOption *o)
{
	size_t		len = strlen(o->dflt);

	Assert(o->type == MOPT_ONE_OF && len >= 2 && o->dflt[0] == '"' && o->dflt[len - 1] == '"');
	return pnstrdup(o->dflt + 1, len - 2);
}

/*
 * The canonical-comparison options of a mapping that sets none: the
 * diagnostic functions (value_matches, canonical_form ...) start from them.
 */
void
recon_mapping_canon_defaults(CanonOptions *o)
{
	o->null_equals_missing = strcmp(option_def("null_equals_missing")->dflt, "true") == 0;
	o->ts_unit_us = canon_parse_precision(option_default_string(option_def("timestamp_precision")));
}

/* The default of a mapping option as a user writes it ("none": unset). */
const char *
recon_mapping_option_default(const char *name)
{
	return option_def(name)->dflt;
}

/*
 * recon.mapping_options(): the option table, one row per option, in the
 * order the documentation lists them.
 */
PG_FUNCTION_INFO_V1(recon_mapping_options);
Datum
recon_mapping_options(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < N_MAPPING_OPTIONS; i++)
	{
		const MappingOption *o = &mapping_options[i];
		Datum		values[5];
		bool		nulls[5] = {0};

		values[0] = CStringGetTextDatum(o->name);
		values[1] = CStringGetTextDatum(option_type_name(o));
		values[2] = CStringGetTextDatum(o->dflt);
		values[3] = CStringGetTextDatum(option_accepted(o));
		values[4] = CStringGetTextDatum(o->description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * jsonb option access
 * --------------------------------------------------------------------- */

static JsonbValue *
opt_get(Jsonb *opts, const char *key)
{
	return getKeyJsonValueFromContainer(&opts->root, key, strlen(key), NULL);
}

#define OPTIONS_HINT "SELECT * FROM recon.mapping_options() lists every option, its default and what it accepts (also in doc/mappings.md)."

/* Refuse a mapping option's value, saying what the option table accepts. */
pg_attribute_noreturn()
static void
bad_option(const MappingOption *o)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for mapping option \"%s\"", o->name),
			 errdetail("Expected %s.", option_accepted(o)),
			 errhint(OPTIONS_HINT)));
}

static bool
opt_bool(Jsonb *opts, const char *key)
{
	const MappingOption *o = option_def(key);
	JsonbValue *v = opt_get(opts, key);

	Assert(o->type == MOPT_BOOLEAN);
	if (v == NULL)
		return strcmp(o->dflt, "true") == 0;
	if (v->type != jbvBool)
		bad_option(o);
	return v->val.boolean;
}

/*
 * A number option: false when it is neither set nor has a default (the
 * caller decides what "unset" means); null asks for the default.
 */
static bool
opt_number(Jsonb *opts, const char *key, double *out)
{
	const MappingOption *o = option_def(key);
	JsonbValue *v = opt_get(opts, key);
	double		d;

	Assert(o->type == MOPT_NUMBER);
	if (v == NULL || v->type == jbvNull)
	{
		if (strcmp(o->dflt, OPT_NONE) == 0)
			return false;
		*out = strtod(o->dflt, NULL);
		return true;
	}
	if (v->type != jbvNumeric)
		bad_option(o);
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (d < o->min || d > o->max)
		bad_option(o);
	*out = d;
	return true;
}

/* A one-of-strings option: its value, or the table's default when absent. */
static char *
opt_string(Jsonb *opts, const char *key)
{
	const MappingOption *o = option_def(key);
	JsonbValue *v = opt_get(opts, key);
	char	   *s;
	int			i;

	Assert(o->type == MOPT_ONE_OF);
	if (v == NULL)
		return option_default_string(o);
	if (v->type != jbvString)
		bad_option(o);
	s = pnstrdup(v->val.string.val, v->val.string.len);
	for (i = 0; o->allowed[i]; i++)
		if (strcmp(s, o->allowed[i]) == 0)
			return s;
	bad_option(o);
}

/* A jsonb array of strings -> List of char*; a missing option is NIL. */
static List *
opt_string_array(Jsonb *opts, const char *key)
{
	const MappingOption *o = option_def(key);
	JsonbValue *v = opt_get(opts, key);
	List	   *out = NIL;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	Assert(o->type == MOPT_COLUMNS);
	if (v == NULL)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_option(o);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			bad_option(o);
		out = lappend(out, pnstrdup(e.val.string.val, e.val.string.len));
	}
	return out;
}

/* An object option, or NULL when missing; anything but an object is refused. */
static JsonbValue *
opt_object(Jsonb *opts, const char *key)
{
	const MappingOption *o = option_def(key);
	JsonbValue *v = opt_get(opts, key);

	Assert(o->type == MOPT_OBJECT);
	if (v != NULL && (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data)))
		bad_option(o);
	return v;
}

static bool
list_has_string(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp(lfirst(lc), s) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * Validation
 * --------------------------------------------------------------------- */

/*
 * Refuse options that are not a JSON object or that name an option recon
 * does not know: a misspelt option would otherwise be silently ignored.
 */
static void
check_unknown_options(Jsonb *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mapping options must be a JSON object"),
				 errhint("For example '{\"repair\": \"auto\"}'.")));
	it = JsonbIteratorInit(&opts->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		int			i;
		bool		ok = false;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < N_MAPPING_OPTIONS; i++)
			ok |= (strcmp(key, mapping_options[i].name) == 0);
		if (!ok)
		{
			StringInfoData known;

			initStringInfo(&known);
			for (i = 0; i < N_MAPPING_OPTIONS; i++)
				appendStringInfo(&known, "%s%s", i ? ", " : "", mapping_options[i].name);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown mapping option \"%s\"", key),
					 errdetail("Known options: %s.", known.data),
					 errhint("Check the spelling: unknown options are refused rather than ignored. " OPTIONS_HINT)));
		}
	}
}

/*
 * Refuse a target that is not "database.collection" with names MongoDB
 * accepts (no system.* collection), before anything is written there.
 */
static void
validate_collection(const char *ns)
{
	const char *dot = strchr(ns, '.');
	const char *p;
	bool		ok = dot != NULL && dot > ns && dot[1] != '\0' && dot - ns < 64 &&
		strlen(ns) < 255 && strncmp(dot + 1, "system.", 7) != 0;

	for (p = ns; ok && p < dot; p++)
		ok = strchr("/\\. \"$*<>:|?", *p) == NULL;
	for (p = dot ? dot + 1 : ns; ok && *p; p++)
		ok = *p != '$';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid collection name \"%s\"", ns),
				 errdetail("A collection is named \"database.collection\": a database name without "
						   "/\\. \"$*<>:|? and a collection name without $, not in system.*."),
				 errhint("For example 'app.users'.")));
}

static void
validate_path(const char *column, const char *path)
{
	const char *p;
	bool		ok = path[0] != '\0' && path[0] != '$' && strcmp(path, "_id") != 0 &&
		strncmp(path, "_id.", 4) != 0 && path[strlen(path) - 1] != '.';

	for (p = path; ok && *p; p++)
		ok = !(p[0] == '.' && (p[1] == '.' || p[1] == '$'));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid document path \"%s\" for column \"%s\"", path, column),
				 errdetail("Paths are field names joined by dots; no empty parts, no leading $, not _id."),
				 errhint("The key is always _id; map other columns to other fields.")));
}

/* Does the relation have a unique index on exactly these columns? */
static bool
has_unique_index_on(Relation rel, AttrNumber *attnums, int n)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = idx->rd_index;

		if (ix->indisunique && ix->indimmediate && ix->indnkeyatts == n &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
		{
			int			i,
						j,
						matched = 0;

			for (i = 0; i < n; i++)
				for (j = 0; j < n; j++)
					if (ix->indkey.values[j] == attnums[i])
						matched++;
			found = (matched == n);
		}
		index_close(idx, AccessShareLock);
		if (found)
			break;
	}
	return found;
}

/* The relation's primary key columns, in index order (NIL when none). */
List *
recon_primary_key_columns(Relation rel)
{
	Oid			pk;
	Relation	idx;
	List	   *cols = NIL;
	int			i;

	(void) RelationGetIndexList(rel);
	pk = rel->rd_pkindex;
	if (!OidIsValid(pk))
		return NIL;
	idx = index_open(pk, AccessShareLock);
	for (i = 0; i < idx->rd_index->indnkeyatts; i++)
		cols = lappend(cols, pstrdup(get_attname(RelationGetRelid(rel),
												 idx->rd_index->indkey.values[i], false)));
	index_close(idx, AccessShareLock);
	return cols;
}

/*
 * Describe one source column (it must exist: error otherwise): attnum, base
 * type and how it is compared, its document path defaulting to its name.
 * Unsupported types are marked CK_UNSUPPORTED with a reason, not refused:
 * the caller decides (an excluded column may be anything).
 */
static void
fill_field(ReconField *f, Relation rel, const char *column)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), column);
	Form_pg_attribute a;

	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errhint("Check the key and the options fields, exclude and redact.")));
	a = TupleDescAttr(RelationGetDescr(rel), att - 1);
	f->attnum = att;
	f->column = pstrdup(column);
	f->typid = getBaseType(a->atttypid);
	f->unsupported_why = NULL;
	f->type = canon_type_for(f->typid, &f->unsupported_why);
	f->kind = f->type ? f->type->kind : CK_UNSUPPORTED;
	if (f->type && f->kind == CK_ARRAY && a->attndims > 1)
	{
		f->kind = CK_UNSUPPORTED;
		f->unsupported_why = psprintf("a %d-dimensional array (BSON arrays have one dimension)",
									  a->attndims);
	}
	f->path = pstrdup(column);
}

static void
unsupported_type(Relation rel, const ReconField *f, bool as_key)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("column \"%s\" of relation \"%s\" has type %s, which recon cannot %s",
					f->column, RelationGetRelationName(rel), format_type_be(f->typid),
					as_key ? "use as a key" : "compare"),
			 as_key ? errdetail("Key columns must be integer, text or uuid.")
			 : f->unsupported_why ?
			 errdetail("Unsupported: %s. Supported: %s.", f->unsupported_why, canon_supported_types())
			 : errdetail("Supported: %s.", canon_supported_types()),
			 errhint(as_key ? "Choose another key with the key argument."
					 : "Leave the column out with options {\"exclude\": [\"%s\"]}.", f->column)));
}

/* The type a mapping recorded for a column, or InvalidOid when it has none. */
static Oid
stored_column_type(Jsonb *columns, const char *column)
{
	JsonbValue	k,
			   *v;

	k.type = jbvString;
	k.val.string.val = (char *) column;
	k.val.string.len = strlen(column);
	v = findJsonbValueFromContainer(&columns->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return InvalidOid;
	return (Oid) strtoul(pnstrdup(v->val.string.val, v->val.string.len), NULL, 10);
}

static void
schema_drift(const ReconMapping *m, const char *column, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
			 errmsg("schema drift in the source of mapping \"%s\": column \"%s\" %s",
					m->name, column, what),
			 errdetail("The mapping compares and writes the columns it had when it was created or last altered."),
			 errhint("Check the change, then accept it with recon.alter_mapping('%s', '{}') (nothing was written).",
					 m->name)));
}

/*
 * Build the mapping structure from its definition, validating everything.
 * The relation must be open.  columns (NULL when creating or altering)
 * is the column list the mapping accepted: a column added since is left
 * out, a mapped column dropped, renamed or retyped since is an error.
 */
static void
resolve_mapping_columns(ReconMapping *m, Relation rel, List *key_cols, Jsonb *opts,
						Jsonb *columns);

static void
resolve_mapping(ReconMapping *m, Relation rel, List *key_cols, Jsonb *opts)
{
	resolve_mapping_columns(m, rel, key_cols, opts, NULL);
}

/*
 * The body of the declaration above: fills m's keys, fields (embedded
 * children last) and options from the open relation; an invalid definition
 * is an error naming the column or option at fault.
 */
static void
resolve_mapping_columns(ReconMapping *m, Relation rel, List *key_cols, Jsonb *opts,
						Jsonb *columns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *exclude,
			   *redact;
	JsonbValue *fields_opt;
	int			i,
				n;
	ListCell   *lc;
	char	   *s;
	double		d;

	check_unknown_options(opts);
	m->options = opts;
	m->relid = RelationGetRelid(rel);
	m->relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											RelationGetRelationName(rel));

	/* keys */
	m->nkeys = list_length(key_cols);
	m->keys = palloc0(sizeof(ReconField) * m->nkeys);
	i = 0;
	foreach(lc, key_cols)
	{
		ReconField *k = &m->keys[i];
		int			j;

		if (columns && get_attnum(RelationGetRelid(rel), lfirst(lc)) == InvalidAttrNumber)
			schema_drift(m, lfirst(lc), "was dropped or renamed");
		fill_field(k, rel, lfirst(lc));
		k->is_key = true;
		if (k->kind == CK_CHAR)
		{
			/* a char(n) key is the _id exactly as PostgreSQL returns it */
			k->type = canon_type_scalar(CK_TEXT, k->typid);
			k->kind = CK_TEXT;
		}
		if (columns && stored_column_type(columns, k->column) != TupleDescAttr(RelationGetDescr(rel), k->attnum - 1)->atttypid)
			schema_drift(m, k->column, "changed type");
		for (j = 0; j < i; j++)
			if (m->keys[j].attnum == k->attnum)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears twice in the key", k->column)));
		if (!canon_kind_is_key_capable(k->kind))
			unsupported_type(rel, k, true);
		i++;
	}

	exclude = opt_string_array(opts, "exclude");
	redact = opt_string_array(opts, "redact");
	foreach(lc, exclude)
	{
		ReconField	tmp;

		fill_field(&tmp, rel, lfirst(lc));
	}
	foreach(lc, redact)
	{
		ReconField	tmp;
		int			j;

		fill_field(&tmp, rel, lfirst(lc));
		for (j = 0; j < m->nkeys; j++)
			if (m->keys[j].attnum == tmp.attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key column \"%s\" cannot be redacted", tmp.column),
						 errdetail("The key is the document's _id: it is needed in clear to find and repair documents."),
						 errhint("Remove it from option \"redact\".")));
	}

	/* every other live column, in column order */
	m->fields = palloc0(sizeof(ReconField) * desc->natts);
	n = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		ReconField *f = &m->fields[n];
		bool		is_key = false;
		int			j;

		if (a->attisdropped || list_has_string(exclude, NameStr(a->attname)))
			continue;
		for (j = 0; j < m->nkeys; j++)
			is_key |= (m->keys[j].attnum == a->attnum);
		if (is_key)
			continue;
		if (columns)
		{
			Oid			was = stored_column_type(columns, NameStr(a->attname));

			if (!OidIsValid(was))
			{
				m->new_columns = lappend(m->new_columns, pstrdup(NameStr(a->attname)));
				continue;		/* added since: not compared or written until accepted */
			}
			if (was != a->atttypid)
				schema_drift(m, NameStr(a->attname), "changed type");
		}
		fill_field(f, rel, NameStr(a->attname));
		if (f->kind == CK_UNSUPPORTED)
			unsupported_type(rel, f, false);
		f->redacted = list_has_string(redact, f->column);
		n++;
	}
	m->nfields = n;
	if (columns)
	{
		JsonbIterator *it = JsonbIteratorInit(&columns->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY)
			{
				char	   *col = pnstrdup(v.val.string.val, v.val.string.len);

				if (get_attnum(RelationGetRelid(rel), col) == InvalidAttrNumber)
					schema_drift(m, col, "was dropped or renamed");
			}
	}

	/* renames */
	fields_opt = opt_object(opts, "fields");
	if (fields_opt != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *col = NULL;

		it = JsonbIteratorInit(fields_opt->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				col = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE)
			{
				bool		found = false;

				if (v.type != jbvString)
					bad_option(option_def("fields"));
				for (i = 0; i < m->nfields; i++)
					if (strcmp(m->fields[i].column, col) == 0)
					{
						m->fields[i].path = pnstrdup(v.val.string.val, v.val.string.len);
						found = true;
					}
				if (!found)
				{
					ReconField	tmp;

					fill_field(&tmp, rel, col);		/* errors if it does not exist */
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("column \"%s\" in option \"fields\" is a key or excluded column", col),
							 errhint("The key is always stored as _id.")));
				}
			}
		}
	}
	/* embedded children: one array field each, after the columns */
	(void) opt_object(opts, "embed");	/* its definitions are embed.c's */
	recon_embeds_resolve(m, opts);

	/* arrays compared as multisets */
	foreach(lc, opt_string_array(opts, "unordered"))
	{
		const char *col = lfirst(lc);
		bool		found = false;

		for (i = 0; i < m->nfields; i++)
			if (strcmp(m->fields[i].column, col) == 0)
			{
				if (m->fields[i].kind != CK_ARRAY)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("column \"%s\" in option \"unordered\" is not an array", col),
							 errdetail("Only array columns can be compared without regard to order."),
							 errhint("Remove it from option \"unordered\".")));
				m->fields[i].type->unordered = true;
				found = true;
			}
		if (!found)
		{
			ReconField	tmp;

			fill_field(&tmp, rel, col); /* errors if it does not exist */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" in option \"unordered\" is a key or excluded column", col),
					 errhint("Remove it from option \"unordered\".")));
		}
	}
	for (i = 0; i < m->nfields; i++)
	{
		int			j;

		validate_path(m->fields[i].column, m->fields[i].path);
		for (j = 0; j < i; j++)
		{
			const char *a = m->fields[i].path,
					   *b = m->fields[j].path;
			size_t		la = strlen(a),
						lb = strlen(b);

			if (strcmp(a, b) == 0 ||
				(la < lb && strncmp(a, b, la) == 0 && b[la] == '.') ||
				(lb < la && strncmp(a, b, lb) == 0 && a[lb] == '.'))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("document paths \"%s\" and \"%s\" overlap", a, b),
						 errdetail("Columns \"%s\" and \"%s\" would write the same part of the document.",
								   m->fields[i].column, m->fields[j].column)));
		}
	}

	s = opt_string(opts, "extra_fields");
	m->report_extra_fields = strcmp(s, "report") == 0;
	m->canon.null_equals_missing = opt_bool(opts, "null_equals_missing");
	s = opt_string(opts, "timestamp_precision");
	m->canon.ts_unit_us = canon_parse_precision(s);
	s = opt_string(opts, "repair");
	m->repair = strcmp(s, "off") == 0 ? REPAIR_OFF :
		strcmp(s, "auto") == 0 ? REPAIR_AUTO : REPAIR_APPROVE;
	s = opt_string(opts, "repair_mode");
	m->repair_replace = strcmp(s, "replace") == 0;
	m->delete_extra = opt_bool(opts, "delete_extra");
	if (!opt_number(opts, "max_divergence_ratio", &m->max_divergence_ratio))
		m->max_divergence_ratio = -1;	/* no gate */
	(void) opt_number(opts, "max_repairs_per_second", &m->max_repairs_per_second);
	(void) opt_number(opts, "max_write_errors", &d);
	m->max_write_errors = (int) d;

	/* repairs re-read the source FOR SHARE: that needs a table */
	if (m->repair != REPAIR_OFF &&
		rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("repairs need a table source; \"%s\" is a view or materialized view",
						RelationGetRelationName(rel)),
				 errdetail("A repair re-reads its source row FOR SHARE so that the truth cannot change while it is written."),
				 errhint("Map the view with options {\"repair\": \"off\"} to compare only, or map its base table.")));
	(void) opt_number(opts, "settle_ms", &d);
	m->settle_ms = (int) d;

	/* background sweeps in key ranges: refused now for a key that cannot be split */
	m->sweep_ranges = 0;
	if (opt_number(opts, "sweep_ranges", &d))
	{
		if (d != floor(d))
			bad_option(option_def("sweep_ranges"));
		m->sweep_ranges = (int) d;
		(void) recon_range_key_is_int(m);
	}
}

/* ---------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------- */

/*
 * Open the source relation named by source (schema-qualified text) with
 * AccessShareLock; errors unless it is a table, partitioned table, view or
 * materialized view.  The caller closes it.
 */
static Relation
open_source(const char *source, bool missing_ok_msg)
{
	List	   *names = stringToQualifiedNameList(source);
	RangeVar   *rv = makeRangeVarFromNameList(names);
	Oid			relid = RangeVarGetRelid(rv, AccessShareLock, true);
	Relation	rel;
	char		kind;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", source),
				 errhint("Give the source as schema.table; it must exist before the mapping.")));
	rel = relation_open(relid, AccessShareLock);
	kind = rel->rd_rel->relkind;
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE &&
		kind != RELKIND_VIEW && kind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", source)));
	return rel;
}

/* The accepted column list: {"column": "type oid", ...} of keys and fields. */
static Datum
columns_json(const ReconMapping *m)
{
	StringInfoData j;
	int			i;

	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
	for (i = 0; i < m->nkeys + m->nfields; i++)
	{
		const ReconField *f = i < m->nkeys ? &m->keys[i] : &m->fields[i - m->nkeys];

		if (f->embed)
			continue;			/* not a column of the source */
		if (i > 0)
			appendStringInfoString(&j, ", ");
		escape_json(&j, f->column);
		appendStringInfo(&j, ": \"%u\"", get_atttype(m->relid, f->attnum));
	}
	appendStringInfoChar(&j, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data));
}

static void mapping_missing(const char *name) pg_attribute_noreturn();
static void source_missing(const char *name) pg_attribute_noreturn();

static void
mapping_missing(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("mapping \"%s\" does not exist", name),
			 errhint("See SELECT name FROM recon.mappings.")));
}

static void
source_missing(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("the source relation of mapping \"%s\" no longer exists", name),
			 errhint("Drop the mapping with recon.drop_mapping('%s').", name)));
}

/* Lock the mapping's catalog row for a change; it must exist. */
void
recon_mapping_lock(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1] = {CStringGetTextDatum(name)};

	SPI_execute_with_args("SELECT 1 FROM recon.mappings WHERE name = $1 FOR UPDATE",
						  1, types, vals, NULL, false, 0);
	if (SPI_processed != 1)
		mapping_missing(name);
}

/*
 * The mapping's catalog row only (no source relation needed): enough to
 * check ownership, or to drop a mapping whose source is gone.
 */
ReconMapping *
recon_mapping_load_catalog(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1] = {CStringGetTextDatum(name)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	ReconMapping *m = palloc0(sizeof(ReconMapping));
	Datum		keys;
	Datum	   *kd;
	int			nk,
				i;

	SPI_execute_with_args("SELECT mapping_id, name, source, server_name, collection, key_columns,"
						  " options, cdc_enabled, owner, server_id,"
						  " encode(sha256(convert_to(options::text, 'UTF8')), 'hex'), columns"
						  " FROM recon.mappings WHERE name = $1",
						  1, types, vals, NULL, false, 1);
	if (SPI_processed != 1)
		mapping_missing(name);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	m->name = SPI_getvalue(tup, desc, 2);
	m->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	m->server_name = SPI_getvalue(tup, desc, 4);
	m->collection = SPI_getvalue(tup, desc, 5);
	keys = SPI_getbinval(tup, desc, 6, &isnull);
	m->options = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
	m->cdc_enabled = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	m->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
	if (isnull)
		m->owner = InvalidOid;
	m->serverid = DatumGetObjectId(SPI_getbinval(tup, desc, 10, &isnull));
	if (isnull)
		m->serverid = InvalidOid;
	m->options_hash = SPI_getvalue(tup, desc, 11);
	{
		Datum		c = SPI_getbinval(tup, desc, 12, &isnull);

		m->columns = isnull ? NULL : DatumGetJsonbPCopy(c);
	}

	deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT,
					  &kd, NULL, &nk);
	m->key_names = NIL;
	for (i = 0; i < nk; i++)
		m->key_names = lappend(m->key_names, TextDatumGetCString(kd[i]));
	return m;
}

/*
 * The whole mapping, resolved against its source relation.  The source
 * stays locked (AccessShareLock) until the transaction ends, so its
 * columns cannot change type under a run.
 */
ReconMapping *
recon_mapping_load(const char *name)
{
	ReconMapping *m = recon_mapping_load_catalog(name);
	Relation	rel;

	rel = try_relation_open(m->relid, AccessShareLock);
	if (rel == NULL)
		source_missing(name);
	{
		resolve_mapping_columns(m, rel, m->key_names, m->options, m->columns);
	}
	relation_close(rel, NoLock);
	return m;
}

/* Refuse a non-unique key: look for one duplicated (or NULL) key value. */
static void
check_key_unique(ReconMapping *m, Relation rel)
{
	StringInfoData sql;
	int			i;

	{
		AttrNumber *att = palloc(sizeof(AttrNumber) * m->nkeys);
		bool		nulls_possible = false;

		for (i = 0; i < m->nkeys; i++)
		{
			att[i] = m->keys[i].attnum;
			nulls_possible |= !TupleDescAttr(RelationGetDescr(rel), att[i] - 1)->attnotnull;
		}
		if (has_unique_index_on(rel, att, m->nkeys) && !nulls_possible)
			return;
	}

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT 1");
	appendStringInfo(&sql, " FROM %s GROUP BY ", m->relname);
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_identifier(m->keys[i].column));
	appendStringInfoString(&sql, " HAVING count(*) > 1 OR bool_or(");
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&sql, "%s%s IS NULL", i ? " OR " : "", quote_identifier(m->keys[i].column));
	appendStringInfoString(&sql, ") LIMIT 1");
	{
		ReconSourceSave save;
		int			rc;

		recon_source_enter(m, &save);
		rc = SPI_execute(sql.data, true, 1);
		recon_source_exit(&save);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "recon: key check failed");
	}
	/* never show the value: the source may be confidential */
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("key of mapping \"%s\" is not unique in %s", m->name, m->relname),
				 errdetail("At least one key value occurs more than once or is NULL (values are not shown)."),
				 errhint("Choose key columns that identify one row, ideally backed by a unique index.")));
}

/* ---------------------------------------------------------------------
 * SQL entry points
 * --------------------------------------------------------------------- */

/*
 * recon.add_mapping(name, source, server, collection, key text[], options
 * jsonb) → mapping_id (recon_admin): validate the whole definition, key
 * uniqueness included, read as the caller, who becomes the mapping's owner.
 * One mapping per collection and server.  Audited.
 */
PG_FUNCTION_INFO_V1(recon_add_mapping);
Datum
recon_add_mapping(PG_FUNCTION_ARGS)
{
	ReconPriv	priv;
	ReconMapping *m = palloc0(sizeof(ReconMapping));
	char	   *source;
	List	   *key_cols = NIL;
	Relation	rel;
	Jsonb	   *opts;
	int64		id;
	ReconTarget *target;
	int			i;

	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("name, source, server and collection must not be NULL")));
	m->name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	m->server_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	m->collection = text_to_cstring(PG_GETARG_TEXT_PP(3));
	opts = PG_ARGISNULL(5) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(5);

	recon_priv_enter(&priv, "recon_admin", "recon.add_mapping");
	if (m->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mapping name must not be empty")));
	validate_collection(m->collection);

	/*
	 * The caller becomes the mapping's owner: every source read (starting
	 * with the key check below) runs with its privileges, restricted.
	 */
	rel = open_source(source, true);
	m->owner = priv.caller;
	m->serverid = recon_server_oid(m->server_name);
	target = recon_target_lookup(m->serverid, priv.caller);

	if (!PG_ARGISNULL(4))
	{
		Datum	   *kd;
		bool	   *kn;
		int			nk;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT,
						  &kd, &kn, &nk);
		for (i = 0; i < nk; i++)
		{
			if (kn[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("key column names must not be NULL")));
			key_cols = lappend(key_cols, TextDatumGetCString(kd[i]));
		}
	}
	else
		key_cols = recon_primary_key_columns(rel);
	if (key_cols == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("relation \"%s\" has no primary key and no key was given", source),
				 errhint("Pass key => ARRAY['column', ...] naming columns that identify a row.")));

	SPI_connect();
	recon_pin_search_path();
	{
		Oid			t[2] = {TEXTOID, TEXTOID};
		Datum		v[2] = {CStringGetTextDatum(m->name), CStringGetTextDatum(m->collection)};

		if (recon_spi_int64("SELECT count(*) FROM recon.mappings WHERE name = $1", 1, t, v) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("mapping \"%s\" already exists", m->name),
					 errhint("Use recon.alter_mapping to change it, or choose another name.")));
		t[0] = OIDOID;
		v[0] = ObjectIdGetDatum(target->serverid);
		if (recon_spi_int64("SELECT count(*) FROM recon.mappings WHERE server_id = $1 AND collection = $2",
							2, t, v) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("collection \"%s\" on server \"%s\" is already mapped",
							m->collection, target->server_name),
					 errdetail("Two mappings writing one collection would repair against each other."),
					 errhint("Drop the other mapping first, or map another collection.")));
	}

	resolve_mapping(m, rel, key_cols, opts);
	recon_source_check(m);
	check_key_unique(m, rel);
	relation_close(rel, AccessShareLock);

	{
		Oid			t[10] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID, TEXTOID,
		OIDOID, OIDOID, JSONBOID};
		Datum		v[10];
		ArrayBuildState *astate = NULL;
		ListCell   *lc;

		foreach(lc, key_cols)
			astate = accumArrayResult(astate, CStringGetTextDatum(lfirst(lc)), false,
									  TEXTOID, CurrentMemoryContext);
		v[0] = CStringGetTextDatum(m->name);
		v[1] = ObjectIdGetDatum(m->relid);
		v[2] = CStringGetTextDatum(target->server_name);
		v[3] = CStringGetTextDatum(m->collection);
		v[4] = makeArrayResult(astate, CurrentMemoryContext);
		v[5] = JsonbPGetDatum(opts);
		v[6] = CStringGetTextDatum(priv.caller_name);
		v[7] = ObjectIdGetDatum(priv.caller);
		v[8] = ObjectIdGetDatum(target->serverid);
		v[9] = columns_json(m);
		id = recon_spi_int64("INSERT INTO recon.mappings (name, source, server_name, collection,"
							 " key_columns, options, created_by, owner, server_id, columns)"
							 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING mapping_id",
							 10, t, v);
		{
			Oid			t2[4] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};
			Datum		v2[4] = {CStringGetTextDatum(m->relname),
				CStringGetTextDatum(target->server_name),
				CStringGetTextDatum(m->collection), JsonbPGetDatum(opts)};

			SPI_execute_with_args("SELECT jsonb_build_object('source', $1, 'server', $2,"
								  " 'collection', $3, 'options', $4)::text", 4, t2, v2, NULL, true, 1);
		}
		{
			ReconAudit	a = {0};

			a.actor = priv.caller_name;
			a.action = AUDIT_MAPPING_CREATED;
			a.mapping = m->name;
			a.reason = "recon.add_mapping";
			a.detail = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			recon_audit(&a);
		}
	}
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_INT64(id);
}

/*
 * recon.alter_mapping(name text, options jsonb): merge options into the
 * mapping's (jsonb ||), validate the result, and accept the source's current
 * columns (how schema drift is accepted).  recon_admin and the owner; audited
 * with hashes of the options before and after.
 */
PG_FUNCTION_INFO_V1(recon_alter_mapping);
Datum
recon_alter_mapping(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *change = PG_GETARG_JSONB_P(1);
	ReconPriv	priv;
	ReconMapping *m;
	Jsonb	   *merged;
	Relation	rel;
	List	   *key_cols = NIL;
	char	   *before;

	recon_priv_enter(&priv, "recon_admin", "recon.alter_mapping");
	check_unknown_options(change);
	SPI_connect();
	recon_pin_search_path();
	recon_mapping_lock(name);	/* before reading: two alters must not lose one */
	m = recon_mapping_load_catalog(name);	/* not resolved: altering accepts schema drift */
	recon_check_mapping_owner(m, &priv, "alter");
	before = JsonbToCString(NULL, &m->options->root, VARSIZE(m->options));
	merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(m->options),
												JsonbPGetDatum(change)));
	key_cols = m->key_names;
	rel = try_relation_open(m->relid, AccessShareLock);
	if (rel == NULL)
		source_missing(name);
	resolve_mapping(m, rel, key_cols, merged);	/* validates the merged options */
	relation_close(rel, AccessShareLock);
	{
		Oid			t[3] = {TEXTOID, JSONBOID, JSONBOID};
		Datum		v[3] = {CStringGetTextDatum(name), JsonbPGetDatum(merged), columns_json(m)};
		ReconAudit	a = {0};
		char	   *after = JsonbToCString(NULL, &merged->root, VARSIZE(merged));

		/* altering accepts the source's current columns */
		recon_spi_exec("UPDATE recon.mappings SET options = $2, columns = $3, updated_at = now()"
					   " WHERE name = $1", 3, t, v, NULL, SPI_OK_UPDATE);
		a.actor = priv.caller_name;
		a.action = AUDIT_MAPPING_ALTERED;
		a.mapping = name;
		a.reason = "recon.alter_mapping";
		a.before_hash = canon_sha256_hex(before, strlen(before));
		a.after_hash = canon_sha256_hex(after, strlen(after));
		{
			StringInfoData d;

			initStringInfo(&d);
			appendStringInfo(&d, "{\"before\": %s, \"after\": %s}", before, after);
			a.detail = d.data;
		}
		recon_audit(&a);
	}
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}

/*
 * recon.drop_mapping(name text): drop the mapping with its divergences,
 * repairs and queued changes (its runs and the audit log stay).  recon_admin
 * and the owner, also when the source is gone; audited.
 */
PG_FUNCTION_INFO_V1(recon_drop_mapping);
Datum
recon_drop_mapping(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ReconPriv	priv;
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(name)};
	ReconAudit	a = {0};

	recon_priv_enter(&priv, "recon_admin", "recon.drop_mapping");
	SPI_connect();
	recon_pin_search_path();
	recon_mapping_lock(name);
	recon_check_mapping_owner(recon_mapping_load_catalog(name), &priv, "drop");
	/* keep history: runs, divergences and repairs go with it, the audit log stays */
	recon_forget_mapping_records(name);
	recon_spi_exec("DELETE FROM recon.cdc_queue WHERE mapping_id = (SELECT mapping_id FROM recon.mappings WHERE name = $1)",
				   1, t, v, NULL, SPI_OK_DELETE);
	recon_spi_exec("DELETE FROM recon.mappings WHERE name = $1", 1, t, v, NULL, SPI_OK_DELETE);
	a.actor = priv.caller_name;
	a.action = AUDIT_MAPPING_DROPPED;
	a.mapping = name;
	a.reason = "recon.drop_mapping";
	recon_audit(&a);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}

/* Transfer a mapping, as ALTER ... OWNER TO: source reads then run as the new owner. */
PG_FUNCTION_INFO_V1(recon_alter_mapping_owner);
Datum
recon_alter_mapping_owner(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			new_owner = PG_GETARG_OID(1);
	ReconPriv	priv;
	ReconMapping *m;
	char	   *new_name = GetUserNameFromId(new_owner, false);
	ReconAudit	a = {0};

	recon_priv_enter(&priv, "recon_admin", "recon.alter_mapping_owner");
	SPI_connect();
	recon_pin_search_path();
	recon_mapping_lock(name);
	m = recon_mapping_load_catalog(name);
	recon_check_mapping_owner(m, &priv, "transfer");
	if (!superuser_arg(priv.caller) && !has_privs_of_role(priv.caller, new_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be able to SET ROLE \"%s\" to give it mapping \"%s\"", new_name, name),
				 errhint("As with ALTER TABLE ... OWNER TO, only members of the new owner (or a superuser) may transfer.")));
	if (!has_privs_of_role(new_owner, get_role_oid("recon_admin", false)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not a member of recon_admin", new_name),
				 errhint("GRANT recon_admin TO %s first.", quote_identifier(new_name))));
	{
		Oid			t[2] = {TEXTOID, OIDOID};
		Datum		v[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(new_owner)};

		recon_spi_exec("UPDATE recon.mappings SET owner = $2, updated_at = now() WHERE name = $1",
					   2, t, v, NULL, SPI_OK_UPDATE);
	}
	a.actor = priv.caller_name;
	a.action = AUDIT_MAPPING_OWNER_CHANGED;
	a.mapping = name;
	a.reason = "recon.alter_mapping_owner";
	{
		const char *old_name = OidIsValid(m->owner) ? GetUserNameFromId(m->owner, true) : NULL;
		StringInfoData d;

		initStringInfo(&d);
		appendStringInfoString(&d, "{\"from\": ");
		escape_json(&d, old_name ? old_name : "(dropped role)");
		appendStringInfoString(&d, ", \"to\": ");
		escape_json(&d, new_name);
		appendStringInfoChar(&d, '}');
		a.detail = d.data;
	}
	recon_audit(&a);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}
