#!/bin/sh
# The table of a ladder's results (the RESULT lines drload prints), in
# Markdown, then the ratios: Node peer over devrouletted (how many times
# leaner dr is) and devrouletted over the floor (how far from the machine's
# floor).  Usage: sh bench/table.sh results.txt
set -eu
[ $# -eq 1 ] || { echo "usage: table.sh results.txt" >&2; exit 2; }

awk '
function v(k) { return (k in f) ? f[k] : "-" }
{
	delete f
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
	n = f["conns"]; s = f["label"]
	if (!(n in seen)) { seen[n] = 1; order[++nn] = n }
	key = n SUBSEP s
	bpc[key] = f["bytes_per_conn"]; msg[key] = f["cpu_msg_us"]
	set[key] = f["cpu_setup_us"]; p99[key] = f["lat_p99"]
	p999[key] = f["lat_p999"]
	rows[++nr] = sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s | %s | %.1f | %s | %s | %s |",
	    n, s, v("held"), v("errors"), v("setup_rate"), v("cpu_setup_us"),
	    v("setup_p99"), v("join_p99"), v("msg_rate"), v("lat_p50"),
	    v("lat_p99"), v("lat_p999"), v("lat_max"), v("bytes_per_conn"),
	    f["rss"] / 1048576, v("cpu_msg_us"), v("cpu_window_pct"),
	    v("other_pct"))
}
function ratio(a, b) { return (b > 0 && a != "") ? sprintf("%.1f", a / b) : "-" }
END {
	print "| conns | server | held | errors | setups/s | CPU us/setup | setup p99 ms | join p99 ms | msgs/s | latency p50 / p99 / p99.9 / max ms | B/conn | RSS MiB | CPU us/msg | server CPU % | other load % |"
	print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for (i = 1; i <= nr; i++) print rows[i]
	print ""
	print "| conns | node/dr B/conn | node/dr CPU/msg | node/dr CPU/setup | node/dr p99 | node/dr p99.9 | dr/floor CPU/msg | dr/floor CPU/setup |"
	print "| --- | --- | --- | --- | --- | --- | --- | --- |"
	for (i = 1; i <= nn; i++) {
		n = order[i]; d = n SUBSEP "dr"; o = n SUBSEP "node"
		fl = n SUBSEP "floor"
		printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", n,
		    ratio(bpc[o], bpc[d]), ratio(msg[o], msg[d]),
		    ratio(set[o], set[d]), ratio(p99[o], p99[d]),
		    ratio(p999[o], p999[d]), ratio(msg[d], msg[fl]),
		    ratio(set[d], set[fl]))
	}
}' "$1"
