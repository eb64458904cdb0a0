/*
 * bare_lookup — the reference point for recon's change-check benchmark
 * (bench/cdc_bench.sh): a plain libmongoc client doing the batched _id
 * look-ups recon's change worker does, and nothing else.  Each query is
 *
 *     find({_id: {$in: [K distinct random integer ids]}}, {batchSize: B})
 *
 * with no projection (what recon_read_sides() sends; -b gives the cursor's
 * batchSize, default none: the server's default first batch and getMores),
 * and every returned document is touched (keys counted).  The ids
 * are drawn uniformly from [MIN, MAX] and sent as int64, as recon sends the
 * values of an integer key column.
 *
 *   bare_lookup [-u URI] [-k K] [-b BATCHSIZE] [-m MIN] [-n MAX] [-s SECONDS]
 *               [-q QUERIES] [-r SEED] [-i int32|int64] [-c] DB.COLL
 *
 * URI: -u, else $RECON_TEST_MONGO_URI, else mongodb://127.0.0.1:27017.
 * K: keys per query (default 1000, recon.batch_size's default).  MIN/MAX:
 * the id range (default 1..20000).  Runs for SECONDS (default 5) of wall
 * time, or QUERIES queries if -q is given (whichever comes first), after
 * one untimed warm-up query.  -c: a new client (connect, handshake, ping)
 * for every query, timed with it — what recon's change worker ends up doing
 * when its cached client is invalidated every cycle (see bench/CDC.md).
 *
 * -f FILE: instead of random ids, the ids listed in FILE (one per line),
 * each asked for once, K per query in file order, no warm-up — a sweep's
 * re-read of its candidate keys (bench/sweep_bench.sh's fair baseline).
 *
 * Prints one line of key=value pairs:
 *   k= batch_size= reconnect= queries= keys= docs= seconds= keys_per_s= queries_per_s=
 *   ms_per_query= cpu_s= cpu_us_per_key=
 * keys = ids asked for, docs = documents returned (equal when every id
 * exists); cpu_s is this process's user+system time over the timed span.
 * Exit status 1 on any MongoDB error, 2 on usage errors.
 */
