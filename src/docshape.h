/*
 * docshape.h — rows and documents of a mapping: canonical keys and rows of
 * both sides, _id values, the BSON recon writes (inserts, updates,
 * compare-and-set filters), redacted images, and the SQL that reads the
 * source (docshape.c).
 */
#ifndef RECON_DOCSHAPE_H
#define RECON_DOCSHAPE_H

#include "postgres.h"

#include <bson/bson.h>

#include "lib/stringinfo.h"
#include "mapping.h"

extern void recon_key_canon_datums(const ReconMapping *m, Datum *values, bool *nulls,
								   StringInfo out);
extern void recon_row_canon(const ReconMapping *m, Datum *values, bool *nulls,
							StringInfo out, bool *from_double);
extern bool recon_doc_key_canon(const ReconMapping *m, const bson_t *doc, StringInfo out);
extern const char *recon_doc_ambiguous_path(const ReconMapping *m, const bson_t *doc);
extern void recon_doc_canon(const ReconMapping *m, const bson_t *doc, StringInfo out,
							bool *from_double);
extern int	recon_diff_fields(const ReconMapping *m, const char *a, const bool *a_dbl,
							  const char *b, const bool *b_dbl, const bson_t *doc,
							  List **paths, bool *mask);
extern void recon_append_id_candidates_from_canon(const ReconMapping *m, bson_t *in_array,
												  int *idx, const char *kc, int kclen);
extern void recon_build_document(const ReconMapping *m, Datum *values, bool *nulls,
								 bson_t *doc, bool redact);
extern void recon_build_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter);
extern void recon_build_whole_cas_filter(const ReconMapping *m, const bson_t *seen, bson_t *filter);
extern void recon_build_replace_update(const ReconMapping *m, Datum *values, bool *nulls,
									   const bson_t *seen, bson_t *update, bool redact);
extern void recon_build_update(const ReconMapping *m, Datum *values, bool *nulls,
							   bson_t *update, bool redact, const bool *only);
extern void recon_redacted_copy(const ReconMapping *m, const bson_t *doc, bson_t *out);
extern Datum recon_bson_to_jsonb(const bson_t *doc);
extern Datum recon_bson_to_jsonb_safe(const bson_t *doc);
extern char *recon_reason_json(const char *tag, const char *why);
extern void recon_append_value(bson_t *dst, const char *key, const CanonType *type, Datum v,
							   bool isnull, const CanonOptions *copts);
extern const char *recon_unexpected_key_type(const char *kc, int kclen);
extern char *recon_bson_to_json_text(const bson_t *doc);
extern char *recon_key_canon_to_json(const ReconMapping *m, const char *kc, int kclen);
extern List *recon_key_canon_to_texts(const ReconMapping *m, const char *kc, int kclen);
extern char *recon_source_scan_sql(const ReconMapping *m, const char *sql_suffix);
extern char *recon_source_key_lookup_sql(const ReconMapping *m, const char *suffix);
extern char *recon_source_key_lock_sql(const ReconMapping *m, const char *lock);

#endif
