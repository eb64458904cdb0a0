/*
 * repair.h — applying a run's repairs (repair.c).
 */
#ifndef RECON_REPAIR_H
#define RECON_REPAIR_H

#include "postgres.h"

#include "mapping.h"
#include "target.h"

extern bool recon_apply_run(const ReconMapping *m, const ReconTarget *t, int64 run_id,
							const char *actor, int64 *verified, int64 *conflicts, int64 *failed);

#endif
