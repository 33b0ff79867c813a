#!/bin/sh
# make bench: the ladder (bench/README.md).  For each rung, drload runs
# against devrouletted, the Node.js peer and the floor, one after the other,
# each server fresh on its own port with the same settings; then a table of
# the figures and their ratios.  Loopback only.
#
#   BENCH_LADDER	connections per rung (default "1000 10000 18000 50000")
#   BENCH_SERVERS	which servers (default "dr node floor")
#   BENCH_PREFORK	devrouletted's PREFORK, its front processes (default:
#			1 up to 18,000 connections, above that
#			ceil(conns / 15,000) and at least 2)
#   BENCH_PREFORK_COMPARE  a rung run with PREFORK=1 and PREFORK=2 both
#			(default 18000; empty for none): what prefork buys
#   BENCH_WINDOW	measured seconds per run (default 15)
#   BENCH_POW_BITS	POW_BITS for every server (default 8)
#   DRLOAD, DEVROULETTED, SHARED, NODE_PEER	where things are
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

ladder=${BENCH_LADDER:-1000 10000 18000 50000}
servers=${BENCH_SERVERS:-dr node floor}
window=${BENCH_WINDOW:-15}
bits=${BENCH_POW_BITS:-8}
prefork=${BENCH_PREFORK:-}
compare=${BENCH_PREFORK_COMPARE-18000}
# A process may hold 20,000 open files (hard limit): one process serves
# 18,000 connections with room to spare, and a front 15,000.
single_max=18000
front_max=15000
drload=${DRLOAD:-build/plain/bench/drload}
daemon=${DEVROULETTED:-bin/devrouletted}
shared=${SHARED:-$top/../shared}
nodepeer=${NODE_PEER:-$top/build/bench/node-ws}
out=$top/build/bench
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$out/results-$stamp.txt
logs=$out/logs-$stamp

mkdir -p "$out" "$logs"
: >"$results"
# The front and each server hold a socket per connection.
ulimit -n 20000 2>/dev/null || true
case $prefork in
''|[1-9]|1[0-6])	;;
*)	echo "bench: BENCH_PREFORK must be 1..16"; exit 1 ;;
esac
# A daemon without the setting ignores it: run it with one front only.
if grep -q PREFORK "$daemon" 2>/dev/null; then
	has_prefork=1
else
	has_prefork=0
fi

[ -x "$drload" ] || { echo "bench: no $drload (make bench builds it)"; exit 1; }
[ -x "$daemon" ] || { echo "bench: no $daemon"; exit 1; }
if [ "$(id -u)" -eq 0 ]; then
	sh tools/deps.sh build >/dev/null || exit 1	# the _devroulette user
fi

# The floor: built here, never committed.
floor=$out/floor
if [ ! -x "$floor" ] && [ -f "$shared/peers/floor/floor.c" ]; then
	cc -O2 -g -o "$floor" "$shared/peers/floor/floor.c" -lcrypto ||
	    rm -f "$floor"
fi

# The Node peer: a copy of shared/peers/node-ws with its modules.
if [ ! -f "$nodepeer/node_modules/ws/package.json" ] &&
    [ -f "$shared/peers/node-ws/server.js" ] && command -v npm >/dev/null
then
	rm -rf "$nodepeer"
	cp -r "$shared/peers/node-ws" "$nodepeer" && chmod -R u+w "$nodepeer"
	(cd "$nodepeer" && npm ci --silent >/dev/null 2>&1) ||
	    rm -rf "$nodepeer"
fi

have() {	# server: can it run here?
	case $1 in
	dr)	[ -x "$daemon" ] ;;
	node)	command -v node >/dev/null &&
		    [ -f "$nodepeer/node_modules/ws/package.json" ] ;;
	floor)	[ -x "$floor" ] ;;
	*)	false ;;
	esac
}

fronts_for() {	# conns: PREFORK for this rung
	if [ -n "$prefork" ]; then
		echo "$prefork"
	elif [ "$1" -le $single_max ]; then
		echo 1
	else
		f=$((($1 + front_max - 1) / front_max))
		[ $f -ge 2 ] || f=2
		echo $f
	fi
}

