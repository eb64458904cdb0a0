/*
 * jsonbson.h — jsonb values written as BSON (jsonbson.c).
 */
#ifndef RECON_JSONBSON_H
#define RECON_JSONBSON_H

#include <bson/bson.h>

#include "utils/jsonb.h"

extern void recon_append_decimal_text(bson_t *dst, const char *key, int keylen, const char *text);
extern void recon_append_jsonb(bson_t *dst, const char *key, Jsonb *jb);

#endif
