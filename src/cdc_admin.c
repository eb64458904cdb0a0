/*
 * cdc_admin.c — turning change-driven checks on and off: enable_cdc and
 * disable_cdc, the checks a mapping must pass to be followed (replica
 * identity of its table and of each embedded child, recon's output plugin
 * allowed), and the database's slot ("recon_<dboid>"), whose name is made
 * here for the worker and the recon.cdc_status view alike.
 */
#include "postgres.h"

#include "catalog.h"
#include "cdc.h"
#include "mapping.h"
#include "recon.h"
#include "worker.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/varlena.h"

/* The name of a database's slot. */
char *
recon_cdc_slot_name(Oid dboid)
{
	return psprintf("recon_%u", dboid);
}

/* recon._slot_name(): this database's slot, for the recon.cdc_status view. */
PG_FUNCTION_INFO_V1(recon_slot_name);
Datum
recon_slot_name(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(recon_cdc_slot_name(MyDatabaseId)));
}

/* ---------------------------------------------------------------------
 * enable_cdc / disable_cdc
 * --------------------------------------------------------------------- */

/*
 * The old key of UPDATE/DELETE must contain the mapping key (for a child
 * relation of embedded children: the columns joined to it).
 */
static void
check_replica_identity_of(const ReconMapping *m, Oid relid, const char *relname,
						  const AttrNumber *attnums, char *const *columns)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	char		ident = rel->rd_rel->relreplident;
	const char *problem = NULL;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("change checks need a plain table; \"%s\" is not one",
						RelationGetRelationName(rel)),
				 errdetail("Change checks follow the WAL of a table; a view has none, so a change of the rows it shows cannot be traced to its key."),
				 errhint("Map the base table instead: renamed fields with option \"fields\", children embedded in their parent's document with option \"embed\"; sweep the view-based mapping on a schedule. For a partitioned table, map each partition.")));
	if (ident == REPLICA_IDENTITY_NOTHING)
		problem = "REPLICA IDENTITY NOTHING";
	else if (ident != REPLICA_IDENTITY_FULL)
	{
		Oid			idx = RelationGetReplicaIndex(rel);

		if (!OidIsValid(idx))
			problem = "no replica identity index (and no primary key)";
		else
		{
			Relation	ir = index_open(idx, AccessShareLock);
			int			i,
						j;

			for (i = 0; i < m->nkeys && !problem; i++)
			{
				bool		found = false;

				for (j = 0; j < ir->rd_index->indnkeyatts; j++)
					found |= (ir->rd_index->indkey.values[j] == attnums[i]);
				if (!found)
					problem = psprintf("replica identity index %s does not contain key column \"%s\"",
									   RelationGetRelationName(ir), columns[i]);
			}
			index_close(ir, AccessShareLock);
		}
	}
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the replica identity of %s does not cover the key of mapping \"%s\"",
						relname, m->name),
				 errdetail("Deleted and re-keyed rows are decoded with their replica identity: %s.", problem),
				 errhint("ALTER TABLE %s REPLICA IDENTITY USING INDEX <a unique index on the key>, or REPLICA IDENTITY FULL.",
						 relname)));
	relation_close(rel, AccessShareLock);
}

/*
 * Whether a replication slot of this name exists, in use or not.  SPI
 * connected.
 */
bool
recon_cdc_slot_exists(const char *slot)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(slot)};

	return recon_spi_int64("SELECT count(*) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
						   1, t, v) > 0;
}

static void
check_replica_identity(const ReconMapping *m)
{
	AttrNumber	att[INDEX_MAX_KEYS];
	char	   *col[INDEX_MAX_KEYS];
	int			i;

	for (i = 0; i < m->nkeys; i++)
	{
		att[i] = m->keys[i].attnum;
		col[i] = m->keys[i].column;
	}
	check_replica_identity_of(m, m->relid, m->relname, att, col);
	for (i = 0; i < m->nembeds; i++)
		check_replica_identity_of(m, m->embeds[i].relid, m->embeds[i].relname,
								  m->embeds[i].join_attnums, m->embeds[i].join_columns);
}

