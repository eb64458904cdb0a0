/*
 * docshape.c — the shape of a mapped document: how a row becomes the
 * document (and _id) it should have, how a document's mapped fields are
 * read back in canonical form, and the BSON that repairs send (documents,
 * $set/$unset updates, compare-and-set filters, redacted images).
 */
#include "postgres.h"

#include "docshape.h"
#include "audit.h"
#include "canonical.h"
#include "embed.h"
#include "jsonbson.h"
#include "mapping.h"
#include "recon.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "access/htup_details.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include <math.h>

#include "common/shortest_dec.h"

#define EPOCH_SHIFT_US ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* ---------------------------------------------------------------------
 * Canonical forms of rows and documents
 * --------------------------------------------------------------------- */

/*
 * A row's canonical key into out: its key columns' values (values[0..nkeys),
 * as the source query returns them) encoded one after another, which a
 * document's _id must equal (recon_doc_key_canon) for the two to pair.
 */
void
recon_key_canon_datums(const ReconMapping *m, Datum *values, bool *nulls, StringInfo out)
{
	int			i;

	for (i = 0; i < m->nkeys; i++)
		canon_datum(out, m->keys[i].type, values[i], nulls[i],
					&m->canon, NULL);
}

/*
 * A row's mapped fields (values[nkeys..], after its keys) encoded one after
 * another into out, in field order, to be compared with recon_doc_canon's;
 * from_double[i], if given, tells the nearest-double rule about field i.
 */
void
recon_row_canon(const ReconMapping *m, Datum *values, bool *nulls, StringInfo out,
				bool *from_double)
{
	int			i;

	for (i = 0; i < m->nfields; i++)
		canon_datum(out, m->fields[i].type, values[m->nkeys + i],
					nulls[m->nkeys + i], &m->canon, from_double ? &from_double[i] : NULL);
}

/*
 * The canonical key of a document's _id.  False when the _id cannot be a
 * key of this mapping (wrong BSON type, wrong composite shape): such a
 * document is reported as extra, never skipped.
 */
bool
recon_doc_key_canon(const ReconMapping *m, const bson_t *doc, StringInfo out)
{
	bson_iter_t it,
				sub;
	int			i;

	if (!bson_iter_init_find(&it, doc, "_id"))
		return false;
	if (m->nkeys == 1)
	{
		int			at = out->len;

		/* a legacy binary uuid _id (subtype 3, standard byte order) is the same key */
		if (m->keys[0].kind == CK_UUID && BSON_ITER_HOLDS_BINARY(&it))
		{
			bson_subtype_t st;
			uint32		len;
			const uint8_t *data;

			bson_iter_binary(&it, &st, &len, &data);
			if (st == BSON_SUBTYPE_UUID_DEPRECATED && len == UUID_LEN)
			{
				bson_t		tmp = BSON_INITIALIZER;
				bson_iter_t t2;

				bson_append_binary(&tmp, "v", 1, BSON_SUBTYPE_UUID, data, len);
				bson_iter_init_find(&t2, &tmp, "v");
				canon_bson(out, m->keys[0].type, &t2, &m->canon, NULL);
				bson_destroy(&tmp);
				return canon_key_value_fits(out->data + at, m->keys[0].kind, m->keys[0].typid);
			}
		}
		canon_bson(out, m->keys[0].type, &it, &m->canon, NULL);
		return canon_key_value_fits(out->data + at, m->keys[0].kind, m->keys[0].typid);
	}
	if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub))
		return false;
	for (i = 0; i < m->nkeys; i++)
	{
		int			at = out->len;

		if (!bson_iter_next(&sub) || strcmp(bson_iter_key(&sub), m->keys[i].column) != 0)
			return false;
		canon_bson(out, m->keys[i].type, &sub, &m->canon, NULL);
		if (!canon_key_value_fits(out->data + at, m->keys[i].kind, m->keys[i].typid))
			return false;
	}
	return !bson_iter_next(&sub);
}

typedef enum PathLookup
{
	PATH_MISSING,
	PATH_FOUND,
	PATH_AMBIGUOUS				/* a field named twice on the path */
} PathLookup;

/*
 * The one field a name stands for at the level it iterates.  A document
 * written without validation can hold a name twice; which one an
 * application reads depends on its driver, so neither is "the" value.
 */
static PathLookup
find_unique(bson_iter_t *level, const char *name, size_t len, bson_iter_t *found)
{
	int			hits = 0;

	while (bson_iter_next(level))
		if (bson_iter_key_len(level) == len && memcmp(bson_iter_key(level), name, len) == 0 &&
			hits++ == 0)
			*found = *level;
	return hits == 0 ? PATH_MISSING : hits == 1 ? PATH_FOUND : PATH_AMBIGUOUS;
}

/* Descend the rest of a dotted path from a field already found. */
static PathLookup
descend_path(const bson_iter_t *from, const char *rest, bson_iter_t *found)
{
	bson_iter_t at = *from;

	while (*rest)
	{
		const char *dot = strchr(rest, '.');
		size_t		len = dot ? (size_t) (dot - rest) : strlen(rest);
		bson_iter_t level;
		PathLookup	r;

		if (!(BSON_ITER_HOLDS_DOCUMENT(&at) || BSON_ITER_HOLDS_ARRAY(&at)) ||
			!bson_iter_recurse(&at, &level))
			return PATH_MISSING;
		r = find_unique(&level, rest, len, &at);
		if (r != PATH_FOUND)
			return r;
		rest = dot ? dot + 1 : "";
	}
	*found = at;
	return PATH_FOUND;
}

static PathLookup
lookup_path(const bson_t *doc, const char *path, bson_iter_t *found)
{
	bson_iter_t it,
				top;
	size_t		toplen = strcspn(path, ".");
	PathLookup	r;

	if (!bson_iter_init(&it, doc))
		return PATH_MISSING;
	r = find_unique(&it, path, toplen, &top);
	if (r != PATH_FOUND)
		return r;
	return descend_path(&top, path + toplen + (path[toplen] == '.'), found);
}

