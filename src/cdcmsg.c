/*
 * cdcmsg.c — the text format of the "recon" decoding plugin's messages.
 *
 * One message per changed key: "<op>\t<relid>\t<key value>..." with tab,
 * newline and backslash escaped in key values ("\N" is SQL NULL), and
 * "X\t<commit time>" at the end of each transaction.  Kept free of server
 * state so that the reader can be fuzzed outside a server (fuzz/).
 */
#include "postgres.h"

#include "cdcmsg.h"

/*
 * Append s to out with tab, newline and backslash escaped, so that a key
 * value never splits a message into extra fields or lines.
 */
void
recon_msg_append_escaped(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\t')
			appendStringInfoString(out, "\\t");
		else if (*s == '\n')
			appendStringInfoString(out, "\\n");
		else if (*s == '\\')
			appendStringInfoString(out, "\\\\");
		else
			appendStringInfoChar(out, *s);
	}
}

/*
 * One field's value, palloc'd: recon_msg_append_escaped undone (a backslash
 * before any other character stands for that character).  The caller tests
 * for \N, SQL NULL, first.
 */
char *
recon_msg_unescape(const char *s)
{
	StringInfoData out;

	initStringInfo(&out);
	for (; *s; s++)
	{
		if (*s == '\\' && s[1])
		{
			s++;
			appendStringInfoChar(&out, *s == 't' ? '\t' : *s == 'n' ? '\n' : *s);
		}
		else
			appendStringInfoChar(&out, *s);
	}
	return out.data;
}

/* Split a message in place at tabs; returns the number of fields (<= max). */
int
recon_msg_split(char *line, char **fields, int max)
{
	int			n = 0;
	char	   *p = line;

	if (max <= 0)
		return 0;
	fields[n++] = p;
	while (n < max && (p = strchr(p, '\t')) != NULL)
	{
		*p++ = '\0';
		fields[n++] = p;
	}
	return n;
}