/*
 * Create the database's logical slot, decoded by recon's own output plugin.
 * Only before the transaction has an XID, as logical slot creation requires:
 * errors otherwise, telling the caller to enable change checks in a
 * transaction of their own.
 *
 * pg_create_logical_replication_slot is called directly, not through SPI:
 * while it waits for running transactions it may replay another
 * transaction's cache invalidations in a subtransaction of ours, and
 * PostgreSQL 15 leaves CurrentResourceOwner at the top transaction's
 * afterwards.  A query executor around the call (SPI's) then releases its
 * snapshot from the wrong owner and fails; here the owner is put back,
 * as pg_logical_slot_get_changes does for the same reason.
 */
void
recon_cdc_create_slot(const char *slot)
{
	NameData	slot_name;
	NameData	plugin;
	ResourceOwner owner = CurrentResourceOwner;
	AclResult	acl;

	if (GetTopTransactionIdIfAny() != InvalidTransactionId)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot create recon's replication slot in a transaction that has written data"),
				 errhint("Call recon.enable_cdc() in its own transaction.")));
	/* as a call from SQL would check (the function checks REPLICATION itself) */
	acl = pg_proc_aclcheck(F_PG_CREATE_LOGICAL_REPLICATION_SLOT, GetUserId(), ACL_EXECUTE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, "pg_create_logical_replication_slot");
	namestrcpy(&slot_name, slot);
	namestrcpy(&plugin, "recon");
	/* temporary and two-phase false, the SQL defaults */
	(void) OidFunctionCall4(F_PG_CREATE_LOGICAL_REPLICATION_SLOT, NameGetDatum(&slot_name),
							NameGetDatum(&plugin), BoolGetDatum(false), BoolGetDatum(false));
	CurrentResourceOwner = owner;
}

/*
 * Recent minor releases restrict output plugins to output_plugin_libraries;
 * where that setting exists it must name recon.
 */
static void
check_output_plugin_allowed(void)
{
	const char *allowed = GetConfigOption("output_plugin_libraries", true, false);
	char	   *copy;
	List	   *names;
	ListCell   *lc;

	if (allowed == NULL)
		return;
	copy = pstrdup(allowed);
	if (SplitIdentifierString(copy, ',', &names))
		foreach(lc, names)
			if (strcmp(lfirst(lc), "recon") == 0 || strcmp(lfirst(lc), "*") == 0)
				return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("recon is not a trusted logical decoding output plugin here"),
			 errdetail("output_plugin_libraries is \"%s\".", allowed),
			 errhint("Add recon to output_plugin_libraries in postgresql.conf (or ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, recon) and reload.")));
}

/*
 * recon.enable_cdc(mapping text): the change worker follows the mapping
 * (recon_admin, mapping owner).  Errors for a source that is no plain table or
 * whose replica identity (or a child's) misses the key, or a server not set up
 * for it; creating the slot needs a transaction of its own.  Audited.
 */
