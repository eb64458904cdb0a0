/*
 * cdc.h — change-driven checks: cdc_admin.c turns them on and off and owns
 * the slot's name, cdc.c runs the change worker's cycle and checks keys,
 * cdc_decode.c decodes the slot in process.
 */
#ifndef RECON_CDC_H
#define RECON_CDC_H

#include "datatype/timestamp.h"
#include "mapping.h"
#include "target.h"

#define CDC_ACTOR "recon_cdc_worker"

/* The database's slot (cdc_admin.c). */
extern char *recon_cdc_slot_name(Oid dboid);
extern bool recon_cdc_slot_exists(const char *slot);
extern void recon_cdc_create_slot(const char *slot);

/* A mapping whose changes the worker follows, loaded for one cycle. */
typedef struct CdcMapping
{
	ReconMapping *m;
	ReconTarget *t;
	int64		run_id;
	bool		recorded;		/* divergences recorded this cycle (repair = auto applies them) */
	bool		rounded;		/* had its MongoDB round this cycle, with decoded keys */
} CdcMapping;

/* A key as decoded: canonical form, text form (for people), latest commit. */
typedef struct CdcDecodedKey
{
	char	   *key;
	int			keylen;
	char	   *keytext;
	TimestampTz committed_at;
} CdcDecodedKey;

/*
 * Check keys that were already due when decoded, before queueing them,
 * with_queue: together with the mapping's due queued keys (cdc.c).  Returns
 * false, having changed nothing, when one could not be checked: the caller
 * queues them instead.
 */
extern bool recon_cdc_check_decoded(CdcMapping *c, const CdcDecodedKey *keys, int n, bool with_queue);

/*
 * Decode the database's slot (held by this worker) from where the last
 * call stopped up to the end of flushed WAL, check the changed keys of
 * maps that are due already and queue the rest in recon.cdc_queue, commit,
 * then confirm the slot past them.  Returns true when it stopped early
 * with more WAL to decode; *checked tells whether it checked keys (and
 * with them the queue's due keys: a MongoDB round).
 */
extern bool recon_cdc_decode(const char *slot, CdcMapping *maps, int nmaps, bool *checked);

/* Release the slot and the decoding context (before dropping the slot). */
extern void recon_cdc_decode_close(void);

/* After an aborted cycle: drop the decoding context if decoding failed. */
extern void recon_cdc_decode_after_error(void);

#endif
