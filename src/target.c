/*
 * target.c — MongoDB targets: the recon_mongo FDW validator and the
 * lookup of a server's URI and a role's credentials.
 *
 * The URI lives in the server's options, credentials only in a user
 * mapping (whose options PostgreSQL hides from other roles).  A URI with
 * embedded credentials is refused, so a password never sits in
 * pg_foreign_server, in errors or in logs.
 */
#include "postgres.h"

#include "recon.h"

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

static void
validate_uri(const char *uri)
{
	bson_error_t err;
	mongoc_uri_t *parsed;
	char		msg[sizeof(err.message)];

	/* "user:pass@" before the host list: refuse, and never echo it */
	if (strchr(uri, '@') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"uri\" must not contain credentials"),
				 errdetail("The URI contains a user name or password part (\"...@\").  It is not shown here."),
				 errhint("Put username and password in a USER MAPPING for this server.")));

	parsed = mongoc_uri_new_with_error(uri, &err);
	if (parsed == NULL)
	{
		strlcpy(msg, err.message, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("invalid MongoDB URI in option \"uri\""),
				 errdetail("%s", msg),
				 errhint("Use the form mongodb://host:port/?options, e.g. mongodb://127.0.0.1:27017/?tls=false.")));
	}
	mongoc_uri_destroy(parsed);
}

PG_FUNCTION_INFO_V1(recon_fdw_validator);
Datum
recon_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;
	bool		have_uri = false;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (catalog == ForeignServerRelationId && strcmp(def->defname, "uri") == 0)
		{
			validate_uri(defGetString(def));
			have_uri = true;
		}
		else if (catalog == UserMappingRelationId &&
				 (strcmp(def->defname, "username") == 0 ||
				  strcmp(def->defname, "password") == 0))
		{
			if (defGetString(def)[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty", def->defname)));
		}
		else
		{
			const char *valid = catalog == ForeignServerRelationId ? "uri" :
				catalog == UserMappingRelationId ? "username, password" : "(none)";

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for recon_mongo", def->defname),
					 errdetail("Valid options in this context are: %s.", valid),
					 errhint("Server options hold the URI; user mappings hold the credentials.")));
		}
	}
	/* CREATE SERVER must name the URI; ALTER SERVER passes the full list too */
	if (catalog == ForeignServerRelationId && !have_uri)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("recon_mongo servers need option \"uri\""),
				 errhint("CREATE SERVER ... FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri 'mongodb://host:port/')")));
	PG_RETURN_VOID();
}

/* The user mapping for userid, else the PUBLIC one, else NULL. */
static HeapTuple
find_user_mapping(Oid userid, Oid serverid)
{
	HeapTuple	tup = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
									  ObjectIdGetDatum(serverid));

	if (!HeapTupleIsValid(tup))
		tup = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							  ObjectIdGetDatum(serverid));
	return HeapTupleIsValid(tup) ? tup : NULL;
}

ReconTarget *
recon_target_lookup(const char *server_name, Oid userid, bool missing_ok)
{
	ForeignServer *srv = GetForeignServerByName(server_name, true);
	ForeignDataWrapper *fdw;
	ReconTarget *t;
	ListCell   *lc;
	HeapTuple	um;

	if (srv == NULL)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" does not exist", server_name),
				 errhint("Create it with CREATE SERVER %s FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '...').",
						 quote_identifier(server_name))));
	}
	fdw = GetForeignDataWrapper(srv->fdwid);
	if (strcmp(fdw->fdwname, "recon_mongo") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" does not use foreign-data wrapper recon_mongo", server_name),
				 errdetail("It uses \"%s\".", fdw->fdwname)));

	t = palloc0(sizeof(ReconTarget));
	t->serverid = srv->serverid;
	t->server_name = pstrdup(srv->servername);
	foreach(lc, srv->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "uri") == 0)
			t->uri = pstrdup(defGetString(def));
	}

	um = find_user_mapping(userid, srv->serverid);
	if (um != NULL)
	{
		Form_pg_user_mapping form = (Form_pg_user_mapping) GETSTRUCT(um);
		bool		isnull;
		Datum		d = SysCacheGetAttr(USERMAPPINGUSERSERVER, um,
										Anum_pg_user_mapping_umoptions, &isnull);

		t->umuser = form->umuser;
		if (!isnull)
		{
			foreach(lc, untransformRelOptions(d))
			{
				DefElem    *def = lfirst(lc);

				if (strcmp(def->defname, "username") == 0)
					t->username = pstrdup(defGetString(def));
				else if (strcmp(def->defname, "password") == 0)
					t->password = pstrdup(defGetString(def));
			}
		}
		ReleaseSysCache(um);
	}
	return t;
}
