#!/usr/bin/env bash
# scripts/valgrind_cdc.sh — the change worker under valgrind memcheck: a
# throwaway cluster whose processes all run under valgrind follows a
# mapping through inserts, updates that move keys, deletes, a divergent
# change and a TRUNCATE (the in-process decoding, the sink, the spool, the
# queue and the checks).  Prints valgrind's findings whose stacks involve
# recon.so; exits non-zero if there are any.  Slow (a few minutes); not in CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind_cdc.sh: install valgrind first"; exit 2; }
source scripts/rig.sh
rig_start_ferretdb
rig_tmp
make -s test/mongo_tool
test/mongo_tool drop vg.cdc
data=$RIG_TMP/vgcdc
vglog=$RIG_TMP/vglogs
rig_as_user mkdir -p "$vglog" "$RIG_TMP/vgsock"
rig_as_user "$RIG_PGBIN/initdb" -D "$data" --no-sync -A trust >/dev/null
cat >>"$data/postgresql.conf" <<CONF
shared_preload_libraries = 'recon'
wal_level = logical
port = $(rig_free_port)
listen_addresses = ''
unix_socket_directories = '$RIG_TMP/vgsock'
recon.naptime = 1
CONF
port=$(sed -n 's/^port = //p' "$data/postgresql.conf")
rig_as_user valgrind --quiet --trace-children=yes --leak-check=no --track-origins=no \
    --log-file="$vglog/%p.log" "$RIG_PGBIN/postgres" -D "$data" >"$RIG_TMP/vgcdc.log" 2>&1 &
psql_vg() { rig_as_user "$RIG_PGBIN/psql" -X -q -h "$RIG_TMP/vgsock" -p "$port" -d postgres -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 1 300); do psql_vg -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
if [ "$(psql_vg -At -c "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'")" = 1 ]; then
    psql_vg -c "ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, recon" -c "SELECT pg_reload_conf()" >/dev/null
fi
psql_vg <<SQL
CREATE EXTENSION recon;
CREATE SERVER m FOREIGN DATA WRAPPER recon_mongo OPTIONS (uri '$RECON_TEST_MONGO_URI');
CREATE TABLE c (id int PRIMARY KEY, v text, tags text[]);
INSERT INTO c SELECT g, 'v' || g, ARRAY['a', 'b'] FROM generate_series(1, 50) g;
SELECT recon.add_mapping('c', 'public.c', 'm', 'vg.cdc', options => '{"settle_ms": 200, "repair": "auto"}');
SQL
psql_vg -At -c "SELECT json_build_object('_id', id, 'v', v, 'tags', tags) FROM c" | test/mongo_tool insert vg.cdc
psql_vg -c "SELECT recon.enable_cdc('c')" >/dev/null 2>&1
sleep 20
psql_vg <<'SQL'
UPDATE c SET v = v || '!' WHERE id <= 10;
UPDATE c SET id = id + 1000 WHERE id = 20;
DELETE FROM c WHERE id = 30;
INSERT INTO c VALUES (60, 'new', '{}');
SQL
sleep 30
psql_vg -c "TRUNCATE c"
sleep 30
psql_vg -At -c "SELECT 'checks=' || checks || ' divergences=' || divergences || ' errors=' || errors FROM recon.cdc_status"
rig_as_user "$RIG_PGBIN/pg_ctl" -D "$data" -m fast -w -t 300 stop >/dev/null
# findings whose stack goes through recon.so
found=0
for f in "$vglog"/*.log; do
    if grep -q "recon.so" "$f"; then
        echo "== $f"; cat "$f"; found=1
    fi
done
[ "$found" = 0 ] && echo "valgrind_cdc.sh: no finding involves recon.so" || exit 1
