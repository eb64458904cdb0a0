/*
 * bare_read — the reference point for recon's sweep benchmark: a plain
 * libmongoc client reading a whole collection the way recon's sweep reads
 * it (one find({}) with a projection of the mapped fields and a batchSize),
 * touching every document (keys counted, recursively) and doing nothing else.
 *
 *   bare_read [-c] [-b BATCH] [-f FILTER_JSON] [-u URI] DB.COLL [FIELD,FIELD,...]
 *
 * URI: -u, else $RECON_TEST_MONGO_URI, else mongodb://127.0.0.1:27017.
 * FIELD list: the projection ({_id: 1, FIELD: 1, ...}); omitted or "-"
 * means no projection.  BATCH: default 1000 (recon.batch_size's default);
 * 0 sends no batchSize (the server's default batches).  FILTER_JSON: default
 * {} (the sweep's); e.g. '{"_id": {"$in": [3, 3001]}}' times a re-check.
 * -c: first time an estimatedDocumentCount (what a sweep may ask to size its
 * partitions) and print count= count_s= before the find's figures.
 *
 * Prints one line of key=value pairs:
 *   docs=  keys=  seconds=  first_doc_s=  docs_per_s=  cpu_s=  cpu_us_per_doc=  maxrss_kb=
 * seconds is wall time from the find to the cursor's exhaustion (first_doc_s
 * to its first document, or to its end when it has none); cpu_s is
 * this process's user+system time over the same span; maxrss_kb is
 * getrusage's ru_maxrss (peak resident set) at the end.
 * Exit status 1 on any MongoDB error, 2 on usage errors.
 */
#include <mongoc/mongoc.h>
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
	fprintf(stderr, "usage: bare_read [-c] [-b BATCH] [-f FILTER_JSON] [-u URI] DB.COLL [FIELD,FIELD,...]\n");
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

/* Touch every value: count keys, descending into documents and arrays. */
static long
count_keys(bson_iter_t *it)
{
	long		n = 0;

	while (bson_iter_next(it))
	{
		n++;
		if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it))
		{
			bson_iter_t child;

			if (bson_iter_recurse(it, &child))
				n += count_keys(&child);
		}
	}
	return n;
}

int
main(int argc, char **argv)
{
	const char *uri_str = getenv("RECON_TEST_MONGO_URI");
	const char *ns,
			   *fields = NULL,
			   *filter_json = NULL,
			   *dot;
	int			batch = 1000;
	int			opt;
	int			do_count = 0;
	char	   *db;
	mongoc_uri_t *uri;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	mongoc_cursor_t *cursor;
	bson_t	   *filter;
	bson_t		opts = BSON_INITIALIZER;
	bson_t		ping = BSON_INITIALIZER;
	bson_error_t error;
	const bson_t *doc;
	long		docs = 0,
				keys = 0;
	double		t0,
				t1,
				tfirst = 0,
				c0,
				c1;
	struct rusage ru;

	while ((opt = getopt(argc, argv, "cb:f:u:")) != -1)
	{
		switch (opt)
		{
			case 'c':
				do_count = 1;
				break;
			case 'b':
				batch = atoi(optarg);
				if (batch < 0)
					usage();
				break;
			case 'f':
				filter_json = optarg;
				break;
			case 'u':
				uri_str = optarg;
				break;
			default:
				usage();
		}
	}
	if (optind >= argc || argc - optind > 2)
		usage();
	ns = argv[optind];
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-") != 0)
		fields = argv[optind + 1];
	dot = strchr(ns, '.');
	if (dot == NULL || dot == ns || dot[1] == '\0')
		usage();
	if (uri_str == NULL || uri_str[0] == '\0')
		uri_str = "mongodb://127.0.0.1:27017";

	if (filter_json == NULL)
		filter = bson_new();
	else if ((filter = bson_new_from_json((const uint8_t *) filter_json, -1, &error)) == NULL)
	{
		fprintf(stderr, "bare_read: bad filter: %s\n", error.message);
		return 2;
	}

	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
	uri = mongoc_uri_new_with_error(uri_str, &error);
	if (uri == NULL)
	{
		fprintf(stderr, "bare_read: bad URI: %s\n", error.message);
		return 2;
	}
	client = mongoc_client_new_from_uri_with_error(uri, &error);
	if (client == NULL)
	{
		fprintf(stderr, "bare_read: %s\n", error.message);
		return 1;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_set_appname(client, "recon-bench-bare-read");

	/* connect before the clock starts, as recon's cached client is */
	BSON_APPEND_INT32(&ping, "ping", 1);
	if (!mongoc_client_command_simple(client, "admin", &ping, NULL, NULL, &error))
	{
		fprintf(stderr, "bare_read: ping: %s\n", error.message);
		return 1;
	}

	db = bson_strndup(ns, dot - ns);
	coll = mongoc_client_get_collection(client, db, dot + 1);

	/* the options recon's sweep sends: batchSize, then the projection */
	if (batch > 0)
		BSON_APPEND_INT32(&opts, "batchSize", batch);
	if (fields != NULL)
	{
		bson_t		proj;
		char	   *list = bson_strdup(fields);
		char	   *save = NULL;
		char	   *f;

		bson_append_document_begin(&opts, "projection", -1, &proj);
		BSON_APPEND_INT32(&proj, "_id", 1);
		for (f = strtok_r(list, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save))
			if (*f != '\0')
				BSON_APPEND_INT32(&proj, f, 1);
		bson_append_document_end(&opts, &proj);
		bson_free(list);
	}

	if (do_count)
	{
		int64_t		n;

		t0 = now_s();
		n = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &error);
		if (n < 0)
		{
			fprintf(stderr, "bare_read: estimatedDocumentCount: %s\n", error.message);
			return 1;
		}
		printf("count=%lld count_s=%.3f ", (long long) n, now_s() - t0);
	}

	t0 = now_s();
	c0 = cpu_s();
	cursor = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
	while (mongoc_cursor_next(cursor, &doc))
	{
		bson_iter_t it;

		if (docs == 0)
			tfirst = now_s();
		if (bson_iter_init(&it, doc))
			keys += count_keys(&it);
		docs++;
	}
	if (mongoc_cursor_error(cursor, &error))
	{
		fprintf(stderr, "bare_read: find: %s\n", error.message);
		return 1;
	}
	t1 = now_s();
	c1 = cpu_s();
	if (docs == 0)
		tfirst = t1;

	getrusage(RUSAGE_SELF, &ru);
	printf("docs=%ld keys=%ld seconds=%.3f first_doc_s=%.3f docs_per_s=%.0f cpu_s=%.3f cpu_us_per_doc=%.2f maxrss_kb=%ld\n",
		   docs, keys, t1 - t0, tfirst - t0, docs / (t1 - t0 > 0 ? t1 - t0 : 1e-9),
		   c1 - c0, docs > 0 ? (c1 - c0) * 1e6 / docs : 0.0, ru.ru_maxrss);

	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(coll);
	bson_free(db);
	bson_destroy(filter);
	bson_destroy(&opts);
	bson_destroy(&ping);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	return 0;
}
