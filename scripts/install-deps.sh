#!/usr/bin/env bash
# scripts/install-deps.sh — idempotent set-up of everything recon's build,
# tests and demo need on Debian 12:
#   * apt packages (installed only when one is missing; sudo when not root);
#   * .build/recon-ferretdb, the FerretDB launcher built from test/ferretdb
#     (rebuilt only when missing or older than its sources).
# Go >= 1.21 is taken from /usr/local/go/bin or PATH; if there is none, the
# Go toolchain module is fetched from the Go module proxy into .build/go.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

PKGS=(postgresql-15 postgresql-server-dev-15 libmongoc-dev libbson-dev
      postgresql-15-cron libipc-run-perl pkg-config make gcc)
GO_TOOLCHAIN=go1.24.2            # used only when no usable Go is installed

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

# --- FerretDB launcher -------------------------------------------------------
BIN=$ROOT/.build/recon-ferretdb
if [ -x "$BIN" ] && [ -z "$(find test/ferretdb -type f -newer "$BIN")" ]; then
    echo "install-deps: $BIN is up to date"
    exit 0
fi

apt_install ca-certificates            # HTTPS to the Go module proxy
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-mod=mod
export HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}   # Go's caches
go_ok() {   # a go command of version >= 1.21 (it can then switch toolchains itself)
    command -v go >/dev/null &&
        go version | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'
}
if ! go_ok; then
    GOROOT_DIR=$ROOT/.build/go
    if [ ! -x "$GOROOT_DIR/bin/go" ]; then
        apt_install curl unzip
        zip=$ROOT/.build/go-toolchain.zip
        mod=golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$(dpkg --print-architecture)
        echo "install-deps: no Go >= 1.21; fetching $mod from the Go module proxy"
        mkdir -p "$ROOT/.build"
        curl -fsSL -o "$zip" "https://proxy.golang.org/${mod%@*}/@v/${mod#*@}.zip"
        rm -rf "$GOROOT_DIR" "$ROOT/.build/golang.org"
        unzip -q "$zip" -d "$ROOT/.build"
        mv "$ROOT/.build/$mod" "$GOROOT_DIR"
        rm -rf "$zip" "$ROOT/.build/golang.org"
        chmod +x "$GOROOT_DIR"/bin/* "$GOROOT_DIR"/pkg/tool/*/*
    fi
    export PATH=$GOROOT_DIR/bin:$PATH
fi

echo "install-deps: building $BIN with $(go version) (first build downloads modules)"
mkdir -p "$ROOT/.build"
(cd test/ferretdb && go build -o "$BIN.tmp" .)
mv "$BIN.tmp" "$BIN"
echo "install-deps: built $BIN"
