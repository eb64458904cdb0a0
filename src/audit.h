/*
 * audit.h — the audit trail's keys and hashes (audit.c).  Audit rows are
 * written by catalog.c.
 */
#ifndef RECON_AUDIT_H
#define RECON_AUDIT_H

#include "postgres.h"

extern char *recon_audit_key_file;
extern void recon_audit_init(void);
extern char *recon_redaction_hash(const char *data, int len);

#endif
