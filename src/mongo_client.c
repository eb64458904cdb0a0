/*
 * mongo_client.c — one single-threaded libmongoc client per (server, user
 * mapping) per backend, cached and dropped when the server or a user
 * mapping changes; translation of libmongoc errors into ereports.
 *
 * Credentials are set through mongoc_uri_set_username/password, never
 * printed into a URI string, and no error text built here includes them.
 */
#include "postgres.h"

#include "recon.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

typedef struct ClientKey
{
	Oid			serverid;
	Oid			umuser;
} ClientKey;

typedef struct ClientEntry
{
	ClientKey	key;
	mongoc_client_t *client;
} ClientEntry;

static HTAB *client_cache = NULL;
static bool cache_stale = false;
static bool mongoc_ready = false;

static void
log_handler(mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
	/* Never ERROR from inside libmongoc; its messages go to the server log. */
	if (level <= MONGOC_LOG_LEVEL_WARNING)
		ereport(DEBUG1, (errmsg_internal("libmongoc %s: %s", domain, message)));
}

static void
drop_all_clients(void)
{
	HASH_SEQ_STATUS seq;
	ClientEntry *e;

	if (client_cache == NULL)
		return;
	hash_seq_init(&seq, client_cache);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->client)
			mongoc_client_destroy(e->client);
		e->client = NULL;
	}
	hash_destroy(client_cache);
	client_cache = NULL;
}

static void
invalidate_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	cache_stale = true;			/* clients are destroyed at next use, not here */
}

static void
cleanup_at_exit(int code, Datum arg)
{
	drop_all_clients();
	if (mongoc_ready)
		mongoc_cleanup();
	mongoc_ready = false;
}

void
recon_mongo_init(void)
{
	/* Called from _PG_init: in each backend that loads recon. */
	if (!mongoc_ready)
	{
		mongoc_init();
		mongoc_log_set_handler(log_handler, NULL);
		mongoc_ready = true;
		before_shmem_exit(cleanup_at_exit, (Datum) 0);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate_cb, (Datum) 0);
	}
}

/* Errors that mean "cannot reach" vs "refused our credentials". */
static bool
is_auth_error(const bson_error_t *e)
{
	return (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
		e->code == 18 /* AuthenticationFailed */ ;
}

/*
 * A server message without the values it may quote: MongoDB puts the
 * offending key or document in some messages (E11000 "dup key: { ... }",
 * validation failures); they could be redacted or confidential.  Keep the
 * text up to the first quoted key or document, which leaves the code and
 * the index name.
 */
char *
recon_mongo_safe_message(const char *msg)
{
	size_t		n = strlen(msg);
	const char *cut;

	if ((cut = strstr(msg, "dup key")) != NULL && (size_t) (cut - msg) < n)
		n = cut - msg;
	if ((cut = strchr(msg, '{')) != NULL && (size_t) (cut - msg) < n)
		n = cut - msg;
	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == ':'))
		n--;
	if (n < strlen(msg))
		return psprintf("%.*s (values omitted)", (int) n, msg);
	return pstrdup(msg);
}

void
recon_mongo_raise(const bson_error_t *error, const char *what)
{
	char		msg[sizeof(error->message)];
	char	   *safe;

	strlcpy(msg, error->message, sizeof(msg));
	safe = recon_mongo_safe_message(msg);
	strlcpy(msg, safe, sizeof(msg));
	if (is_auth_error(error))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("MongoDB refused the credentials while %s", what),
				 errdetail("%s", msg),
				 errhint("Check username and password in the USER MAPPING for this server.")));
	if (error->code == 13 /* Unauthorized */ )
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("MongoDB refused the operation while %s: not authorized", what),
				 errdetail("%s", msg),
				 errhint("The server requires authentication or more privileges: check the USER MAPPING "
						 "of the mapping's owner (or PUBLIC) and the MongoDB user's roles.")));
	if (error->domain == MONGOC_ERROR_SERVER_SELECTION ||
		error->domain == MONGOC_ERROR_STREAM)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("MongoDB server unreachable while %s", what),
				 errdetail("%s", msg),
				 errhint("Check the server's uri option, that MongoDB is running, and recon.connect_timeout_ms.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("MongoDB error while %s", what),
			 errdetail("%s (domain %u, code %u)", msg, error->domain, error->code)));
}

static mongoc_client_t *
connect_client(const ReconTarget *t)
{
	bson_error_t err;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(t->uri, &err);
	mongoc_client_t *client;
	bson_t		ping = BSON_INITIALIZER;
	bool		ok;

	if (uri == NULL)
		recon_mongo_raise(&err, "parsing the server's uri");
	if (t->username)
		mongoc_uri_set_username(uri, t->username);
	if (t->password)
		mongoc_uri_set_password(uri, t->password);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, recon_connect_timeout_ms);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, recon_connect_timeout_ms);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, recon_socket_timeout_ms);
	mongoc_uri_set_option_as_bool(uri, MONGOC_URI_SERVERSELECTIONTRYONCE, true);
	mongoc_uri_set_appname(uri, "recon");

	client = mongoc_client_new_from_uri_with_error(uri, &err);
	mongoc_uri_destroy(uri);
	if (client == NULL)
		recon_mongo_raise(&err, "creating a client");
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);

	BSON_APPEND_INT32(&ping, "ping", 1);
	ok = mongoc_client_command_simple(client, "admin", &ping, NULL, NULL, &err);
	bson_destroy(&ping);
	if (!ok)
	{
		mongoc_client_destroy(client);
		recon_mongo_raise(&err, "connecting");
	}
	return client;
}

mongoc_client_t *
recon_mongo_client(const ReconTarget *t)
{
	ClientKey	key;
	ClientEntry *e;
	bool		found;

	if (cache_stale)
	{
		drop_all_clients();
		cache_stale = false;
	}
	if (client_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ClientKey);
		ctl.entrysize = sizeof(ClientEntry);
		ctl.hcxt = TopMemoryContext;
		client_cache = hash_create("recon mongo clients", 8, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.serverid = t->serverid;
	key.umuser = t->umuser;
	e = hash_search(client_cache, &key, HASH_ENTER, &found);
	if (!found)
		e->client = NULL;
	if (e->client == NULL)
	{
		PG_TRY();
		{
			e->client = connect_client(t);
		}
		PG_CATCH();
		{
			hash_search(client_cache, &key, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return e->client;
}

mongoc_collection_t *
recon_mongo_collection(const ReconTarget *t, const char *ns)
{
	mongoc_client_t *client = recon_mongo_client(t);
	const char *dot = strchr(ns, '.');
	char	   *db = pnstrdup(ns, dot - ns);
	mongoc_collection_t *coll = mongoc_client_get_collection(client, db, dot + 1);

	pfree(db);
	return coll;
}
