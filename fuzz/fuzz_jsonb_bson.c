/*
 * fuzz_jsonb_bson.c — libFuzzer target for the jsonb -> BSON path
 * (src/jsonbson.c).  The input is read as a script that builds a
 * well-formed jsonb token stream (objects, arrays, keys of any bytes,
 * strings, numbers as numeric_out prints them, from 1 to 1,000-digit
 * magnitudes, booleans, nulls, nesting past MongoDB's 100 levels); the
 * jsonb iterator is replaced by one that replays the stream, everything
 * else is recon's code.  Checked on every input:
 *   - a document is produced, or recon refuses with an ERROR, and only
 *     for nesting beyond 100 levels or a number no Decimal128 holds;
 *   - every key is the key given (a "$date" key stays a key), array
 *     elements are keyed 0, 1, ..., strings are the bytes given;
 *   - every number holds exactly the decimal given: integers that fit as
 *     int32/int64, else a double whose shortest form is that decimal, else
 *     an exact Decimal128 (checked by an independent decimal normaliser).
 */
#include "postgres.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "jsonbson.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

extern sigjmp_buf *PG_exception_stack;

#define MAX_TOKENS 4096
#define MAX_DEPTH 130

typedef struct FakeNumber
{
	char		text[1100];
} FakeNumber;

typedef struct Token
{
	JsonbIteratorToken tok;
	JsonbValue	v;
	char		str[24];		/* key or string bytes */
	FakeNumber	num;
} Token;

static Token toks[MAX_TOKENS];
static int	ntoks;
static int	replay;
static int	max_depth;
static bool	wide_number;		/* more significant digits than a Decimal128 holds */

/* ---- the replaced backend pieces ---------------------------------------- */

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	replay = 0;
	return (JsonbIterator *) container;
}

JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	if (replay >= ntoks)
		return WJB_DONE;
	*val = toks[replay].v;
	return toks[replay++].tok;
}

bool
JsonbExtractScalar(JsonbContainer *jbc, JsonbValue *res)
{
	*res = toks[0].v;
	return true;
}

bool
numeric_is_nan(Numeric num)
{
	return false;
}

bool
numeric_is_inf(Numeric num)
{
	return false;
}

Datum
numeric_out(PG_FUNCTION_ARGS)
{
	abort();					/* only ever reached through DirectFunctionCall1Coll */
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	if (func != numeric_out)
		abort();
	return CStringGetDatum(((FakeNumber *) DatumGetPointer(arg1))->text);
}

/* ---- building the script ------------------------------------------------- */

static const uint8_t *in;
static size_t insize,
			inpos;

static uint8_t
next_byte(void)
{
	return inpos < insize ? in[inpos++] : 0;
}

static void
bytes_into(char *dst, int *len)
{
	int			n = next_byte() % 12,
				i;

	for (i = 0; i < n; i++)
	{
		uint8_t		b = next_byte();

		/* jsonb text is valid UTF-8 with no NUL; bytes are copied through either way */
		b &= 0x7f;
		dst[i] = b == 0 ? '$' : (char) b;
	}
	dst[n] = '\0';
	*len = n;
}

/* A decimal as numeric_out prints one: -?digits(.digits)? */
static void
number_into(FakeNumber *n)
{
	char	   *p = n->text;
	uint8_t		shape = next_byte();
	int			intdigits = 1 + next_byte() % 24,
				fracdigits = (shape & 1) ? next_byte() % 24 : 0,
				zeros = (shape & 2) ? next_byte() * 4 % 1000 : 0,	/* up to 1e1000 */
				i;

	if (shape & 4)
		*p++ = '-';
	if (shape & 8)
	{
		/* 0.000ddd: a small magnitude */
		*p++ = '0';
		*p++ = '.';
		for (i = 0; i < zeros; i++)
			*p++ = '0';
		for (i = 0; i < intdigits; i++)
			*p++ = '0' + next_byte() % 10;
	}
	else
	{
		for (i = 0; i < intdigits; i++)
		{
			char		d = '0' + next_byte() % 10;

			if (i == 0 && d == '0' && intdigits > 1)
				d = '1';
			*p++ = d;
		}
		for (i = 0; i < zeros; i++)
			*p++ = '0';
		if (fracdigits > 0)
		{
			*p++ = '.';
			for (i = 0; i < fracdigits; i++)
				*p++ = '0' + next_byte() % 10;
		}
	}
	*p = '\0';
}

static Token *
add(JsonbIteratorToken tok)
{
	Token	   *t = &toks[ntoks++];

	memset(&t->v, 0, sizeof(t->v));
	t->tok = tok;
	return t;
}

