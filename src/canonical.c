/*
 * canonical.c — converts PostgreSQL Datums and BSON values into one
 * canonical, length-prefixed encoding (see canonical.h), compares and
 * hashes it.  Everything recon decides about equality is decided here, and
 * no other file reads or writes the encoding's bytes: keys are built,
 * tested and turned into SQL text by the functions under "Keys".
 *
 * Numbers of every type become a normalized decimal "digits e exponent"
 * (no leading or trailing zeros, -0 = 0, NaN = NaN), so int 5, double 5.0,
 * numeric 5.000 and Decimal128 5 encode alike.  A double is rendered by its
 * shortest round-trip digits, so numeric 0.1 equals double 0.1.
 */
#include "postgres.h"

#include "canonical.h"

#include <math.h>
#include <arpa/inet.h>

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "miscadmin.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/array.h"
#include "utils/fmgrprotos.h"
#include "utils/formatting.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

/*
 * Tags of the canonical encoding (also used inside JSON trees).  Only this
 * file knows them: everything else goes through canonical.h's functions.
 */
#define CT_NULL		'z'
#define CT_MISSING	'm'
#define CT_BOOL		'b'
#define CT_NUMBER	'N'
#define CT_TEXT		'S'
#define CT_TIME		'T'
#define CT_DATE		'D'
#define CT_UUID		'U'
#define CT_BINARY	'B'
#define CT_OBJECT	'o'
#define CT_ARRAY	'a'
#define CT_CLOCK	'h'			/* time of day (and zone) */
#define CT_SPAN		'I'			/* interval, as PostgreSQL compares it */
#define CT_NETADDR	'P'			/* inet/cidr: family, bits, address */
#define CT_MAC		'M'
#define CT_OTHER	'X'			/* a BSON type with no counterpart: never equal */

/*
 * Deepest JSON tree compared value by value.  MongoDB stores at most 100
 * levels; a deeper jsonb value is compared as an opaque "too deep" token
 * (never equal to a document), so one odd row never stops a run.
 */
#define JSONB_MAX_DEPTH_GUESS 128

#define UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * A double inside a JSON tree (a BSON document or array mapped to a json or
 * jsonb column).  It carries the same payload as CT_NUMBER, but remembers
 * that it came from a binary double, so that canon_values_equal() can apply
 * the nearest-double rule inside documents too.  canon_digest() hashes it as
 * CT_NUMBER, so a tree whose numbers render alike still hashes alike.
 */
#define CT_JSON_DOUBLE 'n'

/*
 * CT_JSON_DOUBLE tags this process has written: an encoding made while
 * the count did not move has none, and canon_digest_since() hashes it
 * without looking for them.
 */
static uint64 json_doubles_written = 0;

/*
 * A timestamp_precision option ("s", "ms", "us") as the unit, in microseconds,
 * to which both sides' timestamps are floored; 0 for any other string, which
 * the caller reports.
 */
int64
canon_parse_precision(const char *s)
{
	if (strcmp(s, "s") == 0)
		return USECS_PER_SEC;
	if (strcmp(s, "ms") == 0)
		return 1000;
	if (strcmp(s, "us") == 0)
		return 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * Encoding primitives
 * --------------------------------------------------------------------- */

static void
put_len(char *p, uint32 len)
{
	p[0] = (char) (len >> 24);
	p[1] = (char) (len >> 16);
	p[2] = (char) (len >> 8);
	p[3] = (char) len;
}

/*
 * Length of the encoded value starting at p.  This file's loops (digests,
 * comparisons) call value_len, which inlines: canon_value_len, exported
 * from a shared library, would be an out-of-line call there.
 */
static inline int
value_len(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return 5 + (int) (((uint32) u[1] << 24) | ((uint32) u[2] << 16) |
					  ((uint32) u[3] << 8) | (uint32) u[4]);
}

/* For callers stepping over values (recon_diff_fields: one call per field). */
int
canon_value_len(const char *p)
{
	return value_len(p);
}

/* One value: tag, length and payload, appended in one step (the encoders' hot path). */
static inline void
emit(StringInfo out, char tag, const void *payload, int len)
{
	char	   *p;

	if (out->len + 5 + len >= out->maxlen)
		enlargeStringInfo(out, 5 + len);
	p = out->data + out->len;
	p[0] = tag;
	put_len(p + 1, (uint32) len);
	if (len > 0)
		memcpy(p + 5, payload, len);
	out->len += 5 + len;
	out->data[out->len] = '\0';
}

/* v as 8 big-endian bytes at b. */
static void
put_be64(char *b, uint64 v)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		b[i] = (char) (v & 0xff);
		v >>= 8;
	}
}

static void
emit_int64(StringInfo out, char tag, int64 v)
{
	char		b[8];

	put_be64(b, (uint64) v ^ UINT64CONST(0x8000000000000000));	/* sortable */
	emit(out, tag, b, 8);
}

static int64
read_int64(const char *payload)
{
	uint64		u = 0;
	int			i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | (unsigned char) payload[i];
	return (int64) (u ^ UINT64CONST(0x8000000000000000));
}

/* Open a container value; returns the offset to patch with close_container. */
static int
open_container(StringInfo out, char tag)
{
	int			at = out->len;

	emit(out, tag, NULL, 0);
	return at;
}

static void
close_container(StringInfo out, int at)
{
	put_len(out->data + at + 1, (uint32) (out->len - at - 5));
}

static void
canon_missing(StringInfo out, const CanonOptions *opts)
{
	emit(out, opts->null_equals_missing ? CT_NULL : CT_MISSING, NULL, 0);
}

static void
emit_other(StringInfo out, const char *what)
{
	emit(out, CT_OTHER, what, strlen(what));
}

/* A value recon cannot read one way (a field named twice): equal to nothing. */
void
canon_ambiguous(StringInfo out)
{
	emit_other(out, "ambiguous");
}

/* ---------------------------------------------------------------------
 * Numbers
 * --------------------------------------------------------------------- */

/*
 * The decimal digits of u, after a '-' when neg, at w (up to 21 bytes, no
 * NUL); returns how many.  Numbers are normalized on every row: snprintf
 * was over half of that.
 */
static int
put_decimal(char *w, bool neg, uint64 u)
{
	char		rev[20];
	int			nd = 0,
				len = 0;

	do
	{
		rev[nd++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (neg)
		w[len++] = '-';
	while (nd > 0)
		w[len++] = rev[--nd];
	return len;
}

/*
 * Parse any decimal rendering ("-1.2300", "1.5e-05", "1.23E+5", "NaN",
 * "Infinity", "-Inf") and emit its normalized form.
 */
static void
emit_decimal_text_tagged(StringInfo out, char tag, const char *s)
{
	bool		neg = false;
	char		small[64];
	char	   *digits;
	int			nd = 0;
	int			exp10 = 0;
	bool		seen_point = false;
	bool		any_digit = false;
	char		bufsmall[96];
	char	   *buf = bufsmall;
	const char *p = s;
	size_t		slen;

	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');

	/* a digit or a point starts every finite rendering: skip the word tests */
	if (!(*p >= '0' && *p <= '9') && *p != '.')
	{
		if (pg_strcasecmp(p, "nan") == 0)
		{
			emit(out, tag, "NaN", 3);
			return;
		}
		if (pg_strcasecmp(p, "inf") == 0 || pg_strcasecmp(p, "infinity") == 0)
		{
			emit(out, tag, neg ? "-Infinity" : "Infinity", neg ? 9 : 8);
			return;
		}
	}

	/* every digit is kept: a numeric may have far more than a double */
	slen = strlen(p);
	digits = slen < sizeof(small) ? small : palloc(slen + 1);
	for (; *p; p++)
	{
		if (*p >= '0' && *p <= '9')
		{
			any_digit = true;
			if (nd == 0 && *p == '0')
			{
				/* leading zero: only shifts the exponent after the point */
				if (seen_point)
					exp10--;
				continue;
			}
			digits[nd++] = *p;
			if (seen_point)
				exp10--;
		}
		else if (*p == '.' && !seen_point)
			seen_point = true;
		else if (*p == 'e' || *p == 'E')
		{
			exp10 += atoi(p + 1);
			break;
		}
		else
			break;
	}

	/* strip trailing zeros into the exponent */
	while (nd > 0 && digits[nd - 1] == '0')
	{
		nd--;
		exp10++;
	}

	if (nd == 0 || !any_digit)
		emit(out, tag, "0", 1);
	else
	{
		size_t		size = nd + 23; /* sign, "e", the exponent's sign and digits */
		char	   *w;

		if (size > sizeof(bufsmall))
			buf = palloc(size);
		w = buf;
		if (neg)
			*w++ = '-';
		memcpy(w, digits, nd);
		w += nd;
		*w++ = 'e';
		w += put_decimal(w, exp10 < 0, (uint64) Abs((int64) exp10));
		emit(out, tag, buf, w - buf);
	}
	if (buf != bufsmall)
		pfree(buf);
	if (digits != small)
		pfree(digits);
}

static void
emit_decimal_text(StringInfo out, const char *s)
{
	emit_decimal_text_tagged(out, CT_NUMBER, s);
}

/* Integers are common: build "digits e exp" directly, as emit_decimal_text would. */
static void
emit_int(StringInfo out, int64 v)
{
	char		buf[40];
	int			len,
				exp10 = 0;
	uint64		u;

	if (v == 0)
	{
		emit(out, CT_NUMBER, "0", 1);
		return;
	}
	u = v < 0 ? (uint64) 0 - (uint64) v : (uint64) v;
	while (u % 10 == 0)
	{
		u /= 10;
		exp10++;
	}
	len = put_decimal(buf, v < 0, u);
	buf[len++] = 'e';
	len += put_decimal(buf + len, exp10 < 0, (uint64) Abs((int64) exp10));
	emit(out, CT_NUMBER, buf, len);
}

static void
emit_double_tagged(StringInfo out, char tag, double d)
{
	char		buf[64];

	if (isnan(d))
		emit(out, tag, "NaN", 3);
	else if (isinf(d))
		emit_decimal_text_tagged(out, tag, d < 0 ? "-Infinity" : "Infinity");
	else
	{
		double_to_shortest_decimal_buf(d, buf);
		emit_decimal_text_tagged(out, tag, buf);
	}
}

static void
emit_double(StringInfo out, double d)
{
	emit_double_tagged(out, CT_NUMBER, d);
}

static void
emit_numeric(StringInfo out, Datum num)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, num));

	emit_decimal_text(out, s);
	pfree(s);
}

