/*
 * fuzz_cdc_message.c — libFuzzer target for the change worker's reading of
 * the decoding plugin's messages (src/cdcmsg.c): any bytes are split and
 * unescaped without overrunning; and any key value escaped by the plugin
 * reads back as itself, in one field, whatever tabs, newlines and
 * backslashes it holds.
 */
#include "postgres.h"

#include "cdcmsg.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *line = palloc(size + 1);
	char	   *fields[RECON_MSG_MAX_FIELDS];
	int			n,
				i;

	/* 1. arbitrary messages */
	memcpy(line, data, size);
	line[size] = '\0';
	n = recon_msg_split(line, fields, RECON_MSG_MAX_FIELDS);
	if (n < 1 || n > RECON_MSG_MAX_FIELDS)
		__builtin_trap();
	for (i = 0; i < n; i++)
		pfree(recon_msg_unescape(fields[i]));

	/* 2. round trip of one key value through the plugin's escaping */
	memcpy(line, data, size);
	line[size] = '\0';
	{
		StringInfoData msg;
		char	   *back;
		int			nf;

		initStringInfo(&msg);
		appendStringInfoString(&msg, "U\t16384\t");
		recon_msg_append_escaped(&msg, line);
		if (strchr(msg.data + 8, '\t') || strchr(msg.data, '\n'))
			__builtin_trap();	/* an escaped value never splits a message */
		nf = recon_msg_split(msg.data, fields, RECON_MSG_MAX_FIELDS);
		if (nf != 3)
			__builtin_trap();
		back = recon_msg_unescape(fields[2]);
		if (strcmp(back, line) != 0)
			__builtin_trap();	/* the key read back is the key written */
		pfree(back);
		pfree(msg.data);
	}
	pfree(line);
	return 0;
}
