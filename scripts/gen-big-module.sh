#!/bin/sh
# Builds the "big" fixture module for the benchmarks and tests: a loadable Redis module whose .so
# is about SIZE_MB megabytes, nearly all of it a data table in .rodata that is never run.
#
#   scripts/gen-big-module.sh OUT_DIR [SIZE_MB]     (SIZE_MB defaults to 36)
#
# CONTENT chooses what the table holds:
#   code   (default) real x86-64 machine code: the .text sections of the C compiler's own
#          programs (cc1, cc1plus, lto1), repeated as needed. It compresses as module code does
#          (deflate shrinks it about 2.2x), and is the same on every run on one machine.
#   table  a synthetic table from testdata/big/gen_table.c (words and random runs; deflate
#          shrinks it about 3x), the same bytes on every machine: what the tests use.
#
# Writes OUT_DIR/big.so (plus the table it built on the way) and prints its path.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT_DIR [SIZE_MB]" >&2
    exit 2
fi
out_dir=$1
size_mb=${2:-36}
case $size_mb in
    '' | *[!0-9]*) echo "error: SIZE_MB must be a whole number, got '$size_mb'" >&2; exit 2 ;;
esac
testdata=$(cd "$(dirname "$0")/../testdata" && pwd)
CC=${CC:-gcc}
command -v "$CC" >/dev/null 2>&1 || { echo "error: $CC not found; install gcc" >&2; exit 2; }

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

bytes=$((size_mb * 1000 * 1000))
case ${CONTENT:-code} in
    code)
        command -v objcopy >/dev/null 2>&1 || { echo "error: objcopy not found; install binutils (or set CONTENT=table)" >&2; exit 2; }
        parts=""
        for program in cc1 cc1plus lto1; do
            path=$("$CC" -print-prog-name="$program")
            if [ -f "$path" ] && objcopy -O binary --only-section=.text "$path" "$out_dir/$program.text" 2>/dev/null &&
                [ -s "$out_dir/$program.text" ]; then
                parts="$parts $out_dir/$program.text"
            fi
        done
        [ -n "$parts" ] || { echo "error: $CC has no cc1/cc1plus/lto1 to take code from; set CONTENT=table" >&2; exit 2; }
        : >"$out_dir/big_table.bin.$$"
        while [ "$(wc -c <"$out_dir/big_table.bin.$$")" -lt "$bytes" ]; do
            # shellcheck disable=SC2086 # $parts is a list of paths without spaces
            cat $parts >>"$out_dir/big_table.bin.$$"
        done
        head -c "$bytes" "$out_dir/big_table.bin.$$" >"$out_dir/big_table.bin.$$.cut"
        rm -f "$out_dir/big_table.bin.$$" $parts
        mv "$out_dir/big_table.bin.$$.cut" "$out_dir/big_table.bin"
        ;;
    table)
        "$CC" -O2 -Wall -Wextra "$testdata/big/gen_table.c" -o "$out_dir/gen_table.$$"
        mv "$out_dir/gen_table.$$" "$out_dir/gen_table"
        "$out_dir/gen_table" "$out_dir/big_table.bin.$$" "$bytes"
        mv "$out_dir/big_table.bin.$$" "$out_dir/big_table.bin"
        ;;
    *) echo "error: CONTENT must be code or table, got '$CONTENT'" >&2; exit 2 ;;
esac

"$CC" -O2 -fPIC -shared -Wall -Wextra -I"$testdata/include" \
    -DBIG_TABLE_PATH="\"\\\"$out_dir/big_table.bin\\\"\"" \
    "$testdata/big/big.c" -o "$out_dir/big.so.$$"
mv "$out_dir/big.so.$$" "$out_dir/big.so"
echo "$out_dir/big.so"