static bool
find_path(const bson_t *doc, const char *path, bson_iter_t *found)
{
	return lookup_path(doc, path, found) == PATH_FOUND;
}

/*
 * The first mapped path a document names twice, or NULL: said as the
 * reason of its divergence (the value itself is compared as unreadable).
 */
const char *
recon_doc_ambiguous_path(const ReconMapping *m, const bson_t *doc)
{
	int			i;
	bson_iter_t v;

	for (i = 0; i < m->nfields; i++)
		if (lookup_path(doc, m->fields[i].path, &v) == PATH_AMBIGUOUS)
			return m->fields[i].path;
	return NULL;
}

static bool
is_mapped_top_level(const ReconMapping *m, const char *key, uint32 len)
{
	int			i;

	if (len == 3 && memcmp(key, "_id", 3) == 0)
		return true;
	for (i = 0; i < m->nfields; i++)
	{
		const char *p = m->fields[i].path;

		if (strncmp(p, key, len) == 0 && (p[len] == '\0' || p[len] == '.'))
			return true;
	}
	return false;
}

#define DOC_CANON_LOCAL_FIELDS 64

typedef struct FieldIter
{
	bson_iter_t it;				/* in a struct: arrays of bson_iter_t are refused (alignment) */
} FieldIter;

/*
 * The mapped fields of a document, canonical, in mapping order.  One pass
 * over the top level finds every mapped field (and any named twice);
 * dotted paths then descend from their top-level field.
 */
void
recon_doc_canon(const ReconMapping *m, const bson_t *doc, StringInfo out, bool *from_double)
{
	int			i;
	bson_iter_t it;
	FieldIter	top_local[DOC_CANON_LOCAL_FIELDS];
	uint8		hits_local[DOC_CANON_LOCAL_FIELDS];
	size_t		toplen_local[DOC_CANON_LOCAL_FIELDS];
	bool		local = m->nfields <= DOC_CANON_LOCAL_FIELDS;	/* no palloc per document */
	FieldIter  *top = local ? top_local : palloc_bson_aligned(sizeof(FieldIter) * m->nfields);
	uint8	   *hits = local ? hits_local : palloc(m->nfields);
	size_t	   *toplen = local ? toplen_local : palloc(sizeof(size_t) * m->nfields);

	for (i = 0; i < m->nfields; i++)
	{
		toplen[i] = strcspn(m->fields[i].path, ".");
		hits[i] = 0;
	}
	if (bson_iter_init(&it, doc))
	{
		while (bson_iter_next(&it))
		{
			const char *k = bson_iter_key(&it);
			uint32		klen = bson_iter_key_len(&it);

			for (i = 0; i < m->nfields; i++)
				if (toplen[i] == klen && memcmp(m->fields[i].path, k, klen) == 0)
				{
					if (hits[i] == 0)
						top[i].it = it;
					if (hits[i] < 2)
						hits[i]++;
				}
		}
	}
	for (i = 0; i < m->nfields; i++)
	{
		const char *path = m->fields[i].path;
		bson_iter_t v;
		PathLookup	r = hits[i] == 0 ? PATH_MISSING : hits[i] > 1 ? PATH_AMBIGUOUS :
			descend_path(&top[i].it, path + toplen[i] + (path[toplen[i]] == '.'), &v);

		if (r == PATH_AMBIGUOUS)
			canon_ambiguous(out);
		else
			canon_bson(out, m->fields[i].type, r == PATH_FOUND ? &v : NULL,
					   &m->canon, from_double ? &from_double[i] : NULL);
	}
	if (!local)
	{
		pfree(top);
		pfree(hits);
		pfree(toplen);
	}
	if (m->report_extra_fields && bson_iter_init(&it, doc))
	{
		/* any unmapped field makes the digest differ from the row's */
		while (bson_iter_next(&it))
			if (!is_mapped_top_level(m, bson_iter_key(&it), bson_iter_key_len(&it)))
			{
				appendStringInfoString(out, "extra:");
				appendStringInfoString(out, bson_iter_key(&it));
			}
	}
}

/* Differing paths reported inside one column before its own path stands for them. */
#define RECON_MAX_FIELD_PATHS 32

/*
 * Compare a row's and a document's canonical fields; append differing
 * document paths to *paths (and flags to mask[], if given); return how
 * many differ.
 */
int
recon_diff_fields(const ReconMapping *m, const char *a, const bool *a_dbl,
				  const char *b, const bool *b_dbl, const bson_t *doc, List **paths,
				  bool *mask)
{
	int			i,
				ndiff = 0;
	bson_iter_t it;

	for (i = 0; i < m->nfields; i++)
	{
		int			la = canon_value_len(a),
					lb = canon_value_len(b);

		bool		differs = !canon_values_equal(a, la, a_dbl[i], b, lb, b_dbl[i]);

		if (mask)
			mask[i] = differs;
		if (differs)
		{
			const ReconField *f = &m->fields[i];
			char	   *deep[RECON_MAX_FIELD_PATHS];
			int			ndeep = 0,
						j;

			/*
			 * Inside trees, the deepest differing paths (a redacted column's
			 * keys may be data: only its own path); the parent beyond the cap.
			 */
			if (!f->redacted && (f->kind == CK_JSON || f->kind == CK_ARRAY || f->kind == CK_COMPOSITE))
				ndeep = canon_diff_paths(a, la, b, lb, f->type, f->path, deep, RECON_MAX_FIELD_PATHS);
			for (j = 0; j < ndeep; j++)
				*paths = lappend(*paths, deep[j]);
			if (ndeep == 0)
				*paths = lappend(*paths, f->path);
			ndiff++;
		}
		a += la;
		b += lb;
	}
	if (m->report_extra_fields && doc && bson_iter_init(&it, doc))
		while (bson_iter_next(&it))
			if (!is_mapped_top_level(m, bson_iter_key(&it), bson_iter_key_len(&it)))
			{
				*paths = lappend(*paths, pstrdup(bson_iter_key(&it)));
				ndiff++;
			}
	return ndiff;
}

