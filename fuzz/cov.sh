#!/bin/sh
# Line coverage of what the harnesses reach: run each coverage build over
# its seeds and the corpus make fuzz has grown, once, then report on the
# daemon's sources.  Usage: fuzz/cov.sh covbuild fuzzbuild name...
set -eu
cd "$(dirname "$0")/.."

cov=$1
fuzz=$2
shift 2

rm -rf "$cov/profraw"
mkdir -p "$cov/profraw" "$fuzz/corpus"
objs=
for n in "$@"; do
	mkdir -p "$fuzz/corpus/$n"
	LLVM_PROFILE_FILE="$cov/profraw/$n.profraw" \
	    "$cov/bin/fuzz_$n" -runs=0 "$fuzz/corpus/$n" "fuzz/corpus/$n" \
	    >"$cov/profraw/$n.log" 2>&1
	objs="$objs -object $cov/bin/fuzz_$n"
done
llvm-profdata merge -sparse -o "$cov/fuzz.profdata" "$cov"/profraw/*.profraw
# shellcheck disable=SC2086
llvm-cov report -instr-profile="$cov/fuzz.profdata" $objs \
    -ignore-filename-regex='fuzz/|daemon/|/usr/|\.h$' | \
    awk 'BEGIN { printf "%-26s %9s %9s %9s\n", "file", "lines", "missed",
	"cover" }
	$1 ~ /\.c$/ || $1 == "TOTAL" {
		printf "%-26s %9s %9s %9s\n", $1, $8, $9, $10 }'
