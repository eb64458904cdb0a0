/*
 * recon.h — declarations shared between recon's subsystems.
 */
#ifndef RECON_H
#define RECON_H

#include "postgres.h"

#include <mongoc/mongoc.h>

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "canonical.h"
#include "coltype.h"
#include "embed.h"
#include "progress.h"
#include "jsonbson.h"
#include "nodes/pg_list.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

/* ---- GUCs (recon.c) ---- */
extern int	recon_batch_size;
extern int	recon_partition_rows;
extern int	recon_connect_timeout_ms;
extern int	recon_socket_timeout_ms;
extern int	recon_recheck_timeout_ms;
extern int	recon_recheck_scan_keys;
extern int	recon_recheck_reads;

#define RECHECK_READS_AUTO 0
#define RECHECK_READS_KEYED 1
#define RECHECK_READS_SCAN 2
extern int	recon_progress_rows;
extern int	recon_audit_log_level;
extern int	recon_write_batch_size;

/* Fault injection for crash tests: pause at a named point (recon.c). */
typedef enum ReconPausePoint
{
	PAUSE_NONE, PAUSE_AFTER_INTENT, PAUSE_BEFORE_WRITE, PAUSE_AFTER_WRITE, PAUSE_BEFORE_RECHECK,
	PAUSE_BETWEEN_RANGES
} ReconPausePoint;
extern void recon_debug_pause(ReconPausePoint point);
extern char *recon_debug_fail_key;
extern void recon_sleep_ms(long ms);
extern void recon_settle_sleep(long ms);
extern void recon_own_snapshot(bool own);

/* ---- privileges (recon.c) ---- */
typedef struct ReconPriv
{
	Oid			caller;
	char	   *caller_name;
	Oid			save_userid;
	int			save_sec_context;
	Oid			owner;
	int			guc_nest;		/* search_path pinned at this GUC nest level */
	int			xact_level;		/* (sub)transaction nesting at entry */
} ReconPriv;

extern void recon_priv_enter(ReconPriv *priv, const char *role, const char *what);
extern void recon_priv_exit(ReconPriv *priv);

/* a read of a mapping's source, as its owner, restricted (recon.c) */
typedef struct ReconSourceSave
{
	Oid			userid;
	int			sec_context;
	int			guc_nest;
} ReconSourceSave;

struct ReconMapping;
extern void recon_source_check(const struct ReconMapping *m);
extern void recon_source_enter(const struct ReconMapping *m, ReconSourceSave *save);
extern void recon_source_exit(ReconSourceSave *save);
extern void recon_check_mapping_owner(const struct ReconMapping *m, const ReconPriv *priv,
									  const char *what);
extern void recon_pin_search_path(void);
extern bool recon_in_worker;
extern void recon_commit(void);

/* ---- audit (audit.c); caller must be connected to SPI ---- */
extern char *recon_redaction_hash(const char *data, int len);
extern void recon_audit_init(void);

extern bool recon_try(void (*fn) (void *arg), void *arg, char **why);
extern bool recon_try_code(void (*fn) (void *arg), void *arg, char **why, int *sqlerrcode);

/* ---- SPI helpers (recon.c) ---- */
extern void recon_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
						   const char *nulls, int expected);
extern int64 recon_spi_int64(const char *sql, int nargs, Oid *types, Datum *values);
extern int64 recon_spi_int64_nulls(const char *sql, int nargs, Oid *types, Datum *values,
								   const char *nulls);

/* ---- targets (target.c) ---- */
typedef struct ReconTarget
{
	Oid			serverid;
	char	   *server_name;
	char	   *uri;
	char	   *username;		/* NULL when the server needs none */
	char	   *password;
	Oid			umuser;			/* user mapping's role, InvalidOid = PUBLIC/none */
} ReconTarget;

extern ReconTarget *recon_target_lookup(Oid serverid, Oid userid);
extern Oid	recon_server_oid(const char *server_name);
extern char *recon_mongo_safe_message(const char *msg);

/* ---- MongoDB client (mongo_client.c) ---- */
extern mongoc_client_t *recon_mongo_client(const ReconTarget *target);
extern mongoc_collection_t *recon_mongo_collection(const ReconTarget *target,
												   const char *namespace);
extern void recon_mongo_raise(const bson_error_t *error, const char *what) pg_attribute_noreturn();
extern void recon_mongo_init(void);
extern void recon_mongo_long_reads(bool on);

/* ---- mappings (mapping.c) ---- */
typedef enum RepairPolicy
{
	REPAIR_OFF, REPAIR_APPROVE, REPAIR_AUTO
} RepairPolicy;