#include <mongoc/mongoc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* libmongoc warns at exit because FerretDB lacks endSessions. */
static void
log_handler(mongoc_log_level_t level, const char *domain, const char *message,
			void *data)
{
	if (level == MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions") != NULL)
		return;
	mongoc_log_default_handler(level, domain, message, data);
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: bare_lookup [-u URI] [-k K] [-b BATCHSIZE] [-m MIN] [-n MAX] [-s SECONDS]\n"
			"                   [-q QUERIES] [-r SEED] [-i int32|int64] [-c] [-f IDS_FILE] DB.COLL\n");
	exit(2);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* xorshift64*: deterministic for a seed, fast, good enough for sampling */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/*
 * K distinct ids from [min, max]: a partial Fisher-Yates shuffle over the
 * id range (pool holds the range; it stays a permutation between calls).
 */
static void
draw_ids(int64_t *pool, long range, int k, int64_t *out)
{
	int			i;

	for (i = 0; i < k; i++)
	{
		long		j = i + (long) (rng_next() % (uint64_t) (range - i));
		int64_t		t = pool[i];

		pool[i] = pool[j];
		pool[j] = t;
		out[i] = pool[i];
	}
}

/* One query; adds to *docs and *fields.  Returns false on error (message printed). */
static int	batch_size = 0;		/* cursor batchSize; 0: none sent */

static bool
one_query(mongoc_collection_t *coll, const int64_t *ids, int k, bool int32,
		  long *docs, long *fields)
{
	bson_t		filter = BSON_INITIALIZER;
	bson_t		idf,
				in;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_error_t error;
	char		ikey[16];
	int			i;
	bool		ok = true;

	bson_append_document_begin(&filter, "_id", 3, &idf);
	bson_append_array_begin(&idf, "$in", 3, &in);
	for (i = 0; i < k; i++)
	{
		snprintf(ikey, sizeof(ikey), "%d", i);
		if (int32)
			bson_append_int32(&in, ikey, -1, (int32_t) ids[i]);
		else
			bson_append_int64(&in, ikey, -1, ids[i]);
	}
	bson_append_array_end(&idf, &in);
	bson_append_document_end(&filter, &idf);

	if (batch_size > 0)
	{
		bson_t		opts = BSON_INITIALIZER;

		BSON_APPEND_INT32(&opts, "batchSize", batch_size);
		cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
		bson_destroy(&opts);
	}
	else
		cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	while (mongoc_cursor_next(cursor, &doc))
	{
		bson_iter_t it;

		if (bson_iter_init(&it, doc))
			while (bson_iter_next(&it))
				(*fields)++;
		(*docs)++;
	}
	if (mongoc_cursor_error(cursor, &error))
	{
		fprintf(stderr, "bare_lookup: find: %s\n", error.message);
		ok = false;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
	return ok;
}

/* A connected client (ping answered), or NULL with a message printed. */
static mongoc_client_t *
connect_client(const mongoc_uri_t *uri)
{
	mongoc_client_t *client;
	bson_t		ping = BSON_INITIALIZER;
	bson_error_t error;
	bool		ok;

	client = mongoc_client_new_from_uri_with_error(uri, &error);
	if (client == NULL)
	{
		fprintf(stderr, "bare_lookup: %s\n", error.message);
		return NULL;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_set_appname(client, "recon-bench-bare-lookup");
	BSON_APPEND_INT32(&ping, "ping", 1);
	ok = mongoc_client_command_simple(client, "admin", &ping, NULL, NULL, &error);
	bson_destroy(&ping);
	if (!ok)
	{
		fprintf(stderr, "bare_lookup: ping: %s\n", error.message);
		mongoc_client_destroy(client);
		return NULL;
	}
	return client;
}

int
main(int argc, char **argv)
{
	const char *uri_str = getenv("RECON_TEST_MONGO_URI");
	const char *ns,
			   *dot;
	int			k = 1000;
	long		min = 1,
				max = 20000,
				max_queries = -1,
				range,
				i;
	double		seconds = 5.0;
	bool		int32 = false;
	bool		reconnect = false;
	const char *ids_file = NULL;
	int64_t    *listed = NULL;
	long		nlisted = 0;
	int			opt;
	char	   *db;
	mongoc_uri_t *uri;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bson_error_t error;
	int64_t    *pool,
			   *ids;
	long		queries = 0,
				docs = 0,
				fields = 0,
				warm_docs = 0,
				warm_fields = 0;
	double		t0,
				t1,
				c0,
				c1;

	while ((opt = getopt(argc, argv, "u:k:b:m:n:s:q:r:i:cf:")) != -1)
	{
		switch (opt)
		{
			case 'u':
				uri_str = optarg;
				break;
			case 'k':
				k = atoi(optarg);
				break;
			case 'b':
				batch_size = atoi(optarg);
				if (batch_size < 0)
					usage();
				break;
			case 'm':
				min = atol(optarg);
				break;
			case 'n':
				max = atol(optarg);
				break;
			case 's':
				seconds = atof(optarg);
				break;
			case 'q':
				max_queries = atol(optarg);
				break;
			case 'r':
				rng_state = strtoull(optarg, NULL, 10) * 2654435761ULL + 1;
				break;
			case 'i':
				if (strcmp(optarg, "int32") == 0)
					int32 = true;
				else if (strcmp(optarg, "int64") != 0)
					usage();
				break;
			case 'c':
				reconnect = true;
				break;
			case 'f':
				ids_file = optarg;
				break;
			default:
				usage();
		}
	}
	if (optind != argc - 1)
		usage();
	ns = argv[optind];
	dot = strchr(ns, '.');
	range = max - min + 1;
	if (dot == NULL || dot == ns || dot[1] == '\0' || k <= 0 || range < k ||
		seconds <= 0 || max_queries == 0)
		usage();
	if (uri_str == NULL || uri_str[0] == '\0')
		uri_str = "mongodb://127.0.0.1:27017";

	if (ids_file)
	{
		FILE	   *f = fopen(ids_file, "r");
		long long	v;
		long		cap = 1024;

		if (f == NULL)
		{
			perror(ids_file);
			return 2;
		}
		listed = malloc(sizeof(int64_t) * cap);
		while (listed && fscanf(f, "%lld", &v) == 1)
		{
			if (nlisted == cap)
				listed = realloc(listed, sizeof(int64_t) * (cap *= 2));
			if (listed)
				listed[nlisted++] = v;
		}
		fclose(f);
		if (listed == NULL || nlisted == 0)
		{
			fprintf(stderr, "bare_lookup: no ids in %s\n", ids_file);
			return 2;
		}
	}
	pool = malloc(sizeof(int64_t) * range);
	ids = malloc(sizeof(int64_t) * k);
	if (pool == NULL || ids == NULL)
	{
		fprintf(stderr, "bare_lookup: out of memory\n");
		return 1;
	}
	for (i = 0; i < range; i++)
		pool[i] = min + i;

	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
	uri = mongoc_uri_new_with_error(uri_str, &error);
	if (uri == NULL)
	{
		fprintf(stderr, "bare_lookup: bad URI: %s\n", error.message);
		return 2;
	}

	/* connect before the clock starts, as recon's cached client is */
	client = connect_client(uri);
	if (client == NULL)
		return 1;
	db = bson_strndup(ns, dot - ns);
	coll = mongoc_client_get_collection(client, db, dot + 1);

	if (listed)
	{
		/* each listed id once, k per query, timed from the first query */
		t0 = now_s();
		c0 = cpu_s();
		for (i = 0; i < nlisted; i += k)
		{
			int			n = (int) (nlisted - i < k ? nlisted - i : k);

			if (!one_query(coll, listed + i, n, int32, &docs, &fields))
				return 1;
			queries++;
		}
		t1 = now_s();
		c1 = cpu_s();
		printf("k=%d batch_size=%d listed=%ld queries=%ld keys=%ld docs=%ld seconds=%.3f cpu_s=%.3f\n",
			   k, batch_size, nlisted, queries, nlisted, docs, t1 - t0, c1 - c0);
		return 0;
	}

	/* one untimed warm-up query (server-side caches, connection) */
	draw_ids(pool, range, k, ids);
	if (!one_query(coll, ids, k, int32, &warm_docs, &warm_fields))
		return 1;

	t0 = now_s();
	c0 = cpu_s();
	do
	{
		draw_ids(pool, range, k, ids);
		if (reconnect)
		{
			mongoc_collection_destroy(coll);
			mongoc_client_destroy(client);
			client = connect_client(uri);
			if (client == NULL)
				return 1;
			coll = mongoc_client_get_collection(client, db, dot + 1);
		}
		if (!one_query(coll, ids, k, int32, &docs, &fields))
			return 1;
		queries++;
		t1 = now_s();
	} while (t1 - t0 < seconds && (max_queries < 0 || queries < max_queries));
	c1 = cpu_s();

	printf("k=%d batch_size=%d reconnect=%d queries=%ld keys=%ld docs=%ld seconds=%.3f keys_per_s=%.0f"
		   " queries_per_s=%.2f ms_per_query=%.2f cpu_s=%.3f cpu_us_per_key=%.2f\n",
		   k, batch_size, reconnect ? 1 : 0, queries, queries * k, docs, t1 - t0, queries * k / (t1 - t0),
		   queries / (t1 - t0), (t1 - t0) * 1000.0 / queries, c1 - c0,
		   (c1 - c0) * 1e6 / ((double) queries * k));

	mongoc_collection_destroy(coll);
	bson_free(db);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	free(pool);
	free(ids);
	return 0;
}
