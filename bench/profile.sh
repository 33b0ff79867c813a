#!/bin/sh
# Where devrouletted's time goes under a fixed load (bench/README.md,
# "Profile"): drload holds N connections (half chatting) against a fresh
# daemon, and during the window perf counts, for the front and the matcher
# apart, CPU time, context switches and system calls by kind; per relayed
# message they say what each change bought, and system-call counts do not
# depend on what else the machine is doing.  With PERF_RECORD=1 it also
# samples call stacks (perf record -e cpu-clock) into build/bench/.
#
#   sh bench/profile.sh [daemon [connections [seconds]]]
set -u
cd "$(dirname "$0")/.."
daemon=${1:-bin/devrouletted}
n=${2:-10000}
secs=${3:-15}
drload=${DRLOAD:-build/plain/bench/drload}
out=build/bench/profile
mkdir -p "$out"
ulimit -n 20000 2>/dev/null || true
command -v perf >/dev/null || { echo "profile: no perf"; exit 1; }

port=$((40000 + $$ % 10000))
st=$(mktemp -d)
HOST=127.0.0.1 PORT=$port POW_BITS=8 MAX_TOTAL_SOCKETS=100000 \
    STATE_DIR=$st CONTROL_SOCKET=$st/ctl.sock "$daemon" -d \
    >"$out/daemon.log" 2>&1 &
pid=$!
i=0
while [ -z "$(ss -Htln "sport = :$port")" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
# The front holds the listening socket, so it has more descriptors.
set -- $(cat /proc/$pid/task/*/children)
if [ "$(ls /proc/$1/fd | wc -l)" -gt "$(ls /proc/$2/fd | wc -l)" ]; then
	front=$1 matcher=$2
else
	front=$2 matcher=$1
fi

# The window opens after the ramp and the first matches: wait for it.
"$drload" -n "$n" -t $((secs + 10)) -P "$pid" -l dr 127.0.0.1 "$port" \
    >"$out/drload.out" 2>&1 &
lpid=$!
i=0
while ! grep -q '^window open' "$out/drload.out" && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1
ev=task-clock,context-switches,raw_syscalls:sys_enter
for s in read write readv writev epoll_wait epoll_ctl; do
	ev=$ev,syscalls:sys_enter_$s
done
# Allocations, where uprobes on libc were added (perf probe -x LIBC -a
# malloc -a free -a realloc): counted per message like the calls.  Each
# probe hit traps, so the CPU figures of such a run mean nothing.
if perf list 2>/dev/null | grep -q 'probe_libc:malloc'; then
	ev=$ev,probe_libc:malloc,probe_libc:realloc,probe_libc:free
fi
perf stat -x, -e "$ev" -p "$front" -o "$out/stat.front" -- sleep "$secs" &
p1=$!
perf stat -x, -e "$ev" -p "$matcher" -o "$out/stat.matcher" -- \
    sleep "$secs" &
p2=$!
p3=
if [ "${PERF_RECORD:-0}" = 1 ]; then
	perf record -q -e cpu-clock -F 2000 -g -p "$front,$matcher" \
	    -o "$out/perf.data" -- sleep "$secs" 2>/dev/null &
	p3=$!
fi
wait $p1 $p2 $p3
wait "$lpid"
kill -TERM "$pid"
wait "$pid"
rm -rf "$st"

rate=$(sed -n 's/.*msg_rate=\([0-9]*\).*/\1/p' "$out/drload.out")
grep -E '^(window|message latency|server CPU|machine)' "$out/drload.out"
echo "per relayed message ($rate msgs/s over ${secs}s):"
for p in front matcher; do
	awk -F, -v p=$p -v m="$rate" -v s="$secs" '
	/^[0-9]/ {
		ev = $3; sub("syscalls:sys_enter_", "", ev); sub("probe_libc:", "", ev)
		sub("raw_syscalls:sys_enter", "syscalls", ev)
		v = $1 / (m * s)
		if (ev == "task-clock") v = $1 * 1000 / (m * s)	# us
		line = line sprintf(" %s %.2f", ev == "task-clock" ? \
		    "cpu_us" : ev, v)
	}
	END { printf("  %-8s%s\n", p, line) }' "$out/stat.$p"
done