/* ---------------------------------------------------------------------
 * JSON trees (jsonb and BSON documents/arrays)
 * --------------------------------------------------------------------- */

/*
 * A jsonb scalar as a canonical value; its numbers go through numeric's text,
 * so they normalize as every other number does.  Anything else encodes as a
 * value equal to nothing.
 */
static void
emit_jsonb_scalar(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			emit(out, CT_NULL, NULL, 0);
			break;
		case jbvBool:
			{
				char		b = v->val.boolean ? 1 : 0;

				emit(out, CT_BOOL, &b, 1);
			}
			break;
		case jbvNumeric:
			emit_numeric(out, NumericGetDatum(v->val.numeric));
			break;
		case jbvString:
			emit(out, CT_TEXT, v->val.string.val, v->val.string.len);
			break;
		default:
			emit_other(out, "jsonb");
			break;
	}
}

/* jsonb stores object keys sorted by (length, bytes): we emit in that order. */
static void
emit_jsonb(StringInfo out, Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			stack[JSONB_MAX_DEPTH_GUESS];
	bool		raw[JSONB_MAX_DEPTH_GUESS];
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (depth >= JSONB_MAX_DEPTH_GUESS)
				{
					/* the rest of this subtree becomes one opaque token */
					int			skip = 1;

					emit_other(out, "too-deep");
					while (skip > 0 && (tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
					{
						if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
							skip++;
						else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
							skip--;
					}
					break;
				}
				raw[depth] = (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar);
				stack[depth] = raw[depth] ? -1 :
					open_container(out, tok == WJB_BEGIN_OBJECT ? CT_OBJECT : CT_ARRAY);
				depth++;
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				if (!raw[depth])
					close_container(out, stack[depth]);
				break;
			case WJB_KEY:
				emit(out, CT_TEXT, v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				emit_jsonb_scalar(out, &v);
				break;
			default:
				break;
		}
	}
}

typedef struct BsonKey
{
	const char *key;
	uint32		len;
	bson_iter_t iter;
} BsonKey;

static int
bson_key_cmp(const void *a, const void *b)
{
	const BsonKey *x = a;
	const BsonKey *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->key, y->key, x->len);
}

static void emit_bson_json(StringInfo out, const bson_iter_t *iter, int depth);

/*
 * A BSON document or array inside a JSON-mapped field, in jsonb's shape:
 * document keys sorted by (length, bytes) as jsonb stores them, so equal trees
 * encode alike.  Too deep or corrupt BSON encodes as a value equal to nothing.
 */
static void
emit_bson_container(StringInfo out, const bson_iter_t *iter, bool is_doc, int depth)
{
	bson_iter_t child;
	int			at;

	if (depth >= JSONB_MAX_DEPTH_GUESS)
	{
		emit_other(out, "too-deep");
		return;
	}
	if (!bson_iter_recurse(iter, &child))
	{
		emit_other(out, "corrupt-bson");
		return;
	}
	at = open_container(out, is_doc ? CT_OBJECT : CT_ARRAY);
	if (is_doc)
	{
		int			n = 0,
					cap = 16,
					i;
		/* raw is the allocation, keys its 128-byte aligned start (bson_iter_t) */
		char	   *raw = palloc(cap * sizeof(BsonKey) + 128);
		BsonKey    *keys = (BsonKey *) TYPEALIGN(128, raw);

		while (bson_iter_next(&child))
		{
			if (n == cap)
			{
				char	   *bigger_raw = palloc(cap * 2 * sizeof(BsonKey) + 128);
				BsonKey    *bigger = (BsonKey *) TYPEALIGN(128, bigger_raw);

				memcpy(bigger, keys, cap * sizeof(BsonKey));
				pfree(raw);
				raw = bigger_raw;
				cap *= 2;
				keys = bigger;
			}
			keys[n].key = bson_iter_key(&child);
			keys[n].len = bson_iter_key_len(&child);
			keys[n].iter = child;
			n++;
		}
		qsort(keys, n, sizeof(BsonKey), bson_key_cmp);
		for (i = 0; i < n; i++)
		{
			emit(out, CT_TEXT, keys[i].key, keys[i].len);
			emit_bson_json(out, &keys[i].iter, depth + 1);
		}
		pfree(raw);				/* one per sub-document: do not let them pile up */
	}
	else
	{
		while (bson_iter_next(&child))
			emit_bson_json(out, &child, depth + 1);
	}
	close_container(out, at);
}

static bool emit_bson_number(StringInfo out, const bson_iter_t *iter, bool *from_double);

/* A BSON value inside a JSON-mapped field. */
static void
emit_bson_json(StringInfo out, const bson_iter_t *iter, int depth)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_DOCUMENT:
			emit_bson_container(out, iter, true, depth);
			break;
		case BSON_TYPE_ARRAY:
			emit_bson_container(out, iter, false, depth);
			break;
		case BSON_TYPE_UTF8:
			{
				uint32		len;
				const char *s = bson_iter_utf8(iter, &len);

				emit(out, CT_TEXT, s, len);
			}
			break;
		case BSON_TYPE_BOOL:
			{
				char		b = bson_iter_bool(iter) ? 1 : 0;

				emit(out, CT_BOOL, &b, 1);
			}
			break;
		case BSON_TYPE_NULL:
			emit(out, CT_NULL, NULL, 0);
			break;
		case BSON_TYPE_DOUBLE:
			emit_double_tagged(out, CT_JSON_DOUBLE, bson_iter_double(iter));
			json_doubles_written++;
			break;
		default:
			if (!emit_bson_number(out, iter, NULL))
			{
				char		what[32];

				snprintf(what, sizeof(what), "bson-type-0x%02x", (int) bson_iter_type(iter));
				emit_other(out, what);
			}
			break;
	}
}

/* ---------------------------------------------------------------------
 * Datum -> canonical
 * --------------------------------------------------------------------- */

/* floor(a / b) for b > 0, also for negative a (before 1970) */
static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if (a % b != 0 && a < 0)
		q--;
	return q;
}

/*
 * A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as a count of
 * `unit` microseconds since 1970-01-01 UTC, floored.  Shifting the epoch
 * after the division cannot overflow (every unit divides the shift); in
 * microseconds the last ~30 years before 294277 no longer fit an int64, and
 * are then kept as exact decimal text, as emit_bson_date does.
 */
static void
emit_pg_timestamp(StringInfo out, Timestamp ts, int64 unit)
{
	int64		v;

	if (unit > 1 && UNIX_EPOCH_OFFSET_US % unit == 0)
		emit_int64(out, CT_TIME, floor_div(ts, unit) + UNIX_EPOCH_OFFSET_US / unit);
	else if (!pg_add_s64_overflow(ts, UNIX_EPOCH_OFFSET_US, &v))
		emit_int64(out, CT_TIME, floor_div(v, unit));
	else
	{
		char		buf[48];

		/* only ts > 0 can overflow: the sum fits a uint64 */
		snprintf(buf, sizeof(buf), "us:" UINT64_FORMAT,
				 (uint64) ts + (uint64) UNIX_EPOCH_OFFSET_US);
		emit_other(out, buf);
	}
}

/* A BSON Date (milliseconds since 1970-01-01 UTC) in the same units. */
static void
emit_bson_date(StringInfo out, int64 ms, int64 unit)
{
	int64		us;

	if (unit % 1000 == 0)
		emit_int64(out, CT_TIME, floor_div(ms, unit / 1000));
	else if (!pg_mul_s64_overflow(ms, 1000, &us))
		emit_int64(out, CT_TIME, floor_div(us, unit));
	else
	{
		char		buf[48];

		/* beyond int64 microseconds: the exact value as text ("us:<ms>000") */
		snprintf(buf, sizeof(buf), "us:" INT64_FORMAT "000", ms);
		emit_other(out, buf);
	}
}

/* ---------------------------------------------------------------------
 * Scalar types beyond the core ones
 * --------------------------------------------------------------------- */

/* char(n): trailing blanks are padding, as PostgreSQL compares them. */
static void
emit_char_text(StringInfo out, const char *s, int len)
{
	while (len > 0 && s[len - 1] == ' ')
		len--;
	emit(out, CT_TEXT, s, len);
}

/* citext: compared by its lower-case form, as citext's own equality is. */
static void
emit_citext(StringInfo out, const char *s, int len)
{
	char	   *lower = str_tolower(s, len, DEFAULT_COLLATION_OID);

	emit(out, CT_TEXT, lower, strlen(lower));
	pfree(lower);
}