PG_FUNCTION_INFO_V1(recon_enable_cdc);
Datum
recon_enable_cdc(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ReconPriv	priv;
	ReconMapping *m;
	char	   *slot = recon_cdc_slot_name(MyDatabaseId);
	bool		created = false;
	ReconAudit	a = {0};

	recon_priv_enter(&priv, "recon_admin", "recon.enable_cdc");
	SPI_connect();
	recon_pin_search_path();
	/* no row lock here: the slot must be created before this transaction has an XID */
	recon_check_mapping_owner(recon_mapping_load_catalog(name), &priv,
							  "enable change checks of");
	/* what the mapping itself lacks (a view, no replica identity) first */
	m = recon_mapping_load(name);
	recon_source_check(m);
	check_replica_identity(m);
	if (!recon_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recon.enable_cdc requires recon in shared_preload_libraries"),
				 errdetail("Change checks run in background workers, which only a preloaded library can start."),
				 errhint("Add recon to shared_preload_libraries and restart PostgreSQL.")));
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recon.enable_cdc requires wal_level = logical"),
				 errhint("Set wal_level = logical and restart PostgreSQL.")));
	check_output_plugin_allowed();
	if (!recon_cdc_slot_exists(slot))
	{
		recon_cdc_create_slot(slot);
		created = true;
	}
	{
		Oid			t[1] = {INT8OID};
		Datum		v[1] = {Int64GetDatum(m->id)};

		recon_spi_exec("UPDATE recon.mappings SET cdc_enabled = true, updated_at = now()"
					   " WHERE mapping_id = $1", 1, t, v, NULL, SPI_OK_UPDATE);
		recon_spi_exec("INSERT INTO recon.cdc_state (mapping_id) VALUES ($1)"
					   " ON CONFLICT (mapping_id) DO NOTHING", 1, t, v, NULL, SPI_OK_INSERT);
	}
	a.actor = priv.caller_name;
	a.action = AUDIT_CDC_ENABLED;
	a.mapping = m->name;
	a.reason = "recon.enable_cdc";
	a.detail = psprintf("{\"slot\": \"%s\", \"slot_created\": %s}", slot, created ? "true" : "false");
	recon_audit(&a);
	SPI_finish();
	recon_priv_exit(&priv);
	recon_wake_launcher_at_commit();
	ereport(NOTICE,
			(errmsg("change checks enabled for mapping \"%s\"", m->name),
			 errhint("Changes committed before this point are not decoded: run recon.sweep('%s') once.",
					 m->name)));
	PG_RETURN_VOID();
}

/* Drop the database's slot (recon_try: it fails while a worker holds it). */
static void
drop_slot_cb(void *arg)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum((char *) arg)};

	recon_spi_exec("SELECT pg_catalog.pg_drop_replication_slot($1)", 1, t, v, NULL, SPI_OK_SELECT);
}

/*
 * recon.disable_cdc(mapping text): stop following the mapping (recon_admin,
 * mapping owner; works with its source gone): drops its queue, ends its change
 * run, and drops the slot when no mapping of the database follows changes
 * (if the worker holds it, the worker drops it).
 */
PG_FUNCTION_INFO_V1(recon_disable_cdc);
Datum
recon_disable_cdc(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ReconPriv	priv;
	ReconMapping *m;
	char	   *slot = recon_cdc_slot_name(MyDatabaseId);
	ReconAudit	a = {0};
	Oid			t[1] = {INT8OID};
	Datum		v[1];
	bool		dropped = false;

	recon_priv_enter(&priv, "recon_admin", "recon.disable_cdc");
	SPI_connect();
	recon_pin_search_path();
	recon_mapping_lock(name);
	m = recon_mapping_load_catalog(name);	/* works when the source is gone too */
	recon_check_mapping_owner(m, &priv, "disable change checks of");
	v[0] = Int64GetDatum(m->id);
	recon_spi_exec("UPDATE recon.mappings SET cdc_enabled = false, updated_at = now()"
				   " WHERE mapping_id = $1", 1, t, v, NULL, SPI_OK_UPDATE);
	recon_spi_exec("DELETE FROM recon.cdc_queue WHERE mapping_id = $1", 1, t, v, NULL, SPI_OK_DELETE);
	recon_run_end_change_run(m->id);
	recon_spi_exec("DELETE FROM recon.cdc_state WHERE mapping_id = $1", 1, t, v, NULL, SPI_OK_DELETE);

	/* the last mapping of this database: drop the slot (the worker does if it is busy) */
	if (recon_spi_int64("SELECT count(*) FROM recon.mappings WHERE cdc_enabled", 0, NULL, NULL) == 0 &&
		recon_cdc_slot_exists(slot))
		dropped = recon_try(drop_slot_cb, slot, NULL);	/* if not, the worker drops it */
	a.actor = priv.caller_name;
	a.action = AUDIT_CDC_DISABLED;
	a.mapping = m->name;
	a.reason = "recon.disable_cdc";
	a.detail = psprintf("{\"slot\": \"%s\", \"slot_dropped\": %s}", slot, dropped ? "true" : "false");
	recon_audit(&a);
	SPI_finish();
	recon_priv_exit(&priv);
	PG_RETURN_VOID();
}

