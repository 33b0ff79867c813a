#!/bin/sh
# The whole test suite: unit and integration tests on the plain build, the
# same again under AddressSanitizer and UndefinedBehaviorSanitizer, client
# tests, man page lint and static analysis.  Ends with "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh tools/deps.sh test || exit 1

logs=$top/build/check
rm -rf "$logs"
mkdir -p "$logs"
passed=0
failed=0
failures=

count() {	# name file: add the ok / not ok lines of a TAP-ish log
	p=$(grep -c '^ok ' "$2" || true)
	f=$(grep -c '^not ok ' "$2" || true)
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures="$failures $1"
}

step() {	# name command...: one pass or fail for the whole command
	name=$1
	shift
	echo "== $name"
	if "$@" >"$logs/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "not ok - $name (log: build/check/$name.log)"
		tail -n 30 "$logs/$name.log"
	fi
}

units() {	# build-dir label
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		n=$2-$(basename "$t")
		timeout 120 "$t" >"$logs/$n.log" 2>&1
		rc=$?
		count "$n" "$logs/$n.log"
		if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$logs/$n.log"; then
			# A crash or sanitizer report is a failure too.
			failed=$((failed + 1))
			failures="$failures $n"
			tail -n 20 "$logs/$n.log"
		fi
		grep '^not ok ' "$logs/$n.log" || true
	done
}

# The integration suite runs in the background while the client tests run:
# both mostly wait on timers and terminals, and neither shares a port.
integration_start() {	# daemon label
	echo "== $2 integration (alongside the client tests)"
	DEVROULETTED=$1 timeout 900 /usr/bin/python3 -m pytest -q \
	    -p no:cacheprovider --junitxml="$logs/$2-integration.xml" \
	    regress/integration >"$logs/$2-integration.log" 2>&1 &
	ipid=$!
}

integration_count() {	# label
	label=$1
	wait "$ipid"
	echo "== $label integration"
	tail -n 3 "$logs/$label-integration.log"
	set -- $(/usr/bin/python3 - "$logs/$label-integration.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
    s = r if r.tag == "testsuite" else r.find("testsuite")
    t, f, e, k = (int(s.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
    print(t - f - e - k, f + e)
except Exception:
    print(0, 1)
PY
)
	passed=$((passed + $1))
	failed=$((failed + $2))
	[ "$2" -eq 0 ] || failures="$failures $label-integration"
}

client() {	# bin-dir label [script]
	run=${3:-regress/client/run.sh}
	[ -x "$run" ] || return 0
	echo "== $2 client"
	BIN=$1 timeout 600 sh "$run" \
	    >"$logs/$2-client.log" 2>&1
	rc=$?
	# A script that died midway has failed, whatever it printed.
	[ $rc -eq 0 ] || grep -q '^not ok ' "$logs/$2-client.log" ||
	    echo "not ok - $run exited with status $rc" >>"$logs/$2-client.log"
	count "$2-client" "$logs/$2-client.log"
	grep '^not ok ' "$logs/$2-client.log" || true
}

# Every build first, so no compiler competes with a timed test.
step build make -j2 all unit
step build-hooks make -j2 TESTHOOKS=1 BUILD=build/hooks all
step build-asan make -j2 SAN=1 BUILD=build/asan all unit

units build/plain plain
integration_start "$top/bin/devrouletted" plain
client "$top/bin" plain
client "$top/bin" plain-caddy regress/caddy/run.sh
integration_count plain

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 units build/asan asan
# Under the sanitizers the hooks' 50 ms budget is tight: no company.
# The sanitised daemon runs three fronts (PREFORK, D43), so that the
# whole suite also goes through the handoff between fronts.
export DR_PREFORK=3
integration_start "$top/build/asan/bin/devrouletted" asan-prefork3
unset DR_PREFORK
integration_count asan-prefork3
client "$top/build/asan/bin" asan
unset ASAN_OPTIONS UBSAN_OPTIONS

# make install, the etc/ examples and README's "Run your own server" (as
# root, in namespaces of its own), with the plain build.
for t in regress/install/test_*.py; do
	n=install-$(basename "$t" .py)
	echo "== $n"
	timeout 900 /usr/bin/python3 "$t" >"$logs/$n.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || grep -q '^not ok ' "$logs/$n.log" ||
	    echo "not ok - $n exited with status $rc" >>"$logs/$n.log"
	count "$n" "$logs/$n.log"
	grep -A 30 '^not ok ' "$logs/$n.log" || true
done

if ls man/*.[0-9] >/dev/null 2>&1; then
	step mandoc mandoc -T lint -W warning man/*.[0-9]
fi
step lint sh tools/lint.sh
step fuzz make fuzz-smoke

[ -z "$failures" ] || echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