/* A time of day in microseconds, with its zone (seconds west of UTC) if any. */
static void
emit_clock(StringInfo out, int64 us, bool has_zone, int32 zone)
{
	char		b[12];

	put_be64(b, (uint64) us);
	if (has_zone)
	{
		uint32		z = (uint32) zone;

		b[8] = (char) (z >> 24);
		b[9] = (char) (z >> 16);
		b[10] = (char) (z >> 8);
		b[11] = (char) z;
	}
	emit(out, CT_CLOCK, b, has_zone ? 12 : 8);
}

/*
 * An interval as PostgreSQL compares it: one span with a month of 30 days
 * and a day of 24 hours ('1 day' = '24 hours'), 128 bits wide.
 */
static void
emit_span(StringInfo out, int32 months, int32 days, int64 us)
{
	int128		span = (int128) us + ((int128) days + (int128) months * 30) * USECS_PER_DAY;
	uint128		u = (uint128) span ^ ((uint128) 1 << 127);	/* sortable */
	char		b[16];

	put_be64(b, (uint64) (u >> 64));
	put_be64(b + 8, (uint64) u);
	emit(out, CT_SPAN, b, 16);
}

static void
emit_netaddr(StringInfo out, int family, int bits, const unsigned char *addr)
{
	char		b[18];
	int			n = family == 4 ? 4 : 16;

	b[0] = (char) family;
	b[1] = (char) bits;
	memcpy(b + 2, addr, n);
	emit(out, CT_NETADDR, b, 2 + n);
}

/* Two decimal digits at s, or -1. */
static int
two_digits(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * "HH:MM[:SS[.ffffff]]" then, for timetz, a zone "Z", "±HH", "±HHMM" or
 * "±HH:MM[:SS]": what time_out/timetz_out print and applications store.
 */
static bool
parse_clock(const char *s, uint32 len, bool want_zone, int64 *us, int32 *zone)
{
	const char *p = s,
			   *end = s + len;
	int			h,
				m,
				sec = 0;
	int64		frac = 0;

	if (len < 5 || (h = two_digits(p)) < 0 || p[2] != ':' || (m = two_digits(p + 3)) < 0)
		return false;
	p += 5;
	if (end - p >= 3 && p[0] == ':')
	{
		if ((sec = two_digits(p + 1)) < 0)
			return false;
		p += 3;
		if (p < end && *p == '.')
		{
			int			nd = 0;

			p++;
			while (p < end && *p >= '0' && *p <= '9')
			{
				if (nd == 6)
					return false;	/* finer than PostgreSQL keeps */
				frac = frac * 10 + (*p++ - '0');
				nd++;
			}
			if (nd == 0)
				return false;
			while (nd++ < 6)
				frac *= 10;
		}
	}
	if (h > 24 || m > 59 || sec > 59 || (h == 24 && (m || sec || frac)))
		return false;
	*us = ((int64) h * 3600 + m * 60 + sec) * USECS_PER_SEC + frac;
	if (!want_zone)
		return p == end;
	if (p == end)
		return false;
	if (*p == 'Z' && p + 1 == end)
	{
		*zone = 0;
		return true;
	}
	if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? 1 : -1;	/* PostgreSQL: seconds west */
		int			zh,
					zm = 0,
					zs = 0;

		p++;
		if (end - p < 2 || (zh = two_digits(p)) < 0)
			return false;
		p += 2;
		if (end - p == 2)
		{
			if ((zm = two_digits(p)) < 0)
				return false;
			p += 2;
		}
		else
		{
			if (end - p >= 3 && p[0] == ':')
			{
				if ((zm = two_digits(p + 1)) < 0)
					return false;
				p += 3;
			}
			if (end - p >= 3 && p[0] == ':')
			{
				if ((zs = two_digits(p + 1)) < 0)
					return false;
				p += 3;
			}
		}
		if (p != end || zh > 15 || zm > 59 || zs > 59)
			return false;
		*zone = sign * (zh * 3600 + zm * 60 + zs);
		return true;
	}
	return false;
}

/*
 * An ISO 8601 duration ("P1Y2M3DT4H5M6.5S", "P-1Y-2M", "PT0S", "P2W"), as
 * IntervalStyle iso_8601 prints them: months, days and microseconds.
 */
static bool
parse_iso_duration(const char *s, uint32 len, int32 *months, int32 *days, int64 *us)
{
	const char *p = s,
			   *end = s + len;
	bool		in_time = false,
				any = false;
	int64		mo = 0,
				d = 0;
	int128		t = 0;

	if (len < 3 || *p++ != 'P')
		return false;
	while (p < end)
	{
		bool		neg = false;
		int64		whole = 0;
		int64		frac = 0;
		int			nd = 0,
					fd = 0;
		char		unit;

		if (*p == 'T')
		{
			if (in_time)
				return false;
			in_time = true;
			p++;
			continue;
		}
		if (*p == '-' || *p == '+')
			neg = (*p++ == '-');
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (++nd > 15)
				return false;
			whole = whole * 10 + (*p++ - '0');
		}
		if (p < end && (*p == '.' || *p == ','))
		{
			p++;
			while (p < end && *p >= '0' && *p <= '9')
			{
				if (++fd > 6)
					return false;
				frac = frac * 10 + (*p++ - '0');
			}
			if (fd == 0)
				return false;
		}
		if (nd == 0 || p >= end)
			return false;
		unit = *p++;
		if (fd > 0 && !(in_time && unit == 'S'))
			return false;		/* fractions only on seconds */
		while (fd++ < 6)
			frac *= 10;
		if (neg)
		{
			whole = -whole;
			frac = -frac;
		}
		if (!in_time && unit == 'Y')
			mo += whole * 12;
		else if (!in_time && unit == 'M')
			mo += whole;
		else if (!in_time && unit == 'W')
			d += whole * 7;
		else if (!in_time && unit == 'D')
			d += whole;
		else if (in_time && unit == 'H')
			t += (int128) whole * USECS_PER_HOUR;
		else if (in_time && unit == 'M')
			t += (int128) whole * USECS_PER_MINUTE;
		else if (in_time && unit == 'S')
			t += (int128) whole * USECS_PER_SEC + frac;
		else
			return false;
		any = true;
	}
	if (!any || mo < PG_INT32_MIN || mo > PG_INT32_MAX || d < PG_INT32_MIN || d > PG_INT32_MAX ||
		t < PG_INT64_MIN || t > PG_INT64_MAX)
		return false;
	*months = (int32) mo;
	*days = (int32) d;
	*us = (int64) t;
	return true;
}

/* "addr" or "addr/bits", IPv4 or IPv6, as inet_out and cidr_out print them. */
static bool
parse_netaddr(const char *s, uint32 len, int *family, int *bits, unsigned char *addr)
{
	char		buf[INET6_ADDRSTRLEN + 8];
	char	   *slash;
	int			maxbits;

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = 6;
	else
		return false;
	maxbits = *family == 4 ? 32 : 128;
	*bits = maxbits;
	if (slash)
	{
		const char *q = slash + 1;
		int			v = 0;

		if (*q == '\0' || strlen(q) > 3)
			return false;
		for (; *q; q++)
		{
			if (*q < '0' || *q > '9')
				return false;
			v = v * 10 + (*q - '0');
		}
		if (v > maxbits)
			return false;
		*bits = v;
	}
	return true;
}

