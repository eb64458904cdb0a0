/*
 * recheck.h — reading keys back on both sides before anything is
 * recorded: sweep candidates, change-checked keys and repairs; recording
 * what still differs and planning its repair (recheck.c).
 */
#ifndef RECON_RECHECK_H
#define RECON_RECHECK_H

#include "postgres.h"

#include <bson/bson.h>

#include "catalog.h"
#include "target.h"

/* a key a sweep's passes saw differ (or on one side only) */
typedef struct ReconCandidate
{
	char	   *key;			/* canonical key */
	int			keylen;
	uint32		idlen;
	const uint8_t *id;			/* BSON {_id: value} as seen in MongoDB, or NULL */
	CanonDigest src_digest;
	CanonDigest doc_digest;
	bool		in_source;
	bool		in_target;
} ReconCandidate;

/* how a re-check reads documents back */
typedef enum ReconRereadMode
{
	REREAD_KEYED,				/* one $in query per batch */
	REREAD_SCAN					/* one natural-order pass, keys matched here */
} ReconRereadMode;

/* one key read on both sides; used by re-checks and repairs */
typedef struct ReconKeyed
{
	char	   *key;			/* canonical key */
	int			keylen;
	uint32		idlen;
	const uint8_t *id;			/* BSON {_id: value} as last seen, or NULL */
	int64		ref;			/* caller's id (repair_id) */
	bool		seen_src;		/* what the previous look saw */
	bool		seen_doc;
	CanonDigest src_digest;
	CanonDigest doc_digest;
	bool		src_present;	/* what recon_read_sides found */
	Datum	   *values;
	bool	   *nulls;
	bson_t	   *doc;
	StringInfoData src_canon;	/* key + fields, filled by recon_compare_item */
	StringInfoData doc_canon;
} ReconKeyed;

/*
 * An iterator on the value of a BSON {_id: value} kept as bytes (a candidate
 * keeps 12 bytes for it, not a 128-byte-aligned bson_t); false without one.
 */
static inline bool
recon_id_iter(bson_iter_t *it, const uint8_t *id, uint32 idlen)
{
	return id != NULL && bson_iter_init_from_data(it, id, idlen) && bson_iter_find(it, "_id");
}

extern void recon_read_sides(const ReconMapping *m, const ReconTarget *t, ReconKeyed *items,
							 int n, const char *lock);
extern void recon_read_source(const ReconMapping *m, ReconKeyed *items, int n);
extern char *recon_document_reason(const ReconMapping *m, const ReconKeyed *it);
extern bool recon_compare_item(const ReconMapping *m, ReconKeyed *it, List **paths, bool *mask);
extern char *recon_item_target_hash(const ReconKeyed *it);
extern const char *recon_repair_action(const ReconMapping *m, bool in_source, bool in_target);
extern void recon_record_divergence(const ReconMapping *m, int64 run_id, ReconKeyed *it,
									List *paths, const bool *mask, ReconRunStats *stats);
extern bool recon_keyed_read_costs_a_scan(const ReconMapping *m, const ReconTarget *t,
										  const ReconCandidate *c, int limit_ms);
extern void recon_recheck_candidates(const ReconMapping *m, const ReconTarget *t,
									 int64 run_id, ReconCandidate *cands, int ncands,
									 ReconRereadMode mode, ReconRunStats *stats);

#endif
