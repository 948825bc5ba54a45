#!/bin/sh
# Rebuilds the committed foreign-architecture fixtures in testdata/prebuilt/.
#
#   testdata/build-prebuilt.sh          rebuild, then print each file's sha256
#   testdata/build-prebuilt.sh --check  rebuild into a temp dir and fail if the committed files differ
#
# Needs aarch64-linux-gnu-gcc (Debian: apt-get install gcc-aarch64-linux-gnu). The build is
# reproducible: it runs from testdata/ with relative paths, maps the source directory away, and
# carries no timestamps, so the same compiler gives the same bytes.
set -eu

cd "$(dirname "$0")"
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "error: $CC not found; install gcc-aarch64-linux-gnu (or set AARCH64_CC)" >&2
    exit 2
fi

out=prebuilt
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

build() { # build <module> <output>
    "$CC" -O2 -g0 -fPIC -shared -Wall -Wextra -Werror \
        -ffile-prefix-map="$PWD"=. -fno-ident \
        -Wl,--build-id=sha1 -Wl,--hash-style=gnu \
        -Iinclude "modules/$1.c" -o "$2.tmp"
    mv "$2.tmp" "$2"
}

build plain "$out/plain.aarch64.so"

if [ "${1:-}" = "--check" ]; then
    cmp prebuilt/plain.aarch64.so "$out/plain.aarch64.so"
    echo "prebuilt/plain.aarch64.so is up to date"
else
    sha256sum prebuilt/plain.aarch64.so
fi
