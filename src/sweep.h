/*
 * sweep.h — recon.sweep(): a whole mapping compared in one pass per side
 * (sweep.c), and the source reads it shares with samples and re-checks.
 */
#ifndef RECON_SWEEP_H
#define RECON_SWEEP_H

#include "postgres.h"

#include "mapping.h"

typedef void (*ReconRowFn) (void *arg, Datum *values, bool *nulls);
extern int64 recon_source_rows(const ReconMapping *m, const char *sql_suffix, int nargs,
							   Oid *argtypes, Datum *args, ReconRowFn fn, void *arg);
extern void recon_lock_mapping_for_run(const ReconMapping *m);
extern int64 recon_sweep_mapping(const char *name, const char *actor, int64 run_id);

#endif
