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

static const CanonKind kinds[] = {
	CK_INT, CK_NUMERIC, CK_FLOAT, CK_TEXT, CK_BOOL, CK_TIMESTAMPTZ, CK_TIMESTAMP,
	CK_DATE, CK_UUID, CK_BYTEA, CK_JSON
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t		doc;
	bson_iter_t it;
	sigjmp_buf	jb;
	unsigned	k;
	int			p;

	if (!bson_init_static(&doc, data, size) || !bson_validate(&doc, BSON_VALIDATE_NONE, NULL))
		return 0;
	if (!bson_iter_init(&it, &doc))
		return 0;
	while (bson_iter_next(&it))
	{
		for (k = 0; k < lengthof(kinds); k++)
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
					canon_bson(&a, kinds[k], &it, &o, &dbl);
					canon_bson(&b, kinds[k], &it, &o, NULL);
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
					(void) canon_digest(a.data, a.len);
				}
				PG_exception_stack = NULL;
				pfree(a.data);
				pfree(b.data);
				pfree(t.data);
			}
	}
	return 0;
}
