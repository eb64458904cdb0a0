/*
 * mongo_tool — tiny libmongoc client used by recon's tests and demo to
 * prepare and inspect MongoDB (or FerretDB) collections.
 *
 * URI: $RECON_TEST_MONGO_URI, default mongodb://127.0.0.1:27017
 *
 *   mongo_tool ping
 *   mongo_tool drop   DB.COLL                       ("ns not found" is ignored)
 *   mongo_tool insert DB.COLL < docs.jsonl          (one extended-JSON doc per line)
 *   mongo_tool update DB.COLL FILTER_JSON UPDATE_JSON   (update_many)
 *   mongo_tool delete DB.COLL FILTER_JSON               (delete_many)
 *   mongo_tool find   DB.COLL [FILTER_JSON]   relaxed extended JSON, sorted by _id
 *   mongo_tool count  DB.COLL [FILTER_JSON]
 *   mongo_tool insert-raw DB.COLL HEX    one whole BSON document given as hex,
 *                                        unvalidated (duplicate or dotted names)
 *   mongo_tool find-raw DB.COLL          every document as hex, as the server returns it
 *
 * Silent on success except find/count; errors go to stderr, exit status 1
 * (2 for usage errors).
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mongoc_client_t *client;

/* libmongoc logs a warning at exit because FerretDB lacks endSessions. */
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
			"usage: mongo_tool ping\n"
			"       mongo_tool drop|insert|replace DB.COLL   (documents on stdin)\n"
			"       mongo_tool update DB.COLL FILTER_JSON UPDATE_JSON\n"
			"       mongo_tool delete DB.COLL FILTER_JSON\n"
			"       mongo_tool find|count DB.COLL [FILTER_JSON]\n"
			"       mongo_tool unique-index DB.COLL FIELD\n"
			"       mongo_tool insert-raw-string DB.COLL ID HEX   ({_id: ID, v: <bytes>}, unvalidated)\n"
			"       mongo_tool insert-raw DB.COLL HEX   (a whole BSON document, unvalidated)\n"
			"       mongo_tool find-raw DB.COLL         (documents as hex)\n");
	exit(2);
}

static void
fail(const char *what, const bson_error_t *error)
{
	fprintf(stderr, "mongo_tool: %s: %s\n", what, error->message);
	exit(1);
}

/* Parse a JSON argument; NULL or "" means the empty document. */
static bson_t *
parse_json(const char *what, const char *json)
{
	bson_error_t error;
	bson_t	   *doc;

	if (json == NULL || json[0] == '\0')
		return bson_new();
	doc = bson_new_from_json((const uint8_t *) json, -1, &error);
	if (doc == NULL)
		fail(what, &error);
	return doc;
}

/* "DB.COLL": the database is everything before the first dot. */
static mongoc_collection_t *
open_collection(const char *ns)
{
	const char *dot = strchr(ns, '.');
	char	   *db;
	mongoc_collection_t *coll;

	if (dot == NULL || dot == ns || dot[1] == '\0')
	{
		fprintf(stderr, "mongo_tool: namespace must be DB.COLL, got \"%s\"\n", ns);
		exit(2);
	}
	db = bson_strndup(ns, dot - ns);
	coll = mongoc_client_get_collection(client, db, dot + 1);
	bson_free(db);
	return coll;
}

static void
cmd_ping(void)
{
	bson_error_t error;
	bson_t	   *cmd = BCON_NEW("ping", BCON_INT32(1));

	if (!mongoc_client_command_simple(client, "admin", cmd, NULL, NULL, &error))
		fail("ping", &error);
	bson_destroy(cmd);
}

static void
cmd_drop(mongoc_collection_t *coll)
{
	bson_error_t error;

	if (!mongoc_collection_drop_with_opts(coll, NULL, &error) &&
		error.code != 26 && strstr(error.message, "ns not found") == NULL)
		fail("drop", &error);
}