/* "08:00:2b:01:02:03", with '-' or ':' between pairs, or 12 hex digits. */
static bool
parse_mac(const char *s, uint32 len, unsigned char *mac)
{
	int			i,
				step;

	if (len == 17 && (s[2] == ':' || s[2] == '-'))
		step = 3;
	else if (len == 12)
		step = 2;
	else
		return false;
	for (i = 0; i < 6; i++)
	{
		const char *p = s + i * step;
		int			hi = canon_hex_value(p[0]),
					lo = canon_hex_value(p[1]);

		if (hi < 0 || lo < 0 || (step == 3 && i < 5 && p[2] != s[2]))
			return false;
		mac[i] = (unsigned char) (hi << 4 | lo);
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Arrays and composites
 * --------------------------------------------------------------------- */

/*
 * An element or attribute inside a container carries "came from a double"
 * in its tag (CT_JSON_DOUBLE), as numbers inside JSON trees do.
 */
static void
mark_double(StringInfo out, int at, bool from_double)
{
	if (from_double && out->data[at] == CT_NUMBER)
	{
		out->data[at] = CT_JSON_DOUBLE;
		json_doubles_written++;
	}
}

typedef struct ElemRef
{
	const char *p;
	int			len;
} ElemRef;

static int
elem_cmp(const void *x, const void *y)
{
	const ElemRef *a = x,
			   *b = y;
	char		ta = a->p[0] == CT_JSON_DOUBLE ? CT_NUMBER : a->p[0];
	char		tb = b->p[0] == CT_JSON_DOUBLE ? CT_NUMBER : b->p[0];
	int			c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	c = memcmp(a->p + 5, b->p + 5, a->len - 5);
	return c;
}

/* The elements of an encoded array. */
static int
array_elements(const char *a, int alen, ElemRef **out)
{
	const char *p = a + 5,
			   *end = a + alen;
	int			n = 0,
				cap = 8;
	ElemRef    *refs = palloc(sizeof(ElemRef) * cap);

	while (p < end)
	{
		if (n == cap)
		{
			cap *= 2;
			refs = repalloc(refs, sizeof(ElemRef) * cap);
		}
		refs[n].p = p;
		refs[n].len = value_len(p);
		p += refs[n].len;
		n++;
	}
	*out = refs;
	return n;
}

/* Sort the elements of the (closed) array at `at`: a multiset compares alike in any order. */
static void
sort_elements(StringInfo out, int at)
{
	ElemRef    *refs;
	int			n = array_elements(out->data + at, out->len - at, &refs),
				i;
	char	   *copy,
			   *w;

	qsort(refs, n, sizeof(ElemRef), elem_cmp);
	copy = palloc(out->len - at - 5 + 1);
	w = copy;
	for (i = 0; i < n; i++)
	{
		memcpy(w, refs[i].p, refs[i].len);
		w += refs[i].len;
	}
	memcpy(out->data + at + 5, copy, w - copy);
	pfree(copy);
	pfree(refs);
}

/*
 * A one-dimensional array value, each element by its type's rules (doubles
 * marked for the nearest-double rule), sorted when the column compares as a
 * multiset.  More dimensions, or a lower bound other than 1, have no BSON
 * counterpart: they encode as a value equal to nothing.
 */
static void
emit_pg_array(StringInfo out, const CanonType *type, Datum value, const CanonOptions *opts)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				at;

	if (ARR_NDIM(arr) > 1 || (ARR_NDIM(arr) == 1 && ARR_LBOUND(arr)[0] != 1))
	{
		/* no BSON array holds it: a value that compares equal to nothing */
		emit_other(out, ARR_NDIM(arr) > 1 ? "multi-dimensional-array" : "array-lower-bound");
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), type->elmlen, type->elmbyval, type->elmalign,
					  &elems, &nulls, &n);
	at = open_container(out, CT_ARRAY);
	for (i = 0; i < n; i++)
	{
		int			el = out->len;
		bool		dbl = false;

		CHECK_FOR_INTERRUPTS();
		canon_datum(out, type->elem, elems[i], nulls[i], opts, &dbl);
		mark_double(out, el, dbl);
	}
	close_container(out, at);
	if (type->unordered)
		sort_elements(out, at);
	pfree(elems);
	pfree(nulls);
	if ((Pointer) arr != DatumGetPointer(value))
		pfree(arr);
}

/*
 * The attributes of a composite value (named type or blessed record):
 * values and nulls palloc'd, indexed by attnum - 1; returns how many.  The
 * datums point into the returned *detoasted (free it after use).
 */
int
canon_composite_deform(Datum value, Datum **values, bool **nulls, Pointer *detoasted)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(value);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
											  HeapTupleHeaderGetTypMod(td));
	HeapTupleData tuple;
	int			natts = desc->natts;

	*values = palloc(sizeof(Datum) * Max(natts, 1));
	*nulls = palloc(sizeof(bool) * Max(natts, 1));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, desc, *values, *nulls);
	/* a dropped attribute reads as NULL: nothing recon maps */
	for (int i = 0; i < natts; i++)
		if (TupleDescAttr(desc, i)->attisdropped)
			(*nulls)[i] = true;
	ReleaseTupleDesc(desc);
	*detoasted = (Pointer) td != DatumGetPointer(value) ? (Pointer) td : NULL;
	return natts;
}

/*
 * A composite value as a subdocument: the mapped attributes by name, in the
 * order emit_bson_composite emits a document's.  An attribute the value no
 * longer has encodes as a value equal to nothing.
 */
static void
emit_pg_composite(StringInfo out, const CanonType *type, Datum value, const CanonOptions *opts)
{
	Datum	   *values;
	bool	   *nulls;
	Pointer		detoasted;
	int			natts = canon_composite_deform(value, &values, &nulls, &detoasted);
	int			i,
				at;

	at = open_container(out, CT_OBJECT);
	for (i = 0; i < type->natts; i++)
	{
		AttrNumber	an = type->attnums[i];
		int			el;
		bool		dbl = false;

		emit(out, CT_TEXT, type->attnames[i], strlen(type->attnames[i]));
		el = out->len;
		if (an > natts)
			emit_other(out, "attribute-dropped");
		else
			canon_datum(out, &type->atts[i], values[an - 1], nulls[an - 1], opts, &dbl);
		mark_double(out, el, dbl);
	}
	close_container(out, at);
	pfree(values);
	pfree(nulls);
	if (detoasted)
		pfree(detoasted);
}

/*
 * Append the encoding of one PostgreSQL value of the column's type (NULL as
 * null, or as [] for embedded children); *from_double, when given, tells
 * canon_values_equal the number came from a float.  Allocates in the current
 * context; a kind with no encoding (refused at mapping time) is an elog.
 */
void
canon_datum(StringInfo out, const CanonType *type, Datum value, bool isnull,
			const CanonOptions *opts, bool *from_double)
{
	Oid			typid = type->typid;

	if (from_double)
		*from_double = false;
	if (isnull)
	{
		if (type->null_is_empty)
			emit(out, CT_ARRAY, NULL, 0);	/* no children: an empty array */
		else
			emit(out, CT_NULL, NULL, 0);
		return;
	}

	switch (type->kind)
	{
		case CK_INT:
			emit_int(out, typid == INT2OID ? DatumGetInt16(value) :
					 typid == INT4OID ? DatumGetInt32(value) : DatumGetInt64(value));
			break;
		case CK_NUMERIC:
			emit_numeric(out, value);
			break;
		case CK_FLOAT:
			emit_double(out, typid == FLOAT4OID ? (double) DatumGetFloat4(value)
						: DatumGetFloat8(value));
			if (from_double)
				*from_double = true;
			break;
		case CK_TEXT:
		case CK_CHAR:
		case CK_CITEXT:
			if (typid == NAMEOID)
			{
				const char *s = NameStr(*DatumGetName(value));

				emit(out, CT_TEXT, s, strlen(s));
			}
			else
			{
				text	   *t = DatumGetTextPP(value);

				if (type->kind == CK_CHAR)
					emit_char_text(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				else if (type->kind == CK_CITEXT)
					emit_citext(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				else
					emit(out, CT_TEXT, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				if ((Pointer) t != DatumGetPointer(value))
					pfree(t);
			}
			break;
		case CK_ENUM:
			{
				HeapTuple	tup = SearchSysCache1(ENUMOID, value);

				if (!HeapTupleIsValid(tup))
					elog(ERROR, "recon: enum value %u not found", DatumGetObjectId(value));
				emit(out, CT_TEXT, NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel),
					 strlen(NameStr(((Form_pg_enum) GETSTRUCT(tup))->enumlabel)));
				ReleaseSysCache(tup);
			}
			break;
		case CK_BOOL:
			{
				char		b = DatumGetBool(value) ? 1 : 0;

				emit(out, CT_BOOL, &b, 1);
			}
			break;
		case CK_TIMESTAMPTZ:
		case CK_TIMESTAMP:
			{
				Timestamp	ts = DatumGetTimestamp(value);

				if (TIMESTAMP_NOT_FINITE(ts))
					emit_other(out, TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity");
				else
					emit_pg_timestamp(out, ts, opts->ts_unit_us);
			}
			break;
		case CK_DATE:
			{
				DateADT		d = DatumGetDateADT(value);

				if (DATE_NOT_FINITE(d))
					emit_other(out, DATE_IS_NOBEGIN(d) ? "-infinity" : "infinity");
				else
					emit_int64(out, CT_DATE, (int64) d + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE));
			}
			break;
		case CK_TIME:
			emit_clock(out, DatumGetTimeADT(value), false, 0);
			break;
		case CK_TIMETZ:
			{
				TimeTzADT  *t = DatumGetTimeTzADTP(value);

				emit_clock(out, t->time, true, t->zone);
			}
			break;
		case CK_INTERVAL:
			{
				Interval   *iv = DatumGetIntervalP(value);

				emit_span(out, iv->month, iv->day, iv->time);
			}
			break;
		case CK_INET:
			{
				inet	   *ip = DatumGetInetPP(value);

				emit_netaddr(out, ip_family(ip) == PGSQL_AF_INET ? 4 : 6, ip_bits(ip), ip_addr(ip));
			}
			break;
		case CK_MACADDR:
			emit(out, CT_MAC, (const char *) DatumGetMacaddrP(value), 6);
			break;
		case CK_MONEY:
			emit_numeric(out, DirectFunctionCall1(cash_numeric, value));
			break;
		case CK_UUID:
			emit(out, CT_UUID, DatumGetUUIDP(value)->data, UUID_LEN);
			break;
		case CK_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);

				emit(out, CT_BINARY, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
			}
			break;
		case CK_JSON:
			if (typid == JSONBOID)
				emit_jsonb(out, DatumGetJsonbP(value));
			else
			{
				Datum		jb = DirectFunctionCall1(jsonb_in,
													 CStringGetDatum(TextDatumGetCString(value)));

				emit_jsonb(out, DatumGetJsonbP(jb));
			}
			break;
		case CK_ARRAY:
			emit_pg_array(out, type, value, opts);
			break;
		case CK_COMPOSITE:
			emit_pg_composite(out, type, value, opts);
			break;
		default:
			elog(ERROR, "recon: no canonical form for type %u", typid);
	}
}

/* ---------------------------------------------------------------------
 * BSON -> canonical, guided by the column's kind
 * --------------------------------------------------------------------- */

/*
 * A BSON int32, int64, double or Decimal128 as a canonical number, setting
 * *from_double for a double; false, appending nothing, for any other type.
 */
static bool
emit_bson_number(StringInfo out, const bson_iter_t *iter, bool *from_double)
{
	switch (bson_iter_type(iter))
	{
		case BSON_TYPE_INT32:
			emit_int(out, bson_iter_int32(iter));
			return true;
		case BSON_TYPE_INT64:
			emit_int(out, bson_iter_int64(iter));
			return true;
		case BSON_TYPE_DOUBLE:
			emit_double(out, bson_iter_double(iter));
			if (from_double)
				*from_double = true;
			return true;
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t dec;
				char		s[BSON_DECIMAL128_STRING];

				if (!bson_iter_decimal128(iter, &dec))
					return false;
				bson_decimal128_to_string(&dec, s);
				emit_decimal_text(out, s);
			}
			return true;
		default:
			return false;
	}
}

