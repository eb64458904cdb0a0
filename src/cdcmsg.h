/*
 * cdcmsg.h — the text format of the "recon" decoding plugin's messages,
 * shared by the plugin (writer) and the change worker (reader).
 */
#ifndef RECON_CDCMSG_H
#define RECON_CDCMSG_H

#include "postgres.h"
#include "lib/stringinfo.h"

#define RECON_MSG_MAX_FIELDS 34	/* op, relid and up to INDEX_MAX_KEYS key values */

extern void recon_msg_append_escaped(StringInfo out, const char *s);
extern char *recon_msg_unescape(const char *s);
extern int	recon_msg_split(char *line, char **fields, int max);

#endif
