#!/usr/bin/env bash
# scripts/install-deps.sh — idempotent set-up of everything recon's build,
# tests and demo need on Debian 12:
#   * apt packages (installed only when one is missing; sudo when not root);
#   * .build/recon-ferretdb, the FerretDB launcher built from test/ferretdb
#     (rebuilt only when missing or older than its sources);
#   * .build/ferretdb-cli, the stand-alone FerretDB v1.24.2 binary
#     (built only when missing), used for the authentication tests
#     (--test-enable-new-auth, which the embedded library cannot turn on).
#     `go install` of cmd/ferretdb gives a binary that panics at start
#     (generated build/version/version.txt is not in the module), so it is
#     built from a writable copy of the module, .build/ferretdb-src, with that
#     file added.  About 2 1/2 min on 2 CPUs with empty Go caches.
# Go >= 1.21 is taken from /usr/local/go/bin or PATH; if there is none, the
# script stops and says which Go to install (no download host is written
# here: modules come through the GOPROXY the environment configures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

PKGS=(postgresql-15 postgresql-server-dev-15 libmongoc-dev libbson-dev
      postgresql-15-cron libipc-run-perl pkg-config make gcc
      clang-14 libclang-rt-14-dev libssl-dev    # clang: the libFuzzer targets (scripts/fuzz.sh)
      prometheus-postgres-exporter              # the exporter test (t/016_exporter.pl)
      python3)                                  # scripts/check_comments.py
GO_TOOLCHAIN=go1.24.2            # named in the message when no usable Go is installed
FERRETDB_VERSION=v1.24.2         # for .build/ferretdb-cli (test/ferretdb/go.mod pins the launcher's)

SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    echo "install-deps: apt-get install ${missing[*]}"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

apt_install "${PKGS[@]}"
echo "install-deps: apt packages present (${PKGS[*]})"

# --- Go ----------------------------------------------------------------------
GO_READY=
need_go() {    # put a Go >= 1.21 on PATH (fetched into .build/go when none)
    [ -z "$GO_READY" ] || return 0
    apt_install ca-certificates            # HTTPS to the Go module proxy (GOPROXY)
    export PATH=/usr/local/go/bin:$PATH GOFLAGS=-mod=mod
    GO_FOUND=$(command -v go >/dev/null && go version || true)
    export HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}   # Go's caches
    go_ok() {   # a go command of version >= 1.21 (it can then switch toolchains itself)
        command -v go >/dev/null &&
            go version | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'
    }
    if ! go_ok; then
        echo "install-deps: FerretDB (the test MongoDB server) is built with Go >= 1.21;" >&2
        echo "install-deps: none found in /usr/local/go/bin or on PATH${GO_FOUND:+ ($GO_FOUND)}." >&2
        echo "install-deps: install Go $GO_TOOLCHAIN (or any Go >= 1.21) and run this again." >&2
        exit 1
    fi
    GO_READY=1
}

# --- FerretDB launcher -------------------------------------------------------
BIN=$ROOT/.build/recon-ferretdb
if [ -x "$BIN" ] && [ -z "$(find test/ferretdb -type f -newer "$BIN")" ]; then
    echo "install-deps: $BIN is up to date"
else
    need_go
    echo "install-deps: building $BIN with $(go version) (first build downloads modules)"
    mkdir -p "$ROOT/.build"
    (cd test/ferretdb && go build -o "$BIN.tmp" .)
    mv "$BIN.tmp" "$BIN"
    echo "install-deps: built $BIN"
fi

# --- FerretDB CLI (authentication tests) --------------------------------------
CLI=$ROOT/.build/ferretdb-cli
if [ -x "$CLI" ]; then
    echo "install-deps: $CLI is present"
else
    need_go
    SRC=$ROOT/.build/ferretdb-src
    echo "install-deps: building $CLI (FerretDB $FERRETDB_VERSION) with $(go version)"
    mkdir -p "$ROOT/.build"
    # The module's directory in the (read-only) module cache; run outside any
    # module so that only the module proxy is asked.
    moddir=$(cd "$ROOT/.build" &&
        go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [ -d "$moddir" ] || { echo "install-deps: go mod download gave no directory" >&2; exit 1; }
    rm -rf "$SRC"
    cp -R "$moddir" "$SRC"
    chmod -R u+w "$SRC"
    echo "$FERRETDB_VERSION" >"$SRC/build/version/version.txt"
    (cd "$SRC" && go build -buildvcs=false -o "$CLI.tmp" ./cmd/ferretdb)
    ver=$(cd "$ROOT/.build" && "$CLI.tmp" --version)
    grep -qx "version: $FERRETDB_VERSION" <<<"$ver" ||
        { echo "install-deps: $CLI.tmp --version is not $FERRETDB_VERSION: $ver" >&2; exit 1; }
    mv "$CLI.tmp" "$CLI"
    echo "install-deps: built $CLI"
fi
