/*
 * ranges.h — range sweeps: a sweep split into key ranges, each a unit of
 * work recorded in recon.sweep_ranges, resumable and run by one or more
 * workers (ranges.c; a range's pass is sweep.c's recon_sweep_pass).
 */
#ifndef RECON_RANGES_H
#define RECON_RANGES_H

#include "postgres.h"

/* one unit of a range sweep: keys in [lower, upper) */
typedef struct ReconRange
{
	bool		int_key;		/* integer key (else text, compared as COLLATE "C") */
	bool		other_types;	/* the documents whose _id is of another type class */
	char	   *lower;			/* inclusive, text form; NULL: open */
	char	   *upper;			/* exclusive; NULL: open */
	int64		lower_int;		/* the bounds of an integer key */
	int64		upper_int;
	double		share;			/* expected share of the source's rows */
} ReconRange;

extern void recon_range_run_work(int64 run_id, const char *actor);
extern int64 recon_range_run_start(const char *name, const char *actor, int nranges, int workers,
								   const char *how);
extern void recon_resume_orphaned_range_runs(void);

#endif