static void
add_scalar(JsonbIteratorToken tok, uint8_t op)
{
	Token	   *t = add(tok);

	switch (op % 4)
	{
		case 0:
			t->v.type = jbvString;
			bytes_into(t->str, &t->v.val.string.len);
			t->v.val.string.val = t->str;
			break;
		case 1:
			t->v.type = jbvNumeric;
			number_into(&t->num);
			t->v.val.numeric = (Numeric) &t->num;
			break;
		case 2:
			t->v.type = jbvBool;
			t->v.val.boolean = op & 4;
			break;
		default:
			t->v.type = jbvNull;
			break;
	}
}

/* A well-formed token stream: what the real iterator produces. */
static void
build_script(void)
{
	bool		is_array[MAX_DEPTH + 1];
	bool		want_key[MAX_DEPTH + 1];
	int			depth = 1;

	ntoks = 0;
	max_depth = 1;
	is_array[0] = next_byte() & 1;
	want_key[0] = !is_array[0];
	add(is_array[0] ? WJB_BEGIN_ARRAY : WJB_BEGIN_OBJECT);
	while (inpos < insize && ntoks < MAX_TOKENS - 2 * MAX_DEPTH - 4)
	{
		int			top = depth - 1;
		uint8_t		op = next_byte();

		if (!is_array[top] && want_key[top])
		{
			if (op % 5 == 0 && depth > 1)
			{
				add(WJB_END_OBJECT);
				depth--;
				continue;
			}
			{
				Token	   *t = add(WJB_KEY);

				t->v.type = jbvString;
				bytes_into(t->str, &t->v.val.string.len);
				t->v.val.string.val = t->str;
			}
			want_key[top] = false;
			continue;
		}
		/* a value: an array element or an object member's value */
		switch (op % 5)
		{
			case 0:
			case 1:
				if (depth < MAX_DEPTH)
				{
					is_array[depth] = op % 5 == 1;
					want_key[depth] = !is_array[depth];
					add(is_array[depth] ? WJB_BEGIN_ARRAY : WJB_BEGIN_OBJECT);
					depth++;
					if (depth > max_depth)
						max_depth = depth;
					break;
				}
				/* FALLTHROUGH */
			case 2:
				if (is_array[top] && depth > 1)
				{
					add(WJB_END_ARRAY);
					depth--;
					break;
				}
				/* FALLTHROUGH */
			default:
				add_scalar(is_array[top] ? WJB_ELEM : WJB_VALUE, op / 5);
				break;
		}
		if (!is_array[top] && depth - 1 == top)
			want_key[top] = true;
		else if (!is_array[top] && depth - 1 > top)
			want_key[top] = true;	/* the nested container is this member's value */
	}
	while (depth > 0)
	{
		int			top = depth - 1;

		if (!is_array[top] && !want_key[top])
			add_scalar(WJB_VALUE, 3);
		add(is_array[top] ? WJB_END_ARRAY : WJB_END_OBJECT);
		want_key[top] = true;
		depth--;
		if (depth > 0 && !is_array[depth - 1])
			want_key[depth - 1] = true;
	}
}

/* ---- the oracle ---------------------------------------------------------- */

/* "sign digits exponent" with no leading/trailing zeros; "0" for zero */
static void
normalise(const char *s, char *out, size_t outlen)
{
	const char *p = s;
	char		digits[1200];
	int			n = 0;
	long		exp10 = 0,
				point = -1;
	bool		neg = false;
	int			start = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; *p && n < (int) sizeof(digits) - 1; p++)
	{
		if (*p == '.')
			point = n;
		else if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
		else
			break;
	}
	if (*p == 'e' || *p == 'E')
		exp10 = strtol(p + 1, NULL, 10);
	if (point < 0)
		point = n;
	/* value = 0.digits x 10^(point + exp10) */
	while (start < n && digits[start] == '0')
	{
		start++;
		point--;
	}
	while (n > start && digits[n - 1] == '0')
		n--;
	if (n == start)
	{
		snprintf(out, outlen, "0");
		return;
	}
	digits[n] = '\0';
	snprintf(out, outlen, "%s%sE%ld", neg ? "-" : "", digits + start, point + exp10);
}

static int
significant_digits(const char *s)
{
	char		norm[1300];
	char	   *e;

	normalise(s, norm, sizeof(norm));
	e = strchr(norm, 'E');
	return e ? (int) (e - norm) - (norm[0] == '-') : 0;
}

#define REQUIRE(cond) do { if (!(cond)) { fprintf(stderr, "oracle: %s (token %d)\n", #cond, replay); abort(); } } while (0)

static void check_value(const bson_iter_t *it, const Token *t);

