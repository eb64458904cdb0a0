/*
 * mongo_client.c — one single-threaded libmongoc client per (server, user
 * mapping) per backend, cached and dropped when the server or a user
 * mapping changes; translation of libmongoc errors into ereports.
 *
 * Credentials are set through mongoc_uri_set_username/password, never
 * printed into a URI string, and no error text built here includes them.
 *
 * Every connection is wrapped in a "cancellable" stream: reads wait for the
 * server in slices of CANCEL_SLICE_MS and give up as soon as a cancel or
 * terminate is pending, so a hung MongoDB never keeps a backend from
 * honouring pg_cancel_backend()/pg_terminate_backend() for longer than a
 * slice (libmongoc itself retries poll() on EINTR until the socket timeout).
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "mongo_client.h"
#include "recon.h"
#include "target.h"

#include "miscadmin.h"
#include "portability/instr_time.h"
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

/*
 * Called from _PG_init: initialize libmongoc once per backend with its log
 * at DEBUG1, free the clients and libmongoc at backend exit, and mark cached
 * clients stale whenever a foreign server or user mapping changes.
 */
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

/*
 * Raise a libmongoc error as an ERROR whose SQLSTATE tells callers what
 * failed: credentials refused, not authorized, server unreachable, or any
 * other MongoDB error (FDW_ERROR).  what completes "while ...".  Quoted
 * values are cut from the message; a pending cancel is reported instead.
 */
void
recon_mongo_raise(const bson_error_t *error, const char *what)
{
	char		msg[sizeof(error->message)];
	char	   *safe;

	/* a read given up for a pending cancel or terminate: report that instead */
	CHECK_FOR_INTERRUPTS();
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

/* ---------------------------------------------------------------------
 * The cancellable stream
 * --------------------------------------------------------------------- */

#define CANCEL_SLICE_MS 250
#define RECON_STREAM_TYPE 0x7265	/* any value libmongoc does not use */

/* exported by libmongoc, declared in its private headers only */
extern mongoc_stream_t *mongoc_client_default_stream_initiator(const mongoc_uri_t *uri,
															   const mongoc_host_list_t *host,
															   void *user_data,
															   bson_error_t *error);

/*
 * While set, replies may take up to recon.recheck_timeout_ms instead of
 * the socket timeout: the re-read of candidates on a server that scans
 * the collection for it.  Cancel still ends the wait within a slice.
 */
static bool long_reads = false;

/*
 * While on, replies may take up to recon.recheck_timeout_ms instead of the
 * socket timeout (a re-read on a server that scans for it); the caller turns
 * it off again, also on error.
 */
void
recon_mongo_long_reads(bool on)
{
	long_reads = on;
}

#define REPLY_MMAP_THRESHOLD (4 * 1024 * 1024)
#define REPLY_HEAP_KEEP (16 * 1024 * 1024)
#define GLIBC_DEFAULT_THRESHOLD (128 * 1024)

/*
 * libmongoc mallocs each reply (a batch of documents, often hundreds of
 * kilobytes) and frees it once the batch is read.  Under glibc's default,
 * self-adjusting thresholds that memory sits at the top of the heap, goes
 * back to the kernel at each free, and the next reply faults it in again:
 * measured at 16,000 extra page faults and about a sixth of a 300k-row
 * sweep's backend CPU.  While on, up to REPLY_HEAP_KEEP of freed memory
 * stays in the heap for the next reply; off restores glibc's default
 * thresholds (as fixed values: glibc cannot be told to adjust them again)
 * and returns what was kept.  A caller in a user's session turns it off
 * again, also on error; the change worker keeps it on in its own process.
 */
void
recon_mongo_keep_reply_memory(bool on)
{
#ifdef __GLIBC__
	if (on)
	{
		mallopt(M_MMAP_THRESHOLD, REPLY_MMAP_THRESHOLD);
		mallopt(M_TRIM_THRESHOLD, REPLY_HEAP_KEEP);
	}
	else
	{
		mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD);
		mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD);
		malloc_trim(0);
	}
#endif
}

typedef struct CancelStream
{
	mongoc_stream_t vtable;		/* must come first */
	mongoc_stream_t *base;
	bool		timed_out;
} CancelStream;

static mongoc_stream_t *
base_of(mongoc_stream_t *s)
{
	return ((CancelStream *) s)->base;
}

static void
cs_destroy(mongoc_stream_t *s)
{
	mongoc_stream_destroy(base_of(s));
	free(s);
}

static void
cs_failed(mongoc_stream_t *s)
{
	mongoc_stream_failed(base_of(s));
	free(s);
}

static int
cs_close(mongoc_stream_t *s)
{
	return mongoc_stream_close(base_of(s));
}

static int
cs_flush(mongoc_stream_t *s)
{
	return mongoc_stream_flush(base_of(s));
}

static ssize_t
cs_writev(mongoc_stream_t *s, mongoc_iovec_t *iov, size_t iovcnt, int32_t timeout_msec)
{
	return mongoc_stream_writev(base_of(s), iov, iovcnt, timeout_msec);
}

static int
cs_setsockopt(mongoc_stream_t *s, int level, int optname, void *optval, mongoc_socklen_t optlen)
{
	return mongoc_stream_setsockopt(base_of(s), level, optname, optval, optlen);
}

static mongoc_stream_t *
cs_get_base_stream(mongoc_stream_t *s)
{
	return base_of(s);
}

static bool
cs_check_closed(mongoc_stream_t *s)
{
	return mongoc_stream_check_closed(base_of(s));
}

static bool
cs_timed_out(mongoc_stream_t *s)
{
	return ((CancelStream *) s)->timed_out || mongoc_stream_timed_out(base_of(s));
}

static bool
cs_should_retry(mongoc_stream_t *s)
{
	return mongoc_stream_should_retry(base_of(s));
}

