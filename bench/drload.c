/*
 * drload: load a devroulette server the way real clients would, and say
 * what it cost.  The parent forks the workers (each holding fewer than
 * 15,000 sockets: a process may hold 20,000 files), steps them through
 * the phases of a run over pipes and reads the server's memory and CPU
 * time from /proc at each step:
 *
 *   ramp	every connection from TCP connect to ready;
 *   join	chatters join and are matched;
 *   window	the measured seconds of steady chat (and beats and pings);
 *   end	figures collected, connections still held;
 *   quit	workers exit.
 *
 * The last line of output is "RESULT key=value ...", for bench/run.sh.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "drload.h"

#define PER_WORKER_MAX	15000

struct wproc {
	pid_t		 wp_pid;
	int		 wp_cmd;	/* parent writes */
	int		 wp_rep;	/* parent reads */
	int		 wp_ramped;
	int		 wp_matched;
	int		 wp_reported;
	uint32_t	 wp_ready;
	uint32_t	 wp_failed;
	struct load_report wp_rep_buf;
};

static struct load_conf	 conf;
static struct wproc	 wps[LOAD_WORKER_MAX];

static __attribute__((__noreturn__)) void usage(void);
static void	 spawn(void);
static void	 cmd_all(char);
static int	 wait_all(int, uint64_t);
static int	 read_full(int, void *, size_t);
static void	 report(double, const struct proc_usage *,
		    const struct proc_usage *, const struct proc_usage *,
		    const struct proc_usage *, const struct proc_usage *,
		    double, double, double);
static uint64_t	 gen_cpu_us(void);
static double	 cpu_us(const struct proc_usage *, const struct proc_usage *);
static void	 sleep_ms(uint64_t);

static void
usage(void)
{
	fprintf(stderr, "usage: drload [-a srcbase] [-c share] [-i per-ip] "
	    "[-l label] [-n conns]\n"
	    "\t[-P pid] [-s settle] [-t window] [-w workers] host port\n");
	exit(2);
}

static uint64_t
num(const char *s, uint64_t min, uint64_t max, const char *what)
{
	uint64_t	 v;

	if (str_to_u64(s, min, max, &v) == -1) {
		fprintf(stderr, "drload: bad %s: %s\n", what, s);
		exit(2);
	}
	return (v);
}

