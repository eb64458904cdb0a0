/*
 * embed.h — embedded children: a parent document's array built from a
 * child relation (embed.c).
 */
#ifndef RECON_EMBED_H
#define RECON_EMBED_H

#include "postgres.h"

#include "access/attnum.h"
#include "utils/jsonb.h"

struct ReconMapping;

typedef struct ReconEmbed
{
	char	   *path;			/* the array's path in the parent document */
	Oid			relid;			/* child relation */
	char	   *relname;		/* quoted, schema-qualified */
	AttrNumber *join_attnums;	/* child column per parent key column, key order */
	char	  **join_columns;
	int			ncols;			/* element fields */
	AttrNumber *attnums;		/* child columns, element order */
	char	  **columns;
	char	  **names;			/* element field names */
	int			norder;			/* 0: the array is compared as a multiset */
	char	  **order_by;
} ReconEmbed;

/*
 * Parse and validate option "embed" (the source relation is open) and
 * append one array field per embedded child to m->fields.
 */
extern void recon_embeds_resolve(struct ReconMapping *m, Jsonb *opts);

/* May the mapping's owner read every child column it uses?  Errors if not. */
extern void recon_embeds_check(const struct ReconMapping *m, const char *owner_name);

/*
 * SQL reading the source with its embedded arrays: the select list (over
 * alias t) and the FROM clause.  joined: one grouped pass over each child
 * (whole-table reads); else a correlated sub-select per row (key look-ups).
 */
extern char *recon_embed_select_item(const struct ReconMapping *m, int embed, bool joined);
extern char *recon_embed_joins(const struct ReconMapping *m);

#endif
