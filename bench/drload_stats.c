/*
 * What drload measures: latency histograms, error kinds, and a server's
 * memory and CPU time read from /proc for the process and all its
 * descendants.
 */

#include <sys/types.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "drload.h"

#define PROC_MAX	64	/* processes of one server, at most */

static int	 proc_one(pid_t, struct proc_usage *);
static int	 proc_walk(pid_t, struct proc_usage *, int);

static const char *const load_err_names[LE_MAX] = {
	"connect", "bind", "setup_timeout", "http", "accept", "eof", "reset",
	"close", "bad_frame", "error_pow", "error_rate", "error_state",
	"error_join_rate", "error_other"
};

const char *
load_err_name(int e)
{
	if (e < 0 || e >= LE_MAX)
		return ("?");
	return (load_err_names[e]);
}

uint64_t
mono_us(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/*
 * Values under 2 * HIST_SUB are exact; above, each power of two is cut
 * into HIST_SUB buckets, so a bucket is within 1/HIST_SUB of its value.
 */
static size_t
hist_index(uint64_t v)
{
	int	 e;
	size_t	 i;

	if (v < 2 * HIST_SUB)
		return ((size_t)v);
	e = 63 - __builtin_clzll(v);		/* >= HIST_SUB_BITS + 1 */
	i = 2 * HIST_SUB + (size_t)(e - HIST_SUB_BITS - 1) * HIST_SUB +
	    (size_t)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return (i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
}

/* The middle of bucket i. */
static uint64_t
hist_value(size_t i)
{
	uint64_t	 lo, w;
	int		 e;

	if (i < 2 * HIST_SUB)
		return (i);
	e = (int)((i - 2 * HIST_SUB) / HIST_SUB) + HIST_SUB_BITS + 1;
	w = 1ULL << (e - HIST_SUB_BITS);
	lo = (1ULL << e) + ((i - 2 * HIST_SUB) % HIST_SUB) * w;
	return (lo + w / 2);
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->h_b[hist_index(v)]++;
	h->h_n++;
	h->h_sum += v;
	if (v > h->h_max)
		h->h_max = v;
}

void
hist_merge(struct hist *h, const struct hist *o)
{
	size_t	 i;

	for (i = 0; i < HIST_BUCKETS; i++)
		h->h_b[i] += o->h_b[i];
	h->h_n += o->h_n;
	h->h_sum += o->h_sum;
	if (o->h_max > h->h_max)
		h->h_max = o->h_max;
}

void
hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

/* The p-th percentile (0 < p <= 100), never above the maximum seen. */
uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t	 want, seen = 0, v;
	size_t		 i;

	if (h->h_n == 0)
		return (0);
	want = (uint64_t)((double)h->h_n * p / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->h_b[i];
		if (seen >= want) {
			v = hist_value(i);
			return (v < h->h_max ? v : h->h_max);
		}
	}
	return (h->h_max);
}

/* Adds one process: utime and stime cover all its threads. */
static int
proc_one(pid_t pid, struct proc_usage *pu)
{
	char			 path[64], buf[1024], *p;
	FILE			*f;
	unsigned long long	 ut, st, kb;
	long			 hz = sysconf(_SC_CLK_TCK);
	int			 ok = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) == 2)
		ok = 1;
	(void)fclose(f);
	if (!ok || hz <= 0)
		return (-1);
	pu->pu_utime += ut * 1000000ULL / (unsigned long long)hz;
	pu->pu_stime += st * 1000000ULL / (unsigned long long)hz;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (sscanf(buf, "VmRSS: %llu kB", &kb) == 1)
			pu->pu_rss += kb * 1024;
	(void)fclose(f);
	pu->pu_nprocs++;
	return (0);
}

/* Children are found through every thread's children file. */
static int
proc_walk(pid_t pid, struct proc_usage *pu, int depth)
{
	char		 path[64], buf[4096], *p, *end;
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	long		 child;

	if (depth > 8 || pu->pu_nprocs >= PROC_MAX)
		return (0);
	if (proc_one(pid, pu) == -1)
		return (-1);
	(void)snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(buf, sizeof(buf), "/proc/%d/task/%.16s/children",
		    (int)pid, de->d_name);
		if ((f = fopen(buf, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL) {
			for (p = buf;; p = end) {
				child = strtol(p, &end, 10);
				if (end == p || child <= 0)
					break;
				(void)proc_walk((pid_t)child, pu, depth + 1);
			}
		}
		(void)fclose(f);
	}
	(void)closedir(d);
	return (0);
}

/*
 * CPU time the whole machine spent idle (idle, iowait and steal), in
 * microseconds.  The caller takes busy time as the cores' wall time less
 * this: on this VM the kernel measures idle time exactly (tickless), but
 * the busy columns of /proc/stat are sampled at each tick, and a load of
 * short wakeups, as loopback traffic is, falls between ticks: they showed
 * under half of what the processes' own times add up to.
 */
uint64_t
machine_idle_us(void)
{
	unsigned long long	 v[8];
	FILE			*f;
	long			 hz = sysconf(_SC_CLK_TCK);
	uint64_t		 idle = 0;
	int			 n;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return (0);
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	(void)fclose(f);
	if (n == 8 && hz > 0)
		idle = (v[3] + v[4] + v[7]) * 1000000ULL /
		    (unsigned long long)hz;
	return (idle);
}

int
proc_usage(pid_t pid, struct proc_usage *pu)
{
	memset(pu, 0, sizeof(*pu));
	return (proc_walk(pid, pu, 0));
}