/*
 * poll() on cancellable streams: polls their base streams and copies back
 * the events.  Called inside libmongoc, so it reports failure (-1), never
 * raises, and allocates with malloc.
 */
static ssize_t
cs_poll(mongoc_stream_poll_t *streams, size_t nstreams, int32_t timeout)
{
	mongoc_stream_poll_t *b = malloc(sizeof(mongoc_stream_poll_t) * (nstreams + 1));
	ssize_t		r;
	size_t		i;

	if (b == NULL)
		return -1;
	for (i = 0; i < nstreams; i++)
	{
		b[i] = streams[i];
		b[i].stream = base_of(streams[i].stream);
	}
	r = mongoc_stream_poll(b, nstreams, timeout);
	for (i = 0; i < nstreams; i++)
		streams[i].revents = b[i].revents;
	free(b);
	return r;
}

/*
 * Read at least min_bytes within timeout_msec, in slices, checking for a
 * pending cancel or terminate between them.  Never raises (it runs inside
 * libmongoc): a pending interrupt makes the read fail, libmongoc drops the
 * connection, and recon's caller turns the failure into the cancel.
 */
static ssize_t
cs_readv(mongoc_stream_t *s, mongoc_iovec_t *iov, size_t iovcnt, size_t min_bytes,
		 int32_t timeout_msec)
{
	CancelStream *cs = (CancelStream *) s;
	mongoc_iovec_t *cur;
	size_t		ncur = iovcnt;
	size_t		total = 0;
	instr_time	start,
				now;

	cs->timed_out = false;
	if (long_reads && timeout_msec >= 0 && timeout_msec < recon_recheck_timeout_ms)
		timeout_msec = recon_recheck_timeout_ms;
	if (timeout_msec >= 0 && timeout_msec <= CANCEL_SLICE_MS)
		return mongoc_stream_readv(cs->base, iov, iovcnt, min_bytes, timeout_msec);
	cur = malloc(sizeof(mongoc_iovec_t) * (iovcnt + 1));
	if (cur == NULL)
		return -1;
	memcpy(cur, iov, sizeof(mongoc_iovec_t) * iovcnt);
	INSTR_TIME_SET_CURRENT(start);
	for (;;)
	{
		int32_t		slice = CANCEL_SLICE_MS;
		ssize_t		r;

		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			break;
		if (timeout_msec >= 0)
		{
			double		left;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			left = timeout_msec - INSTR_TIME_GET_MILLISEC(now);
			if (left <= 0)
			{
				cs->timed_out = true;
				break;
			}
			slice = Min(slice, (int32_t) left + 1);
		}
		r = mongoc_stream_readv(cs->base, cur, ncur, 1, slice);
		if (r > 0)
		{
			size_t		n = (size_t) r;

			total += n;
			if (total >= min_bytes)
			{
				free(cur);
				return (ssize_t) total;
			}
			/* advance past what was read */
			while (ncur > 0 && n >= cur[0].iov_len)
			{
				n -= cur[0].iov_len;
				memmove(cur, cur + 1, sizeof(mongoc_iovec_t) * (ncur - 1));
				ncur--;
			}
			if (ncur > 0)
			{
				cur[0].iov_base = (char *) cur[0].iov_base + n;
				cur[0].iov_len -= n;
			}
			continue;
		}
		if (r == 0 || !mongoc_stream_timed_out(cs->base))
		{
			free(cur);
			return r;			/* closed, or a real error */
		}
		/* a slice timed out: look at interrupts, then wait again */
	}
	free(cur);
	errno = EINTR;
	return -1;
}

/*
 * libmongoc's stream initiator for recon's clients: libmongoc's own stream
 * (TCP, TLS) wrapped in a CancelStream, so that every read of every
 * connection gives way to a pending cancel or terminate within a slice.
 */
static mongoc_stream_t *
cancellable_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *user_data,
					  bson_error_t *error)
{
	mongoc_stream_t *base = mongoc_client_default_stream_initiator(uri, host, user_data, error);
	CancelStream *cs;

	if (base == NULL)
		return NULL;
	cs = calloc(1, sizeof(CancelStream));
	if (cs == NULL)
	{
		mongoc_stream_destroy(base);
		bson_set_error(error, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET,
					   "out of memory wrapping a stream");
		return NULL;
	}
	cs->vtable.type = RECON_STREAM_TYPE;
	cs->vtable.destroy = cs_destroy;
	cs->vtable.failed = cs_failed;
	cs->vtable.close = cs_close;
	cs->vtable.flush = cs_flush;
	cs->vtable.writev = cs_writev;
	cs->vtable.readv = cs_readv;
	cs->vtable.setsockopt = cs_setsockopt;
	cs->vtable.get_base_stream = cs_get_base_stream;
	cs->vtable.check_closed = cs_check_closed;
	cs->vtable.poll = cs_poll;
	cs->vtable.timed_out = cs_timed_out;
	cs->vtable.should_retry = cs_should_retry;
	cs->base = base;
	return (mongoc_stream_t *) cs;
}

/*
 * A new client for the target, with its credentials set on the URI object
 * (never in text), recon's timeouts and cancellable streams; a ping proves
 * the server answers and accepts them.  Raises through recon_mongo_raise.
 */
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
	mongoc_client_set_stream_initiator(client, cancellable_initiator, client);

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

/*
 * The cached client of the target's (server, user mapping), connected on
 * first use; the cache is emptied after a server or user-mapping change.  A
 * failed connect raises and leaves nothing cached, so the next call retries.
 */
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

/*
 * A handle on collection ns ("db.coll", validated when the mapping was made)
 * of the target's client; the caller destroys it (mongoc_collection_destroy),
 * also on error.
 */
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
