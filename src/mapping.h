/*
 * mapping.h — what a mapping is once loaded: its source, its target
 * collection, its key and fields with how each is compared, and its
 * options (mapping.c).
 */
#ifndef RECON_MAPPING_H
#define RECON_MAPPING_H

#include "postgres.h"

#include "access/attnum.h"
#include "canonical.h"
#include "embed.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

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
extern void recon_mapping_canon_defaults(CanonOptions *o);
extern const char *recon_mapping_option_default(const char *name);
extern List *recon_primary_key_columns(Relation rel);

#endif
