/*
 * audit.c — the audit trail's C side (catalog.c writes its rows): the optional
 * server-side key that turns the chain's hashes into HMACs, the copy of
 * committed audit rows in the server log, and the keyed hash of redacted
 * values.
 *
 * The chain itself (sequence, links, the row lock on its head) is the
 * trigger recon._audit_chain in SQL; it asks this file for the hash and
 * queues each row's log copy here.  The copy is written by a commit
 * callback, so rolled-back work never reaches the log, and it carries
 * chain_seq and row_hash: the log is an anchor kept outside the database.
 *
 * The key file (recon.audit_key_file) lives outside the data directory and
 * is readable by the server's OS user only.  It holds one key per line (64
 * or more hex digits); the first is current, the others still verify rows
 * written under them.  A key is named by its fingerprint (key_id), never
 * shown.
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "canonical.h"
#include "catalog.h"
#include "recon.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

char	   *recon_audit_key_file = NULL;

#define MAX_AUDIT_KEYS 16

typedef struct AuditKey
{
	uint8		key[128];
	int			len;
	char		id[17];			/* first 16 hex digits of SHA-256(key) */
} AuditKey;

static AuditKey audit_keys[MAX_AUDIT_KEYS];
static int	n_audit_keys = 0;
static char *loaded_path = NULL;
static struct timespec loaded_mtime;

/*
 * Log copies of audit rows written in this transaction, emitted at commit:
 * a stream of (line, content) entries, the first PENDING_MEMORY bytes in
 * memory and the rest in a temporary file, so a run that records many
 * divergences holds no more memory than one that records few.  marks[L]
 * is the stream's length when the subtransaction at nest level L began:
 * its abort cuts the stream back there.
 */
#define PENDING_MEMORY (256 * 1024)

static StringInfo pending_buf = NULL;	/* the stream's tail, in TopTransactionContext */
static BufFile *pending_file = NULL;	/* the stream's head, once it outgrew memory */
static off_t pending_file_len = 0;
static off_t *marks = NULL;
static int	nmarks = 0;

static off_t
pending_len(void)
{
	return pending_file_len + (pending_buf ? pending_buf->len : 0);
}

static void
pending_forget(void)
{
	/* memory and file go with the transaction (context, resource owner) */
	pending_buf = NULL;
	pending_file = NULL;
	pending_file_len = 0;
}

/*
 * Add one (line, content) entry to this transaction's log-copy stream.  The
 * tail is kept in TopTransactionContext and spills to a temporary file owned
 * by the top transaction, so entries outlive the subtransaction that queued
 * them until commit writes them or abort drops them.
 */
static void
pending_append(const char *line, const char *content)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	uint32		n;

	if (pending_buf == NULL)
		pending_buf = makeStringInfo();
	n = strlen(line);
	appendBinaryStringInfo(pending_buf, (char *) &n, sizeof(n));
	appendBinaryStringInfo(pending_buf, line, n);
	n = strlen(content);
	appendBinaryStringInfo(pending_buf, (char *) &n, sizeof(n));
	appendBinaryStringInfo(pending_buf, content, n);
	if (pending_buf->len > PENDING_MEMORY)
	{
		if (pending_file == NULL)
		{
			ResourceOwner owner = CurrentResourceOwner;

			/* owned by the transaction, not by the subtransaction writing */
			CurrentResourceOwner = TopTransactionResourceOwner;
			pending_file = BufFileCreateTemp(false);
			CurrentResourceOwner = owner;
		}
		if (BufFileSeek(pending_file, 0, pending_file_len, SEEK_SET) != 0)
			elog(ERROR, "recon: could not seek in the audit log-copy file");
		BufFileWrite(pending_file, pending_buf->data, pending_buf->len);
		pending_file_len += pending_buf->len;
		resetStringInfo(pending_buf);
	}
	MemoryContextSwitchTo(old);
}

static void
pending_truncate(off_t len)
{
	if (len >= pending_file_len)
	{
		if (pending_buf)
			pending_buf->len = (int) (len - pending_file_len);
		return;
	}
	pending_file_len = len;		/* later writes overwrite the rest */
	if (pending_buf)
		resetStringInfo(pending_buf);
}

/*
 * Read the stream's next length-prefixed string into out (NUL-terminated):
 * from f when it is given, else from *mem (advanced) up to mem_end.  False at
 * the end of the data or on a short read.
 */
