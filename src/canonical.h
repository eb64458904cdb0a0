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
#include "access/attnum.h"
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
	CK_JSON,					/* json, jsonb */
	CK_CHAR,					/* char(n): trailing blanks insignificant */
	CK_CITEXT,					/* citext: compared case-insensitively */
	CK_ENUM,					/* enum: by label, as a string */
	CK_TIME,					/* time: "HH:MM:SS[.ffffff]" */
	CK_TIMETZ,					/* timetz: time and zone */
	CK_INTERVAL,				/* interval: ISO 8601 duration, PostgreSQL's equality */
	CK_INET,					/* inet, cidr: address and prefix length */
	CK_MACADDR,
	CK_MONEY,					/* money: a number in the currency's units */
	CK_ARRAY,					/* one-dimensional array of a supported type */
	CK_COMPOSITE				/* composite: a subdocument */
} CanonKind;

/*
 * How values of one column (or array element, or composite attribute) are
 * converted: its kind and, for arrays and composites, the kinds inside.
 * Built once per mapping by canon_type_for() (coltype.c).
 */
typedef struct CanonType
{
	CanonKind	kind;
	Oid			typid;			/* domains resolved to their base type */
	bool		unordered;		/* CK_ARRAY: compared as a multiset */
	bool		null_is_empty;	/* CK_ARRAY: NULL, missing and [] alike (embedded children) */
	/* CK_ARRAY */
	struct CanonType *elem;
	int			nident;			/* elements' identity: attributes (of a composite elem) */
	int		   *ident;			/* that name an element in paths, items[line_no=3] */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	/* CK_COMPOSITE: the live attributes, in attribute order */
	int			natts;
	struct CanonType *atts;
	char	  **attnames;
	AttrNumber *attnums;
} CanonType;

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
#define CT_CLOCK	'h'			/* time of day (and zone) */
#define CT_SPAN		'I'			/* interval, as PostgreSQL compares it */
#define CT_NETADDR	'P'			/* inet/cidr: family, bits, address */
#define CT_MAC		'M'
#define CT_OTHER	'X'			/* a BSON type with no counterpart: never equal */

extern bool canon_kind_is_key_capable(CanonKind kind);

/*
 * Append the encoding of one value.  *from_double (may be NULL) reports a
 * number that came from a binary double, for the nearest-double rule.
 */
extern void canon_datum(StringInfo out, const CanonType *type, Datum value,
						bool isnull, const CanonOptions *opts, bool *from_double);
extern void canon_bson(StringInfo out, const CanonType *type, const bson_iter_t *iter,
					   const CanonOptions *opts, bool *from_double);
extern void canon_missing(StringInfo out, const CanonOptions *opts);
extern void canon_ambiguous(StringInfo out);

extern bool canon_values_equal(const char *a, int alen, bool a_double,
							   const char *b, int blen, bool b_double);

extern int	canon_composite_deform(Datum value, Datum **values, bool **nulls, Pointer *detoasted);

/* Length of the encoded value starting at p. */
static inline int
canon_value_len(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return 5 + (int) (((uint32) u[1] << 24) | ((uint32) u[2] << 16) |
					  ((uint32) u[3] << 8) | (uint32) u[4]);
}

/*
 * The deepest paths at which two encodings of one value differ (JSON trees,
 * composites, ordered arrays), under prefix, palloc'd into paths[] (room
 * for limit); returns how many, or 0 when there are more than limit (the
 * caller then reports prefix alone).
 */
extern int	canon_diff_paths(const char *a, int alen, const char *b, int blen,
							 const CanonType *type, const char *prefix,
							 char **paths, int limit);

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
