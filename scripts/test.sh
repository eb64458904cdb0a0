#!/usr/bin/env bash
# scripts/test.sh — the test command.  Installs dependencies, builds and
# installs recon, starts FerretDB (unless RECON_TEST_MONGO_URI already points
# at a MongoDB) and runs `make installcheck` (pg_regress on a temporary
# instance, then the TAP tests in t/ under prove) as an unprivileged user;
# as root that is user `recon_rig`, in a copy of the working tree.
#   scripts/test.sh                           everything
#   scripts/test.sh regress [REGRESS="a b"]   pg_regress only (TAP_TESTS=)
#   scripts/test.sh tap [PROVE_TESTS=t/x.pl]  TAP only (REGRESS=)
#   scripts/test.sh fuzz                      the libFuzzer targets only
# "all" also runs the fuzz targets, FUZZ_SECONDS (default 60) each.
# Every mode first runs scripts/check_boundaries.sh and scripts/check_comments.py
# (static checks of the C sources: module boundaries, function header comments).  Further NAME=value arguments go to make.  On failure the diffs and log
# tails are printed and copied to .build/test-output/; RIG_KEEP=1 keeps the
# temporary tree.  Tests see RECON_TEST_MONGO_URI, RECON_MONGO_TOOL and PATH
# with test/ (mongo_tool) in front, and, when the rig started FerretDB (no
# RECON_TEST_MONGO_URI given), a second, authentication-enforcing FerretDB:
# RECON_TEST_MONGO_AUTH_URI (no credentials in it), RECON_TEST_MONGO_AUTH_USER
# and RECON_TEST_MONGO_AUTH_PASSWORD (see scripts/rig.sh); tests needing it
# should skip when RECON_TEST_MONGO_AUTH_URI is unset.
set -euo pipefail
# the clusters the tests create are UTF-8 whatever the caller's locale
export LANG=${LANG:-C.UTF-8}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

mode=all
case "${1:-}" in all|regress|tap|fuzz) mode=$1; shift ;; esac
case $mode in
    regress) set -- TAP_TESTS= "$@" ;;
    tap)     set -- REGRESS= "$@" ;;
esac

scripts/install-deps.sh
scripts/check_boundaries.sh
python3 scripts/check_comments.py
if [ "$mode" = all ] || [ "$mode" = fuzz ]; then
    FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh
    [ "$mode" = fuzz ] && exit 0
fi
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
make PG_CONFIG=$PG_CONFIG
$SUDO make install PG_CONFIG=$PG_CONFIG

OUT=$ROOT/.build/test-output
rm -rf "$OUT"
source scripts/rig.sh
user_mongo=${RECON_TEST_MONGO_URI:-}
rig_start_ferretdb
if [ -z "$user_mongo" ]; then
    rig_start_ferretdb_auth
elif [ -z "${RECON_TEST_MONGO_AUTH_URI:-}" ]; then
    echo "test.sh: RECON_TEST_MONGO_URI given; no authentication server (RECON_TEST_MONGO_AUTH_URI unset)"
fi

WORK=$ROOT
if [ "$(id -u)" -eq 0 ]; then           # PostgreSQL refuses to run as root
    rig_tmp
    WORK=$RIG_TMP/src
    rig_as_user mkdir "$WORK"
    tar -C "$ROOT" --exclude=./.git --exclude=./.build --exclude=./tmp_check \
        --exclude=./results --exclude=./tmp_check_regress -cf - . |
        rig_as_user tar -C "$WORK" -xf -
fi
export PATH=$WORK/test:$PATH RECON_MONGO_TOOL=$WORK/test/mongo_tool

echo "test.sh: make installcheck $* (in $WORK as $RIG_USER)"
if rig_as_user make -C "$WORK" installcheck PG_CONFIG=$PG_CONFIG "$@"; then
    echo "test.sh: PASS ($mode)"
    exit 0
fi

mkdir -p "$OUT"
for f in "$WORK"/regression.diffs; do
    [ -f "$f" ] || continue
    echo "===== $f"; head -n 2000 "$f"; cp "$f" "$OUT/"
done
for f in "$WORK"/tmp_check_regress/log/* "$WORK"/tmp_check/log/* \
         "${RECON_FERRETDB_DIR:+$RECON_FERRETDB_DIR.log}" \
         "${RECON_FERRETDB_AUTH_DIR:+$RECON_FERRETDB_AUTH_DIR.log}"; do
    [ -f "$f" ] || continue
    echo "===== tail $f"; tail -n 60 "$f"; cp "$f" "$OUT/"
done
echo "test.sh: FAIL ($mode); outputs copied to $OUT"
exit 1
