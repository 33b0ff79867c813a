#!/bin/sh
# make bench: the ladder (bench/README.md).  For each rung, drload runs
# against devrouletted, the Node.js peer and the floor, one after the other,
# each server fresh on its own port with the same settings; then a table of
# the figures and their ratios.  Loopback only.
#
#   BENCH_LADDER	connections per rung (default "1000 10000 18000")
#   BENCH_SERVERS	which servers (default "dr node floor")
#   BENCH_WINDOW	measured seconds per run (default 15)
#   BENCH_POW_BITS	POW_BITS for every server (default 8)
#   DRLOAD, DEVROULETTED, SHARED, NODE_PEER	where things are
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

ladder=${BENCH_LADDER:-1000 10000 18000}
servers=${BENCH_SERVERS:-dr node floor}
window=${BENCH_WINDOW:-15}
bits=${BENCH_POW_BITS:-8}
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

start() {	# server logfile: sets pid
	st=$logs/state-$1-$port
	mkdir -p "$st"
	export HOST=127.0.0.1 PORT=$port POW_BITS=$bits \
	    MAX_TOTAL_SOCKETS=100000 STATE_DIR=$st \
	    CONTROL_SOCKET=$st/ctl.sock
	case $1 in
	dr)	"$daemon" -d >"$2" 2>&1 & ;;
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

echo "bench: ladder $ladder; servers $servers; window ${window}s;" \
    "POW_BITS=$bits; $(nproc) cores"
echo "bench: logs in $logs"
for n in $ladder; do
	for s in $servers; do
		if ! have "$s"; then
			echo "bench: $s unavailable, skipped"
			continue
		fi
		free_port
		log=$logs/$s-$n
		start "$s" "$log.server" || continue
		echo "== $s, $n connections"
		timeout 300 "$drload" -n "$n" -t "$window" -P "$pid" \
		    -l "$s" 127.0.0.1 "$port" >"$log.drload" 2>&1
		grep -v '^RESULT\|^window open' "$log.drload" | sed 's/^/   /'
		grep '^RESULT' "$log.drload" >>"$results"
		stop "$pid"
		sleep 1
	done
done

echo
echo "Results: $results"
sh bench/table.sh "$results"
