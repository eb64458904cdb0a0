/*
 * recon.h — what recon.c, the module's entry, offers every subsystem: the
 * settings (GUCs, all defined and registered there), the testing aids, the
 * privilege switch of SQL entry points, source reads as a mapping's owner,
 * error trapping and the SPI helpers.
 */
#ifndef RECON_RECON_H
#define RECON_RECON_H

#include "postgres.h"

/* ---- settings ---- */
extern int	recon_batch_size;
extern int	recon_pass_batch_size;
extern int	recon_partition_rows;
extern int	recon_connect_timeout_ms;
extern int	recon_socket_timeout_ms;
extern int	recon_recheck_timeout_ms;
extern int	recon_recheck_scan_keys;
extern int	recon_recheck_in_keys;
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
	PAUSE_BETWEEN_RANGES, PAUSE_IN_ITEM
} ReconPausePoint;
extern void recon_debug_pause(ReconPausePoint point);
extern char *recon_debug_fail_key;
extern void recon_sleep_ms(long ms);
extern void recon_settle_sleep(long ms);
extern void recon_own_snapshot(bool own);

/* change workers (worker.c, cdc.c) */
extern int	recon_max_workers;
extern int	recon_naptime_s;
extern int	recon_poll_ms;
extern char *recon_databases;

/* the change checks' re-check schedule and batching */
#define RECON_MAX_RECHECKS 16
extern int	recon_cdc_recheck_n;
extern int	recon_cdc_recheck_ms[RECON_MAX_RECHECKS];
extern int	recon_cdc_batch_window_ms;

/* ---- privileges ---- */
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

/* ---- errors ---- */
extern bool recon_try(void (*fn) (void *arg), void *arg, char **why);
extern bool recon_try_code(void (*fn) (void *arg), void *arg, char **why, int *sqlerrcode);

/* ---- SPI helpers ---- */
extern void recon_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
						   const char *nulls, int expected);
extern int64 recon_spi_int64(const char *sql, int nargs, Oid *types, Datum *values);
extern int64 recon_spi_int64_nulls(const char *sql, int nargs, Oid *types, Datum *values,
								   const char *nulls);

#endif
