#!/usr/bin/env bash
# scripts/demo.sh — the demo.  Installs dependencies, builds and installs
# recon, starts FerretDB (unless RECON_TEST_MONGO_URI is set) and a
# throwaway PostgreSQL cluster, runs demo/seed_mongo.sh if present, then
# `psql -v ON_ERROR_STOP=1 -v mongo_uri=<RECON_TEST_MONGO_URI> -f demo/demo.sql`.
# Everything started is stopped on exit; RIG_KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

scripts/install-deps.sh
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
make PG_CONFIG=$PG_CONFIG
$SUDO make install PG_CONFIG=$PG_CONFIG
make test/mongo_tool PG_CONFIG=$PG_CONFIG
export PATH=$ROOT/test:$PATH RECON_MONGO_TOOL=$ROOT/test/mongo_tool

source scripts/rig.sh
rig_start_ferretdb
rig_start_pg

if [ -f demo/seed_mongo.sh ]; then  # optional extra seeding
    echo "demo.sh: seeding MongoDB (demo/seed_mongo.sh)"
    bash demo/seed_mongo.sh
fi
echo "demo.sh: psql -f demo/demo.sql"
"$RIG_PGBIN/psql" -X -v ON_ERROR_STOP=1 -v mongo_uri="$RECON_TEST_MONGO_URI" -f demo/demo.sql
echo "demo.sh: done"