/* insert, or (upsert) replace each document by its _id */
static void
cmd_write(mongoc_collection_t *coll, int replace)
{
	mongoc_bulk_operation_t *bulk;
	bson_error_t error;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		lineno = 0,
				ndocs = 0;

	bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);	/* ordered */
	while ((len = getline(&line, &cap, stdin)) != -1)
	{
		bson_t	   *doc;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t) len)
			continue;			/* blank line */
		doc = bson_new_from_json((const uint8_t *) line, len, &error);
		if (doc == NULL)
		{
			fprintf(stderr, "mongo_tool: insert: stdin line %ld: %s\n",
					lineno, error.message);
			exit(1);
		}
		if (replace)
		{
			bson_iter_t it;
			bson_t		sel = BSON_INITIALIZER;
			bson_t	   *opts = BCON_NEW("upsert", BCON_BOOL(1));

			if (bson_iter_init_find(&it, doc, "_id"))
				bson_append_iter(&sel, "_id", 3, &it);
			if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, doc, opts, &error))
				fail("replace", &error);
			bson_destroy(&sel);
			bson_destroy(opts);
		}
		else if (!mongoc_bulk_operation_insert_with_opts(bulk, doc, NULL, &error))
			fail("insert", &error);
		bson_destroy(doc);
		ndocs++;
	}
	free(line);
	if (ndocs > 0 && !mongoc_bulk_operation_execute(bulk, NULL, &error))
		fail("insert", &error);
	mongoc_bulk_operation_destroy(bulk);
}

static void
cmd_update(mongoc_collection_t *coll, const char *filter_json, const char *update_json)
{
	bson_error_t error;
	bson_t	   *filter = parse_json("filter", filter_json);
	bson_t	   *update = parse_json("update", update_json);

	if (!mongoc_collection_update_many(coll, filter, update, NULL, NULL, &error))
		fail("update", &error);
	bson_destroy(filter);
	bson_destroy(update);
}

static void
cmd_delete(mongoc_collection_t *coll, const char *filter_json)
{
	bson_error_t error;
	bson_t	   *filter = parse_json("filter", filter_json);

	if (!mongoc_collection_delete_many(coll, filter, NULL, NULL, &error))
		fail("delete", &error);
	bson_destroy(filter);
}

static void
cmd_find(mongoc_collection_t *coll, const char *filter_json)
{
	bson_error_t error;
	bson_t	   *filter = parse_json("filter", filter_json);
	bson_t	   *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
	mongoc_cursor_t *cursor;
	const bson_t *doc;

	cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
	while (mongoc_cursor_next(cursor, &doc))
	{
		char	   *json = bson_as_relaxed_extended_json(doc, NULL);

		puts(json);
		bson_free(json);
	}
	if (mongoc_cursor_error(cursor, &error))
		fail("find", &error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(filter);
}

static void
cmd_count(mongoc_collection_t *coll, const char *filter_json)
{
	bson_error_t error;
	bson_t	   *filter = parse_json("filter", filter_json);
	int64_t		n;

	n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &error);
	if (n < 0)
		fail("count", &error);
	printf("%lld\n", (long long) n);
	bson_destroy(filter);
}

/*
 * {_id: ID, v: <the bytes HEX>} inserted without client-side validation:
 * strings that are not valid UTF-8, as years-old writers leave them.
 */
static void
cmd_insert_raw_string(mongoc_collection_t *coll, const char *id, const char *hex)
{
	size_t		n = strlen(hex) / 2,
				i;
	char	   *bytes = malloc(n + 1);
	bson_t		doc = BSON_INITIALIZER,
				opts = BSON_INITIALIZER;
	bson_error_t error;

	for (i = 0; i < n; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			usage();
		bytes[i] = (char) b;
	}
	BSON_APPEND_INT32(&doc, "_id", atoi(id));
	bson_append_utf8(&doc, "v", 1, bytes, (int) n);
	BSON_APPEND_BOOL(&opts, "validate", false);
	if (!mongoc_collection_insert_one(coll, &doc, &opts, NULL, &error))
		fail("insert-raw-string", &error);
	bson_destroy(&doc);
	bson_destroy(&opts);
	free(bytes);
}

static uint8_t *
hex_bytes(const char *hex, size_t *n)
{
	size_t		i;
	uint8_t    *bytes;

	*n = strlen(hex) / 2;
	bytes = malloc(*n + 1);
	for (i = 0; i < *n; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			usage();
		bytes[i] = (uint8_t) b;
	}
	return bytes;
}

/* A whole document as bytes: what no JSON parser or validating driver lets through. */
static void
cmd_insert_raw(mongoc_collection_t *coll, const char *hex)
{
	size_t		n;
	uint8_t    *bytes = hex_bytes(hex, &n);
	bson_t		doc,
				opts = BSON_INITIALIZER;
	bson_error_t error;

	if (!bson_init_static(&doc, bytes, n))
	{
		fprintf(stderr, "mongo_tool: insert-raw: not a BSON document (length header)\n");
		exit(1);
	}
	BSON_APPEND_BOOL(&opts, "validate", false);
	if (!mongoc_collection_insert_one(coll, &doc, &opts, NULL, &error))
		fail("insert-raw", &error);
	bson_destroy(&opts);
	free(bytes);
}