/*
 * The value of one hex digit, either case, or -1 when c is none (so a NUL
 * ends a parse): for key files and UUID text.
 */
int
canon_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse the canonical 8-4-4-4-12 form; false when it is anything else. */
static bool
parse_uuid_text(const char *s, uint32 len, unsigned char *out)
{
	int			i,
				n = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i += 2)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i--;
			continue;
		}
		hi = canon_hex_value(s[i]);
		lo = canon_hex_value(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[n++] = (unsigned char) (hi << 4 | lo);
	}
	return n == 16;
}

/* Strict YYYY-MM-DD -> days since 1970-01-01. */
static bool
parse_date_text(const char *s, uint32 len, int64 *days)
{
	int			y,
				m,
				d,
				yy,
				mm,
				dd;
	int			i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	j2date(date2j(y, m, d), &yy, &mm, &dd);
	if (yy != y || mm != m || dd != d)
		return false;			/* 2023-02-30 and friends */
	*days = date2j(y, m, d) - UNIX_EPOCH_JDATE;
	return true;
}

/* A BSON array under an array column: element by element, by the element's rules. */
static void
emit_bson_array(StringInfo out, const CanonType *type, const bson_iter_t *iter,
				const CanonOptions *opts)
{
	bson_iter_t child;
	int			at;

	if (!bson_iter_recurse(iter, &child))
	{
		emit_other(out, "corrupt-bson");
		return;
	}
	at = open_container(out, CT_ARRAY);
	while (bson_iter_next(&child))
	{
		int			el = out->len;
		bool		dbl = false;

		CHECK_FOR_INTERRUPTS();
		canon_bson(out, type->elem, &child, opts, &dbl);
		mark_double(out, el, dbl);
	}
	close_container(out, at);
	if (type->unordered)
		sort_elements(out, at);
}

/* A subdocument under a composite column: each attribute by name, by its rules. */
static void
emit_bson_composite(StringInfo out, const CanonType *type, const bson_iter_t *iter,
					const CanonOptions *opts)
{
	int			i,
				at = open_container(out, CT_OBJECT);

	for (i = 0; i < type->natts; i++)
	{
		bson_iter_t child;
		const char *name = type->attnames[i];
		int			el;
		bool		dbl = false;
		bool		found = false;
		int			seen = 0;

		emit(out, CT_TEXT, name, strlen(name));
		el = out->len;
		if (bson_iter_recurse(iter, &child))
		{
			bson_iter_t probe = child;

			while (bson_iter_next(&probe))
				if (strcmp(bson_iter_key(&probe), name) == 0)
				{
					if (seen++ == 0)
						child = probe;
					found = true;
				}
		}
		if (seen > 1)
			canon_ambiguous(out);
		else
			canon_bson(out, &type->atts[i], found ? &child : NULL, opts, &dbl);
		mark_double(out, el, dbl);
	}
	close_container(out, at);
}

/*
 * Append the encoding of one BSON value (iter NULL: the field is absent) read
 * by the rules of the column's type, so that it equals canon_datum's encoding
 * of the equal PostgreSQL value.  Text renderings of dates, UUIDs, times and
 * the like are parsed; a type the column cannot hold equals nothing.
 */
void
canon_bson(StringInfo out, const CanonType *type, const bson_iter_t *iter,
		   const CanonOptions *opts, bool *from_double)
{
	bson_type_t t;
	char		what[32];

	if (from_double)
		*from_double = false;
	if (type->null_is_empty && (iter == NULL || bson_iter_type(iter) == BSON_TYPE_NULL))
	{
		emit(out, CT_ARRAY, NULL, 0);	/* no children: field absent, null or [] */
		return;
	}
	if (iter == NULL)
	{
		canon_missing(out, opts);
		return;
	}
	t = bson_iter_type(iter);
	if (t == BSON_TYPE_NULL)
	{
		emit(out, CT_NULL, NULL, 0);
		return;
	}

	switch (type->kind)
	{
		case CK_INT:
		case CK_NUMERIC:
		case CK_FLOAT:
		case CK_MONEY:
			if (emit_bson_number(out, iter, from_double))
				return;
			break;
		case CK_TEXT:
		case CK_CHAR:
		case CK_CITEXT:
		case CK_ENUM:
			if (t == BSON_TYPE_UTF8)
			{
				uint32		len;
				const char *s = bson_iter_utf8(iter, &len);

				if (type->kind == CK_CHAR)
					emit_char_text(out, s, len);
				else if (type->kind == CK_CITEXT)
					emit_citext(out, s, len);
				else
					emit(out, CT_TEXT, s, len);
				return;
			}
			break;
		case CK_BOOL:
			if (t == BSON_TYPE_BOOL)
			{
				char		b = bson_iter_bool(iter) ? 1 : 0;

				emit(out, CT_BOOL, &b, 1);
				return;
			}
			break;
		case CK_TIMESTAMPTZ:
		case CK_TIMESTAMP:
			if (t == BSON_TYPE_DATE_TIME)
			{
				emit_bson_date(out, bson_iter_date_time(iter), opts->ts_unit_us);
				return;
			}
			break;
		case CK_DATE:
			if (t == BSON_TYPE_DATE_TIME)
			{
				int64		ms = bson_iter_date_time(iter);

				if (ms % (INT64CONST(86400000)) == 0)
					emit_int64(out, CT_DATE, ms / INT64CONST(86400000));
				else
					emit_int64(out, CT_TIME, ms);	/* a time of day: never a date */
				return;
			}
			if (t == BSON_TYPE_UTF8)
			{
				uint32		len;
				const char *s = bson_iter_utf8(iter, &len);
				int64		days;

				if (parse_date_text(s, len, &days))
					emit_int64(out, CT_DATE, days);
				else
					emit(out, CT_TEXT, s, len);
				return;
			}
			break;
		case CK_TIME:
		case CK_TIMETZ:
		case CK_INTERVAL:
		case CK_INET:
		case CK_MACADDR:
			if (t == BSON_TYPE_UTF8)
			{
				uint32		len;
				const char *s = bson_iter_utf8(iter, &len);
				int64		us;
				int32		zone,
							months,
							days;
				int			family,
							bits;
				unsigned char addr[16];

				if (type->kind == CK_TIME && parse_clock(s, len, false, &us, &zone))
					emit_clock(out, us, false, 0);
				else if (type->kind == CK_TIMETZ && parse_clock(s, len, true, &us, &zone))
					emit_clock(out, us, true, zone);
				else if (type->kind == CK_INTERVAL && parse_iso_duration(s, len, &months, &days, &us))
					emit_span(out, months, days, us);
				else if (type->kind == CK_INET && parse_netaddr(s, len, &family, &bits, addr))
					emit_netaddr(out, family, bits, addr);
				else if (type->kind == CK_MACADDR && parse_mac(s, len, addr))
					emit(out, CT_MAC, addr, 6);
				else
					emit(out, CT_TEXT, s, len); /* not a rendering of the type */
				return;
			}
			break;
		case CK_UUID:
			if (t == BSON_TYPE_BINARY)
			{
				bson_subtype_t st;
				uint32		len;
				const uint8_t *data;

				bson_iter_binary(iter, &st, &len, &data);
				if (st == BSON_SUBTYPE_UUID && len == 16)
				{
					emit(out, CT_UUID, data, 16);
					return;
				}
			}
			else if (t == BSON_TYPE_UTF8)
			{
				uint32		len;
				const char *s = bson_iter_utf8(iter, &len);
				unsigned char u[16];

				if (parse_uuid_text(s, len, u))
					emit(out, CT_UUID, u, 16);
				else
					emit(out, CT_TEXT, s, len);
				return;
			}
			break;
		case CK_BYTEA:
			if (t == BSON_TYPE_BINARY)
			{
				bson_subtype_t st;
				uint32		len;
				const uint8_t *data;

				bson_iter_binary(iter, &st, &len, &data);
				if (st == BSON_SUBTYPE_BINARY || st == BSON_SUBTYPE_BINARY_DEPRECATED)
				{
					emit(out, CT_BINARY, data, len);
					return;
				}
			}
			break;
		case CK_JSON:
			emit_bson_json(out, iter, 0);
			return;
		case CK_ARRAY:
			if (t == BSON_TYPE_ARRAY)
			{
				emit_bson_array(out, type, iter, opts);
				return;
			}
			break;
		case CK_COMPOSITE:
			if (t == BSON_TYPE_DOCUMENT)
			{
				emit_bson_composite(out, type, iter, opts);
				return;
			}
			break;
		default:
			break;
	}

	/* A value of a type the column cannot hold: kept distinct, never equal. */
	snprintf(what, sizeof(what), "bson-type-0x%02x", (int) t);
	emit_other(out, what);
}

