/*
 * decoder.h — the relations recon's output plugin (decoder.c) decodes for,
 * and the in-process sink through which it hands changed keys straight to
 * the change worker (cdc_decode.c) instead of writing text lines.
 */
#ifndef RECON_DECODER_H
#define RECON_DECODER_H

#include "postgres.h"

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "utils/relcache.h"

/*
 * One entry of the relations decoded for: a mapped table, or the child
 * relation of an embedded array (whose join columns are the parent's key).
 * A relation may appear in several entries.
 */
typedef struct DecodedRel
{
	Oid			relid;
	int			entry;			/* its position among the entries, from 0 */
	int			nkeys;
	AttrNumber	keys[INDEX_MAX_KEYS];
} DecodedRel;

/*
 * Set by the change worker while it decodes in process.  The plugin calls
 * key() for each changed key of an entry and sweep() when only a full sweep
 * can tell (TRUNCATE, a key that cannot be read); both get the commit time
 * of the transaction.  NULL when the plugin runs for SQL callers: it writes
 * text lines then (cdcmsg.h).
 */
typedef struct ReconDecodeSink
{
	const DecodedRel *rels;
	int			nrels;
	void		(*key) (void *arg, const DecodedRel *dr, Relation rel, HeapTuple tuple,
						TimestampTz committed_at);
	void		(*sweep) (void *arg, const DecodedRel *dr, TimestampTz committed_at);
	void	   *arg;
} ReconDecodeSink;

extern ReconDecodeSink *recon_decode_sink;

#endif
