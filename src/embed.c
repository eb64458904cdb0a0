/*
 * embed.c — embedded children (one-to-many): option "embed" names, for an
 * array path of the parent document, a child relation, the child columns
 * joined to the parent's key, the element fields and their order.  The
 * array becomes one more field of the mapping, of an array-of-composite
 * type, so the sweep, re-checks, paths and repairs treat it as any column;
 * this file validates the option and writes the SQL that builds the arrays.
 *
 * A whole-table read groups each child once (LEFT JOIN of a GROUP BY: one
 * pass, memory bounded by work_mem as PostgreSQL spills); key look-ups use
 * a correlated sub-select, one child index scan per key.
 */
#include "postgres.h"

#include "embed.h"
#include "canonical.h"
#include "coltype.h"
#include "mapping.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/rls.h"

static void
bad_embed(const char *path, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid embedded children \"%s\": %s", path, what),
			 errhint("%s", hint)));
}

#define EMBED_HINT "Give {\"embed\": {\"items\": {\"source\": \"public.order_items\", \"join\": {\"order_id\": \"id\"}, \"order_by\": [\"line_no\"]}}}."

/* A JSON array of strings, or NIL when absent. */
static List *
string_list(JsonbContainer *spec, const char *path, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(spec, key, strlen(key), NULL);
	List	   *out = NIL;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v == NULL)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_embed(path, psprintf("\"%s\" must be an array of column names", key), EMBED_HINT);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
		{
			if (e.type != jbvString)
				bad_embed(path, psprintf("\"%s\" must be an array of column names", key), EMBED_HINT);
			out = lappend(out, pnstrdup(e.val.string.val, e.val.string.len));
		}
	return out;
}

/* {"a": "b", ...} as two parallel lists; NIL when absent. */
static void
string_map(JsonbContainer *spec, const char *path, const char *key, List **keys, List **vals)
{
	JsonbValue *v = getKeyJsonValueFromContainer(spec, key, strlen(key), NULL);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	*keys = *vals = NIL;
	if (v == NULL)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_embed(path, psprintf("\"%s\" must be an object of column names", key), EMBED_HINT);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			*keys = lappend(*keys, pnstrdup(e.val.string.val, e.val.string.len));
		else if (tok == WJB_VALUE)
		{
			if (e.type != jbvString)
				bad_embed(path, psprintf("\"%s\" must map names to names", key), EMBED_HINT);
			*vals = lappend(*vals, pnstrdup(e.val.string.val, e.val.string.len));
		}
	}
}

static AttrNumber
child_column(Relation child, const char *path, const char *column)
{
	AttrNumber	att = get_attnum(RelationGetRelid(child), column);

	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column,
						RelationGetRelationName(child)),
				 errdetail("It is named in the embedded children \"%s\".", path),
				 errhint("Check \"join\", \"columns\", \"fields\", \"order_by\" and \"key\".")));
	return att;
}

static int
list_position(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp(lfirst(lc), s) == 0)
			return foreach_current_index(lc);
	return -1;
}

/*
 * Validate one "embed" entry (array path, spec) and describe it: e gets the
 * child relation, join, element columns and order; f becomes the parent's
 * array-of-records field, compared as a multiset without order_by, with
 * elements named in paths by "key" (default: the child's primary key).
 */
