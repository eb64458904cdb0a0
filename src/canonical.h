/*
 * canonical.h — the one value model both sides are converted into.
 *
 * A canonical value is a tag byte, a 4-byte big-endian length and a
 * payload.  Two values are equal when their encodings are byte-equal, with
 * one exception decided by canon_values_equal(): a number that came from a
 * BSON/PostgreSQL double equals an exact number whose nearest double it is.
 */
#ifndef RECON_CANONICAL_H
#define RECON_CANONICAL_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include <bson/bson.h>

/* How a column's values are compared; decided from its type at mapping time. */
typedef enum CanonKind
{
	CK_UNSUPPORTED = 0,
	CK_INT,						/* int2, int4, int8 */
	CK_NUMERIC,
	CK_FLOAT,					/* float4, float8 */
	CK_TEXT,					/* text, varchar, bpchar, name */
	CK_BOOL,
	CK_TIMESTAMPTZ,
	CK_TIMESTAMP,				/* without time zone: read as UTC */
	CK_DATE,
	CK_UUID,
	CK_BYTEA,
	CK_JSON						/* json, jsonb */
} CanonKind;

typedef struct CanonOptions
{
	bool		null_equals_missing;
	int64		ts_unit_us;		/* timestamp_precision: 1, 1000 or 1000000 */
} CanonOptions;

/* Tags of the canonical encoding (also used inside JSON trees). */
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
#define CT_OTHER	'X'			/* a BSON type with no counterpart: never equal */

extern CanonKind canon_kind_for_type(Oid typid);
extern const char *canon_kind_name(CanonKind kind);
extern bool canon_kind_is_key_capable(CanonKind kind);

/*
 * Append the encoding of one value.  *from_double (may be NULL) reports a
 * number that came from a binary double, for the nearest-double rule.
 */
extern void canon_datum(StringInfo out, CanonKind kind, Oid typid, Datum value,
						bool isnull, const CanonOptions *opts, bool *from_double);
extern void canon_bson(StringInfo out, CanonKind kind, const bson_iter_t *iter,
					   const CanonOptions *opts, bool *from_double);
extern void canon_missing(StringInfo out, const CanonOptions *opts);
extern void canon_ambiguous(StringInfo out);

extern bool canon_values_equal(const char *a, int alen, bool a_double,
							   const char *b, int blen, bool b_double);

/* Length of the encoded value starting at p. */
static inline int
canon_value_len(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return 5 + (int) (((uint32) u[1] << 24) | ((uint32) u[2] << 16) |
					  ((uint32) u[3] << 8) | (uint32) u[4]);
}

/* Human-readable rendering of one canonical value (diagnostics, tests). */
extern void canon_to_text(StringInfo out, const char *p, int len);

/* 128-bit fast digest of a buffer (sweep pass) and SHA-256 hex (records). */
typedef struct CanonDigest
{
	uint64		h[2];
} CanonDigest;

extern CanonDigest canon_digest(const char *data, int len);
extern uint32 canon_digest_hash(const void *key, Size keysize);
extern char *canon_sha256_hex(const char *data, int len);
extern void canon_hex_encode(const uint8 *bytes, int n, char *out);
extern int	canon_hex_value(char c);

extern int64 canon_parse_precision(const char *s);

/*
 * bson_t and bson_iter_t are declared 128-byte aligned and libbson may use
 * aligned vector moves on them: palloc's 8-byte alignment is not enough.
 */
static inline void *
palloc_bson_aligned(Size size)
{
	return (void *) TYPEALIGN(128, palloc(size + 128));
}

#endif
