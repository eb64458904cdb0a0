/*
 * jsonbson.c — jsonb values written as BSON, key by key and number by
 * value, as the official drivers write JSON: nothing goes through Extended
 * JSON, so a "$date" key stays a key and 1e400 never becomes a wrapped or
 * rounded integer.  Decimal numbers are handled as text (what numeric_out
 * prints), compared by exact decimal value, so this file needs nothing of
 * the server but the jsonb iterator; fuzz/fuzz_jsonb_bson.c drives it.
 */
#include "postgres.h"

#include <math.h>

#include "jsonbson.h"

#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#define BSON_MAX_NESTING 100

static void
number_refused(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("a jsonb number cannot be written to MongoDB exactly"),
			 errdetail("%s", why),
			 errhint("recon never writes a value nobody wrote: store the number as a string, or fix the row.")));
}

/*
 * A decimal as sign, significant digits (no leading or trailing zeros) and
 * the power of ten of the point: 0.d1d2...dn x 10^point.  Zero has no
 * digits, whatever its sign.
 */
typedef struct Decimal
{
	bool		negative;
	char	   *digits;
	int			ndigits;
	long		point;
} Decimal;

/* Parse "-12.50", "1e+22", "1.5E-7"; false for anything else (NaN, Infinity). */
static bool
decimal_parse(const char *s, Decimal *d)
{
	const char *p = s;
	long		before_point = 0;
	bool		seen_point = false;
	bool		any = false;

	d->negative = (*p == '-');
	if (*p == '-' || *p == '+')
		p++;
	d->digits = palloc(strlen(s) + 1);
	d->ndigits = 0;
	for (; *p; p++)
	{
		if (*p >= '0' && *p <= '9')
		{
			any = true;
			if (d->ndigits == 0 && *p == '0')
			{
				if (!seen_point)
					continue;	/* leading zero of the integer part */
				before_point--; /* 0.00d: the point moves right */
				continue;
			}
			d->digits[d->ndigits++] = *p;
			if (!seen_point)
				before_point++;
		}
		else if (*p == '.' && !seen_point)
			seen_point = true;
		else
			break;
	}
	if (!any)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		char	   *end;
		long		e;

		errno = 0;
		e = strtol(p + 1, &end, 10);
		if (errno != 0 || end == p + 1 || *end != '\0' || e > INT_MAX || e < INT_MIN)
			return false;
		before_point += e;
	}
	else if (*p != '\0')
		return false;
	while (d->ndigits > 0 && d->digits[d->ndigits - 1] == '0')
		d->ndigits--;
	d->point = d->ndigits == 0 ? 0 : before_point;
	return true;
}

static bool
decimal_equal(const Decimal *a, const Decimal *b)
{
	if (a->ndigits == 0 || b->ndigits == 0)
		return a->ndigits == b->ndigits;
	return a->negative == b->negative && a->ndigits == b->ndigits && a->point == b->point &&
		memcmp(a->digits, b->digits, a->ndigits) == 0;
}

static bool
same_decimal(const char *a, const char *b)
{
	Decimal		da,
				db;
	bool		same;

	da.digits = db.digits = NULL;
	same = decimal_parse(a, &da) && decimal_parse(b, &db) && decimal_equal(&da, &db);
	if (da.digits)
		pfree(da.digits);
	if (db.digits)
		pfree(db.digits);
	return same;
}

/*
 * A finite decimal (numeric_out's text) as the drivers write a JSON
 * number: an integer as int32 or int64, any other value as the double
 * that reads back as the same decimal (0.1 is the double 0.1), else as a
 * Decimal128 holding it exactly, else a refusal.  Never wrapped, never
 * rounded to another value.
 */