/* ---------------------------------------------------------------------
 * Row -> BSON
 * --------------------------------------------------------------------- */

static void append_datum(bson_t *dst, const char *key, const CanonType *type,
						 const char *column, Datum v, bool isnull, const CanonOptions *copts);

/* A value no BSON type can hold: refused, never approximated. */
static void
refuse_value(const char *column, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" holds %s, which no BSON value can hold", column, what),
			 errhint("recon never writes a value nobody wrote: fix the row, or exclude the column.")));
}

/* The text output of a value (time, inet, macaddr...): what applications store. */
static void
append_output_text(bson_t *dst, const char *key, const CanonType *type, Datum v)
{
	Oid			out;
	bool		varlena;
	char	   *s;

	getTypeOutputInfo(type->typid, &out, &varlena);
	s = OidOutputFunctionCall(out, v);
	bson_append_utf8(dst, key, -1, s, -1);
	pfree(s);
}

/* A one-dimensional array as a BSON array (keys "0", "1", ...). */
static void
append_array(bson_t *dst, const char *key, const CanonType *type, const char *column,
			 Datum v, const CanonOptions *copts)
{
	ArrayType  *arr = DatumGetArrayTypeP(v);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	bson_t		child;

	if (ARR_NDIM(arr) > 1)
		refuse_value(column, "a multi-dimensional array");
	if (ARR_NDIM(arr) == 1 && ARR_LBOUND(arr)[0] != 1)
		refuse_value(column, "an array whose lower bound is not 1");
	deconstruct_array(arr, ARR_ELEMTYPE(arr), type->elmlen, type->elmbyval, type->elmalign,
					  &elems, &nulls, &n);
	bson_append_array_begin(dst, key, -1, &child);
	for (i = 0; i < n; i++)
	{
		char		idx[16];
		const char *ik;

		CHECK_FOR_INTERRUPTS();
		bson_uint32_to_string(i, &ik, idx, sizeof(idx));
		append_datum(&child, ik, type->elem, column, elems[i], nulls[i], copts);
	}
	bson_append_array_end(dst, &child);
	pfree(elems);
	pfree(nulls);
}

/* A composite value as a subdocument, attributes by name, NULL ones as null. */
static void
append_composite(bson_t *dst, const char *key, const CanonType *type, const char *column,
				 Datum v, const CanonOptions *copts)
{
	Datum	   *values;
	bool	   *nulls;
	Pointer		detoasted;
	int			natts = canon_composite_deform(v, &values, &nulls, &detoasted);
	bson_t		child;
	int			i;

	bson_append_document_begin(dst, key, -1, &child);
	for (i = 0; i < type->natts; i++)
	{
		AttrNumber	an = type->attnums[i];

		if (an <= natts)
			append_datum(&child, type->attnames[i], &type->atts[i], column,
						 values[an - 1], nulls[an - 1], copts);
	}
	bson_append_document_end(dst, &child);
	pfree(values);
	pfree(nulls);
	if (detoasted)
		pfree(detoasted);
}

/* Append one value under key, as an application would store it. */
static void
append_datum(bson_t *dst, const char *key, const CanonType *type, const char *column,
			 Datum v, bool isnull, const CanonOptions *copts)
{
	if (isnull && type->null_is_empty)
	{
		bson_t		none;

		/* no children: an empty array, as applications write it */
		bson_append_array_begin(dst, key, -1, &none);
		bson_append_array_end(dst, &none);
		return;
	}
	if (isnull)
	{
		bson_append_null(dst, key, -1);
		return;
	}
	switch (type->kind)
	{
		case CK_INT:
			if (type->typid == INT8OID)
				bson_append_int64(dst, key, -1, DatumGetInt64(v));
			else
				bson_append_int32(dst, key, -1, type->typid == INT2OID ? DatumGetInt16(v) : DatumGetInt32(v));
			break;
		case CK_NUMERIC:
		case CK_MONEY:
			{
				/* integral values as int64, others as their nearest double */
				Numeric		num;

				if (type->kind == CK_MONEY)
					v = DirectFunctionCall1(cash_numeric, v);
				num = DatumGetNumeric(v);
				bool		have_error = true;
				int64		i64 = 0;

				Datum		whole = (numeric_is_nan(num) || numeric_is_inf(num)) ? (Datum) 0 :
					DirectFunctionCall2(numeric_trunc, v, Int32GetDatum(0));

				if (whole && DatumGetBool(DirectFunctionCall2(numeric_eq, v, whole)))
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, whole));
					char	   *end;

					errno = 0;
					i64 = strtoll(s, &end, 10);
					have_error = (errno != 0 || *end != '\0');
				}
				if (!have_error)
					bson_append_int64(dst, key, -1, i64);
				else
				{
					double		d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, v));

					/*
					 * Beyond double range the nearest double is an infinity
					 * nobody wrote: an exact Decimal128 then, else a refusal.
					 * (NaN and ±Infinity numerics are doubles as they are.)
					 */
					if (isinf(d) && !numeric_is_inf(num))
						recon_append_decimal_text(dst, key, -1,
												  DatumGetCString(DirectFunctionCall1(numeric_out, v)));
					else
						bson_append_double(dst, key, -1, d);
				}
			}
			break;
		case CK_FLOAT:
			bson_append_double(dst, key, -1, type->typid == FLOAT4OID ? (double) DatumGetFloat4(v)
							   : DatumGetFloat8(v));
			break;
		case CK_TEXT:
		case CK_CHAR:
		case CK_CITEXT:
			if (type->typid == NAMEOID)
				bson_append_utf8(dst, key, -1, NameStr(*DatumGetName(v)), -1);
			else
			{
				text	   *t = DatumGetTextPP(v);

				bson_append_utf8(dst, key, -1, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case CK_ENUM:
		case CK_TIME:
		case CK_TIMETZ:
		case CK_INET:
		case CK_MACADDR:
			append_output_text(dst, key, type, v);
			break;
		case CK_INTERVAL:
			{
				struct pg_itm itm;
				char		buf[MAXDATELEN + 1];

				interval2itm(*DatumGetIntervalP(v), &itm);
				EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
				bson_append_utf8(dst, key, -1, buf, -1);
			}
			break;
		case CK_ARRAY:
			append_array(dst, key, type, column, v, copts);
			break;
		case CK_COMPOSITE:
			append_composite(dst, key, type, column, v, copts);
			break;
		case CK_BOOL:
			bson_append_bool(dst, key, -1, DatumGetBool(v));
			break;
		case CK_TIMESTAMPTZ:
		case CK_TIMESTAMP:
			{
				int64		us;

				if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(v)))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("column \"%s\" holds an infinite timestamp, which no BSON Date can hold",
									column),
							 errhint("recon never writes a value nobody wrote: fix the row, or exclude the column.")));
				us = DatumGetTimestamp(v) + EPOCH_SHIFT_US;
				int64		ms = us / 1000 - ((us % 1000 != 0 && us < 0) ? 1 : 0);

				bson_append_date_time(dst, key, -1, ms);
			}
			break;
		case CK_DATE:
			if (DATE_NOT_FINITE(DatumGetDateADT(v)))
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("column \"%s\" holds an infinite date, which no BSON Date can hold",
								column),
						 errhint("recon never writes a value nobody wrote: fix the row, or exclude the column.")));
			bson_append_date_time(dst, key, -1,
								  ((int64) DatumGetDateADT(v) + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)) * INT64CONST(86400000));
			break;
		case CK_UUID:
			bson_append_binary(dst, key, -1, BSON_SUBTYPE_UUID, DatumGetUUIDP(v)->data, UUID_LEN);
			break;
		case CK_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(v);

				bson_append_binary(dst, key, -1, BSON_SUBTYPE_BINARY,
								   (const uint8_t *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
			}
			break;
		case CK_JSON:
			if (type->typid == JSONBOID)
				recon_append_jsonb(dst, key, DatumGetJsonbP(v));
			else
				recon_append_jsonb(dst, key, DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																		  CStringGetDatum(TextDatumGetCString(v)))));
			break;
		default:
			elog(ERROR, "recon: cannot write type %u", type->typid);
	}
}