static bool
read_entry_part(BufFile *f, const char **mem, const char *mem_end, StringInfo out)
{
	uint32		n;

	resetStringInfo(out);
	if (f)
	{
		if (BufFileRead(f, &n, sizeof(n)) != sizeof(n))
			return false;
		enlargeStringInfo(out, n);
		if (BufFileRead(f, out->data, n) != n)
			return false;
	}
	else
	{
		if (mem_end - *mem < (long) sizeof(n))
			return false;
		memcpy(&n, *mem, sizeof(n));
		*mem += sizeof(n);
		enlargeStringInfo(out, n);
		memcpy(out->data, *mem, n);
		*mem += n;
	}
	out->len = n;
	out->data[n] = '\0';
	return true;
}

/*
 * Write queued entries to the server log at recon.audit_log_level, the line
 * as message and the content as log-only detail: the first file_len bytes of
 * f, or the memory range [mem, mem_end).  Runs at commit; the caller traps
 * errors.
 */
static void
emit_entries(BufFile *f, off_t file_len, const char *mem, const char *mem_end)
{
	StringInfoData line,
				content;
	off_t		done = 0;

	initStringInfo(&line);
	initStringInfo(&content);
	if (f && BufFileSeek(f, 0, 0, SEEK_SET) != 0)
		elog(ERROR, "recon: could not rewind the audit log-copy file");
	for (;;)
	{
		if (f && done >= file_len)
			break;
		if (!read_entry_part(f, &mem, mem_end, &line) ||
			!read_entry_part(f, &mem, mem_end, &content))
			break;
		if (f)
			done += 2 * sizeof(uint32) + line.len + content.len;
		ereport(recon_audit_log_level,
				(errmsg_internal("%s", line.data),
				 errdetail_log("%s", content.data),
				 errhidestmt(true), errhidecontext(true)));
	}
}

/* ---------------------------------------------------------------------
 * The key file
 * --------------------------------------------------------------------- */

static void
key_file_error(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("recon.audit_key_file is not usable"),
			 errdetail("%s", detail),
			 errhint("The file must be outside the data directory, owned by the server's OS user"
					 " with mode 0600 or 0400, and hold one key per line of at least 64 hex digits"
					 " (e.g. from openssl rand -hex 32).")));
}

/* (Re)load the keys when the setting or the file changed. */
static void
load_audit_keys(void)
{
	struct stat st;
	FILE	   *f;
	char		line[1024];
	int			n = 0;

	if (recon_audit_key_file == NULL || recon_audit_key_file[0] == '\0')
	{
		n_audit_keys = 0;
		return;
	}
	if (!is_absolute_path(recon_audit_key_file))
		key_file_error("The path is not absolute.");
	if (stat(recon_audit_key_file, &st) != 0)
		key_file_error("The file cannot be read by the server.");
	if (loaded_path && strcmp(loaded_path, recon_audit_key_file) == 0 &&
		st.st_mtim.tv_sec == loaded_mtime.tv_sec && st.st_mtim.tv_nsec == loaded_mtime.tv_nsec)
		return;
	if (DataDir && path_is_prefix_of_path(DataDir, recon_audit_key_file))
		key_file_error("The file is inside the data directory, where every copy of the database takes it along.");
	if (!S_ISREG(st.st_mode))
		key_file_error("It is not a regular file.");
	if (st.st_uid != geteuid())
		key_file_error("It is not owned by the server's OS user.");
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		key_file_error("Its group or others have permissions on it.");

	f = AllocateFile(recon_audit_key_file, "r");
	if (f == NULL)
		key_file_error("The file cannot be opened by the server.");
	while (fgets(line, sizeof(line), f) != NULL && n < MAX_AUDIT_KEYS)
	{
		AuditKey   *k = &audit_keys[n];
		int			len = 0;
		char	   *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		while (canon_hex_value(p[0]) >= 0 && canon_hex_value(p[1]) >= 0 && len < (int) sizeof(k->key))
		{
			k->key[len++] = (uint8) (canon_hex_value(p[0]) * 16 + canon_hex_value(p[1]));
			p += 2;
		}
		if (len < 32 || (*p != '\n' && *p != '\0' && *p != '\r' && *p != ' '))
		{
			FreeFile(f);
			n_audit_keys = 0;
			key_file_error("A line is not a key of 64 to 256 hex digits.");
		}
		k->len = len;
		strlcpy(k->id, canon_sha256_hex((const char *) k->key, len), sizeof(k->id));
		n++;
	}
	FreeFile(f);
	if (n == 0)
		key_file_error("It holds no key.");
	n_audit_keys = n;
	if (loaded_path)
		pfree(loaded_path);
	loaded_path = MemoryContextStrdup(TopMemoryContext, recon_audit_key_file);
	loaded_mtime = st.st_mtim;
}