/* ---------------------------------------------------------------------
 * Keys: what callers may learn about a key's values without its bytes
 * --------------------------------------------------------------------- */

/* "123e2" -> "12300"; only integral values reach here (canon_key_value_fits). */
static char *
integer_text(const char *payload, int len)
{
	StringInfoData s;
	const char *e = memchr(payload, 'e', len);
	int			zeros,
				i;

	if (e == NULL)
		return pnstrdup(payload, len);
	initStringInfo(&s);
	appendBinaryStringInfo(&s, payload, e - payload);
	{
		char	   *exp = pnstrdup(e + 1, len - (e + 1 - payload));

		zeros = atoi(exp);
		pfree(exp);
	}
	for (i = 0; i < zeros; i++)
		appendStringInfoChar(&s, '0');
	return s.data;
}

/* A CT_UUID payload (16 bytes) in uuid_in's text form. */
static char *
uuid_text(const char *p)
{
	static const char hex[] = "0123456789abcdef";
	char	   *s = palloc(37);
	int			i,
				j = 0;

	for (i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[j++] = '-';
		s[j++] = hex[((unsigned char) p[i]) >> 4];
		s[j++] = hex[((unsigned char) p[i]) & 15];
	}
	s[j] = '\0';
	return s;
}

/*
 * A document's _id value, read under a key column's kind, must be of the
 * exact kind the column holds: a double 1.5 or 1e19 is no int4 key, and a
 * key that fits no column must become an unexpected key, not a wrong row.
 */
bool
canon_key_value_fits(const char *p, CanonKind kind, Oid typid)
{
	switch (kind)
	{
		case CK_INT:
			{
				/* integral: "0" or "<digits>e<exp>" with exp >= 0 ... */
				int			len = value_len(p) - 5;
				const char *e = memchr(p + 5, 'e', len);
				char	   *digits;
				char	   *end;
				long long	v;

				if (!(p[0] == CT_NUMBER && (len == 1 ? p[5] == '0' : (e != NULL && e[1] != '-'))))
					return false;
				/* ... and within the key column's range (a double 1e19 is no int4 key) */
				if (e != NULL)
				{
					int			ndigits = (int) (e - (p + 5)) - (p[5] == '-');
					int			exp = 0;
					int			total;
					int			safe = typid == INT2OID ? 4 : typid == INT4OID ? 9 : 18;
					const char *q;

					/* the exponent, within the payload (not NUL-terminated) */
					for (q = e + 1; q < p + 5 + len && exp < 100; q++)
						exp = exp * 10 + (*q - '0');
					total = ndigits + exp;

					if (total <= safe)
						return true;	/* fewer digits than the type's range: no parse */
					if (total > safe + 1)
						return false;
				}
				digits = integer_text(p + 5, len);
				errno = 0;
				v = strtoll(digits, &end, 10);
				pfree(digits);
				if (errno != 0 || *end != '\0')
					return false;
				if (typid == INT2OID)
					return v >= PG_INT16_MIN && v <= PG_INT16_MAX;
				if (typid == INT4OID)
					return v >= PG_INT32_MIN && v <= PG_INT32_MAX;
				return true;
			}
		case CK_TEXT:
			return p[0] == CT_TEXT;
		case CK_UUID:
			return p[0] == CT_UUID;
		default:
			return false;
	}
}

/*
 * Key values become SQL input text to look rows up by (index scans, = ANY
 * arrays) and _id candidates; only values canon_key_value_fits() accepted
 * or canon_datum() made of a key column get here.
 */
char *
canon_key_value_text(const char **p)
{
	const char *v = *p;
	int			len = value_len(v);
	char	   *text;

	if (v[0] == CT_NUMBER)
		text = integer_text(v + 5, len - 5);
	else if (v[0] == CT_UUID)
		text = uuid_text(v + 5);
	else
		text = pnstrdup(v + 5, len - 5);
	*p = v + len;
	return text;
}

/*
 * A key that matches no row: the raw {_id: value} (nothing when the
 * document has no _id) as one CT_OTHER value, which no row's key equals
 * because no key column's values encode as CT_OTHER.
 */
void
canon_unexpected_key(StringInfo out, const bson_t *doc)
{
	bson_iter_t it;

	resetStringInfo(out);
	if (bson_iter_init_find(&it, doc, "_id"))
	{
		bson_t		tmp = BSON_INITIALIZER;

		bson_append_iter(&tmp, "_id", 3, &it);
		emit(out, CT_OTHER, bson_get_data(&tmp), (int) tmp.len);
		bson_destroy(&tmp);
	}
	else
		emit(out, CT_OTHER, NULL, 0);
}

/* Unexpected keys have no row to read, lock or repair: callers skip them. */
bool
canon_key_is_unexpected(const char *kc, int len)
{
	return len > 0 && kc[0] == CT_OTHER;
}

/* The document id is a view of kc: kc must outlive it. */
bool
canon_unexpected_key_id(const char *kc, int len, bson_t *id)
{
	return len >= 5 && kc[0] == CT_OTHER &&
		bson_init_static(id, (const uint8_t *) kc + 5, len - 5);
}

/* ---------------------------------------------------------------------
 * Comparison, rendering, hashing
 * --------------------------------------------------------------------- */

/*
 * The nearest-double rule: an exact number (payload "digits e exp") equals a
 * binary double when strtod, which rounds correctly, gives that double.
 */
static bool
nearest_double_equal(const char *a, int la, const char *b, int lb)
{
	char	   *sa = pnstrdup(a, la);
	char	   *sb = pnstrdup(b, lb);
	bool		eq = strtod(sa, NULL) == strtod(sb, NULL);

	pfree(sa);
	pfree(sb);
	return eq;
}

/*
 * Equality of two encodings: byte-equal, or an exact number and a number from
 * a binary double that is its nearest double (the nearest-double rule), also
 * inside JSON trees, where CT_JSON_DOUBLE marks the doubles.
 */
static bool
values_equal(const char *a, int alen, bool a_double,
			 const char *b, int blen, bool b_double)
{
	char		ta = a[0],
				tb = b[0];

	if (alen == blen && memcmp(a, b, alen) == 0)
		return true;
	if (ta == CT_JSON_DOUBLE)
	{
		ta = CT_NUMBER;
		a_double = true;
	}
	if (tb == CT_JSON_DOUBLE)
	{
		tb = CT_NUMBER;
		b_double = true;
	}
	if (ta == CT_NUMBER && tb == CT_NUMBER)
	{
		if (alen == blen && memcmp(a + 5, b + 5, alen - 5) == 0)
			return true;
		/* two exact numbers, or two doubles, are equal only when alike */
		if (a_double == b_double)
			return false;
		return nearest_double_equal(a + 5, alen - 5, b + 5, blen - 5);
	}
	if (ta == tb && (ta == CT_OBJECT || ta == CT_ARRAY))
	{
		/* element by element (object keys are sorted alike on both sides) */
		const char *pa = a + 5,
				   *pb = b + 5,
				   *ea = a + alen,
				   *eb = b + blen;

		while (pa < ea && pb < eb)
		{
			int			la = value_len(pa),
						lb = value_len(pb);

			if (!values_equal(pa, la, false, pb, lb, false))
				return false;
			pa += la;
			pb += lb;
		}
		return pa == ea && pb == eb;
	}
	return false;
}

/*
 * Whether two encoded values are equal in recon's sense (canonical.h): bytes
 * alike, or the nearest-double rule, a_double and b_double being what
 * canon_datum or canon_bson reported in *from_double.
 */
bool
canon_values_equal(const char *a, int alen, bool a_double,
				   const char *b, int blen, bool b_double)
{
	return values_equal(a, alen, a_double, b, blen, b_double);
}

/* ---------------------------------------------------------------------
 * Where two values differ
 * --------------------------------------------------------------------- */

typedef struct DiffWalk
{
	char	  **found;			/* room for limit paths */
	int			nfound;
	int			limit;
	bool		over;
} DiffWalk;

static void
diff_report(DiffWalk *w, StringInfo path)
{
	if (w->nfound >= w->limit)
	{
		w->over = true;
		return;
	}
	w->found[w->nfound++] = pstrdup(path->data);
}

/* Append ".<key>" (key as stored, not NUL-terminated) to path; returns the old length. */
static int
path_push(StringInfo path, const char *key, int len)
{
	int			was = path->len;

	appendStringInfoChar(path, '.');
	appendBinaryStringInfo(path, key, len);
	return was;
}

static void
path_pop(StringInfo path, int was)
{
	path->len = was;
	path->data[was] = '\0';
}

/* jsonb and canonical BSON documents keep keys sorted by (length, bytes). */
static int
json_key_cmp(const char *a, const char *b)
{
	int			la = value_len(a) - 5,
				lb = value_len(b) - 5;

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(a + 5, b + 5, la);
}

static void diff_walk(DiffWalk *w, const char *a, int alen, const char *b, int blen,
					  const CanonType *type, StringInfo path);

/*
 * Walk two encoded objects key by key in their sorted order, reporting a key
 * present on one side only and descending into shared keys.  Composites pair
 * attributes by position, both sides holding the mapped attributes in order.
 */