/*
 * The value of a redacted field: a keyed hash (HMAC-SHA-256 under the
 * database's redaction key) of its canonical form, so equal values match
 * across runs while short secrets cannot be guessed from the hash.
 */
static void
append_redacted(bson_t *dst, const char *key, const char *canon, int len)
{
	char	   *hex = recon_redaction_hash(canon, len);
	char		buf[80];

	snprintf(buf, sizeof(buf), "redacted:hmac:%s", hex);
	bson_append_utf8(dst, key, -1, buf, -1);
}

static void
append_field(bson_t *dst, const char *key, const ReconMapping *m, int fi,
			 Datum *values, bool *nulls, bool redact)
{
	const ReconField *f = &m->fields[fi];
	Datum		v = values[m->nkeys + fi];
	bool		isnull = nulls[m->nkeys + fi];

	if (redact && f->redacted)
	{
		StringInfoData c;

		initStringInfo(&c);
		canon_datum(&c, f->type, v, isnull, &m->canon, NULL);
		append_redacted(dst, key, c.data, c.len);
	}
	else
		append_datum(dst, key, f->type, f->column, v, isnull, &m->canon);
}

static void
recon_append_id(const ReconMapping *m, bson_t *dst, const char *key, Datum *values, bool *nulls)
{
	int			i;
	bson_t		sub;

	if (m->nkeys == 1)
	{
		append_datum(dst, key, m->keys[0].type, m->keys[0].column, values[0], nulls[0], &m->canon);
		return;
	}
	bson_append_document_begin(dst, key, -1, &sub);
	for (i = 0; i < m->nkeys; i++)
		append_datum(&sub, m->keys[i].column, m->keys[i].type, m->keys[i].column, values[i], nulls[i], &m->canon);
	bson_append_document_end(dst, &sub);
}

/*
 * Append the fields whose (remaining) paths are given, nesting dotted paths.
 * subpaths[i] is the rest of field idx[i]'s path below the current level.
 */
static void
append_level(bson_t *dst, const ReconMapping *m, int n, int *idx, const char **subpaths,
			 Datum *values, bool *nulls, bool redact, bool skip_nulls)
{
	bool	   *done = palloc0(sizeof(bool) * n);
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		const char *dot;

		if (done[i])
			continue;
		dot = strchr(subpaths[i], '.');
		if (dot == NULL)
		{
			if (!(skip_nulls && nulls[m->nkeys + idx[i]]))
				append_field(dst, subpaths[i], m, idx[i], values, nulls, redact);
			done[i] = true;
		}
		else
		{
			int			seglen = dot - subpaths[i];
			char	   *seg = pnstrdup(subpaths[i], seglen);
			int		   *cidx = palloc(sizeof(int) * n);
			const char **csub = palloc(sizeof(char *) * n);
			int			cn = 0;
			bson_t		child;

			for (j = i; j < n; j++)
				if (!done[j] && strncmp(subpaths[j], seg, seglen) == 0 && subpaths[j][seglen] == '.')
				{
					cidx[cn] = idx[j];
					csub[cn++] = subpaths[j] + seglen + 1;
					done[j] = true;
				}
			bson_append_document_begin(dst, seg, -1, &child);
			append_level(&child, m, cn, cidx, csub, values, nulls, redact, skip_nulls);
			bson_append_document_end(dst, &child);
		}
	}
}

/*
 * The document a row should be, into doc: _id from the key columns (a
 * subdocument for a composite key), then each mapped field at its dotted path.
 * NULLs are left out when null_equals_missing; redact replaces redacted
 * fields by their keyed hashes (for images; a write passes false).
 */
