/*
 * fuzz_canonical.c — libFuzzer target for the BSON -> canonical path
 * (src/canonical.c): the input is taken as a BSON document; every element
 * is canonicalized under every column kind and both timestamp precisions,
 * rendered as text, digested, and compared with itself (a value must equal
 * itself) and with its neighbour.  Errors recon raises (ereport) are fine;
 * crashes, sanitizer reports and self-inequality are bugs.
 *
 * canonical.c is compiled for this target with PostgreSQL's server headers
 * and linked with libpgcommon/libpgport (palloc, StringInfo, hashing,
 * SHA-256, shortest doubles); fuzz_stubs.c supplies ereport and fails loudly
 * if a backend-only path (Datum conversion) is ever reached.
 */
#include "postgres.h"

#include <setjmp.h>

#include "canonical.h"

extern sigjmp_buf *PG_exception_stack;

#define SCALAR(k, oid) {.kind = (k), .typid = (oid)}

/* citext is left out: its lower-casing needs the server's collation code */
static CanonType scalars[] = {
	SCALAR(CK_INT, 20), SCALAR(CK_NUMERIC, 1700), SCALAR(CK_FLOAT, 701), SCALAR(CK_TEXT, 25),
	SCALAR(CK_BOOL, 16), SCALAR(CK_TIMESTAMPTZ, 1184), SCALAR(CK_TIMESTAMP, 1114),
	SCALAR(CK_DATE, 1082), SCALAR(CK_UUID, 2950), SCALAR(CK_BYTEA, 17), SCALAR(CK_JSON, 3802),
	SCALAR(CK_CHAR, 1042), SCALAR(CK_ENUM, 0), SCALAR(CK_TIME, 1083), SCALAR(CK_TIMETZ, 1266),
	SCALAR(CK_INTERVAL, 1186), SCALAR(CK_INET, 869), SCALAR(CK_MACADDR, 829),
	SCALAR(CK_MONEY, 790)
};
static char *attnames[] = {"a", "b"};
static AttrNumber attnums[] = {1, 2};
/* embedded children: elements {a: int, b: text} named by a */
static CanonType line_atts[] = {SCALAR(CK_INT, 20), SCALAR(CK_TEXT, 25)};
static CanonType line_elem = {.kind = CK_COMPOSITE, .typid = 2249, .natts = 2, .atts = line_atts,
.attnames = attnames, .attnums = attnums};
static int	ident0[] = {0};
static CanonType containers[] = {
	{.kind = CK_ARRAY, .typid = 2287, .elem = &line_elem, .nident = 1, .ident = ident0,
	.null_is_empty = true},
	{.kind = CK_ARRAY, .typid = 2287, .elem = &line_elem, .nident = 1, .ident = ident0,
	.unordered = true, .null_is_empty = true},
	{.kind = CK_ARRAY, .typid = 1016, .elem = &scalars[0]},
	{.kind = CK_ARRAY, .typid = 1022, .elem = &scalars[2], .unordered = true},
	{.kind = CK_ARRAY, .typid = 1009, .elem = &scalars[3], .unordered = true},
	{.kind = CK_COMPOSITE, .typid = 0, .natts = 2, .atts = &scalars[13], .attnames = attnames,
	.attnums = attnums},
};
#define NTYPES (lengthof(scalars) + lengthof(containers))

static const CanonType *
type_at(unsigned i)
{
	return i < lengthof(scalars) ? &scalars[i] : &containers[i - lengthof(scalars)];
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t		doc;
	bson_iter_t it;
	sigjmp_buf	jb;
	unsigned	k;
	int			p;
	StringInfoData prev[NTYPES][2];	/* the previous element, under each type */
	bool		have_prev = false;

	if (!bson_init_static(&doc, data, size) || !bson_validate(&doc, BSON_VALIDATE_NONE, NULL))
		return 0;
	if (!bson_iter_init(&it, &doc))
		return 0;
	for (k = 0; k < NTYPES; k++)
		for (p = 0; p < 2; p++)
			initStringInfo(&prev[k][p]);
	while (bson_iter_next(&it))
	{
		for (k = 0; k < NTYPES; k++)
			for (p = 0; p < 2; p++)
			{
				CanonOptions o = {p == 0, p == 0 ? 1000 : 1};
				StringInfoData a,
							b,
							t;
				bool		dbl = false;

				initStringInfo(&a);
				initStringInfo(&b);
				initStringInfo(&t);
				if (sigsetjmp(jb, 0) == 0)
				{
					PG_exception_stack = &jb;
					canon_bson(&a, type_at(k), &it, &o, &dbl);
					canon_bson(&b, type_at(k), &it, &o, NULL);
					if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
						__builtin_trap();	/* not deterministic */
					if (!canon_values_equal(a.data, a.len, dbl, b.data, b.len, dbl))
					{
						/* NaN equals NaN by design: every value must equal itself */
						__builtin_trap();
					}
					if (canon_value_len(a.data) != a.len)
						__builtin_trap();	/* one value, whole */
					canon_to_text(&t, a.data, a.len);
					{
						char	   *paths[4];

						/* a value differs from itself nowhere */
						if (canon_diff_paths(a.data, a.len, b.data, b.len, type_at(k), "v", paths, 4))
							__builtin_trap();
						/* from its neighbour: somewhere, or too many places, never when equal */
						if (have_prev && prev[k][p].len > 0)
						{
							int			n = canon_diff_paths(prev[k][p].data, prev[k][p].len, a.data, a.len,
															 type_at(k), "v", paths, 4);

							if (n > 0 && canon_values_equal(prev[k][p].data, prev[k][p].len, false,
															a.data, a.len, false))
								__builtin_trap();
						}
						resetStringInfo(&prev[k][p]);
						appendBinaryStringInfo(&prev[k][p], a.data, a.len);
					}
					(void) canon_digest(a.data, a.len);
				}
				PG_exception_stack = NULL;
				pfree(a.data);
				pfree(b.data);
				pfree(t.data);
			}
		have_prev = true;
	}
	for (k = 0; k < NTYPES; k++)
		for (p = 0; p < 2; p++)
			pfree(prev[k][p].data);
	return 0;
}