# The runs of devrouletted at a rung: its PREFORK, and at the comparison
# rung 1 and 2 as well.
dr_runs() {	# conns
	f=$(fronts_for "$1")
	if [ "$1" = "$compare" ]; then
		runs=$f
		for g in 1 2; do
			[ "$g" -eq "$f" ] || runs="$runs $g"
		done
		# shellcheck disable=SC2086
		f=$(printf '%s\n' $runs | sort -n | tr '\n' ' ')
	fi
	echo "$f"
}

nprocs() {	# pid: the process and its descendants
	n=1
	# shellcheck disable=SC2013
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		n=$((n + $(nprocs "$c")))
	done
	echo $n
}

listening() {	# port
	[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

port=$((20000 + $$ % 20000))
free_port() {
	port=$((port + 1))
	while listening "$port"; do
		port=$((port + 1))
	done
}

start() {	# server logfile [prefork]: sets pid
	st=$logs/state-$1-$port
	mkdir -p "$st"
	export HOST=127.0.0.1 PORT=$port POW_BITS=$bits \
	    MAX_TOTAL_SOCKETS=100000 STATE_DIR=$st \
	    CONTROL_SOCKET=$st/ctl.sock
	case $1 in
	dr)	PREFORK=${3:-1} "$daemon" -d >"$2" 2>&1 & ;;
	node)	node "$nodepeer/server.js" >"$2" 2>&1 & ;;
	floor)	"$floor" >"$2" 2>&1 & ;;
	esac
	pid=$!
	i=0
	while ! listening "$port"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "bench: $1 did not start:"
			tail -n 5 "$2"
			return 1
		fi
		sleep 0.1
	done
}

stop() {	# pid
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

run() {	# server conns label [prefork]
	free_port
	log=$logs/$(echo "$3" | tr / -)-$2
	start "$1" "$log.server" "${4:-}" || return
	echo "== $3, $2 connections"
	if [ "$1" = dr ]; then
		sleep 0.5
		np=$(nprocs "$pid")
		echo "   devrouletted: PREFORK=${4:-1}, $np processes" \
		    "(parent, matcher, fronts)"
	fi
	timeout 300 "$drload" -n "$2" -t "$window" -P "$pid" \
	    -l "$3" 127.0.0.1 "$port" >"$log.drload" 2>&1
	grep -v '^RESULT\|^window open' "$log.drload" | sed 's/^/   /'
	grep '^RESULT' "$log.drload" >>"$results"
	stop "$pid"
	sleep 1
}

echo "bench: ladder $ladder; servers $servers; window ${window}s;" \
    "POW_BITS=$bits; $(nproc) cores"
[ $has_prefork -eq 1 ] ||
    echo "bench: $daemon has no PREFORK setting: one front process only"
echo "bench: logs in $logs"
for n in $ladder; do
	for s in $servers; do
		if ! have "$s"; then
			echo "bench: $s unavailable, skipped"
			continue
		fi
		if [ "$s" != dr ]; then
			if [ "$n" -gt $single_max ]; then
				echo "bench: $s skipped at $n connections: it is" \
				    "one process, and a process may hold 20,000" \
				    "open files"
				continue
			fi
			run "$s" "$n" "$s"
			continue
		fi
		for f in $(dr_runs "$n"); do
			if [ "$f" -gt 1 ] && [ $has_prefork -eq 0 ]; then
				echo "bench: dr with PREFORK=$f skipped at $n" \
				    "connections: $daemon has no PREFORK"
				continue
			fi
			if [ $((n / f)) -gt $single_max ]; then
				echo "bench: dr with PREFORK=$f skipped at $n" \
				    "connections: over $single_max a front, and" \
				    "a process may hold 20,000 open files"
				continue
			fi
			if [ "$f" -eq 1 ]; then
				run dr "$n" dr 1
			else
				run dr "$n" "dr/p$f" "$f"
			fi
		done
	done
done

echo
echo "Results: $results"
sh bench/table.sh "$results"