static void
diff_objects(DiffWalk *w, const char *a, int alen, const char *b, int blen,
			 const CanonType *type, StringInfo path)
{
	const char *pa = a + 5,
			   *pb = b + 5,
			   *ea = a + alen,
			   *eb = b + blen;
	int			att = 0;

	while ((pa < ea || pb < eb) && !w->over)
	{
		int			c;

		CHECK_FOR_INTERRUPTS();
		if (pa >= ea)
			c = 1;
		else if (pb >= eb)
			c = -1;
		else if (type && type->kind == CK_COMPOSITE)
			c = 0;				/* attributes in the same order on both sides */
		else
			c = json_key_cmp(pa, pb);

		if (c == 0)
		{
			int			kl = value_len(pa);
			const char *va = pa + kl,
					   *vb = pb + value_len(pb);
			int			la = value_len(va),
						lb = value_len(vb);
			int			was = path_push(path, pa + 5, kl - 5);

			diff_walk(w, va, la, vb, lb,
					  type && type->kind == CK_COMPOSITE && att < type->natts ? &type->atts[att] : NULL,
					  path);
			path_pop(path, was);
			pa = va + la;
			pb = vb + lb;
			att++;
		}
		else
		{
			/* a key on one side only */
			const char *k = c < 0 ? pa : pb;
			int			kl = value_len(k);
			int			vl = value_len(k + kl);
			int			was = path_push(path, k + 5, kl - 5);

			diff_report(w, path);
			path_pop(path, was);
			if (c < 0)
				pa += kl + vl;
			else
				pb += kl + vl;
		}
	}
}

/*
 * Walk two ordered arrays by position (paths .0, .1, ...), reporting an
 * element present on one side only at its index.
 */
static void
diff_arrays(DiffWalk *w, const char *a, int alen, const char *b, int blen,
			const CanonType *type, StringInfo path)
{
	const char *pa = a + 5,
			   *pb = b + 5,
			   *ea = a + alen,
			   *eb = b + blen;
	int			i = 0;

	while ((pa < ea || pb < eb) && !w->over)
	{
		char		idx[16];
		int			was;

		CHECK_FOR_INTERRUPTS();
		snprintf(idx, sizeof(idx), "%d", i++);
		was = path_push(path, idx, strlen(idx));
		if (pa < ea && pb < eb)
		{
			int			la = value_len(pa),
						lb = value_len(pb);

			diff_walk(w, pa, la, pb, lb, type ? type->elem : NULL, path);
			pa += la;
			pb += lb;
		}
		else
		{
			diff_report(w, path);	/* an element on one side only */
			if (pa < ea)
				pa += value_len(pa);
			else
				pb += value_len(pb);
		}
		path_pop(path, was);
	}
}

/* A value of an element's identity, as it reads in a path (3, abc). */
static void
label_value(StringInfo out, const char *p)
{
	int			len = value_len(p);

	if (p[0] == CT_TEXT)
		appendBinaryStringInfo(out, p + 5, len - 5);
	else if (p[0] == CT_NUMBER || p[0] == CT_JSON_DOUBLE)
	{
		/* "digits e exp" as plain decimal when it is a whole number */
		const char *e = memchr(p + 5, 'e', len - 5);
		int			exp = e ? atoi(pnstrdup(e + 1, len - 5 - (e + 1 - (p + 5)))) : 0;

		if (e && exp >= 0 && exp < 20)
		{
			appendBinaryStringInfo(out, p + 5, e - (p + 5));
			while (exp-- > 0)
				appendStringInfoChar(out, '0');
		}
		else
			canon_to_text(out, p, len);
	}
	else
		canon_to_text(out, p, len);
}

/*
 * An element's identity: its label "line_no=3" (into label) and the bytes
 * of its identity values (into key).  False when it is no object.
 */
static bool
element_identity(const char *el, const CanonType *type, StringInfo label, StringInfo key)
{
	const CanonType *elem = type->elem;
	const char *p = el + 5,
			   *end = el + value_len(el);
	int			att = 0,
				k;

	resetStringInfo(label);
	resetStringInfo(key);
	if (el[0] != CT_OBJECT)
		return false;
	for (; p < end && att < elem->natts; att++)
	{
		const char *v = p + value_len(p);

		for (k = 0; k < type->nident; k++)
			if (type->ident[k] == att)
			{
				appendStringInfo(label, "%s%s=", label->len ? "," : "", elem->attnames[att]);
				label_value(label, v);
				appendBinaryStringInfo(key, v, value_len(v));
			}
		p = v + value_len(v);
	}
	return true;
}

/*
 * Embedded children: elements matched by their identity, so a lost,
 * extra or changed child reads items[line_no=3], items[line_no=3].qty.
 * Elements alike in another order (an ordered array) read as the array.
 */
static bool
diff_keyed(DiffWalk *w, const char *a, int alen, const char *b, int blen,
		   const CanonType *type, StringInfo path)
{
	ElemRef    *ea,
			   *eb;
	int			na = array_elements(a, alen, &ea),
				nb = array_elements(b, blen, &eb);
	char	  **ka = palloc(sizeof(char *) * Max(na, 1)),
			  **kb = palloc(sizeof(char *) * Max(nb, 1));
	int		   *kla = palloc(sizeof(int) * Max(na, 1)),
			   *klb = palloc(sizeof(int) * Max(nb, 1));
	char	  **la = palloc(sizeof(char *) * Max(na, 1)),
			  **lb = palloc(sizeof(char *) * Max(nb, 1));
	bool	   *matched = palloc0(sizeof(bool) * Max(nb, 1));
	StringInfoData label,
				key;
	int			i,
				j,
				before = w->nfound;

	initStringInfo(&label);
	initStringInfo(&key);
	for (i = 0; i < na + nb; i++)
	{
		bool		side_a = i < na;
		const ElemRef *r = side_a ? &ea[i] : &eb[i - na];

		if (!element_identity(r->p, type, &label, &key))
			return false;		/* not objects: compare by position */
		if (side_a)
		{
			ka[i] = memcpy(palloc(key.len + 1), key.data, key.len);	/* bytes, NULs included */
			kla[i] = key.len;
			la[i] = pstrdup(label.data);
		}
		else
		{
			kb[i - na] = memcpy(palloc(key.len + 1), key.data, key.len);
			klb[i - na] = key.len;
			lb[i - na] = pstrdup(label.data);
		}
	}
	/* an identity named twice on one side identifies nothing */
	for (i = 0; i < na; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (j = i + 1; j < na; j++)
			if (kla[i] == kla[j] && memcmp(ka[i], ka[j], kla[i]) == 0)
				return false;
	}
	for (i = 0; i < nb; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (j = i + 1; j < nb; j++)
			if (klb[i] == klb[j] && memcmp(kb[i], kb[j], klb[i]) == 0)
				return false;
	}

	for (i = 0; i < na && !w->over; i++)
	{
		int			was = path->len;

		CHECK_FOR_INTERRUPTS();
		appendStringInfo(path, "[%s]", la[i]);
		for (j = 0; j < nb; j++)
			if (!matched[j] && kla[i] == klb[j] && memcmp(ka[i], kb[j], kla[i]) == 0)
				break;
		if (j == nb)
			diff_report(w, path);	/* a child the document lacks */
		else
		{
			matched[j] = true;
			diff_walk(w, ea[i].p, ea[i].len, eb[j].p, eb[j].len, type->elem, path);
		}
		path_pop(path, was);
	}
	for (j = 0; j < nb && !w->over; j++)
		if (!matched[j])
		{
			int			was = path->len;

			appendStringInfo(path, "[%s]", lb[j]);
			diff_report(w, path);	/* a child the document has in excess */
			path_pop(path, was);
		}
	if (w->nfound == before && !w->over)
		diff_report(w, path);	/* the same children in another order */
	return true;
}

static void
diff_walk(DiffWalk *w, const char *a, int alen, const char *b, int blen,
		  const CanonType *type, StringInfo path)
{
	if (w->over || values_equal(a, alen, false, b, blen, false))
		return;
	if (a[0] == CT_OBJECT && b[0] == CT_OBJECT)
		diff_objects(w, a, alen, b, blen, type, path);
	else if (a[0] == CT_ARRAY && b[0] == CT_ARRAY && type && type->nident > 0 &&
			 type->elem && type->elem->kind == CK_COMPOSITE &&
			 diff_keyed(w, a, alen, b, blen, type, path))
		return;
	else if (a[0] == CT_ARRAY && b[0] == CT_ARRAY && !(type && type->unordered))
		diff_arrays(w, a, alen, b, blen, type, path);
	else
		diff_report(w, path);
}

/*
 * Fill paths (palloc'd, room for limit) with the deepest paths under prefix at
 * which a and b differ, guided by type for composites and embedded children
 * (NULL: plain JSON).  Returns how many, or 0 when more than limit differ, and
 * then frees what it found: the caller reports prefix alone.
 */
int
canon_diff_paths(const char *a, int alen, const char *b, int blen, const CanonType *type,
				 const char *prefix, char **paths, int limit)
{
	DiffWalk	w;
	StringInfoData path;
	int			i;

	w.found = paths;
	w.nfound = 0;
	w.limit = limit;
	w.over = false;
	initStringInfo(&path);
	appendStringInfoString(&path, prefix);
	diff_walk(&w, a, alen, b, blen, type, &path);
	pfree(path.data);
	if (w.over)
	{
		for (i = 0; i < w.nfound; i++)
			pfree(paths[i]);
		return 0;
	}
	return w.nfound;
}

static void
text_quoted(StringInfo out, const char *s, int len)
{
	char	   *tmp = pnstrdup(s, len);

	appendStringInfoString(out, quote_literal_cstr(tmp));
	pfree(tmp);
}

