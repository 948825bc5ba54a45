#!/bin/sh
# Builds the "big" fixture module for the benchmarks: a loadable Redis module whose .so is about
# SIZE_MB megabytes, most of it a deterministic data table that deflate shrinks about 3x.
#
#   scripts/gen-big-module.sh OUT_DIR [SIZE_MB]     (SIZE_MB defaults to 36)
#
# Writes OUT_DIR/big.so (plus the generator and table it built on the way) and prints its path.
# The same SIZE_MB gives the same table bytes on every run.
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

"$CC" -O2 -Wall -Wextra "$testdata/big/gen_table.c" -o "$out_dir/gen_table.$$"
mv "$out_dir/gen_table.$$" "$out_dir/gen_table"
"$out_dir/gen_table" "$out_dir/big_table.bin.$$" $((size_mb * 1000 * 1000))
mv "$out_dir/big_table.bin.$$" "$out_dir/big_table.bin"

"$CC" -O2 -fPIC -shared -Wall -Wextra -I"$testdata/include" \
    -DBIG_TABLE_PATH="\"\\\"$out_dir/big_table.bin\\\"\"" \
    "$testdata/big/big.c" -o "$out_dir/big.so.$$"
mv "$out_dir/big.so.$$" "$out_dir/big.so"
echo "$out_dir/big.so"