static void
cmd_find_raw(mongoc_collection_t *coll)
{
	bson_error_t error;
	bson_t		filter = BSON_INITIALIZER;
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	const bson_t *doc;

	while (mongoc_cursor_next(cursor, &doc))
	{
		const uint8_t *d = bson_get_data(doc);
		uint32_t	i;

		for (i = 0; i < doc->len; i++)
			printf("%02x", d[i]);
		putchar('\n');
	}
	if (mongoc_cursor_error(cursor, &error))
		fail("find-raw", &error);
	mongoc_cursor_destroy(cursor);
	bson_destroy(&filter);
}

/* A unique index on one field (for tests of write errors). */
static void
cmd_unique_index(const char *ns, const char *field)
{
	const char *dot = strchr(ns, '.');
	char		db[256];
	bson_t		cmd = BSON_INITIALIZER,
				indexes,
				index,
				key;
	bson_error_t error;
	char		name[300];

	if (dot == NULL || (size_t) (dot - ns) >= sizeof(db))
		usage();
	memcpy(db, ns, dot - ns);
	db[dot - ns] = '\0';
	snprintf(name, sizeof(name), "%s_unique", field);
	BSON_APPEND_UTF8(&cmd, "createIndexes", dot + 1);
	BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
	BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
	BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
	BSON_APPEND_INT32(&key, field, 1);
	bson_append_document_end(&index, &key);
	BSON_APPEND_UTF8(&index, "name", name);
	BSON_APPEND_BOOL(&index, "unique", true);
	bson_append_document_end(&indexes, &index);
	bson_append_array_end(&cmd, &indexes);
	if (!mongoc_client_command_simple(client, db, &cmd, NULL, NULL, &error))
		fail("createIndexes", &error);
	bson_destroy(&cmd);
}

int
main(int argc, char **argv)
{
	const char *uri_string = getenv("RECON_TEST_MONGO_URI");
	const char *cmd;
	mongoc_uri_t *uri;
	mongoc_collection_t *coll = NULL;
	bson_error_t error;

	if (argc < 2)
		usage();
	cmd = argv[1];
	if (uri_string == NULL || uri_string[0] == '\0')
		uri_string = "mongodb://127.0.0.1:27017";

	mongoc_log_set_handler(log_handler, NULL);
	mongoc_init();
	uri = mongoc_uri_new_with_error(uri_string, &error);
	if (uri == NULL)
		fail("invalid URI", &error);
	client = mongoc_client_new_from_uri_with_error(uri, &error);
	if (client == NULL)
		fail("client", &error);
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_set_appname(client, "recon-mongo_tool");

	if (strcmp(cmd, "ping") == 0 && argc == 2)
		cmd_ping();
	else if (argc < 3)
		usage();
	else
	{
		coll = open_collection(argv[2]);
		if (strcmp(cmd, "drop") == 0 && argc == 3)
			cmd_drop(coll);
		else if (strcmp(cmd, "insert") == 0 && argc == 3)
			cmd_write(coll, 0);
		else if (strcmp(cmd, "replace") == 0 && argc == 3)
			cmd_write(coll, 1);
		else if (strcmp(cmd, "update") == 0 && argc == 5)
			cmd_update(coll, argv[3], argv[4]);
		else if (strcmp(cmd, "delete") == 0 && argc == 4)
			cmd_delete(coll, argv[3]);
		else if (strcmp(cmd, "insert-raw-string") == 0 && argc == 5)
			cmd_insert_raw_string(coll, argv[3], argv[4]);
		else if (strcmp(cmd, "insert-raw") == 0 && argc == 4)
			cmd_insert_raw(coll, argv[3]);
		else if (strcmp(cmd, "find-raw") == 0 && argc == 3)
			cmd_find_raw(coll);
		else if (strcmp(cmd, "unique-index") == 0 && argc == 4)
			cmd_unique_index(argv[2], argv[3]);
		else if (strcmp(cmd, "find") == 0 && argc <= 4)
			cmd_find(coll, argc == 4 ? argv[3] : NULL);
		else if (strcmp(cmd, "count") == 0 && argc <= 4)
			cmd_count(coll, argc == 4 ? argv[3] : NULL);
		else
			usage();
		mongoc_collection_destroy(coll);
	}

	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return fflush(stdout) == 0 ? 0 : 1;
}