static void
resolve_one(ReconMapping *m, const char *path, JsonbContainer *spec, ReconEmbed *e, ReconField *f)
{
	JsonbValue *src = getKeyJsonValueFromContainer(spec, "source", 6, NULL);
	List	   *jchild,
			   *jparent,
			   *cols,
			   *rn_from,
			   *rn_to,
			   *order,
			   *ident;
	Relation	child;
	TupleDesc	desc;
	Oid			relid;
	CanonType  *arr,
			   *elem;
	ListCell   *lc;
	int			i;
	JsonbIterator *it;
	JsonbValue	kv;
	JsonbIteratorToken tok;

	/* only known keys */
	it = JsonbIteratorInit(spec);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *k = pnstrdup(kv.val.string.val, kv.val.string.len);

			if (strcmp(k, "source") && strcmp(k, "join") && strcmp(k, "columns") &&
				strcmp(k, "fields") && strcmp(k, "order_by") && strcmp(k, "key"))
				bad_embed(path, psprintf("unknown key \"%s\"", k),
						  "Known: source, join, columns, fields, order_by, key.");
		}

	if (src == NULL || src->type != jbvString)
		bad_embed(path, "\"source\" must name the child relation", EMBED_HINT);
	relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(
																		 pnstrdup(src->val.string.val, src->val.string.len))),
							 AccessShareLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%.*s\" does not exist", src->val.string.len, src->val.string.val),
				 errdetail("It is the source of the embedded children \"%s\".", path),
				 errhint("Give the child relation as schema.table.")));
	if (relid == m->relid)
		bad_embed(path, "the child relation is the parent itself", EMBED_HINT);
	child = relation_open(relid, AccessShareLock);
	if (child->rd_rel->relkind != RELKIND_RELATION && child->rd_rel->relkind != RELKIND_PARTITIONED_TABLE &&
		child->rd_rel->relkind != RELKIND_VIEW && child->rd_rel->relkind != RELKIND_MATVIEW)
		bad_embed(path, "the child is not a table, view or materialized view", EMBED_HINT);
	desc = RelationGetDescr(child);
	e->path = pstrdup(path);
	e->relid = relid;
	e->relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(child)),
											RelationGetRelationName(child));

	/* join: every parent key column exactly once, same base type */
	string_map(spec, path, "join", &jchild, &jparent);
	if (list_length(jchild) != m->nkeys)
		bad_embed(path, psprintf("\"join\" must name a child column for each of the %d parent key column(s)",
								 m->nkeys), EMBED_HINT);
	e->join_attnums = palloc(sizeof(AttrNumber) * m->nkeys);
	e->join_columns = palloc(sizeof(char *) * m->nkeys);
	for (i = 0; i < m->nkeys; i++)
	{
		int			at = list_position(jparent, m->keys[i].column);
		AttrNumber	ca;
		Oid			ct;

		if (at < 0)
			bad_embed(path, psprintf("\"join\" names no child column for parent key column \"%s\"",
									 m->keys[i].column), EMBED_HINT);
		e->join_columns[i] = list_nth(jchild, at);
		ca = child_column(child, path, e->join_columns[i]);
		e->join_attnums[i] = ca;
		ct = getBaseType(TupleDescAttr(desc, ca - 1)->atttypid);
		if (ct != m->keys[i].typid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("child column \"%s\" has type %s, parent key column \"%s\" has type %s",
							e->join_columns[i], format_type_be(ct), m->keys[i].column,
							format_type_be(m->keys[i].typid)),
					 errdetail("It is joined in the embedded children \"%s\".", path),
					 errhint("Join columns must have the parent key's type.")));
	}

	/* element columns: given, or every child column but the join columns */
	cols = string_list(spec, path, "columns");
	if (cols == NIL)
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);
			int			j;
			bool		joined = false;

			if (a->attisdropped)
				continue;
			for (j = 0; j < m->nkeys; j++)
				joined |= (e->join_attnums[j] == a->attnum);
			if (!joined)
				cols = lappend(cols, pstrdup(NameStr(a->attname)));
		}
	if (cols == NIL)
		bad_embed(path, "no element columns", "Name them with \"columns\".");
	string_map(spec, path, "fields", &rn_from, &rn_to);
	e->ncols = list_length(cols);
	e->attnums = palloc(sizeof(AttrNumber) * e->ncols);
	e->columns = palloc(sizeof(char *) * e->ncols);
	e->names = palloc(sizeof(char *) * e->ncols);
	elem = palloc0(sizeof(CanonType));
	elem->kind = CK_COMPOSITE;
	elem->typid = RECORDOID;
	elem->natts = e->ncols;
	elem->atts = palloc0(sizeof(CanonType) * e->ncols);
	elem->attnames = e->names;
	elem->attnums = palloc(sizeof(AttrNumber) * e->ncols);
	foreach(lc, cols)
	{
		int			k = foreach_current_index(lc);
		int			r = list_position(rn_from, lfirst(lc));
		char	   *why = NULL;
		CanonType  *t;
		Form_pg_attribute a;

		e->columns[k] = lfirst(lc);
		e->attnums[k] = child_column(child, path, e->columns[k]);
		e->names[k] = r >= 0 ? list_nth(rn_to, r) : e->columns[k];
		if (e->names[k][0] == '\0' || e->names[k][0] == '$' || strchr(e->names[k], '.'))
			bad_embed(path, psprintf("invalid element field name \"%s\"", e->names[k]),
					  "Element fields are plain names: no dots, no leading $.");
		if (list_position(cols, e->columns[k]) != k)
			bad_embed(path, psprintf("column \"%s\" is named twice", e->columns[k]), EMBED_HINT);
		a = TupleDescAttr(desc, e->attnums[k] - 1);
		t = canon_type_for(a->atttypid, &why);
		if (t == NULL || (t->kind == CK_ARRAY && a->attndims > 1))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of relation \"%s\" has type %s, which recon cannot compare",
							e->columns[k], RelationGetRelationName(child), format_type_be(a->atttypid)),
					 errdetail("Supported: %s.", canon_supported_types()),
					 errhint("Leave it out of \"columns\" of the embedded children \"%s\".", path)));
		elem->atts[k] = *t;
		elem->attnums[k] = k + 1;	/* position in ROW(...) */
	}
	foreach(lc, rn_from)
		if (list_position(cols, lfirst(lc)) < 0)
			bad_embed(path, psprintf("\"fields\" renames \"%s\", which is not an element column",
									 (char *) lfirst(lc)), EMBED_HINT);

	/* order: given, else a multiset */
	order = string_list(spec, path, "order_by");
	e->norder = list_length(order);
	e->order_by = palloc(sizeof(char *) * Max(e->norder, 1));
	foreach(lc, order)
	{
		child_column(child, path, lfirst(lc));
		e->order_by[foreach_current_index(lc)] = lfirst(lc);
	}

	/* identity in paths: given, else the child's primary key less the join columns */
	ident = string_list(spec, path, "key");
	if (ident == NIL)
		foreach(lc, recon_primary_key_columns(child))
		{
			bool		joined = false;

			for (i = 0; i < m->nkeys; i++)
				joined |= strcmp(e->join_columns[i], lfirst(lc)) == 0;
			if (!joined)
				ident = lappend(ident, lfirst(lc));
		}
	arr = palloc0(sizeof(CanonType));
	arr->kind = CK_ARRAY;
	arr->typid = RECORDARRAYOID;
	arr->elem = elem;
	arr->elmlen = -1;
	arr->elmbyval = false;
	arr->elmalign = TYPALIGN_DOUBLE;
	arr->unordered = (e->norder == 0);
	arr->null_is_empty = true;
	arr->ident = palloc(sizeof(int) * Max(list_length(ident), 1));
	foreach(lc, ident)
	{
		int			k = list_position(cols, lfirst(lc));

		if (k < 0)
		{
			/* an identity outside the element columns cannot name an element */
			arr->nident = 0;
			break;
		}
		arr->ident[arr->nident++] = k;
	}

	memset(f, 0, sizeof(*f));
	f->attnum = InvalidAttrNumber;
	f->column = e->path;
	f->path = e->path;
	f->typid = RECORDARRAYOID;
	f->kind = CK_ARRAY;
	f->type = arr;
	f->embed = e;
	relation_close(child, NoLock);
}

