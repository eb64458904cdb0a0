/*
 * mongo_client.h — libmongoc clients per (server, user mapping), cached per
 * backend, and MongoDB errors as PostgreSQL errors (mongo_client.c).  The
 * only header that includes mongoc.h.
 */
#ifndef RECON_MONGO_CLIENT_H
#define RECON_MONGO_CLIENT_H

#include "postgres.h"

#include <mongoc/mongoc.h>

#include "target.h"

extern mongoc_client_t *recon_mongo_client(const ReconTarget *target);
extern mongoc_collection_t *recon_mongo_collection(const ReconTarget *target,
												   const char *namespace);
extern void recon_mongo_raise(const bson_error_t *error, const char *what) pg_attribute_noreturn();
extern void recon_mongo_init(void);
extern void recon_mongo_long_reads(bool on);
extern void recon_mongo_keep_reply_memory(bool on);

#endif
