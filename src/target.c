/*
 * target.c — MongoDB targets: the recon_mongo FDW validator and the
 * lookup of a server's URI and a role's credentials.
 *
 * The URI lives in the server's options, credentials only in a user
 * mapping (whose options PostgreSQL hides from other roles).  A URI with
 * embedded credentials is refused, so a password never sits in
 * pg_foreign_server, in errors or in logs.  URI options are an allowlist:
 * secrets (key-file passwords, mechanism properties that carry tokens) are
 * refused, and what makes the database host's own identity or files
 * authenticate (MONGODB-AWS, GSSAPI, X.509, client key files) is only
 * for servers a superuser created and owns, as postgres_fdw's
 * password_required keeps non-superusers off the server's identity.
 */
#include "postgres.h"

#include <mongoc/mongoc.h>

#include "target.h"

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

/* URI options anyone allowed to create a server may set (lower case). */
static const char *const plain_uri_options[] = {
	"appname", "authmechanism", "authsource", "compressors", "connecttimeoutms",
	"directconnection", "heartbeatfrequencyms", "journal", "loadbalanced",
	"localthresholdms", "maxstalenessseconds", "readconcernlevel", "readpreference",
	"readpreferencetags", "replicaset", "retryreads", "retrywrites",
	"serverselectiontimeoutms", "serverselectiontryonce", "sockettimeoutms",
	"srvmaxhosts", "srvservicename", "ssl", "tls", "tlsallowinvalidcertificates",
	"tlsallowinvalidhostnames", "tlsinsecure", "tlsdisableocspendpointcheck",
	"tlsdisablecertificaterevocationcheck", "w", "wtimeoutms", "zlibcompressionlevel",
	NULL
};

/* Options that use the database host's files or identity: superuser servers only. */
static const char *const host_identity_options[] = {
	"tlscafile", "tlscertificatekeyfile", "authmechanismproperties", NULL
};

/* Mechanisms that authenticate as the database host, not as a user mapping. */
static const char *const host_identity_mechanisms[] = {
	"MONGODB-AWS", "GSSAPI", "MONGODB-X509", NULL
};

static bool
in_list(const char *const *list, const char *s, bool ci)
{
	for (; *list; list++)
		if (ci ? pg_strcasecmp(*list, s) == 0 : strcmp(*list, s) == 0)
			return true;
	return false;
}

/*
 * What in the URI needs a superuser: a host-identity option or mechanism.
 * NULL when nothing does.  Refuses options outside the allowlist.
 */
static const char *
uri_host_identity(const mongoc_uri_t *parsed)
{
	const bson_t *opts[2] = {mongoc_uri_get_options(parsed), mongoc_uri_get_credentials(parsed)};
	const char *needs = NULL;
	int			i;

	for (i = 0; i < 2; i++)
	{
		bson_iter_t it;

		if (opts[i] == NULL || !bson_iter_init(&it, opts[i]))
			continue;
		while (bson_iter_next(&it))
		{
			const char *k = bson_iter_key(&it);

			if (pg_strcasecmp(k, "tlscertificatekeyfilepassword") == 0 ||
				pg_strcasecmp(k, "sslclientcertificatekeypassword") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"uri\" must not contain a secret"),
						 errdetail("URI option \"%s\" holds a password; its value is not shown.", k),
						 errhint("Server options are readable by every role: keep secrets out of them.")));
			if (pg_strcasecmp(k, "authmechanism") == 0 && BSON_ITER_HOLDS_UTF8(&it) &&
				in_list(host_identity_mechanisms, bson_iter_utf8(&it, NULL), true))
				needs = "authMechanism";
			else if (in_list(host_identity_options, k, true))
				needs = k;
			else if (i == 0 && !in_list(plain_uri_options, k, true))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("URI option \"%s\" is not allowed for recon_mongo servers", k),
						 errhint("Allowed: replica set, TLS switches, auth source and mechanism, read and"
								 " write concerns, timeouts, compression; see the README.")));
		}
	}
	return needs;
}

/*
 * Every option named in the query string must be on the allowlist (libmongoc
 * drops names it does not know with a warning: refuse them instead).
 */
