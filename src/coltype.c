/*
 * coltype.c — decides, once per mapping, how a column's PostgreSQL type is
 * compared: its CanonKind, and for arrays and composites the types inside.
 * Everything that needs the catalogs to describe a type lives here, so the
 * encoding itself (canonical.c) only follows the description.
 */
#include "postgres.h"

#include "coltype.h"
#include "canonical.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/* Types compared by a fixed rule, by OID. */
static CanonKind
scalar_kind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return CK_INT;
		case NUMERICOID:
			return CK_NUMERIC;
		case FLOAT4OID:
		case FLOAT8OID:
			return CK_FLOAT;
		case TEXTOID:
		case VARCHAROID:
		case NAMEOID:
			return CK_TEXT;
		case BPCHAROID:
			return CK_CHAR;
		case BOOLOID:
			return CK_BOOL;
		case TIMESTAMPTZOID:
			return CK_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return CK_TIMESTAMP;
		case DATEOID:
			return CK_DATE;
		case UUIDOID:
			return CK_UUID;
		case BYTEAOID:
			return CK_BYTEA;
		case JSONOID:
		case JSONBOID:
			return CK_JSON;
		case TIMEOID:
			return CK_TIME;
		case TIMETZOID:
			return CK_TIMETZ;
		case INTERVALOID:
			return CK_INTERVAL;
		case INETOID:
		case CIDROID:
			return CK_INET;
		case MACADDROID:
			return CK_MACADDR;
		case CASHOID:
			return CK_MONEY;
		default:
			return CK_UNSUPPORTED;
	}
}

/* citext is an extension type: known by name (its OID differs per database). */
static bool
is_citext(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		yes = false;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

		yes = strcmp(NameStr(t->typname), "citext") == 0 && t->typtype == TYPTYPE_BASE &&
			t->typlen == -1;
		ReleaseSysCache(tup);
	}
	return yes;
}

/*
 * A palloc'd CanonType of a scalar kind, made without catalog look-ups: a
 * char(n) key compared as text, tests and fuzzing.
 */
CanonType *
canon_type_scalar(CanonKind kind, Oid typid)
{
	CanonType  *t = palloc0(sizeof(CanonType));

	t->kind = kind;
	t->typid = typid;
	return t;
}

/* Fill t for typid (already a base type); false with *why when unsupported. */
static bool
describe(CanonType *t, Oid typid, int depth, char **why)
{
	char		typtype;
	Oid			elemtype;

	memset(t, 0, sizeof(*t));
	t->typid = typid;
	t->kind = scalar_kind(typid);
	if (t->kind != CK_UNSUPPORTED)
		return true;
	if (depth > 32)
	{
		*why = psprintf("type %s nests too deeply", format_type_be(typid));
		return false;
	}

	typtype = get_typtype(typid);
	if (typtype == TYPTYPE_ENUM)
	{
		t->kind = CK_ENUM;
		return true;
	}
	if (typtype == TYPTYPE_BASE && is_citext(typid))
	{
		t->kind = CK_CITEXT;
		return true;
	}

	elemtype = get_element_type(typid);
	if (OidIsValid(elemtype))
	{
		t->kind = CK_ARRAY;
		t->elem = palloc(sizeof(CanonType));
		get_typlenbyvalalign(elemtype, &t->elmlen, &t->elmbyval, &t->elmalign);
		if (!describe(t->elem, getBaseType(elemtype), depth + 1, why))
			return false;
		return true;
	}

	if (typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(typid, -1);
		int			i;
		bool		ok = true;

		t->kind = CK_COMPOSITE;
		t->atts = palloc0(sizeof(CanonType) * Max(desc->natts, 1));
		t->attnames = palloc0(sizeof(char *) * Max(desc->natts, 1));
		t->attnums = palloc0(sizeof(AttrNumber) * Max(desc->natts, 1));
		for (i = 0; i < desc->natts && ok; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (a->attisdropped)
				continue;
			t->attnames[t->natts] = pstrdup(NameStr(a->attname));
			t->attnums[t->natts] = a->attnum;
			ok = describe(&t->atts[t->natts], getBaseType(a->atttypid), depth + 1, why);
			if (!ok)
				*why = psprintf("attribute \"%s\" of %s: %s", NameStr(a->attname),
								format_type_be(typid), *why);
			t->natts++;
		}
		ReleaseTupleDesc(desc);
		return ok;
	}

	*why = psprintf("type %s", format_type_be(typid));
	return false;
}

/*
 * How values of typid (a domain: its base type) are compared, palloc'd in the
 * current context (the mapping's); NULL when unsupported, *why (if given)
 * then naming the part: an element, an attribute, nesting past 32 levels.
 */
CanonType *
canon_type_for(Oid typid, char **why)
{
	CanonType  *t = palloc(sizeof(CanonType));
	char	   *reason = NULL;

	if (!describe(t, getBaseType(typid), 0, &reason))
	{
		if (why)
			*why = reason;
		return NULL;
	}
	return t;
}

/*
 * The supported types as one English phrase, for the errdetail of an
 * unsupported column; keep it in step with describe() and scalar_kind().
 */
const char *
canon_supported_types(void)
{
	return "integers, numeric, float, text, varchar, char, citext, enums, boolean, "
		"timestamptz, timestamp, date, time, timetz, interval, uuid, bytea, json, jsonb, "
		"inet, cidr, macaddr, money, composite types, domains over these, and "
		"one-dimensional arrays of them";
}

/*
 * Whether a column of this kind can be a mapping key, i.e. hold a MongoDB _id
 * recon can look up: integers, text and uuid.
 */
bool
canon_kind_is_key_capable(CanonKind kind)
{
	return kind == CK_INT || kind == CK_TEXT || kind == CK_UUID;
}