static const AuditKey *
find_key(const char *id)
{
	int			i;

	load_audit_keys();
	for (i = 0; i < n_audit_keys; i++)
		if (strcmp(audit_keys[i].id, id) == 0)
			return &audit_keys[i];
	return NULL;
}

static char *
hmac_hex(const uint8 *key, int keylen, const char *data, int len)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		dig[32];
	char	   *hex = palloc(65);

	if (ctx == NULL || pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_hmac_final(ctx, dig, sizeof(dig)) < 0)
		elog(ERROR, "recon: could not compute HMAC-SHA-256");
	pg_hmac_free(ctx);
	canon_hex_encode(dig, 32, hex);
	return hex;
}

/*
 * recon._audit_key_id() → text: the fingerprint of the current audit key
 * (the first key in the file), or NULL when recon.audit_key_file is unset.
 * The chain trigger stores it with each row; errors if the file is unusable.
 */
PG_FUNCTION_INFO_V1(recon_audit_key_id);
Datum
recon_audit_key_id(PG_FUNCTION_ARGS)
{
	load_audit_keys();
	if (n_audit_keys == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(audit_keys[0].id));
}

/* SHA-256 (key_id NULL) or HMAC-SHA-256 under the named key, as hex. */
PG_FUNCTION_INFO_V1(recon_audit_hash);
Datum
recon_audit_hash(PG_FUNCTION_ARGS)
{
	text	   *data;
	const AuditKey *k;
	char	   *id;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	data = PG_GETARG_TEXT_PP(1);
	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text(canon_sha256_hex(VARDATA_ANY(data),
														  VARSIZE_ANY_EXHDR(data))));
	id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	k = find_key(id);
	if (k == NULL)
		PG_RETURN_NULL();		/* a key this server does not hold: cannot verify */
	PG_RETURN_TEXT_P(cstring_to_text(hmac_hex(k->key, k->len, VARDATA_ANY(data),
											  VARSIZE_ANY_EXHDR(data))));
}

/* ---------------------------------------------------------------------
 * Server-log copy, after commit only
 * --------------------------------------------------------------------- */

/*
 * recon._audit_queue(seq, row_hash, action, content): queue the server-log
 * copy of an audit row, written only if the transaction commits (nothing when
 * recon.audit_log_level is off).  Called by the chain trigger.
 */
PG_FUNCTION_INFO_V1(recon_audit_queue);
Datum
recon_audit_queue(PG_FUNCTION_ARGS)
{
	char	   *line;
	char	   *content;

	if (recon_audit_log_level == 0)
		PG_RETURN_VOID();
	line = psprintf("recon audit: %s", text_to_cstring(PG_GETARG_TEXT_PP(2)));
	content = psprintf("seq=%lld row_hash=%s content=%s", (long long) PG_GETARG_INT64(0),
					   text_to_cstring(PG_GETARG_TEXT_PP(1)),
					   text_to_cstring(PG_GETARG_TEXT_PP(3)));
	pending_append(line, content);
	pfree(line);
	pfree(content);
	PG_RETURN_VOID();
}

/* 0.1.0's trigger called this before insert; kept for the 0.1.0 schema. */
PG_FUNCTION_INFO_V1(recon_audit_emit);
Datum
recon_audit_emit(PG_FUNCTION_ARGS)
{
	PG_RETURN_VOID();
}

/*
 * At commit, write the transaction's queued log copies; the commit has
 * happened, so a failure is downgraded to a WARNING (the rows stay in
 * recon.audit_log).  Commit, abort and prepare all forget the stream.
 */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending_len() > 0)
			{
				MemoryContext cxt = CurrentMemoryContext;

				/* committed already: a failure here loses the copies, never the commit */
				PG_TRY();
				{
					if (pending_file)
						emit_entries(pending_file, pending_file_len, NULL, NULL);
					if (pending_buf)
						emit_entries(NULL, 0, pending_buf->data,
									 pending_buf->data + pending_buf->len);
					if (pending_file)
						BufFileClose(pending_file);
				}
				PG_CATCH();
				{
					ErrorData  *e;

					MemoryContextSwitchTo(cxt);
					e = CopyErrorData();
					FlushErrorState();
					ereport(WARNING,
							(errmsg("recon: the server-log copies of this transaction's audit rows were not all written"),
							 errdetail("%s", e->message),
							 errhint("The rows are in recon.audit_log; recon.verify_audit() checks them.")));
				}
				PG_END_TRY();
			}
			pending_forget();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_forget();
			break;
		default:
			break;
	}
}

