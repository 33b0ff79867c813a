#!/bin/sh
# Run libFuzzer harnesses, at most $jobs at a time, each for $seconds.
# New inputs go to $build/corpus/NAME; the seeds in fuzz/corpus/NAME are
# only read, so the repository never changes.  Crashes are kept as
# $build/crash/NAME-*.  Prints one line of numbers per harness.
# Usage: fuzz/run.sh build seconds jobs name...
set -u
cd "$(dirname "$0")/.." || exit 1

build=$1
seconds=$2
jobs=$3
shift 3

mkdir -p "$build/log" "$build/crash"
failed=

one() {		# name: run it in the background, its pid in $pid
	n=$1
	mkdir -p "$build/corpus/$n"
	dict=
	[ -f "fuzz/dict/$n.dict" ] && dict=-dict=fuzz/dict/$n.dict
	# shellcheck disable=SC2086
	"$build/bin/fuzz_$n" -max_total_time="$seconds" -timeout=10 \
	    -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix="$build/crash/$n-" $dict \
	    "$build/corpus/$n" "fuzz/corpus/$n" >"$build/log/$n.log" 2>&1 &
	pid=$!
}

report() {	# name status
	log=$build/log/$1.log
	if [ "$2" -ne 0 ]; then
		failed="$failed $1"
		echo "not ok - fuzz $1 (log: $log)"
		pat='^==[0-9]+==|invariant broken|unexpected fatalx'
		if grep -qE "$pat" "$log"; then
			grep -A 30 -E "$pat" "$log" | head -n 40
		else
			tail -n 20 "$log"
		fi
		return
	fi
	# The last status line, and the final counters.
	line=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$line" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	echo "ok - fuzz $1: ${execs:-?} runs, ${rate:-?} exec/s," \
	    "cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
}

drain() {	# wait for the running batch, in order
	for e in $batch; do
		wait "${e#*:}"
		report "${e%%:*}" $?
	done
	batch=
	running=0
}

batch=
running=0
for n in "$@"; do
	one "$n"
	batch="$batch $n:$pid"
	running=$((running + 1))
	[ "$running" -lt "$jobs" ] || drain
done
drain

[ -z "$failed" ] || { echo "fuzz failed:$failed"; exit 1; }
exit 0