static void
check_container(const bson_iter_t *holder, bool is_array)
{
	bson_iter_t it;
	int			index = 0;

	REQUIRE(bson_iter_recurse(holder, &it));
	for (;;)
	{
		const Token *t = &toks[replay++];
		char		key[24];
		int			keylen;

		if (t->tok == WJB_END_OBJECT || t->tok == WJB_END_ARRAY)
		{
			REQUIRE(t->tok == (is_array ? WJB_END_ARRAY : WJB_END_OBJECT));
			REQUIRE(!bson_iter_next(&it));
			return;
		}
		if (is_array)
			keylen = snprintf(key, sizeof(key), "%d", index++);
		else
		{
			REQUIRE(t->tok == WJB_KEY);
			keylen = t->v.val.string.len;
			memcpy(key, t->str, keylen);
			t = &toks[replay++];
		}
		REQUIRE(bson_iter_next(&it));
		REQUIRE(bson_iter_key_len(&it) == (uint32_t) keylen);
		REQUIRE(memcmp(bson_iter_key(&it), key, keylen) == 0);
		check_value(&it, t);
	}
}

static void
check_number(const bson_iter_t *it, const char *given)
{
	char		want[1300],
				got[1300],
				text[BSON_DECIMAL128_STRING + DOUBLE_SHORTEST_DECIMAL_LEN];
	bool		integral = strchr(given, '.') == NULL;

	normalise(given, want, sizeof(want));
	switch (bson_iter_type(it))
	{
		case BSON_TYPE_INT32:
			snprintf(text, sizeof(text), "%d", bson_iter_int32(it));
			break;
		case BSON_TYPE_INT64:
			snprintf(text, sizeof(text), "%lld", (long long) bson_iter_int64(it));
			REQUIRE(bson_iter_int64(it) < PG_INT32_MIN || bson_iter_int64(it) > PG_INT32_MAX);
			break;
		case BSON_TYPE_DOUBLE:
			REQUIRE(isfinite(bson_iter_double(it)));
			REQUIRE(strtod(given, NULL) == bson_iter_double(it));
			double_to_shortest_decimal_buf(bson_iter_double(it), text);
			/* an integer that fits in int64 is never written as a double */
			REQUIRE(!(integral && strlen(given) < 19));
			break;
		case BSON_TYPE_DECIMAL128:
			{
				bson_decimal128_t d;

				REQUIRE(bson_iter_decimal128(it, &d));
				bson_decimal128_to_string(&d, text);
			}
			break;
		default:
			REQUIRE(!"a number written as a non-number");
			return;
	}
	normalise(text, got, sizeof(got));
	if (strcmp(want, got) != 0)
		fprintf(stderr, "given %s wrote %s\n", given, text);
	REQUIRE(strcmp(want, got) == 0);
}

static void
check_value(const bson_iter_t *it, const Token *t)
{
	switch (t->tok)
	{
		case WJB_BEGIN_OBJECT:
			REQUIRE(BSON_ITER_HOLDS_DOCUMENT(it));
			check_container(it, false);
			return;
		case WJB_BEGIN_ARRAY:
			REQUIRE(BSON_ITER_HOLDS_ARRAY(it));
			check_container(it, true);
			return;
		default:
			break;
	}
	switch (t->v.type)
	{
		case jbvNull:
			REQUIRE(BSON_ITER_HOLDS_NULL(it));
			break;
		case jbvBool:
			REQUIRE(BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it) == t->v.val.boolean);
			break;
		case jbvString:
			{
				uint32_t	len;
				const char *s;

				REQUIRE(BSON_ITER_HOLDS_UTF8(it));
				s = bson_iter_utf8(it, &len);
				REQUIRE(len == (uint32_t) t->v.val.string.len && memcmp(s, t->str, len) == 0);
			}
			break;
		case jbvNumeric:
			check_number(it, t->num.text);
			break;
		default:
			REQUIRE(!"unexpected token");
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t		doc = BSON_INITIALIZER;
	sigjmp_buf	jb;
	Jsonb		fake;
	int			i;

	in = data;
	insize = size;
	inpos = 0;
	build_script();
	wide_number = false;
	for (i = 0; i < ntoks; i++)
		if (toks[i].v.type == jbvNumeric && significant_digits(toks[i].num.text) > 34)
			wide_number = true;	/* more than a Decimal128 holds */
	memset(&fake, 0, sizeof(fake));
	if (sigsetjmp(jb, 0) == 0)
	{
		bson_iter_t it;

		PG_exception_stack = &jb;
		recon_append_jsonb(&doc, "v", &fake);
		PG_exception_stack = NULL;
		REQUIRE(bson_validate(&doc, BSON_VALIDATE_NONE, NULL));
		REQUIRE(bson_iter_init(&it, &doc) && bson_iter_next(&it));
		replay = 0;
		check_value(&it, &toks[replay++]);
		REQUIRE(replay == ntoks);
		REQUIRE(max_depth <= 100);
	}
	else
	{
		PG_exception_stack = NULL;
		/* refusals: nesting past MongoDB's limit, or a number no Decimal128 holds */
		if (!(max_depth > 100 || wide_number))
			for (i = 0; i < ntoks; i++)
				if (toks[i].v.type == jbvNumeric)
					fprintf(stderr, "number given: %s\n", toks[i].num.text);
		REQUIRE(max_depth > 100 || wide_number);
	}
	bson_destroy(&doc);
	return 0;
}