/*
 * Keep the log-copy stream in step with subtransactions: remember its
 * length when one starts and cut it back there when that one aborts, so a
 * rolled-back savepoint's audit rows never reach the log.
 */
static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_START_SUB)
	{
		if (level >= nmarks)
		{
			int			n = Max(16, level * 2);

			marks = marks ? repalloc(marks, sizeof(off_t) * n)
				: MemoryContextAlloc(TopMemoryContext, sizeof(off_t) * n);
			nmarks = n;
		}
		marks[level] = pending_len();
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB && level < nmarks)
		pending_truncate(marks[level]);
	/* a committed subtransaction's entries simply stay in the stream */
}

/* ---------------------------------------------------------------------
 * Key rotation, random bytes, redaction hash
 * --------------------------------------------------------------------- */

/*
 * recon.rotate_audit_key(note text) → bigint: record a key_rotated audit
 * row, the first chained under the new key, and return its chain_seq.
 * Superuser only; errors when recon.audit_key_file is unset or unusable.
 */
PG_FUNCTION_INFO_V1(recon_rotate_audit_key);
Datum
recon_rotate_audit_key(PG_FUNCTION_ARGS)
{
	ReconAudit	a = {0};
	int64		seq;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may record an audit key rotation"),
				 errhint("The key is server configuration (recon.audit_key_file).")));
	load_audit_keys();
	if (n_audit_keys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recon.audit_key_file is not set"),
				 errhint("Set it in postgresql.conf, reload, then call recon.rotate_audit_key().")));
	SPI_connect();
	a.actor = GetUserNameFromId(GetUserId(), false);
	a.action = AUDIT_KEY_ROTATED;
	a.reason = PG_ARGISNULL(0) ? "recon.rotate_audit_key" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	a.detail = psprintf("{\"key_id\": \"%s\"}", audit_keys[0].id);
	recon_audit(&a);
	seq = recon_spi_int64("SELECT chain_seq FROM recon.audit_chain_head", 0, NULL, NULL);
	SPI_finish();
	PG_RETURN_INT64(seq);
}

/*
 * recon._random_bytes(n integer) → bytea: n (1..1024) bytes from the strong
 * random source; the upgrade script makes the redaction key with it.
 */
PG_FUNCTION_INFO_V1(recon_random_bytes);
Datum
recon_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *b;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("length must be between 1 and 1024")));
	b = palloc(VARHDRSZ + n);
	SET_VARSIZE(b, VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(b), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	PG_RETURN_BYTEA_P(b);
}

static uint8 redaction_key[64];
static int	redaction_key_len = 0;
static Oid	redaction_key_db = InvalidOid;

/*
 * The keyed hash of a redacted value: HMAC-SHA-256 under this database's
 * recon.redaction_key, so equal values match across runs but cannot be
 * guessed from the hash by anyone without the key.  SPI must be connected
 * as the extension owner.
 */
char *
recon_redaction_hash(const char *data, int len)
{
	if (redaction_key_db != MyDatabaseId)
	{
		bool		isnull;
		bytea	   *k;
		SPITupleTable *save_tuptable = SPI_tuptable;
		uint64		save_processed = SPI_processed;

		/* callers may still be reading their own SPI result: keep it */
		if (SPI_execute("SELECT secret FROM recon.redaction_key", true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("recon's redaction key is missing"),
					 errhint("Run ALTER EXTENSION recon UPDATE.")));
		k = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		redaction_key_len = Min(VARSIZE_ANY_EXHDR(k), (int) sizeof(redaction_key));
		memcpy(redaction_key, VARDATA_ANY(k), redaction_key_len);
		redaction_key_db = MyDatabaseId;
		SPI_freetuptable(SPI_tuptable);
		SPI_tuptable = save_tuptable;
		SPI_processed = save_processed;
	}
	return hmac_hex(redaction_key, redaction_key_len, data, len);
}

/*
 * Called from _PG_init: define recon.audit_key_file and register the
 * callbacks that write or drop the audit rows' log copies.
 */
void
recon_audit_init(void)
{
	DefineCustomStringVariable("recon.audit_key_file",
							   "File holding the key that makes the audit chain's hashes HMACs.",
							   "Outside the data directory, mode 0600, owned by the server's OS user.",
							   &recon_audit_key_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	RegisterXactCallback(audit_xact_callback, NULL);
	RegisterSubXactCallback(audit_subxact_callback, NULL);
}
