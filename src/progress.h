/*
 * progress.h — what each running sweep is doing, in shared memory, for
 * recon.sweep_progress (progress.c).
 */
#ifndef RECON_PROGRESS_H
#define RECON_PROGRESS_H

#include "postgres.h"

typedef enum ReconSweepPhase
{
	SWEEP_PHASE_STARTING = 1,	/* mapping load, connection, partitions */
	SWEEP_PHASE_SOURCE,			/* reading the source */
	SWEEP_PHASE_COLLECTION,		/* reading the collection */
	SWEEP_PHASE_MATCHING,		/* matching keys, re-reading candidates */
	SWEEP_PHASE_RECORDING		/* resolving, gate, audit */
} ReconSweepPhase;

typedef enum ReconProgressCounter
{
	PROGRESS_ROWS,
	PROGRESS_DOCS,
	PROGRESS_CANDIDATES,
	PROGRESS_DIVERGENCES,
	PROGRESS_NCOUNTERS
} ReconProgressCounter;

extern Size recon_progress_shmem_size(void);
extern void recon_progress_shmem_init(void);

/* This backend starts a run (kind: sweep, sample) of a mapping; ends at transaction end. */
extern void recon_progress_begin(int64 mapping_id, const char *mapping, const char *kind,
								 int64 run_id, double rows_estimate);
extern void recon_progress_phase(ReconSweepPhase phase);
extern void recon_progress_range(int range_no);
extern void recon_progress_set(ReconProgressCounter counter, int64 value);

#endif
