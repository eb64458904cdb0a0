/*
 * canonical.h — the one value model both sides are converted into.
 *
 * A canonical value is a tag byte, a 4-byte big-endian length and a
 * payload.  Two values are equal when their encodings are byte-equal, with
 * one exception decided by canon_values_equal(): a number that came from a
 * BSON/PostgreSQL double equals an exact number whose nearest double it is.
 * The encoding is private to canonical.c: other files hold its bytes (keys,
 * spilled rows) but read and write them only through the functions below
 * (scripts/check_boundaries.sh enforces this).
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

extern bool canon_kind_is_key_capable(CanonKind kind);

/*
 * Append the encoding of one value.  *from_double (may be NULL) reports a
 * number that came from a binary double, for the nearest-double rule.
 */
extern void canon_datum(StringInfo out, const CanonType *type, Datum value,
						bool isnull, const CanonOptions *opts, bool *from_double);
extern void canon_bson(StringInfo out, const CanonType *type, const bson_iter_t *iter,
					   const CanonOptions *opts, bool *from_double);
extern void canon_ambiguous(StringInfo out);

extern bool canon_values_equal(const char *a, int alen, bool a_double,
							   const char *b, int blen, bool b_double);

extern int	canon_composite_deform(Datum value, Datum **values, bool **nulls, Pointer *detoasted);

/* Length of the encoded value starting at p (the encoding is canonical.c's). */
extern int	canon_value_len(const char *p);

/*
 * Keys.  A row's key is the encodings of its key columns' values, one after
 * another.  A document whose _id can be no key of the mapping gets an
 * "unexpected" key instead: one value no row key equals, which carries the
 * raw {_id: value} document so that it can still be shown and looked up.
 */

/* Whether the value at p can be a value of a key column of this kind and type. */
extern bool canon_key_value_fits(const char *p, CanonKind kind, Oid typid);

/* The SQL input text of the key value at *p (palloc'd); advances *p past it. */
extern char *canon_key_value_text(const char **p);

/* Replace out's contents with the unexpected key of doc. */
extern void canon_unexpected_key(StringInfo out, const bson_t *doc);

/* Whether kc (len bytes) is an unexpected key rather than a row's key. */
extern bool canon_key_is_unexpected(const char *kc, int len);

/*
 * The {_id: value} document an unexpected key carries, as a read-only view
 * of kc's bytes; false when kc is no unexpected key or carries no document.
 */
extern bool canon_unexpected_key_id(const char *kc, int len, bson_t *id);

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
extern uint64 canon_json_doubles_mark(void);
extern CanonDigest canon_digest_since(const char *data, int len, uint64 mark);
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
