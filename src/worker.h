/*
 * worker.h — the launcher of change workers, the shared memory that wakes
 * it, and background sweeps (worker.c).
 */
#ifndef RECON_WORKER_H
#define RECON_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern bool recon_preloaded;
extern void recon_workers_init(void);
extern void recon_wake_launcher_at_commit(void);
extern void recon_mark_db_idle(Oid dboid);
extern int	recon_start_range_workers(int64 run_id, int n);
extern TimestampTz recon_shmem_created_at(void);

#endif
