#!/usr/bin/env bash
# scripts/fuzz.sh — build and run recon's libFuzzer targets (fuzz/) for a
# fixed budget each; exits non-zero on any crash or sanitizer report.
#   scripts/fuzz.sh              60 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh
# Targets: canonical (BSON -> canonical values, src/canonical.c),
# cdc_message (the change worker's reading of decoder messages,
# src/cdcmsg.c) and jsonb_bson (jsonb -> BSON, src/jsonbson.c, with the
# jsonb iterator replaced by a replay of a generated token stream), built with clang -fsanitize=fuzzer,address against
# PostgreSQL's server headers and libpgcommon/libpgport.  Seeds live in
# fuzz/corpus/<target>; new inputs go to a scratch copy, crashes to
# .build/fuzz/.  Needs clang-14 and libclang-rt-14-dev (install-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CC=${FUZZ_CC:-clang-14}
PGINC=$($PG_CONFIG --includedir-server)
PGLIB=$($PG_CONFIG --libdir)
[ -f "$PGLIB/libpgcommon.a" ] || PGLIB=$($PG_CONFIG --pkglibdir)
OUT=$PWD/.build/fuzz
mkdir -p "$OUT"
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -I"$PGINC" -Isrc $(pkg-config --cflags libbson-1.0))
LIBS=("$PGLIB/libpgcommon.a" "$PGLIB/libpgport.a" $(pkg-config --libs libbson-1.0) -lcrypto -lm)

build() {
    local target=$1; shift
    echo "fuzz.sh: building $target"
    "$CC" "${CFLAGS[@]}" "fuzz/fuzz_$target.c" "$@" "${LIBS[@]}" -o "$OUT/fuzz_$target"
}
build canonical fuzz/fuzz_stubs.c src/canonical.c
build cdc_message fuzz/fuzz_stubs.c src/cdcmsg.c
build jsonb_bson -DFUZZ_JSONB_BSON fuzz/fuzz_stubs.c src/jsonbson.c

status=0
for target in canonical cdc_message jsonb_bson; do
    work=$OUT/corpus-$target
    rm -rf "$work"; mkdir -p "$work"
    cp fuzz/corpus/$target/* "$work/"
    echo "fuzz.sh: $target for ${SECONDS_EACH}s"
    # Backend memory is reclaimed by memory contexts, not free(): no leak checks.
    if ! (cd "$OUT" && ASAN_OPTIONS=detect_leaks=0 ./fuzz_$target -max_total_time="$SECONDS_EACH" \
            -print_final_stats=1 -artifact_prefix="$OUT/$target-" "$work" 2>&1 | tail -n 15); then
        status=1
    fi
    if ls "$OUT/$target-"* >/dev/null 2>&1; then
        echo "fuzz.sh: $target found crashing inputs:"; ls "$OUT/$target-"*
        status=1
    fi
done
[ $status -eq 0 ] && echo "fuzz.sh: PASS" || echo "fuzz.sh: FAIL"
exit $status
