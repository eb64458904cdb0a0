/*
 * sweep.h — recon.sweep(): a whole mapping compared in one pass per side
 * (sweep.c), and the source reads it shares with samples and re-checks.
 */
#ifndef RECON_SWEEP_H
#define RECON_SWEEP_H

#include "postgres.h"

#include "catalog.h"
#include "mapping.h"
#include "ranges.h"
#include "target.h"

typedef void (*ReconRowFn) (void *arg, Datum *values, bool *nulls);
extern int64 recon_source_rows(const ReconMapping *m, const char *sql_suffix, int nargs,
							   Oid *argtypes, Datum *args, ReconRowFn fn, void *arg);
extern void recon_lock_mapping_for_run(const ReconMapping *m);
extern int64 recon_sweep_mapping(const char *name, const char *actor, int64 run_id);
extern void recon_notice_new_columns(const ReconMapping *m);
extern void recon_refuse_if_range_run(const ReconMapping *m);

/* range sweeps' use of the sweep: one range's pass, and the ranges' bounds */
extern bool recon_range_key_is_int(const ReconMapping *m);
extern char **recon_range_bounds(const ReconMapping *m, int nranges, int *nbounds);
extern void recon_sweep_pass(const ReconMapping *m, const ReconTarget *t, int64 run_id,
							 const ReconRange *r, int64 *rows, int64 *docs, ReconRunStats *stats);

#endif
