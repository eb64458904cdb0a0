/*
 * target.h — MongoDB servers (recon_mongo foreign servers) and the
 * credentials of their user mappings (target.c).
 */
#ifndef RECON_TARGET_H
#define RECON_TARGET_H

#include "postgres.h"

typedef struct ReconTarget
{
	Oid			serverid;
	char	   *server_name;
	char	   *uri;
	char	   *username;		/* NULL when the server needs none */
	char	   *password;
	Oid			umuser;			/* user mapping's role, InvalidOid = PUBLIC/none */
} ReconTarget;

extern ReconTarget *recon_target_lookup(Oid serverid, Oid userid);
extern Oid	recon_server_oid(const char *server_name);
extern char *recon_mongo_safe_message(const char *msg);

#endif