typedef struct ReconField
{
	AttrNumber	attnum;
	char	   *column;
	Oid			typid;			/* base type (domains resolved) */
	CanonKind	kind;			/* type->kind */
	CanonType  *type;			/* how values are converted */
	char	   *path;			/* document path, dots for nesting */
	bool		redacted;
	bool		is_key;
	char	   *unsupported_why;	/* when kind is CK_UNSUPPORTED: which part */
	ReconEmbed *embed;			/* embedded children: not a column (attnum 0) */
} ReconField;

typedef struct ReconMapping
{
	int64		id;
	char	   *name;
	Oid			relid;
	char	   *relname;		/* quoted, schema-qualified */
	char	   *server_name;
	Oid			serverid;
	char	   *collection;		/* db.coll */
	Oid			owner;			/* source reads run as this role */
	char	   *options_hash;	/* SHA-256 of the options: repairs are bound to it */
	int			nkeys;
	ReconField *keys;
	int			nfields;		/* mapped non-key fields */
	ReconField *fields;
	CanonOptions canon;
	bool		report_extra_fields;
	RepairPolicy repair;
	bool		repair_replace;
	bool		delete_extra;
	double		max_divergence_ratio;	/* < 0: no gate */
	double		max_repairs_per_second; /* <= 0: unlimited */
	int			max_write_errors;
	int			settle_ms;
	bool		cdc_enabled;
	Jsonb	   *options;
	List	   *key_names;		/* key column names as stored */
	Jsonb	   *columns;		/* accepted column list (NULL: every column, 0.1.0) */
	List	   *new_columns;	/* columns added to the source since, not compared */
	int			nembeds;		/* embedded children, also the last nembeds fields */
	ReconEmbed *embeds;
	int			sweep_ranges;	/* option sweep_ranges: ranges of a background sweep (0: one pass) */
} ReconMapping;

extern ReconMapping *recon_mapping_load(const char *name);
extern ReconMapping *recon_mapping_load_catalog(const char *name);
extern void recon_mapping_lock(const char *name);
extern List *recon_primary_key_columns(Relation rel);

/* ---- document shape (docshape.c) ---- */
extern void recon_key_canon_datums(const ReconMapping *m, Datum *values, bool *nulls,
								   StringInfo out);
extern void recon_row_canon(const ReconMapping *m, Datum *values, bool *nulls,
							StringInfo out, bool *from_double);
extern bool recon_doc_key_canon(const ReconMapping *m, const bson_t *doc, StringInfo out);
extern const char *recon_doc_ambiguous_path(const ReconMapping *m, const bson_t *doc);
extern void recon_doc_canon(const ReconMapping *m, const bson_t *doc, StringInfo out,
							bool *from_double);
extern int	recon_diff_fields(const ReconMapping *m, const char *a, const bool *a_dbl,
							  const char *b, const bool *b_dbl, const bson_t *doc,
							  List **paths, bool *mask);
extern void recon_append_id(const ReconMapping *m, bson_t *dst, const char *key,
							Datum *values, bool *nulls);
extern void recon_append_id_candidates_from_canon(const ReconMapping *m, bson_t *in_array,
												  int *idx, const char *kc, int kclen);
extern void recon_build_document(const ReconMapping *m, Datum *values, bool *nulls,
								 bson_t *doc, bool redact);
extern void recon_build_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter);
extern void recon_build_whole_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter);
extern void recon_build_replace_update(const ReconMapping *m, Datum *values, bool *nulls,
									   const bson_t *seen, bson_t *update, bool redact);
extern void recon_build_update(const ReconMapping *m, Datum *values, bool *nulls,
							   bson_t *update, bool redact, const bool *only);
extern void recon_redacted_copy(const ReconMapping *m, const bson_t *doc, bson_t *out);
extern Datum recon_bson_to_jsonb(const bson_t *doc);
extern Datum recon_bson_to_jsonb_safe(const bson_t *doc);
extern char *recon_reason_json(const char *tag, const char *why);
extern void recon_append_value(bson_t *dst, const char *key, const CanonType *type, Datum v,
							   bool isnull, const CanonOptions *copts);
extern const char *recon_unexpected_key_type(const char *kc, int kclen);
extern char *recon_bson_to_json_text(const bson_t *doc);
extern char *recon_key_canon_to_json(const ReconMapping *m, const char *kc, int kclen);
extern List *recon_key_canon_to_texts(const ReconMapping *m, const char *kc, int kclen);
extern char *recon_source_select_list(const ReconMapping *m);
extern char *recon_source_scan_sql(const ReconMapping *m, const char *sql_suffix);
extern char *recon_source_key_lookup_sql(const ReconMapping *m, const char *suffix);
extern char *recon_source_key_lock_sql(const ReconMapping *m, const char *lock);

