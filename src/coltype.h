/*
 * coltype.h — which PostgreSQL column types recon compares, and how
 * (coltype.c).
 */
#ifndef RECON_COLTYPE_H
#define RECON_COLTYPE_H

#include "canonical.h"

/*
 * The conversion for values of typid (domains resolved), or NULL when recon
 * cannot compare them; *why (if given) then says which part is unsupported.
 */
extern CanonType *canon_type_for(Oid typid, char **why);

/* A CanonType for a scalar kind that needs no catalog look-up (tests, fuzzing). */
extern CanonType *canon_type_scalar(CanonKind kind, Oid typid);

/* The types recon supports, for error details. */
extern const char *canon_supported_types(void);

#endif