/*
 * Append a readable rendering of a sequence of encoded values (a key's values,
 * or one value), comma-separated, each prefixed by its kind: for diagnostics
 * and test output, never parsed back.
 */
void
canon_to_text(StringInfo out, const char *p, int len)
{
	const char *end = p + len;
	bool		first = true;

	while (p < end)
	{
		int			vlen = value_len(p);
		const char *pl = p + 5;
		int			plen = vlen - 5;
		int			i;

		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		switch (p[0])
		{
			case CT_NULL:
				appendStringInfoString(out, "null");
				break;
			case CT_MISSING:
				appendStringInfoString(out, "missing");
				break;
			case CT_BOOL:
				appendStringInfoString(out, pl[0] ? "true" : "false");
				break;
			case CT_NUMBER:
			case CT_JSON_DOUBLE:
				appendStringInfo(out, "number:%.*s", plen, pl);
				break;
			case CT_TEXT:
				appendStringInfoString(out, "text:");
				text_quoted(out, pl, plen);
				break;
			case CT_TIME:
				appendStringInfo(out, "time:" INT64_FORMAT, read_int64(pl));
				break;
			case CT_DATE:
				appendStringInfo(out, "date:" INT64_FORMAT, read_int64(pl));
				break;
			case CT_CLOCK:
				appendStringInfo(out, "clock:" INT64_FORMAT, read_int64(pl) ^ PG_INT64_MIN);
				if (plen == 12)
					appendStringInfo(out, " zone:%d",
									 (int32) (((uint32) (unsigned char) pl[8] << 24) |
											  ((uint32) (unsigned char) pl[9] << 16) |
											  ((uint32) (unsigned char) pl[10] << 8) |
											  (uint32) (unsigned char) pl[11]));
				break;
			case CT_SPAN:
			case CT_NETADDR:
			case CT_MAC:
			case CT_UUID:
			case CT_BINARY:
				appendStringInfoString(out, p[0] == CT_UUID ? "uuid:" : p[0] == CT_BINARY ? "binary:" :
									   p[0] == CT_SPAN ? "interval:" : p[0] == CT_MAC ? "macaddr:" : "inet:");
				for (i = 0; i < plen; i++)
					appendStringInfo(out, "%02x", (unsigned char) pl[i]);
				break;
			case CT_OBJECT:
				appendStringInfoChar(out, '{');
				canon_to_text(out, pl, plen);
				appendStringInfoChar(out, '}');
				break;
			case CT_ARRAY:
				appendStringInfoChar(out, '[');
				canon_to_text(out, pl, plen);
				appendStringInfoChar(out, ']');
				break;
			default:
				appendStringInfo(out, "other:%.*s", plen, pl);
				break;
		}
		p += vlen;
	}
}

/*
 * Whether c is a tag of the encoding: fold_json_doubles stops at the first
 * byte that is not, since callers may append other bytes after the values.
 */
static bool
is_canon_tag(char c)
{
	switch (c)
	{
		case CT_NULL:
		case CT_MISSING:
		case CT_BOOL:
		case CT_NUMBER:
		case CT_JSON_DOUBLE:
		case CT_TEXT:
		case CT_TIME:
		case CT_DATE:
		case CT_UUID:
		case CT_BINARY:
		case CT_OBJECT:
		case CT_ARRAY:
		case CT_CLOCK:
		case CT_SPAN:
		case CT_NETADDR:
		case CT_MAC:
		case CT_OTHER:
			return true;
		default:
			return false;
	}
}

/*
 * Find the CT_JSON_DOUBLE tags in a sequence of encoded values and, when w
 * is given (a copy of the same bytes), rewrite them to CT_NUMBER there.  The
 * walk stops at anything that is not an encoded value (callers may append
 * other bytes after the values).
 */
static bool
fold_json_doubles(const char *p, int len, char *w)
{
	const char *end = p + len;
	bool		found = false;

	while (end - p >= 5 && is_canon_tag(p[0]))
	{
		int			vlen = value_len(p);

		if (vlen < 5 || vlen > end - p)
			break;
		if (p[0] == CT_JSON_DOUBLE)
		{
			found = true;
			if (w)
				w[0] = CT_NUMBER;
		}
		else if (p[0] == CT_OBJECT || p[0] == CT_ARRAY)
			found |= fold_json_doubles(p + 5, vlen - 5, w ? w + 5 : NULL);
		p += vlen;
		if (w)
			w += vlen;
	}
	return found;
}

#define DIGEST_MUL1 UINT64CONST(0x87c37b91114253d5)
#define DIGEST_MUL2 UINT64CONST(0x4cf5ad432745937f)
#define DIGEST_SEED UINT64CONST(0x5245434f4e31)

static inline uint64
rotate_left64(uint64 x, int n)
{
	return (x << n) | (x >> (64 - n));
}

/* Spread a 64-bit word's bits over all of it, so that near inputs end far apart. */
static inline uint64
avalanche64(uint64 x)
{
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline uint64
scramble_word(uint64 k, int rot, uint64 mul_a, uint64 mul_b)
{
	return rotate_left64(k * mul_a, rot) * mul_b;
}

/*
 * A 128-bit hash of data in one pass, 16 bytes per step in two 64-bit
 * lanes that feed each other (the construction of MurmurHash3's 128-bit
 * variant).  Not cryptographic: the digest decides which keys a sweep
 * re-reads (equal digests are taken as equal rows) and never leaves the
 * process (memory and its temporary files).  Someone who can write both
 * the table and the collection could craft two values with one digest and
 * hide that difference from sweeps (as with the lookup3 pair before it);
 * change checks and sampling compare values, not digests.  Words are read
 * in host byte order: both sides are hashed in the same process.
 */
static CanonDigest
hash128(const char *data, int len)
{
	const char *p = data;
	const char *end = data + (len & ~15);
	uint64		h1 = DIGEST_SEED,
				h2 = DIGEST_SEED;
	uint64		k1,
				k2;
	CanonDigest d;

	for (; p < end; p += 16)
	{
		memcpy(&k1, p, 8);
		memcpy(&k2, p + 8, 8);
		h1 ^= scramble_word(k1, 31, DIGEST_MUL1, DIGEST_MUL2);
		h1 = rotate_left64(h1, 27) + h2;
		h1 = h1 * 5 + 0x52dce729;
		h2 ^= scramble_word(k2, 33, DIGEST_MUL2, DIGEST_MUL1);
		h2 = rotate_left64(h2, 31) + h1;
		h2 = h2 * 5 + 0x38495ab5;
	}
	if (len & 15)
	{
		uint64		tail[2] = {0, 0};

		memcpy(tail, p, len & 15);
		h1 ^= scramble_word(tail[0], 31, DIGEST_MUL1, DIGEST_MUL2);
		h2 ^= scramble_word(tail[1], 33, DIGEST_MUL2, DIGEST_MUL1);
	}
	h1 ^= (uint64) len;
	h2 ^= (uint64) len;
	h1 += h2;
	h2 += h1;
	h1 = avalanche64(h1);
	h2 = avalanche64(h2);
	h1 += h2;
	h2 += h1;
	d.h[0] = h1;
	d.h[1] = h2;
	return d;
}

/*
 * Doubles inside JSON trees hash as plain numbers: a jsonb 1.5 and a BSON
 * double 1.5 keep equal digests, as their encodings were before the tag.
 */
CanonDigest
canon_digest(const char *data, int len)
{
	CanonDigest d;
	char	   *copy;

	if (!fold_json_doubles(data, len, NULL))
		return hash128(data, len);
	copy = palloc(len);
	memcpy(copy, data, len);
	fold_json_doubles(data, len, copy);
	d = hash128(copy, len);
	pfree(copy);
	return d;
}

/* A mark to pass to canon_digest_since() once an encoding is made. */
uint64
canon_json_doubles_mark(void)
{
	return json_doubles_written;
}

/*
 * canon_digest of an encoding made (entirely) since mark was taken: when
 * no JSON double was written in between, the bytes are hashed as they
 * are, without the walk over the values that looks for them.
 */
CanonDigest
canon_digest_since(const char *data, int len, uint64 mark)
{
	if (mark == json_doubles_written)
	{
		Assert(!fold_json_doubles(data, len, NULL));
		return hash128(data, len);
	}
	return canon_digest(data, len);
}

/*
 * A digest is already a hash: dynahash tables keyed by one use its bits —
 * the high half of h[0], which a sweep's partitioning (low bits of h[0],
 * then of h[1]) leaves alike within no partition.
 */
uint32
canon_digest_hash(const void *key, Size keysize)
{
	return (uint32) (((const CanonDigest *) key)->h[0] >> 32);
}

/*
 * SHA-256 of data as 64 lower-case hex digits, palloc'd: the hash recon
 * records (row and document hashes, audit key ids), unlike canon_digest, the
 * sweep's fast in-memory one.
 */
char *
canon_sha256_hex(const char *data, int len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		dig[32];
	char	   *hex = palloc(65);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, dig, sizeof(dig)) < 0)
		elog(ERROR, "recon: could not compute SHA-256");
	pg_cryptohash_free(ctx);
	canon_hex_encode(dig, 32, hex);
	return hex;
}

/* 2n lower-case hex digits of bytes, NUL-terminated, into out (2n + 1 bytes). */
void
canon_hex_encode(const uint8 *bytes, int n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < n; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}
