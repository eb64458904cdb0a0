#!/usr/bin/env bash
# scripts/check_boundaries.sh — static checks that recon's module boundaries
# hold in its C sources (src/, fuzz/, test/*.c).  Prints every offending line
# and exits 1 when a check fails; scripts/test.sh runs it before building.
#   scripts/check_boundaries.sh          check this tree
#   scripts/check_boundaries.sh DIR      check the tree rooted at DIR (an old
#                                        checkout: git archive REV | tar -x -C DIR)
# Checks:
#   canonical  the canonical encoding (tag byte, 4-byte big-endian length,
#              payload) is sealed inside src/canonical.c: no other file names
#              a CT_* tag or reads a value's header bytes (key[0], key + 5,
#              canon_value_len(p) - 5); they call canonical.h's functions.
#   catalog    recon's records have one writer, src/catalog.c: no other C file
#              inserts into, updates, deletes from or truncates recon.runs,
#              recon.divergences, recon.repairs, recon.audit_log or
#              recon.sweep_ranges, and no other
#              file spells an audit action name (they use ReconAuditAction).
#   mongoc     libmongoc is included only where it is used: src/mongo_client.h
#              (the client module's interface) and src/target.c (URI parsing).
# Adding a check: write check_<name> (print what is wrong, return 1) and add
# <name> to CHECKS below.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${1:-$HERE}
if [ ! -d "$ROOT/src" ]; then
    echo "check_boundaries.sh: $ROOT has no src/ directory" >&2
    exit 2
fi
cd "$ROOT"

# The C files the checks read, relative to ROOT, one a line.
c_sources() {
    local d
    for d in src fuzz; do
        if [ -d "$d" ]; then
            find "$d" -type f \( -name '*.c' -o -name '*.h' \)
        fi
    done
    if [ -d test ]; then
        find test -maxdepth 1 -type f -name '*.c'
    fi
}

# Print "file:line: text" for lines of the given files matching an ERE.
matching_lines() {
    local pattern=$1; shift
    [ $# -gt 0 ] || return 0
    grep -nE -- "$pattern" "$@" || true
}

check_canonical() {
    local files hits
    local not_ident='(^|[^A-Za-z0-9_])'
    local tag="${not_ident}CT_[A-Z]"
    local tag_byte="${not_ident}(key|kc)[[:space:]]*\[[0-4]\]"
    local payload="${not_ident}(key|kc|keylen|kclen)[[:space:]]*[-+][[:space:]]*5([^0-9]|\$)"
    local payload_len="canon_value_len[[:space:]]*\(.*\)[[:space:]]*-[[:space:]]*5([^0-9]|\$)"

    mapfile -t files < <(c_sources | grep -vx 'src/canonical.c' | sort)
    hits=$(matching_lines "$tag|$tag_byte|$payload|$payload_len" "${files[@]}")
    if [ -n "$hits" ]; then
        echo "check_boundaries.sh: canonical: canonical bytes read or written outside src/canonical.c"
        echo "  (use canonical.h's functions — canon_key_is_unexpected, canon_unexpected_key_id,"
        echo "  canon_key_value_text, ... — or add one to canonical.c):"
        sed 's/^/    /' <<<"$hits"
        return 1
    fi
    echo "check_boundaries.sh: canonical: ok (${#files[@]} files)"
}

check_catalog() {
    local files hits names
    local tables='recon\.(runs|divergences|repairs|audit_log|sweep_ranges)([^A-Za-z0-9_]|$)'
    local writes="(INSERT[[:space:]]+INTO|UPDATE|DELETE[[:space:]]+FROM|TRUNCATE([[:space:]]+TABLE)?)[[:space:]]+(ONLY[[:space:]]+)?$tables"

    mapfile -t files < <(c_sources | grep -vx 'src/catalog.c' | sort)
    # the action names, as catalog.c's name table spells them
    # (this tree's, when an older tree has no catalog.c)
    local table=src/catalog.c
    [ -f "$table" ] || table=$HERE/src/catalog.c
    names=$(sed -nE 's/^[[:space:]]*\[AUDIT_[A-Z_]+\][[:space:]]*=[[:space:]]*"([a-z_.]+)",.*/\1/p' "$table" |
            sed 's/\./\\./g' | paste -sd'|')
    if [ -z "$names" ]; then
        echo "check_boundaries.sh: catalog: no audit action names found in src/catalog.c"
        return 1
    fi
    hits=$(matching_lines "$writes|[\"'](${names})[\"']" "${files[@]}")
    if [ -n "$hits" ]; then
        echo "check_boundaries.sh: catalog: runs, divergences, repairs or audit_log written, or an"
        echo "  audit action spelled, outside src/catalog.c (add a function to catalog.c):"
        sed 's/^/    /' <<<"$hits"
        return 1
    fi
    echo "check_boundaries.sh: catalog: ok (${#files[@]} files)"
}

check_mongoc() {
    local files hits
    mapfile -t files < <(c_sources | grep '^src/' | grep -vx -e 'src/mongo_client.h' -e 'src/target.c' | sort)
    hits=$(matching_lines '#[[:space:]]*include[[:space:]]*[<"]mongoc' "${files[@]}")
    if [ -n "$hits" ]; then
        echo "check_boundaries.sh: mongoc: libmongoc included outside src/mongo_client.h and src/target.c"
        echo "  (include mongo_client.h where MongoDB is talked to):"
        sed 's/^/    /' <<<"$hits"
        return 1
    fi
    echo "check_boundaries.sh: mongoc: ok (${#files[@]} files)"
}

CHECKS=(canonical catalog mongoc)

failed=()
for check in "${CHECKS[@]}"; do
    "check_$check" || failed+=("$check")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "check_boundaries.sh: FAIL (${failed[*]}) in $ROOT"
    exit 1
fi
echo "check_boundaries.sh: PASS (${CHECKS[*]})"