void
recon_build_document(const ReconMapping *m, Datum *values, bool *nulls, bson_t *doc, bool redact)
{
	int		   *idx = palloc(sizeof(int) * (m->nfields + 1));
	const char **sub = palloc(sizeof(char *) * (m->nfields + 1));
	int			i;

	recon_append_id(m, doc, "_id", values, nulls);
	for (i = 0; i < m->nfields; i++)
	{
		idx[i] = i;
		sub[i] = m->fields[i].path;
	}
	append_level(doc, m, m->nfields, idx, sub, values, nulls, redact,
				 m->canon.null_equals_missing);
}

/*
 * {$set: {path: value}, $unset: {path: ""}} for the mapped fields in only[]
 * (all when NULL); unmapped fields are never touched.
 */
void
recon_build_update(const ReconMapping *m, Datum *values, bool *nulls, bson_t *update,
				   bool redact, const bool *only)
{
	bson_t		set,
				unset;
	int			i,
				nset = 0,
				nunset = 0;

	for (i = 0; i < m->nfields; i++)
	{
		bool		unset = nulls[m->nkeys + i] && m->canon.null_equals_missing;

		if (only && !only[i])
			continue;
		nset += !unset;
		nunset += unset;
	}
	if (nset > 0)
	{
		bson_append_document_begin(update, "$set", -1, &set);
		for (i = 0; i < m->nfields; i++)
		{
			if ((only && !only[i]) || (nulls[m->nkeys + i] && m->canon.null_equals_missing))
				continue;
			append_field(&set, m->fields[i].path, m, i, values, nulls, redact);
		}
		bson_append_document_end(update, &set);
	}
	if (nunset > 0)
	{
		bson_append_document_begin(update, "$unset", -1, &unset);
		for (i = 0; i < m->nfields; i++)
			if (!(only && !only[i]) && nulls[m->nkeys + i] && m->canon.null_equals_missing)
				bson_append_utf8(&unset, m->fields[i].path, -1, "", 0);
		bson_append_document_end(update, &unset);
	}
}

/*
 * {key: <equal to the value at it>} as an equality, never a query: $eq
 * takes the value literally (a subdocument with "$" keys, a regex), and
 * the type guards keep a scalar from matching an array element and null
 * from matching a missing field.
 */
static void
append_guarded_eq(bson_t *filter, const char *key, int keylen, bson_iter_t *v)
{
	bson_t		cond,
				not;

	bson_append_document_begin(filter, key, keylen, &cond);
	if (BSON_ITER_HOLDS_NULL(v))
		bson_append_int32(&cond, "$type", 5, BSON_TYPE_NULL);
	else
	{
		bson_append_iter(&cond, "$eq", 3, v);
		if (BSON_ITER_HOLDS_ARRAY(v))
			bson_append_int32(&cond, "$type", 5, BSON_TYPE_ARRAY);
		else
		{
			bson_append_document_begin(&cond, "$not", 4, &not);
			bson_append_int32(&not, "$type", 5, BSON_TYPE_ARRAY);
			bson_append_document_end(&cond, &not);
		}
	}
	bson_append_document_end(filter, &cond);
}

static void
append_absent(bson_t *filter, const char *path)
{
	bson_t		ex;

	bson_append_document_begin(filter, path, -1, &ex);
	bson_append_bool(&ex, "$exists", -1, false);
	bson_append_document_end(filter, &ex);
}

/*
 * The compare-and-set filter of a field repair, into filter: the _id, each
 * mapped path equal to its value in seen (type-guarded) or absent as seen,
 * so that a document an application changed since recon read it is not
 * matched and the write is reported as a conflict.
 */
void
recon_build_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter)
{
	bson_iter_t it;
	int			i;

	if (bson_iter_init_find(&it, seen, "_id"))
		bson_append_iter(filter, "_id", 3, &it);
	for (i = 0; i < m->nfields; i++)
	{
		bson_iter_t v;

		if (find_path(seen, m->fields[i].path, &v))
			append_guarded_eq(filter, m->fields[i].path, -1, &v);
		else
			append_absent(filter, m->fields[i].path);
	}
}

/*
 * The filter of a whole-document repair: every field of the document as
 * seen, mapped or not, and every mapped path that was absent.  An
 * application write to any of them makes the write match nothing.
 */
void
recon_build_whole_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter)
{
	bson_iter_t it;
	int			i;

	if (bson_iter_init(&it, seen))
		while (bson_iter_next(&it))
		{
			if (strcmp(bson_iter_key(&it), "_id") == 0)
				bson_append_iter(filter, "_id", 3, &it);
			else
				append_guarded_eq(filter, bson_iter_key(&it), bson_iter_key_len(&it), &it);
		}
	for (i = 0; i < m->nfields; i++)
	{
		bson_iter_t v;

		if (!find_path(seen, m->fields[i].path, &v))
			append_absent(filter, m->fields[i].path);
	}
}

/*
 * A replace as an update: $set of the mapped fields, $unset of the other
 * fields the document had when recon read it.  A field an application adds
 * meanwhile survives (a replace would erase it); one it changes makes the
 * whole-document filter match nothing.
 */