void
recon_append_decimal_text(bson_t *dst, const char *key, int keylen, const char *text)
{
	if (strpbrk(text, ".eE") == NULL)
	{
		char	   *end;
		long long	ll;

		errno = 0;
		ll = strtoll(text, &end, 10);
		if (errno == 0 && *end == '\0' && end != text)
		{
			if (ll >= PG_INT32_MIN && ll <= PG_INT32_MAX)
				bson_append_int32(dst, key, keylen, (int32) ll);
			else
				bson_append_int64(dst, key, keylen, (int64) ll);
			return;
		}
	}
	{
		double		dbl = strtod(text, NULL);
		char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

		if (isfinite(dbl))
		{
			double_to_shortest_decimal_buf(dbl, buf);
			if (same_decimal(text, buf))
			{
				bson_append_double(dst, key, keylen, dbl);
				return;
			}
		}
	}
	{
		bson_decimal128_t dec;
		char		check[BSON_DECIMAL128_STRING];

		/*
		 * As significant digits and an exponent: libbson refuses a long run
		 * of zeros (1e1000 printed in full) that the exponent holds exactly.
		 */
		Decimal		d;
		char	   *compact;

		if (!decimal_parse(text, &d))
			number_refused("It is not a decimal number.");
		compact = d.ndigits == 0 ? pstrdup("0") :
			psprintf("%s%.*sE%ld", d.negative ? "-" : "", d.ndigits, d.digits, d.point - d.ndigits);
		pfree(d.digits);
		if (!bson_decimal128_from_string(compact, &dec))
			number_refused("It has more significant digits or a larger exponent than a Decimal128 holds.");
		bson_decimal128_to_string(&dec, check);
		if (!same_decimal(text, check))
			number_refused("A Decimal128 would hold another value.");
		pfree(compact);
		bson_append_decimal128(dst, key, keylen, &dec);
	}
}

static void
append_json_number(bson_t *dst, const char *key, int keylen, Numeric num)
{
	if (numeric_is_nan(num) || numeric_is_inf(num))
		number_refused("It is not a finite number.");	/* jsonb cannot hold these */
	recon_append_decimal_text(dst, key, keylen,
							  DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num))));
}

/*
 * Append one jsonb scalar under key as the BSON value a driver would write:
 * null, bool, string, or a number of the exact type that holds it (an error
 * when none does).  Containers never reach here: the caller walks them.
 */
static void
append_scalar(bson_t *dst, const char *key, int keylen, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			bson_append_null(dst, key, keylen);
			break;
		case jbvBool:
			bson_append_bool(dst, key, keylen, v->val.boolean);
			break;
		case jbvString:
			bson_append_utf8(dst, key, keylen, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			append_json_number(dst, key, keylen, v->val.numeric);
			break;
		default:
			elog(ERROR, "recon: unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * A jsonb value appended under key: documents and arrays element by
 * element (array elements keyed "0", "1", ...), at most MongoDB's 100
 * levels deep.
 */
void
recon_append_jsonb(bson_t *dst, const char *key, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bson_t		stack[BSON_MAX_NESTING + 1];
	int			next_index[BSON_MAX_NESTING + 1];	/* -1: an object */
	int			depth = 0;
	const char *name = key;
	int			namelen = strlen(key);
	char	   *owned_name = NULL;	/* the current object key */
	char		idx[16];

	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, &v))
			elog(ERROR, "recon: could not read a scalar jsonb value");
		append_scalar(dst, key, namelen, &v);
		return;
	}
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		bson_t	   *parent = depth > 0 ? &stack[depth - 1] : dst;

		CHECK_FOR_INTERRUPTS();
		if (depth > 0 && next_index[depth - 1] >= 0 &&
			(tok == WJB_ELEM || tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY))
		{
			snprintf(idx, sizeof(idx), "%d", next_index[depth - 1]++);
			name = idx;
			namelen = strlen(idx);
		}
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (depth >= BSON_MAX_NESTING)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("a jsonb value is nested too deeply to be written to MongoDB"),
							 errdetail("MongoDB accepts documents nested at most %d levels deep.",
									   BSON_MAX_NESTING)));
				if (tok == WJB_BEGIN_OBJECT)
					bson_append_document_begin(parent, name, namelen, &stack[depth]);
				else
					bson_append_array_begin(parent, name, namelen, &stack[depth]);
				next_index[depth] = tok == WJB_BEGIN_ARRAY ? 0 : -1;
				depth++;
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				if (tok == WJB_END_OBJECT)
					bson_append_document_end(depth > 0 ? &stack[depth - 1] : dst, &stack[depth]);
				else
					bson_append_array_end(depth > 0 ? &stack[depth - 1] : dst, &stack[depth]);
				break;
			case WJB_KEY:
				if (owned_name)
					pfree(owned_name);
				name = owned_name = pnstrdup(v.val.string.val, v.val.string.len);
				namelen = v.val.string.len;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				append_scalar(parent, name, namelen, &v);
				break;
			default:
				break;
		}
	}
	if (owned_name)
		pfree(owned_name);
}