/*
 * Parse option "embed" and append one array field per embedded child to
 * m->fields (m->embeds in the same order), in the current context.  Any
 * invalid entry is an error naming its path; no option: no children.
 */
void
recon_embeds_resolve(ReconMapping *m, Jsonb *opts)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&opts->root, "embed", 5, NULL);
	JsonbIterator *it;
	JsonbValue	kv;
	JsonbIteratorToken tok;
	char	   *path = NULL;
	int			n = 0;

	m->nembeds = 0;
	m->embeds = NULL;
	if (v == NULL)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_embed("?", "option \"embed\" must be an object of array paths", EMBED_HINT);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			n++;
	m->embeds = palloc0(sizeof(ReconEmbed) * Max(n, 1));
	m->fields = repalloc(m->fields, sizeof(ReconField) * (m->nfields + n));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			path = pnstrdup(kv.val.string.val, kv.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (kv.type != jbvBinary || !JsonContainerIsObject(kv.val.binary.data))
				bad_embed(path, "its definition must be an object", EMBED_HINT);
			resolve_one(m, path, kv.val.binary.data, &m->embeds[m->nembeds],
						&m->fields[m->nfields]);
			m->nembeds++;
			m->nfields++;
		}
	}
}

/*
 * Part of recon_source_check: every child relation still exists, the
 * mapping's owner may read each child column it uses, and no row-level policy
 * hides children from it (they would be repaired away).  Errors if not.
 */