void
recon_build_replace_update(const ReconMapping *m, Datum *values, bool *nulls,
						   const bson_t *seen, bson_t *update, bool redact)
{
	bson_t		doc = BSON_INITIALIZER;
	bson_t		set,
				unset;
	bson_iter_t it;
	bool		any_unset = false;

	PG_TRY();
	{
		recon_build_document(m, values, nulls, &doc, redact);
	}
	PG_CATCH();
	{
		bson_destroy(&doc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	bson_append_document_begin(update, "$set", 4, &set);
	if (bson_iter_init(&it, &doc))
		while (bson_iter_next(&it))
			if (strcmp(bson_iter_key(&it), "_id") != 0)
				bson_append_iter(&set, bson_iter_key(&it), bson_iter_key_len(&it), &it);
	bson_append_document_end(update, &set);
	if (seen && bson_iter_init(&it, seen))
	{
		while (bson_iter_next(&it))
		{
			const char *k = bson_iter_key(&it);

			if (strcmp(k, "_id") == 0 || bson_has_field(&doc, k))
				continue;
			if (!any_unset)
				bson_append_document_begin(update, "$unset", 6, &unset);
			any_unset = true;
			bson_append_utf8(&unset, k, bson_iter_key_len(&it), "", 0);
		}
		if (any_unset)
			bson_append_document_end(update, &unset);
	}
	bson_destroy(&doc);
}

/* Copy a document, replacing redacted paths by hashes of their values. */
static void
redacted_copy_level(const ReconMapping *m, bson_iter_t *it, bson_t *out, const char *prefix)
{
	while (bson_iter_next(it))
	{
		const char *key = bson_iter_key(it);
		char	   *path = prefix ? psprintf("%s.%s", prefix, key) : pstrdup(key);
		int			i;
		bool		done = false;

		for (i = 0; i < m->nfields && !done; i++)
		{
			const ReconField *f = &m->fields[i];
			size_t		pl = strlen(path);

			if (!f->redacted)
				continue;
			if (strcmp(f->path, path) == 0)
			{
				StringInfoData c;

				initStringInfo(&c);
				canon_bson(&c, f->type, it, &m->canon, NULL);
				append_redacted(out, key, c.data, c.len);
				done = true;
			}
			else if (strncmp(f->path, path, pl) == 0 && f->path[pl] == '.' &&
					 !BSON_ITER_HOLDS_DOCUMENT(it))
			{
				/*
				 * An array (or any value) where the redacted path expects a
				 * subdocument may hold the value anywhere inside: hash it whole.
				 */
				uint32_t	vlen;
				const uint8_t *raw;
				bson_t		one = BSON_INITIALIZER;

				bson_append_iter(&one, "v", 1, it);
				raw = bson_get_data(&one);
				vlen = one.len;
				append_redacted(out, key, (const char *) raw, (int) vlen);
				bson_destroy(&one);
				done = true;
			}
			else if (strncmp(f->path, path, pl) == 0 && f->path[pl] == '.')
			{
				bson_iter_t child;
				bson_t		sub;

				bson_iter_recurse(it, &child);
				bson_append_document_begin(out, key, -1, &sub);
				redacted_copy_level(m, &child, &sub, path);
				bson_append_document_end(out, &sub);
				done = true;
			}
		}
		if (!done)
			bson_append_iter(out, key, -1, it);
		pfree(path);
	}
}

/*
 * Copy doc into out with every redacted path's value replaced by its keyed
 * hash: the form in which recon shows or records a document it read.  Needs
 * SPI connected as the extension owner (the redaction key).
 */
void
recon_redacted_copy(const ReconMapping *m, const bson_t *doc, bson_t *out)
{
	bson_iter_t it;

	if (bson_iter_init(&it, doc))
		redacted_copy_level(m, &it, out, NULL);
}

/*
 * Relaxed extended JSON, but with doubles in their shortest round-trip
 * form (libbson prints 20 digits: 2859.0100000000002183) so images and
 * audited operations read as the application wrote them.
 */
static void
json_key(StringInfo out, const char *key)
{
	if (!pg_verify_mbstr(PG_UTF8, key, strlen(key), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the document holds a field name that is not valid UTF-8")));
	escape_json(out, key);
	appendStringInfoString(out, ": ");
}

/*
 * Append one BSON value as JSON, doubles in their shortest round-trip form,
 * other non-JSON types as libbson's relaxed extended JSON.  A string with a
 * NUL or invalid UTF-8 is an error, never shown as some other string.
 */
static void
json_value(StringInfo out, const bson_iter_t *it)
{
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_DOUBLE:
			{
				double		d = bson_iter_double(it);
				char		buf[64];

				if (isnan(d) || isinf(d))
					appendStringInfo(out, "{\"$numberDouble\": \"%s\"}",
									 isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
				else
				{
					double_to_shortest_decimal_buf(d, buf);
					appendStringInfoString(out, buf);
					if (strpbrk(buf, ".eE") == NULL)
						appendStringInfoString(out, ".0");
				}
			}
			break;
		case BSON_TYPE_INT32:
			appendStringInfo(out, "%d", bson_iter_int32(it));
			break;
		case BSON_TYPE_INT64:
			appendStringInfo(out, INT64_FORMAT, (int64) bson_iter_int64(it));
			break;
		case BSON_TYPE_UTF8:
			{
				uint32		len;
				const char *s = bson_iter_utf8(it, &len);
				char	   *z;

				/* what JSON cannot hold is refused, never shown as another string */
				if (memchr(s, '\0', len) != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
							 errmsg("the document holds a string with a NUL character")));
				if (!pg_verify_mbstr(PG_UTF8, s, len, true))
					ereport(ERROR,
							(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
							 errmsg("the document holds a string that is not valid UTF-8")));
				z = pnstrdup(s, len);
				escape_json(out, z);
				pfree(z);
			}
			break;
		case BSON_TYPE_BOOL:
			appendStringInfoString(out, bson_iter_bool(it) ? "true" : "false");
			break;
		case BSON_TYPE_NULL:
			appendStringInfoString(out, "null");
			break;
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
			{
				bool		is_doc = BSON_ITER_HOLDS_DOCUMENT(it);
				bson_iter_t child;
				bool		first = true;

				appendStringInfoChar(out, is_doc ? '{' : '[');
				if (bson_iter_recurse(it, &child))
					while (bson_iter_next(&child))
					{
						if (!first)
							appendStringInfoString(out, ", ");
						first = false;
						if (is_doc)
						{
							json_key(out, bson_iter_key(&child));
						}
						json_value(out, &child);
					}
				appendStringInfoChar(out, is_doc ? '}' : ']');
			}
			break;
		default:
			{
				/* dates, binaries, ObjectIds, Decimal128...: libbson's own form */
				bson_t		one = BSON_INITIALIZER;
				size_t		len;
				char	   *j;
				char	   *colon;

				bson_append_iter(&one, "v", 1, it);
				j = bson_as_relaxed_extended_json(&one, &len);
				/* '{ "v" : <value> }' */
				colon = strchr(j, ':');
				if (colon && len > 2)
					appendBinaryStringInfo(out, colon + 1, (int) (j + len - 1 - (colon + 1)));
				else
					appendStringInfoString(out, "null");
				bson_free(j);
				bson_destroy(&one);
			}
			break;
	}
}

/*
 * A document as a jsonb Datum (palloc'd) in relaxed extended JSON with
 * shortest doubles, for images and fetch_document.  Errors for what JSON
 * cannot hold; recon_bson_to_jsonb_safe records a reason instead.
 */
Datum
recon_bson_to_jsonb(const bson_t *doc)
{
	StringInfoData out;
	bson_iter_t it;
	bool		first = true;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	if (bson_iter_init(&it, doc))
		while (bson_iter_next(&it))
		{
			if (!first)
				appendStringInfoString(&out, ", ");
			first = false;
			json_key(&out, bson_iter_key(&it));
			json_value(&out, &it);
		}
	appendStringInfoChar(&out, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * recon_bson_to_jsonb's JSON as palloc'd text, normalized by jsonb (key order,
 * spacing): how repair operations are recorded and audited.
 */
char *
recon_bson_to_json_text(const bson_t *doc)
{
	Datum		j = recon_bson_to_jsonb(doc);

	return JsonbToCString(NULL, &DatumGetJsonbP(j)->root, VARSIZE(DatumGetPointer(j)));
}

/* ---------------------------------------------------------------------
 * Keys: canonical -> SQL text, JSON and _id candidates
 * --------------------------------------------------------------------- */

/*
 * The SQL input text of each key column's value in a canonical key, palloc'd,
 * in key order: for finding the key's row and the _id values it may have.
 * Not for an unexpected key, which holds no column values.
 */
List *
recon_key_canon_to_texts(const ReconMapping *m, const char *kc, int kclen)
{
	List	   *out = NIL;
	const char *p = kc;
	int			i;

	for (i = 0; i < m->nkeys && p < kc + kclen; i++)
		out = lappend(out, canon_key_value_text(&p));
	return out;
}

/*
 * A canonical key as JSON, palloc'd: the value (a number for an integer key)
 * or, for a composite key, an object by column name.  How keys are shown in
 * records and messages, and what recon.debug_fail_key names.
 */
char *
recon_key_canon_to_json(const ReconMapping *m, const char *kc, int kclen)
{
	List	   *texts = recon_key_canon_to_texts(m, kc, kclen);
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	if (m->nkeys > 1)
		appendStringInfoChar(&s, '{');
	for (i = 0; i < m->nkeys; i++)
	{
		if (m->nkeys > 1)
		{
			if (i > 0)
				appendStringInfoString(&s, ", ");
			escape_json(&s, m->keys[i].column);
			appendStringInfoString(&s, ": ");
		}
		if (m->keys[i].kind == CK_INT)
			appendStringInfoString(&s, list_nth(texts, i));
		else
			escape_json(&s, list_nth(texts, i));
	}
	if (m->nkeys > 1)
		appendStringInfoChar(&s, '}');
	return s.data;
}

static void
append_key_value(bson_t *dst, const char *key, const ReconField *k, const char *text, bool as_string)
{
	if (k->kind == CK_INT)
		bson_append_int64(dst, key, -1, strtoll(text, NULL, 10));
	else if (k->kind == CK_UUID && !as_string)
	{
		Datum		u = DirectFunctionCall1(uuid_in, CStringGetDatum(text));

		bson_append_binary(dst, key, -1, BSON_SUBTYPE_UUID, DatumGetUUIDP(u)->data, UUID_LEN);
	}
	else
		bson_append_utf8(dst, key, -1, text, -1);
}

/* Append the _id value(s) a document of this key may carry to an $in array. */
void
recon_append_id_candidates_from_canon(const ReconMapping *m, bson_t *in_array, int *idx,
									  const char *kc, int kclen)
{
	List	   *texts = recon_key_canon_to_texts(m, kc, kclen);
	char		ikey[16];
	int			i;

	if (m->nkeys == 1)
	{
		snprintf(ikey, sizeof(ikey), "%d", (*idx)++);
		append_key_value(in_array, ikey, &m->keys[0], linitial(texts), false);
		if (m->keys[0].kind == CK_UUID)
		{
			/* every form a uuid _id is stored in: string either case, legacy binary */
			char	   *upper = pstrdup(linitial(texts));
			char	   *c;
			Datum		u = DirectFunctionCall1(uuid_in, CStringGetDatum(linitial(texts)));

			for (c = upper; *c; c++)
				*c = pg_toupper((unsigned char) *c);
			snprintf(ikey, sizeof(ikey), "%d", (*idx)++);
			append_key_value(in_array, ikey, &m->keys[0], linitial(texts), true);
			snprintf(ikey, sizeof(ikey), "%d", (*idx)++);
			bson_append_utf8(in_array, ikey, -1, upper, -1);
			snprintf(ikey, sizeof(ikey), "%d", (*idx)++);
			bson_append_binary(in_array, ikey, -1, BSON_SUBTYPE_UUID_DEPRECATED,
							   DatumGetUUIDP(u)->data, UUID_LEN);
		}
		return;
	}
	{
		bson_t		sub;

		snprintf(ikey, sizeof(ikey), "%d", (*idx)++);
		bson_append_document_begin(in_array, ikey, -1, &sub);
		for (i = 0; i < m->nkeys; i++)
			append_key_value(&sub, m->keys[i].column, &m->keys[i], list_nth(texts, i), false);
		bson_append_document_end(in_array, &sub);
	}
}

/* ---------------------------------------------------------------------
 * SQL text for reading the source
 * --------------------------------------------------------------------- */

/*
 * The mapped columns over alias t; embedded children as correlated
 * sub-selects, or (joined) as the columns recon_embed_joins() provides.
 */
static char *
select_list(const ReconMapping *m, bool joined, bool columns_only)
{
	StringInfoData s;
	int			i,
				e = 0;

	initStringInfo(&s);
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&s, "%st.%s", i ? ", " : "", quote_identifier(m->keys[i].column));
	for (i = 0; i < m->nfields; i++)
	{
		if (!m->fields[i].embed)
			appendStringInfo(&s, ", t.%s", quote_identifier(m->fields[i].column));
		else if (!columns_only)
			appendStringInfo(&s, ", %s", recon_embed_select_item(m, e++, joined));
	}
	return s.data;
}

static char *
recon_source_select_list(const ReconMapping *m)
{
	return select_list(m, false, false);
}

/*
 * The whole source (rows narrowed by sql_suffix: TABLESAMPLE, LIMIT...):
 * "SELECT <mapped columns> FROM <source> t<suffix>", embedded children
 * joined to the rows the suffix leaves, each child grouped in one pass.
 */
char *
recon_source_scan_sql(const ReconMapping *m, const char *sql_suffix)
{
	if (m->nembeds == 0)
		return psprintf("SELECT %s FROM %s t%s", select_list(m, false, false), m->relname,
						sql_suffix ? sql_suffix : "");
	return psprintf("SELECT %s FROM (SELECT %s FROM %s t%s) t%s", select_list(m, true, false),
					select_list(m, false, true), m->relname, sql_suffix ? sql_suffix : "",
					recon_embed_joins(m));
}

/* Rows whose keys are given as parallel text[] parameters $1..$nkeys. */
static char *
key_lookup_sql(const ReconMapping *m, const char *select_list, const char *suffix)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	appendStringInfo(&s, "SELECT %s FROM %s t WHERE (", select_list, m->relname);
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&s, "%st.%s", i ? ", " : "", quote_identifier(m->keys[i].column));
	appendStringInfoString(&s, ") IN (SELECT ");
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&s, "%su.c%d::%s", i ? ", " : "", i, format_type_be_qualified(m->keys[i].typid));
	appendStringInfoString(&s, " FROM ROWS FROM (");
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&s, "%spg_catalog.unnest($%d::pg_catalog.text[])", i ? ", " : "", i + 1);
	appendStringInfoString(&s, ") AS u(");
	for (i = 0; i < m->nkeys; i++)
		appendStringInfo(&s, "%sc%d", i ? ", " : "", i);
	appendStringInfo(&s, "))%s", suffix ? suffix : "");
	return s.data;
}

