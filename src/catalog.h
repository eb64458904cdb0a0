/*
 * catalog.h — recon's records: runs, divergences, repairs and the audit
 * log.  catalog.c is the only file that writes these four tables
 * (scripts/check_boundaries.sh fails the tests otherwise); everything
 * else asks it.  Callers are connected to SPI with the search_path pinned.
 */
#ifndef RECON_CATALOG_H
#define RECON_CATALOG_H

#include "mapping.h"
#include "ranges.h"

/* What a run found, counted as it goes. */
typedef struct ReconRunStats
{
	int64		candidates;
	int64		divergences;
	int64		new_divergences;
	int64		repairs_planned;
	int64		duplicate_keys; /* source keys seen more than once (sweep) */
	char	   *duplicate_key;	/* the first of them, as JSON text */
} ReconRunStats;

/*
 * What an audit row records.  The names written to audit_log.action are
 * in catalog.c's table, the only place they are spelled.
 */
typedef enum ReconAuditAction
{
	AUDIT_NONE = 0,				/* not an action: catches an unset field */
	AUDIT_RUN_STARTED,
	AUDIT_RUN_FINISHED,
	AUDIT_DIVERGENCE_OPENED,
	AUDIT_DIVERGENCE_CLOSED,
	AUDIT_REPAIR_PLANNED,
	AUDIT_REPAIR_APPROVED,
	AUDIT_REPAIR_REJECTED,
	AUDIT_REPAIR_APPLYING,
	AUDIT_REPAIR_APPLIED,
	AUDIT_REPAIR_VERIFIED,
	AUDIT_REPAIR_CONFLICT,
	AUDIT_REPAIR_FAILED,
	AUDIT_GATE_TRIPPED,
	AUDIT_GATE_WRITE_ERRORS,
	AUDIT_MAPPING_CREATED,
	AUDIT_MAPPING_ALTERED,
	AUDIT_MAPPING_DROPPED,
	AUDIT_MAPPING_OWNER_CHANGED,
	AUDIT_CDC_ENABLED,
	AUDIT_CDC_DISABLED,
	AUDIT_KEY_ROTATED,
	AUDIT_RUN_RESUMED,
	AUDIT_RUN_ABANDONED,
	AUDIT_N_ACTIONS
} ReconAuditAction;

typedef struct ReconAudit
{
	const char *actor;
	ReconAuditAction action;
	const char *mapping;
	int64		run_id;			/* 0 = none */
	int64		divergence_id;
	int64		repair_id;
	const char *reason;
	const char *detail;			/* jsonb text or NULL */
	const char *before_hash;
	const char *after_hash;
} ReconAudit;

extern void recon_audit(const ReconAudit *a);

/* ---- runs ---- */
extern int64 recon_run_start(const ReconMapping *m, const char *kind, const char *actor);
extern void recon_run_fail(int64 run_id, const char *why);
extern void recon_run_end_change_run(int64 mapping_id);
extern void recon_run_count_checks(int64 run_id, int64 checked, const ReconRunStats *stats);
extern void recon_run_set_estimate(int64 run_id, const char *json);
extern void recon_finish_run(const ReconMapping *m, int64 run_id, const char *actor, int64 rows,
							 int64 docs, ReconRunStats *stats, bool partial);

/* ---- the quality gate ---- */
extern bool recon_change_run_gated(const ReconMapping *m, int64 run_id, const char *actor,
								   double min_checked);

/* ---- divergences ---- */
typedef struct ReconDivergenceRow
{
	const char *kind;			/* missing, extra or mismatch */
	Datum		key;			/* jsonb shown to users */
	bytea	   *key_canon;
	Datum		fields;			/* text[] of differing paths */
	const char *source_hash;	/* NULL: no row */
	const char *target_hash;	/* NULL: no document */
	Datum		source_image;	/* jsonb, or (Datum) 0 for none */
	Datum		target_image;
	const char *reason;
} ReconDivergenceRow;

extern int64 recon_divergence_record(const ReconMapping *m, int64 run_id,
									 const ReconDivergenceRow *d, bool *is_new);
extern void recon_audit_change_run_records(const ReconMapping *m, int64 run_id, const char *actor);
extern void recon_forget_mapping_records(const char *mapping_name);

/* ---- repairs ---- */
typedef struct ReconRepairPlan
{
	int64		divergence_id;
	int64		run_id;
	const char *action;			/* insert, update, replace or delete */
	const char *operation;		/* jsonb text */
	bool		needs_approval;
	const char *approval_reason;	/* or NULL */
	const char *failed;			/* why it can never be written, or NULL */
} ReconRepairPlan;

extern bool recon_repair_in_doubt(int64 divergence_id);
extern void recon_repairs_supersede(int64 divergence_id);
extern void recon_repair_insert(const ReconMapping *m, const ReconRepairPlan *p);
extern int	recon_repairs_claim(const ReconMapping *m, int64 run_id, const char *actor,
								int limit, Datum *ids);

typedef struct ReconRepairOutcome
{
	int64		repair_id;
	int64		divergence_id;
	const char *status;			/* verified, conflict or failed */
	ReconAuditAction action;
	const char *after_hash;		/* the document afterwards, or NULL */
	const char *message;		/* or NULL */
	const char *operation;		/* jsonb text, or NULL */
	const char *seen_hash;		/* the document recon planned against */
} ReconRepairOutcome;

extern void recon_repair_record_outcome(const ReconMapping *m, int64 run_id, const char *actor,
										const ReconRepairOutcome *o);
extern void recon_run_fail_write_errors(const ReconMapping *m, int64 run_id, const char *actor,
										const char *why);
extern int64 recon_repairs_decide(int64 run_id, Datum repair_ids, bool all, const char *note,
								  const char *actor, bool approve);

/* ---- range sweeps (recon.sweep_ranges) ---- */
extern int64 recon_range_run_create(const ReconMapping *m, const char *actor, char **bounds,
									int nbounds, bool int_key, int workers, const char *how);
extern int64 recon_range_run_unfinished(int64 mapping_id);
extern bool recon_range_claim(int64 run_id, int *range_no, ReconRange *r);
extern bool recon_range_hold(int64 run_id, int range_no);
extern void recon_range_done(const ReconMapping *m, int64 run_id, int range_no, const char *actor,
							 int64 rows, int64 docs, const ReconRunStats *stats);
extern bool recon_range_run_finish(const ReconMapping *m, int64 run_id, const char *actor);
extern bool recon_range_run_resume(const ReconMapping *m, int64 run_id, const char *actor,
								   const char *why);
extern int	recon_range_run_abandon(const char *mapping, int64 run_id, const char *actor,
									const char *reason);

#endif