int
main(int argc, char *argv[])
{
	struct proc_usage	 u0, u1, u2, u3, u4;
	struct in_addr		 ia;
	struct rusage		 ru;
	struct rlimit		 rl;
	uint64_t		 t0, t1, t3, t4, gen3, gen4, idle3, idle4;
	double			 other, busy;
	long			 ncpu;
	uint32_t		 i;
	double			 ramp_s;
	int			 ch;

	log_init(1, 0);
	conf.lc_conns = 1000;
	conf.lc_chat = 0.5;
	conf.lc_per_ip = 2;
	conf.lc_ip_base = 0x7f010000;	/* 127.1.0.0 */
	conf.lc_window = 15;
	conf.lc_settle = 15;
	conf.lc_label = "server";
	while ((ch = getopt(argc, argv, "a:c:i:l:n:P:s:t:w:")) != -1) {
		switch (ch) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &ia) != 1 ||
			    (ntohl(ia.s_addr) >> 24) != 127)
				usage();
			conf.lc_ip_base = ntohl(ia.s_addr) & 0xffffff00;
			break;
		case 'c':
			conf.lc_chat = num(optarg, 0, 100, "share") / 100.0;
			break;
		case 'i':
			conf.lc_per_ip = num(optarg, 1, 1000, "per-ip");
			break;
		case 'l':
			conf.lc_label = optarg;
			break;
		case 'n':
			conf.lc_conns = num(optarg, 1, LOAD_CONNS_MAX, "conns");
			break;
		case 'P':
			conf.lc_pid = (pid_t)num(optarg, 1, INT32_MAX, "pid");
			break;
		case 's':
			conf.lc_settle = num(optarg, 1, 120, "settle");
			break;
		case 't':
			conf.lc_window = num(optarg, 1, 600, "window");
			break;
		case 'w':
			conf.lc_workers = num(optarg, 1, LOAD_WORKER_MAX,
			    "workers");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	conf.lc_host = argv[0];
	conf.lc_port = (uint16_t)num(argv[1], 1, 65535, "port");
	if (inet_pton(AF_INET, conf.lc_host, &ia) != 1 ||
	    (ntohl(ia.s_addr) >> 24) != 127) {
		fprintf(stderr, "drload: loopback (127.0.0.0/8) only\n");
		return (2);
	}
	if (conf.lc_workers == 0)
		conf.lc_workers = (conf.lc_conns + 8999) / 9000;
	if ((conf.lc_conns + conf.lc_workers - 1) / conf.lc_workers >
	    PER_WORKER_MAX) {
		fprintf(stderr, "drload: over %d connections per worker\n",
		    PER_WORKER_MAX);
		return (2);
	}
	/* The source addresses must stay within 127.0.0.0/8. */
	if (conf.lc_ip_base + (conf.lc_conns / conf.lc_per_ip / 254 + 1) *
	    256 > 0x7fffffff) {
		fprintf(stderr, "drload: too many source addresses\n");
		return (2);
	}
	/* Each worker holds its sockets and a few files more. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && (conf.lc_conns + conf.lc_workers - 1) /
	    conf.lc_workers + 64 > rl.rlim_cur) {
		fprintf(stderr, "drload: %u connections per worker, %llu "
		    "open files allowed: use more workers (-w)\n",
		    (conf.lc_conns + conf.lc_workers - 1) / conf.lc_workers,
		    (unsigned long long)rl.rlim_cur);
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&u0, 0, sizeof(u0));
	u1 = u2 = u3 = u4 = u0;
	if (conf.lc_pid != 0 && proc_usage(conf.lc_pid, &u0) == -1) {
		fprintf(stderr, "drload: no process %d\n", (int)conf.lc_pid);
		return (1);
	}

	spawn();
	printf("drload %s: %u connections, %u workers, %.0f%% chatting, "
	    "%u per source address\n", conf.lc_label, conf.lc_conns,
	    conf.lc_workers, conf.lc_chat * 100, conf.lc_per_ip);
	fflush(stdout);

	t0 = mono_us();
	cmd_all(CMD_RAMP);
	if (wait_all(MSG_RAMPED, t0 + (uint64_t)(LOAD_SETUP_MS + 60000) *
	    1000) == -1)
		fatalx("workers did not finish the ramp");
	t1 = mono_us();
	if (conf.lc_pid != 0)
		(void)proc_usage(conf.lc_pid, &u1);
	ramp_s = (double)(t1 - t0) / 1e6;

	cmd_all(CMD_JOIN);
	(void)wait_all(MSG_MATCHED, mono_us() + conf.lc_settle * 1000000ULL);
	if (conf.lc_pid != 0)
		(void)proc_usage(conf.lc_pid, &u2);
	/* Let the join burst's replies drain before the window opens. */
	sleep_ms(1000);

	cmd_all(CMD_WINDOW);
	if (conf.lc_pid != 0)
		(void)proc_usage(conf.lc_pid, &u3);
	gen3 = gen_cpu_us();
	idle3 = machine_idle_us();
	t3 = mono_us();
	/* For whoever profiles the server meanwhile (bench/profile.sh). */
	printf("window open: %u s\n", conf.lc_window);
	fflush(stdout);
	sleep_ms(conf.lc_window * 1000ULL);
	cmd_all(CMD_END);
	if (conf.lc_pid != 0)
		(void)proc_usage(conf.lc_pid, &u4);
	gen4 = gen_cpu_us();
	idle4 = machine_idle_us();
	t4 = mono_us();
	if (wait_all(MSG_REPORT, t4 + 30000000ULL) == -1)
		fatalx("workers did not report");
	cmd_all(CMD_QUIT);
	for (i = 0; i < conf.lc_workers; i++)
		(void)waitpid(wps[i].wp_pid, NULL, 0);
	memset(&ru, 0, sizeof(ru));
	(void)getrusage(RUSAGE_CHILDREN, &ru);

	/* What else ran on the machine meanwhile: it skews every figure. */
	if ((ncpu = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		ncpu = 1;
	busy = (double)ncpu * (double)(t4 - t3) -
	    ((double)idle4 - (double)idle3);
	other = busy - cpu_us(&u3, &u4) - ((double)gen4 - (double)gen3);
	report(ramp_s, &u0, &u1, &u2, &u3, &u4, (double)(t4 - t3) / 1e6,
	    ((double)gen4 - (double)gen3) / (double)(t4 - t3) * 100,
	    other > 0 ? other / (double)(t4 - t3) * 100 : 0);
	printf("generator CPU (all workers, whole run): user %.2f s, "
	    "sys %.2f s\n", (double)ru.ru_utime.tv_sec +
	    (double)ru.ru_utime.tv_usec / 1e6, (double)ru.ru_stime.tv_sec +
	    (double)ru.ru_stime.tv_usec / 1e6);
	return (0);
}

static void
spawn(void)
{
	uint32_t	 i, first = 0, n;
	int		 c[2], r[2], j;

	for (i = 0; i < conf.lc_workers; i++) {
		n = conf.lc_conns / conf.lc_workers +
		    (i < conf.lc_conns % conf.lc_workers ? 1 : 0);
		if (pipe(c) == -1 || pipe(r) == -1)
			fatal("pipe");
		fflush(stdout);
		switch (wps[i].wp_pid = fork()) {
		case -1:
			fatal("fork");
		case 0:
			for (j = 0; j < (int)i; j++) {
				close(wps[j].wp_cmd);
				close(wps[j].wp_rep);
			}
			close(c[1]);
			close(r[0]);
			worker_main(&conf, first, n, c[0], r[1]);
		default:
			break;
		}
		close(c[0]);
		close(r[1]);
		wps[i].wp_cmd = c[1];
		wps[i].wp_rep = r[0];
		first += n;
	}
}

static void
cmd_all(char c)
{
	uint32_t	 i;

	for (i = 0; i < conf.lc_workers; i++)
		if (write(wps[i].wp_cmd, &c, 1) != 1)
			fatal("worker %u", i);
}

static int
read_full(int fd, void *p, size_t n)
{
	uint8_t	*b = p;
	ssize_t	 r;
	size_t	 off;

	for (off = 0; off < n; off += (size_t)r) {
		r = read(fd, b + off, n - off);
		if (r == -1 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r <= 0)
			return (-1);
	}
	return (0);
}

/* Until every worker has sent a message of this type, or deadline. */
static int
wait_all(int type, uint64_t deadline)
{
	struct pollfd	 pfd[LOAD_WORKER_MAX];
	struct load_msg	 m;
	struct wproc	*wp;
	uint32_t	 i, v[2], left;
	uint64_t	 now;
	int		*flag;

	for (;;) {
		left = 0;
		for (i = 0; i < conf.lc_workers; i++) {
			wp = &wps[i];
			flag = type == MSG_RAMPED ? &wp->wp_ramped :
			    type == MSG_MATCHED ? &wp->wp_matched :
			    &wp->wp_reported;
			if (!*flag)
				left++;
			pfd[i].fd = wp->wp_rep;
			pfd[i].events = POLLIN;
		}
		if (left == 0)
			return (0);
		now = mono_us();
		if (now >= deadline)
			return (-1);
		if (poll(pfd, conf.lc_workers,
		    (int)((deadline - now) / 1000 + 1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		for (i = 0; i < conf.lc_workers; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			wp = &wps[i];
			if (read_full(wp->wp_rep, &m, sizeof(m)) == -1)
				fatalx("worker %u died", i);
			switch (m.lm_type) {
			case MSG_RAMPED:
				if (m.lm_len != sizeof(v) ||
				    read_full(wp->wp_rep, v, sizeof(v)) == -1)
					fatalx("worker %u: bad message", i);
				wp->wp_ready = v[0];
				wp->wp_failed = v[1];
				wp->wp_ramped = 1;
				break;
			case MSG_MATCHED:
				if (m.lm_len != 0)
					fatalx("worker %u: bad message", i);
				wp->wp_matched = 1;
				break;
			case MSG_REPORT:
				if (m.lm_len != sizeof(wp->wp_rep_buf) ||
				    read_full(wp->wp_rep, &wp->wp_rep_buf,
				    sizeof(wp->wp_rep_buf)) == -1)
					fatalx("worker %u: bad message", i);
				wp->wp_reported = 1;
				break;
			default:
				fatalx("worker %u: message %u", i, m.lm_type);
			}
		}
	}
}

/* The workers' CPU time so far. */
static uint64_t
gen_cpu_us(void)
{
	struct proc_usage	 pu;
	uint64_t		 t = 0;
	uint32_t		 i;

	for (i = 0; i < conf.lc_workers; i++)
		if (proc_usage(wps[i].wp_pid, &pu) == 0)
			t += pu.pu_utime + pu.pu_stime;
	return (t);
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static double
cpu_us(const struct proc_usage *a, const struct proc_usage *b)
{
	return ((double)(b->pu_utime + b->pu_stime) -
	    (double)(a->pu_utime + a->pu_stime));
}

#define MS(v)	((double)(v) / 1000.0)

static void
report(double ramp_s, const struct proc_usage *u0,
    const struct proc_usage *u1, const struct proc_usage *u2,
    const struct proc_usage *u3, const struct proc_usage *u4, double win_s,
    double gen_pct, double other_pct)
{
	static struct load_report	 all;
	const struct load_report	*r;
	uint64_t			 errs = 0, errs_win = 0;
	uint32_t			 i, ready = 0, failed = 0;
	double				 per_conn = 0, cpu_setup = 0;
	double				 cpu_join = 0, cpu_msg = 0;
	size_t				 j, k;
	char				 errbuf[512];
	int				 o = 0;

	memset(&all, 0, sizeof(all));
	for (i = 0; i < conf.lc_workers; i++) {
		r = &wps[i].wp_rep_buf;
		ready += wps[i].wp_ready;
		failed += wps[i].wp_failed;
		all.lr_conns += r->lr_conns;
		all.lr_chatters += r->lr_chatters;
		all.lr_held += r->lr_held;
		all.lr_matched += r->lr_matched;
		all.lr_sent += r->lr_sent;
		all.lr_recv += r->lr_recv;
		all.lr_ended += r->lr_ended;
		if (r->lr_lastclose != 0)
			all.lr_lastclose = r->lr_lastclose;
		for (j = 0; j < LE_MAX; j++) {
			all.lr_err[j] += r->lr_err[j];
			all.lr_err_win[j] += r->lr_err_win[j];
		}
		hist_merge(&all.lr_setup, &r->lr_setup);
		hist_merge(&all.lr_burst, &r->lr_burst);
		hist_merge(&all.lr_rejoin, &r->lr_rejoin);
		hist_merge(&all.lr_msg, &r->lr_msg);
	}
	errbuf[0] = '\0';
	for (j = k = 0; j < LE_MAX; j++) {
		/* state: a msg or skip crossing the room's end (section 3). */
		if (j != LE_ERR_STATE) {
			errs += all.lr_err[j];
			errs_win += all.lr_err_win[j];
		}
		if (all.lr_err[j] == 0 || o < 0 ||
		    (size_t)o >= sizeof(errbuf))
			continue;
		o += snprintf(errbuf + o, sizeof(errbuf) - (size_t)o, "%s%s:%llu",
		    k++ ? "," : "", load_err_name((int)j),
		    (unsigned long long)all.lr_err[j]);
	}
	if (errs == 0)
		(void)snprintf(errbuf, sizeof(errbuf), "none");

	if (conf.lc_pid != 0 && all.lr_held > 0)
		per_conn = ((double)u4->pu_rss - (double)u0->pu_rss) /
		    all.lr_held;
	if (ready > 0)
		cpu_setup = cpu_us(u0, u1) / ready;
	if (all.lr_burst.h_n > 0)
		cpu_join = cpu_us(u1, u2) / (double)all.lr_burst.h_n;
	if (all.lr_recv > 0)
		cpu_msg = cpu_us(u3, u4) / (double)all.lr_recv;

	printf("ramp: %u ready, %u failed in %.2f s (%.0f setups/s)\n",
	    ready, failed, ramp_s, ramp_s > 0 ? ready / ramp_s : 0);
	printf("setup (connect to ready) ms: p50 %.2f p99 %.2f max %.2f\n",
	    MS(hist_pct(&all.lr_setup, 50)), MS(hist_pct(&all.lr_setup, 99)),
	    MS(all.lr_setup.h_max));
	printf("first join to matched ms (%llu): p50 %.2f p99 %.2f max %.2f\n",
	    (unsigned long long)all.lr_burst.h_n,
	    MS(hist_pct(&all.lr_burst, 50)), MS(hist_pct(&all.lr_burst, 99)),
	    MS(all.lr_burst.h_max));
	printf("rejoin to matched ms (%llu, window): p50 %.2f p99 %.2f "
	    "max %.2f\n", (unsigned long long)all.lr_rejoin.h_n,
	    MS(hist_pct(&all.lr_rejoin, 50)), MS(hist_pct(&all.lr_rejoin, 99)),
	    MS(all.lr_rejoin.h_max));
	printf("window %.1f s: %u held, %u in rooms, %llu msgs sent, %llu "
	    "received (%.0f/s), %llu rooms ended\n", win_s, all.lr_held,
	    all.lr_matched, (unsigned long long)all.lr_sent,
	    (unsigned long long)all.lr_recv, (double)all.lr_recv / win_s,
	    (unsigned long long)all.lr_ended);
	printf("message latency ms: p50 %.3f p99 %.3f p99.9 %.3f max %.3f\n",
	    MS(hist_pct(&all.lr_msg, 50)), MS(hist_pct(&all.lr_msg, 99)),
	    MS(hist_pct(&all.lr_msg, 99.9)), MS(all.lr_msg.h_max));
	printf("errors: %s (%llu of them in the window)\n", errbuf,
	    (unsigned long long)errs_win);
	printf("machine in the window: generator %.0f%% of a core, anything "
	    "else %.0f%%\n", gen_pct, other_pct);
	if (conf.lc_pid != 0) {
		printf("server: %u processes, RSS %.1f MiB idle, %.1f MiB "
		    "loaded (%.0f B per connection)\n", u4->pu_nprocs,
		    (double)u0->pu_rss / 1048576, (double)u4->pu_rss / 1048576,
		    per_conn);
		printf("server CPU: ramp %.2f s (%.1f us/setup), joins %.2f s "
		    "(%.1f us/join), window %.2f s = %.0f%% of a core "
		    "(user %.2f, sys %.2f; %.2f us/msg)\n",
		    cpu_us(u0, u1) / 1e6, cpu_setup, cpu_us(u1, u2) / 1e6,
		    cpu_join, cpu_us(u3, u4) / 1e6,
		    cpu_us(u3, u4) / 1e4 / win_s,
		    (double)(u4->pu_utime - u3->pu_utime) / 1e6,
		    (double)(u4->pu_stime - u3->pu_stime) / 1e6, cpu_msg);
	}
	printf("RESULT label=%s conns=%u held=%u ready=%u failed=%u "
	    "ramp_s=%.2f setup_rate=%.0f setup_p50=%.2f setup_p99=%.2f "
	    "setup_max=%.2f join_p50=%.2f join_p99=%.2f join_max=%.2f "
	    "rejoin_p50=%.2f rejoin_p99=%.2f msgs=%llu msg_rate=%.0f "
	    "lat_p50=%.3f lat_p99=%.3f lat_p999=%.3f lat_max=%.3f "
	    "errors=%llu errors_window=%llu error_kinds=%s rss_base=%llu "
	    "rss=%llu "
	    "bytes_per_conn=%.0f cpu_setup_us=%.1f cpu_join_us=%.1f "
	    "cpu_msg_us=%.2f cpu_window_pct=%.0f gen_pct=%.0f other_pct=%.0f\n",
	    conf.lc_label, conf.lc_conns, all.lr_held, ready, failed, ramp_s,
	    ramp_s > 0 ? ready / ramp_s : 0,
	    MS(hist_pct(&all.lr_setup, 50)), MS(hist_pct(&all.lr_setup, 99)),
	    MS(all.lr_setup.h_max),
	    MS(hist_pct(&all.lr_burst, 50)), MS(hist_pct(&all.lr_burst, 99)),
	    MS(all.lr_burst.h_max),
	    MS(hist_pct(&all.lr_rejoin, 50)), MS(hist_pct(&all.lr_rejoin, 99)),
	    (unsigned long long)all.lr_recv, (double)all.lr_recv / win_s,
	    MS(hist_pct(&all.lr_msg, 50)), MS(hist_pct(&all.lr_msg, 99)),
	    MS(hist_pct(&all.lr_msg, 99.9)), MS(all.lr_msg.h_max),
	    (unsigned long long)errs, (unsigned long long)errs_win, errbuf,
	    (unsigned long long)u0->pu_rss, (unsigned long long)u4->pu_rss,
	    per_conn, cpu_setup, cpu_join, cpu_msg,
	    conf.lc_pid != 0 ? cpu_us(u3, u4) / 1e4 / win_s : 0, gen_pct,
	    other_pct);
}