static void
check_query_option_names(const char *uri)
{
	const char *q = strchr(uri, '?');

	while (q && *q)
	{
		const char *start = q + 1;
		const char *end = start + strcspn(start, "=&");
		char	   *name = pnstrdup(start, end - start);

		if (name[0] != '\0' && !in_list(plain_uri_options, name, true) &&
			!in_list(host_identity_options, name, true) &&
			pg_strcasecmp(name, "tlscertificatekeyfilepassword") != 0 &&
			pg_strcasecmp(name, "authmechanismproperties") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("URI option \"%s\" is not allowed for recon_mongo servers", name),
					 errhint("Allowed: replica set, TLS switches, auth source and mechanism, read and"
							 " write concerns, timeouts, compression; see the README.")));
		pfree(name);
		q = strchr(start, '&');
	}
}

/*
 * Refuse a server URI recon must not use: one with credentials (never
 * echoed), one libmongoc cannot parse, one with an option off the allowlist,
 * or, unless superuser_now (the creator, or at use the server's owner), one
 * that authenticates with the database host's own identity or files.
 */
static void
validate_uri(const char *uri, bool superuser_now)
{
	bson_error_t err;
	mongoc_uri_t *parsed;
	char		msg[sizeof(err.message)];
	const char *needs;

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
	check_query_option_names(uri);
	PG_TRY();
	{
		needs = uri_host_identity(parsed);
	}
	PG_FINALLY();
	{
		mongoc_uri_destroy(parsed);
	}
	PG_END_TRY();
	if (needs && !superuser_now)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may use URI option \"%s\" with this value", needs),
				 errdetail("It authenticates with the database host's own identity or files, not with a user mapping."),
				 errhint("Ask a superuser to create the server, or use username and password in a USER MAPPING.")));
}

/*
 * Validator of FOREIGN DATA WRAPPER recon_mongo: servers take only "uri"
 * (required, checked by validate_uri against the current user), user
 * mappings only non-empty "username" and "password"; anything else is an
 * error naming the valid options.
 */
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
			validate_uri(defGetString(def), superuser());
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

/*
 * The OID of the foreign server named server_name; an error with a
 * CREATE SERVER hint when there is none.  Whether it is a recon_mongo server
 * is checked by recon_target_lookup.
 */
Oid
recon_server_oid(const char *server_name)
{
	ForeignServer *srv = GetForeignServerByName(server_name, true);

	if (srv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" does not exist", server_name),
				 errhint("Create it with CREATE SERVER %s FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '...').",
						 quote_identifier(server_name))));
	return srv->serverid;
}

/*
 * The server's URI and the credentials of userid's user mapping (else the
 * PUBLIC one).  userid must have USAGE on the server; a server whose URI
 * uses the host's identity must be owned by a superuser.
 */
ReconTarget *
recon_target_lookup(Oid serverid, Oid userid)
{
	ForeignServer *srv = GetForeignServerExtended(serverid, FSV_MISSING_OK);
	ForeignDataWrapper *fdw;
	ReconTarget *t;
	ListCell   *lc;
	HeapTuple	um;

	if (srv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the server of this mapping no longer exists"),
				 errhint("Drop the mapping and add it again on an existing server.")));
	fdw = GetForeignDataWrapper(srv->fdwid);
	if (strcmp(fdw->fdwname, "recon_mongo") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" does not use foreign-data wrapper recon_mongo", srv->servername),
				 errdetail("It uses \"%s\".", fdw->fdwname)));
	if (OidIsValid(userid) && !superuser_arg(userid) &&
		pg_foreign_server_aclcheck(srv->serverid, userid, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for foreign server %s", srv->servername),
				 errdetail("Role \"%s\" has no USAGE on it.", GetUserNameFromId(userid, true) ?
						   GetUserNameFromId(userid, true) : "(dropped)"),
				 errhint("GRANT USAGE ON FOREIGN SERVER %s TO the mapping's owner.",
						 quote_identifier(srv->servername))));

	t = palloc0(sizeof(ReconTarget));
	t->serverid = srv->serverid;
	t->server_name = pstrdup(srv->servername);
	foreach(lc, srv->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "uri") == 0)
			t->uri = pstrdup(defGetString(def));
	}
	if (t->uri)
		validate_uri(t->uri, superuser_arg(srv->owner));

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
