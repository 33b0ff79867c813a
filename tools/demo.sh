#!/bin/sh
# The main job: a local devrouletted and two developers chatting through it.
# With bin/devroulette built and a terminal, the two clients run side by
# side in tmux (the daemon's log below them); otherwise two scripted
# developers chat and print what each side sees.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh demo
make -j2 all >/dev/null

state=$(mktemp -d)
port=${PORT:-8787}
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$state"
}
trap cleanup EXIT INT TERM

export STATE_DIR=$state CONTROL_SOCKET=$state/ctl.sock PORT=$port
export POW_BITS=${POW_BITS:-12}
url=ws://127.0.0.1:$port/

if [ -x bin/devroulette ] && [ -t 1 ] && [ -z "${DEMO_SCRIPTED:-}" ]; then
	trap - EXIT INT TERM
	s=devroulette-demo
	tmux kill-session -t $s 2>/dev/null || true
	# A running tmux server has its own environment: name ours.
	denv="env STATE_DIR=$state CONTROL_SOCKET=$state/ctl.sock PORT=$port"
	denv="$denv POW_BITS=$POW_BITS"
	tmux new-session -d -s $s -x 200 -y 50 -c "$(pwd)" \
	    "$denv bin/devrouletted -d -v; echo daemon stopped; sleep 5"
	sleep 1
	tmux split-window -v -b -t $s -p 75 -c "$(pwd)" \
	    "bin/devroulette start $url"
	tmux split-window -h -t $s -c "$(pwd)" "bin/devroulette start $url"
	tmux set-option -t $s remain-on-exit off >/dev/null
	echo "attaching to tmux session $s; Ctrl-b d detaches," \
	    "'tmux kill-session -t $s' stops it"
	[ -z "${TMUX:-}" ] || exec tmux switch-client -t $s
	exec tmux attach -t $s
fi

bin/devrouletted -d &
pid=$!
i=0
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "devrouletted did not start" >&2; exit 1; }
	sleep 0.1
done
/usr/bin/python3 tools/demo.py "$url"
kill -TERM "$pid"
wait "$pid" || true
pid=
echo "counters kept in STATE_DIR: $(cat "$state/counters")"
