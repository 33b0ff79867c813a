#!/bin/sh
# The table of a ladder's results (the RESULT lines drload prints), in
# Markdown, then the ratios: Node peer over devrouletted (how many times
# leaner dr is) and devrouletted over the floor (how far from the machine's
# floor), at the rungs where either ran.  devrouletted's rows are labelled
# dr with one front process and dr/pN with PREFORK=N; the ratios take dr,
# else the first dr/pN of the rung.  Where a rung has dr and dr/pN both, a
# last table says what the N fronts bought.  Usage: sh bench/table.sh
# results.txt
set -eu
[ $# -eq 1 ] || { echo "usage: table.sh results.txt" >&2; exit 2; }

awk '
function v(k) { return (k in f) ? f[k] : "-" }
# Errors over the whole run, and of them in the window where drload says.
function errs() {
	if (!("errors" in f))
		return "-"
	if (f["errors"] == 0 || !("errors_window" in f))
		return f["errors"]
	return f["errors"] " (" f["errors_window"] " in the window)"
}
{
	delete f
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
	n = f["conns"]; s = f["label"]
	if (!(n in seen)) { seen[n] = 1; order[++nn] = n }
	key = n SUBSEP s
	has[key] = 1
	if (s ~ /^dr/ && !((n) in drref))
		drref[n] = s
	if (s ~ /^dr\/p[0-9]+$/ && !((key) in pf)) {
		pf[key] = 1
		pfl[n] = (n in pfl) ? pfl[n] " " s : s
	}
	bpc[key] = f["bytes_per_conn"]; msg[key] = f["cpu_msg_us"]
	set[key] = f["cpu_setup_us"]; p99[key] = f["lat_p99"]
	p999[key] = f["lat_p999"]; rate[key] = f["setup_rate"]
	sp99[key] = f["setup_p99"]; jp99[key] = f["join_p99"]
	rows[++nr] = sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s | %s | %.1f | %s | %s | %s |",
	    n, s, v("held"), errs(), v("setup_rate"), v("cpu_setup_us"),
	    v("setup_p99"), v("join_p99"), v("msg_rate"), v("lat_p50"),
	    v("lat_p99"), v("lat_p999"), v("lat_max"), v("bytes_per_conn"),
	    f["rss"] / 1048576, v("cpu_msg_us"), v("cpu_window_pct"),
	    v("other_pct"))
}
function ratio(a, b) { return (b > 0 && a != "") ? sprintf("%.1f", a / b) : "-" }
function ratio2(a, b) { return (b > 0 && a != "") ? sprintf("%.2f", a / b) : "-" }
END {
	print "| conns | server | held | errors | setups/s | CPU us/setup | setup p99 ms | join p99 ms | msgs/s | latency p50 / p99 / p99.9 / max ms | B/conn | RSS MiB | CPU us/msg | server CPU % | other load % |"
	print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for (i = 1; i <= nr; i++) print rows[i]
	hdr = 0
	for (i = 1; i <= nn; i++) {
		n = order[i]; o = n SUBSEP "node"; fl = n SUBSEP "floor"
		if (!(o in has) && !(fl in has))
			continue
		if (!hdr++) {
			print ""
			print "| conns | node/dr B/conn | node/dr CPU/msg | node/dr CPU/setup | node/dr p99 | node/dr p99.9 | dr/floor CPU/msg | dr/floor CPU/setup |"
			print "| --- | --- | --- | --- | --- | --- | --- | --- |"
		}
		d = n SUBSEP ((n in drref) ? drref[n] : "dr")
		printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", n,
		    ratio(bpc[o], bpc[d]), ratio(msg[o], msg[d]),
		    ratio(set[o], set[d]), ratio(p99[o], p99[d]),
		    ratio(p999[o], p999[d]), ratio(msg[d], msg[fl]),
		    ratio(set[d], set[fl]))
	}
	hdr = 0
	for (i = 1; i <= nn; i++) {
		n = order[i]; d = n SUBSEP "dr"
		if (!(d in has) || !(n in pfl))
			continue
		if (!hdr++) {
			print ""
			print "What N front processes (dr/pN) buy over one (dr) at the same rung: setups/s pN/p1 above 1 is faster with N; latency p1/pN above 1 is lower with N; CPU and memory pN/p1 above 1 is what N costs more:"
			print ""
			print "| conns | fronts | setups/s pN/p1 | CPU/setup pN/p1 | setup p99 p1/pN | join p99 p1/pN | latency p99 p1/pN | latency p99.9 p1/pN | CPU/msg pN/p1 | B/conn pN/p1 |"
			print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
		}
		m = split(pfl[n], ls, " ")
		for (j = 1; j <= m; j++) {
			p = n SUBSEP ls[j]
			printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			    n, substr(ls[j], 5), ratio2(rate[p], rate[d]),
			    ratio2(set[p], set[d]), ratio2(sp99[d], sp99[p]),
			    ratio2(jp99[d], jp99[p]), ratio2(p99[d], p99[p]),
			    ratio2(p999[d], p999[p]), ratio2(msg[p], msg[d]),
			    ratio2(bpc[p], bpc[d]))
		}
	}
}' "$1"