/* The source rows of a set of keys (keys as parallel text arrays $1..$n). */
char *
recon_source_key_lookup_sql(const ReconMapping *m, const char *suffix)
{
	return key_lookup_sql(m, recon_source_select_list(m), suffix);
}

/* Lock the source rows of a set of keys, reading no column but the key. */
char *
recon_source_key_lock_sql(const ReconMapping *m, const char *lock)
{
	return key_lookup_sql(m, "NULL", lock);
}

/* The BSON type name of the raw _id an unexpected key carries. */
const char *
recon_unexpected_key_type(const char *kc, int kclen)
{
	bson_t		idd;
	bson_iter_t it;

	if (!canon_unexpected_key_id(kc, kclen, &idd) ||
		!bson_iter_init_find(&it, &idd, "_id"))
		return NULL;			/* the document has no _id */
	switch (bson_iter_type(&it))
	{
		case BSON_TYPE_DOUBLE:
			return "double";
		case BSON_TYPE_UTF8:
			return "string";
		case BSON_TYPE_DOCUMENT:
			return "document";
		case BSON_TYPE_ARRAY:
			return "array";
		case BSON_TYPE_BINARY:
			return "binary";
		case BSON_TYPE_OID:
			return "ObjectId";
		case BSON_TYPE_BOOL:
			return "bool";
		case BSON_TYPE_DATE_TIME:
			return "date";
		case BSON_TYPE_NULL:
			return "null";
		case BSON_TYPE_REGEX:
			return "regex";
		case BSON_TYPE_INT32:
			return "int32, out of the key column's range";
		case BSON_TYPE_INT64:
			return "int64, out of the key column's range";
		case BSON_TYPE_DECIMAL128:
			return "decimal128";
		case BSON_TYPE_TIMESTAMP:
			return "timestamp";
		default:
			return "value of another type";
	}
}