/* ---- sweep / re-check (sweep.c) ---- */
typedef struct ReconCandidate
{
	char	   *key;			/* canonical key */
	int			keylen;
	bson_t	   *id;				/* {_id: value} as seen in MongoDB, or NULL */
	CanonDigest src_digest;
	CanonDigest doc_digest;
	bool		in_source;
	bool		in_target;
} ReconCandidate;

typedef struct ReconRunStats
{
	int64		candidates;
	int64		divergences;
	int64		new_divergences;
	int64		repairs_planned;
	int64		duplicate_keys; /* source keys seen more than once (sweep) */
	char	   *duplicate_key;	/* the first of them, as JSON text */
} ReconRunStats;

/* how a re-check reads documents back */
typedef enum ReconRereadMode
{
	REREAD_KEYED,				/* one $in query per batch */
	REREAD_SCAN					/* one natural-order pass, keys matched here */
} ReconRereadMode;

/* one key read on both sides (recheck.c); used by re-checks and repairs */
typedef struct ReconKeyed
{
	char	   *key;			/* canonical key */
	int			keylen;
	bson_t	   *id;				/* {_id: value} as last seen, or NULL */
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

extern void recon_read_sides(const ReconMapping *m, const ReconTarget *t, ReconKeyed *items,
							 int n, const char *lock);
extern void recon_read_source(const ReconMapping *m, ReconKeyed *items, int n);
extern char *recon_document_reason(const ReconMapping *m, const ReconKeyed *it);
extern bool recon_compare_item(const ReconMapping *m, ReconKeyed *it, List **paths, bool *mask);
extern char *recon_item_source_hash(const ReconKeyed *it);
extern char *recon_item_target_hash(const ReconKeyed *it);
extern void recon_unexpected_key(const bson_t *doc, StringInfo out);

typedef void (*ReconRowFn) (void *arg, Datum *values, bool *nulls);
extern int64 recon_source_rows(const ReconMapping *m, const char *sql_suffix, int nargs,
							   Oid *argtypes, Datum *args, ReconRowFn fn, void *arg);
extern void recon_lock_mapping_for_run(const ReconMapping *m);
extern const char *recon_repair_action(const ReconMapping *m, bool in_source, bool in_target);
extern int64 recon_sweep_mapping(const char *name, const char *actor, int64 run_id);

/* one unit of a range sweep (sweep.c, ranges.c): keys in [lower, upper) */
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

extern bool recon_range_key_is_int(const ReconMapping *m);
extern char **recon_range_bounds(const ReconMapping *m, int nranges, int *nbounds);
extern void recon_sweep_pass(const ReconMapping *m, const ReconTarget *t, int64 run_id,
							 const ReconRange *r, int64 *rows, int64 *docs, ReconRunStats *stats);
extern void recon_notice_new_columns(const ReconMapping *m);
extern void recon_refuse_if_range_run(const ReconMapping *m);

/* range sweeps (ranges.c) */
extern void recon_range_run_work(int64 run_id, const char *actor);
extern int64 recon_range_run_start(const char *name, const char *actor, int nranges, int workers,
								   const char *how);
extern void recon_resume_orphaned_range_runs(void);
extern int	recon_start_range_workers(int64 run_id, int n);
extern TimestampTz recon_shmem_created_at(void);
extern bool recon_apply_run(const ReconMapping *m, const ReconTarget *t, int64 run_id,
							const char *actor, int64 *verified, int64 *conflicts, int64 *failed);

extern void recon_record_divergence(const ReconMapping *m, int64 run_id, ReconKeyed *it,
									List *paths, const bool *mask, ReconRunStats *stats);

/* ---- background workers (worker.c, cdc.c) ---- */
extern int	recon_max_workers;
extern int	recon_naptime_s;
extern int	recon_poll_ms;

/* the change checks' re-check schedule and batching (recon.c) */
#define RECON_MAX_RECHECKS 16
extern int	recon_cdc_recheck_n;
extern int	recon_cdc_recheck_ms[RECON_MAX_RECHECKS];
extern int	recon_cdc_batch_window_ms;
extern char *recon_databases;
extern bool recon_preloaded;
extern void recon_workers_init(void);
extern void recon_wake_launcher(Oid dboid);
extern void recon_wake_launcher_at_commit(void);
extern void recon_mark_db_idle(Oid dboid);

extern bool recon_keyed_read_costs_a_scan(const ReconMapping *m, const ReconTarget *t,
										  const ReconCandidate *c, int limit_ms);
extern void recon_recheck_candidates(const ReconMapping *m, const ReconTarget *t,
									 int64 run_id, ReconCandidate *cands, int ncands,
									 ReconRereadMode mode, ReconRunStats *stats);

#endif