void
recon_embeds_check(const ReconMapping *m, const char *owner_name)
{
	int			i,
				k;

	for (i = 0; i < m->nembeds; i++)
	{
		const ReconEmbed *e = &m->embeds[i];
		const char *missing = NULL;

		if (!OidIsValid(get_rel_relkind(e->relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("the child relation of embedded children \"%s\" of mapping \"%s\" no longer exists",
							e->path, m->name),
					 errhint("Alter the mapping's option \"embed\".")));
		if (pg_class_aclcheck(e->relid, m->owner, ACL_SELECT) != ACLCHECK_OK)
		{
			for (k = 0; k < m->nkeys && !missing; k++)
				if (pg_attribute_aclcheck(e->relid, e->join_attnums[k], m->owner, ACL_SELECT) != ACLCHECK_OK)
					missing = e->join_columns[k];
			for (k = 0; k < e->ncols && !missing; k++)
				if (pg_attribute_aclcheck(e->relid, e->attnums[k], m->owner, ACL_SELECT) != ACLCHECK_OK)
					missing = e->columns[k];
			for (k = 0; k < e->norder && !missing; k++)
				if (pg_attribute_aclcheck(e->relid, get_attnum(e->relid, e->order_by[k]),
										  m->owner, ACL_SELECT) != ACLCHECK_OK)
					missing = e->order_by[k];
			if (missing)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("the owner of mapping \"%s\" may not read its source", m->name),
						 errdetail("Role \"%s\" may not read column \"%s\" of %s.", owner_name,
								   missing, e->relname),
						 errhint("GRANT SELECT on the child relation to the mapping's owner.")));
		}
		if (check_enable_rls(e->relid, m->owner, true) == RLS_ENABLED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("row-level security applies to the child relation of mapping \"%s\"", m->name),
					 errdetail("Policies on %s may hide children from role \"%s\"; they would be"
							   " reported as extra elements and repaired away.", e->relname, owner_name),
					 errhint("Map a relation without policies for that role, or let it bypass them.")));
	}
}

/* array_agg(ROW(c.col, ...) ORDER BY ...) over the child alias c */
static void
append_aggregate(StringInfo s, const ReconEmbed *e)
{
	int			k;

	appendStringInfoString(s, "pg_catalog.array_agg(ROW(");
	for (k = 0; k < e->ncols; k++)
		appendStringInfo(s, "%sc.%s", k ? ", " : "", quote_identifier(e->columns[k]));
	appendStringInfoChar(s, ')');
	for (k = 0; k < e->norder; k++)
		appendStringInfo(s, "%sc.%s", k ? ", " : " ORDER BY ", quote_identifier(e->order_by[k]));
	appendStringInfoChar(s, ')');
}

/*
 * The select-list item giving embedded child array embed of the row aliased
 * t: e<embed>.agg from recon_embed_joins when joined, else a correlated
 * array_agg sub-select; SQL NULL when the row has no children.
 */
char *
recon_embed_select_item(const ReconMapping *m, int embed, bool joined)
{
	const ReconEmbed *e = &m->embeds[embed];
	StringInfoData s;
	int			k;

	initStringInfo(&s);
	if (joined)
	{
		appendStringInfo(&s, "e%d.agg", embed);
		return s.data;
	}
	appendStringInfoString(&s, "(SELECT ");
	append_aggregate(&s, e);
	appendStringInfo(&s, " FROM %s c WHERE ", e->relname);
	for (k = 0; k < m->nkeys; k++)
		appendStringInfo(&s, "%sc.%s = t.%s", k ? " AND " : "", quote_identifier(e->join_columns[k]),
						 quote_identifier(m->keys[k].column));
	appendStringInfoChar(&s, ')');
	return s.data;
}

/*
 * The LEFT JOINs, appended after the source relation aliased t, that group
 * each child relation once by its join columns (e<i>.agg per embed): for
 * whole-table reads.  Empty when the mapping embeds nothing.
 */
char *
recon_embed_joins(const ReconMapping *m)
{
	StringInfoData s;
	int			i,
				k;

	initStringInfo(&s);
	for (i = 0; i < m->nembeds; i++)
	{
		const ReconEmbed *e = &m->embeds[i];

		appendStringInfoString(&s, " LEFT JOIN (SELECT ");
		for (k = 0; k < m->nkeys; k++)
			appendStringInfo(&s, "c.%s AS j%d, ", quote_identifier(e->join_columns[k]), k);
		append_aggregate(&s, e);
		appendStringInfo(&s, " AS agg FROM %s c GROUP BY ", e->relname);
		for (k = 0; k < m->nkeys; k++)
			appendStringInfo(&s, "%sc.%s", k ? ", " : "", quote_identifier(e->join_columns[k]));
		appendStringInfo(&s, ") e%d ON ", i);
		for (k = 0; k < m->nkeys; k++)
			appendStringInfo(&s, "%se%d.j%d = t.%s", k ? " AND " : "", i, k,
							 quote_identifier(m->keys[k].column));
	}
	return s.data;
}