typedef struct JsonbSafeArgs
{
	const bson_t *doc;
	Datum		result;
} JsonbSafeArgs;

static void
bson_to_jsonb_cb(void *arg)
{
	JsonbSafeArgs *a = arg;

	a->result = recon_bson_to_jsonb(a->doc);
}

/* {"<tag>": "<why>"} as JSON text: what stands in for a value that could not be shown or written. */
char *
recon_reason_json(const char *tag, const char *why)
{
	StringInfoData j;

	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
	escape_json(&j, tag);
	appendStringInfoString(&j, ": ");
	escape_json(&j, why);
	appendStringInfoChar(&j, '}');
	return j.data;
}

/* recon_bson_to_jsonb, or {"_id": {"$recon_unreadable": why}} for what JSON cannot hold. */
Datum
recon_bson_to_jsonb_safe(const bson_t *doc)
{
	JsonbSafeArgs a = {doc, (Datum) 0};
	char	   *why;

	if (recon_try(bson_to_jsonb_cb, &a, &why))
		return a.result;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"_id\": %s}", recon_reason_json("$recon_unreadable", why))));
}

/* One value as recon writes it, under key (diagnostics: recon.bson_of). */
void
recon_append_value(bson_t *dst, const char *key, const CanonType *type, Datum v,
				   bool isnull, const CanonOptions *copts)
{
	append_datum(dst, key, type, "value", v, isnull, copts);
}
