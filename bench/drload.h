/*
 * drload: a load generator for the devroulette wire protocol
 * (PROTOCOL.md), for measuring a server on this machine.  The parent
 * process forks workers, steps them through the phases of a run over
 * pipes, reads the server's memory and CPU time from /proc and merges
 * what the workers measured.  Each worker is a libevent loop holding its
 * share of the connections, each bound to its own 127.x.y.z address.
 */

#ifndef DR_DRLOAD_H
#define DR_DRLOAD_H

#include <sys/types.h>

#include <stdint.h>

#include <event2/event_struct.h>

#define LOAD_WORKER_MAX		64
#define LOAD_CONNS_MAX		(LOAD_WORKER_MAX * 15000)
#define LOAD_INFLIGHT		128	/* handshakes per worker at once */
#define LOAD_SETUP_MS		15000	/* TCP connect to ready, at most */
#define LOAD_BEAT_MS		10000
#define LOAD_CHAT_MS		1100	/* the limit is 1000, on arrival */
#define LOAD_SKIP_MIN		11	/* messages before a skip: rooms of */
#define LOAD_SKIP_SPAN		10	/* 12 s or more keep JOINS_PER_MIN */
#define LOAD_REJOIN_MS		10000	/* after join_rate */

/* Latency histogram in microseconds: 32 sub-buckets per power of two. */
#define HIST_SUB_BITS		5
#define HIST_SUB		(1 << HIST_SUB_BITS)
#define HIST_BUCKETS		(2 * HIST_SUB + 40 * HIST_SUB)

struct hist {
	uint64_t	 h_n;
	uint64_t	 h_max;
	uint64_t	 h_sum;
	uint64_t	 h_b[HIST_BUCKETS];
};

/* What can go wrong, counted by kind. */
enum load_err {
	LE_CONNECT,		/* connect(2) refused or failed */
	LE_BIND,		/* no source address */
	LE_SETUP_TIMEOUT,	/* no ready within LOAD_SETUP_MS */
	LE_HTTP,		/* an answer other than 101 */
	LE_ACCEPT,		/* a wrong Sec-WebSocket-Accept */
	LE_EOF,			/* the server closed without a close frame */
	LE_RESET,		/* read or write error */
	LE_CLOSE,		/* the server sent a close frame */
	LE_BAD_FRAME,		/* a frame we cannot parse */
	LE_ERR_POW,		/* {"t":"error"} by code, from here on */
	LE_ERR_RATE,
	LE_ERR_STATE,
	LE_ERR_JOIN_RATE,
	LE_ERR_OTHER,
	LE_MAX
};

/* One worker's figures, sent whole to the parent at the end. */
struct load_report {
	uint32_t	 lr_conns;	/* connections asked of it */
	uint32_t	 lr_chatters;
	uint32_t	 lr_ready;	/* reached ready */
	uint32_t	 lr_held;	/* open and past ready at window end */
	uint32_t	 lr_matched;	/* chatters in a room at window end */
	uint32_t	 lr_lastclose;	/* last close code received */
	uint64_t	 lr_sent;	/* msg sent in the window */
	uint64_t	 lr_recv;	/* msg received in the window */
	uint64_t	 lr_ended;	/* ended received in the window */
	uint64_t	 lr_err[LE_MAX];
	uint64_t	 lr_err_win[LE_MAX];	/* of which in the window */
	struct hist	 lr_setup;	/* TCP connect to ready */
	struct hist	 lr_burst;	/* first join to matched */
	struct hist	 lr_rejoin;	/* later joins to matched, window */
	struct hist	 lr_msg;	/* send to receive, window */
};

/* Parent to worker: one byte each. */
#define CMD_RAMP	'R'
#define CMD_JOIN	'J'
#define CMD_WINDOW	'W'
#define CMD_END		'E'
#define CMD_QUIT	'Q'

/* Worker to parent: a header, then the payload. */
#define MSG_RAMPED	1	/* two uint32: ready, failed */
#define MSG_MATCHED	2	/* every chatter has been matched once */
#define MSG_REPORT	3	/* struct load_report */

struct load_msg {
	uint32_t	 lm_type;
	uint32_t	 lm_len;
};

struct load_conf {
	const char	*lc_host;	/* the server's IPv4 address */
	uint16_t	 lc_port;
	uint32_t	 lc_conns;
	uint32_t	 lc_workers;
	double		 lc_chat;	/* share of connections chatting */
	uint32_t	 lc_per_ip;	/* connections per source address */
	uint32_t	 lc_ip_base;	/* first source address, host order */
	uint32_t	 lc_window;	/* seconds */
	uint32_t	 lc_settle;	/* seconds, at most, for the first rooms */
	pid_t		 lc_pid;	/* the server, or 0 */
	const char	*lc_label;
};

/* drload_worker.c */
void	 worker_main(const struct load_conf *, uint32_t, uint32_t, int, int)
	    __attribute__((__noreturn__));

/* drload_stats.c */
uint64_t mono_us(void);
void	 hist_add(struct hist *, uint64_t);
void	 hist_merge(struct hist *, const struct hist *);
uint64_t hist_pct(const struct hist *, double);
void	 hist_reset(struct hist *);
const char *load_err_name(int);

/* Sum over a process and its descendants (parent, children, threads). */
struct proc_usage {
	uint32_t	 pu_nprocs;
	uint64_t	 pu_rss;	/* bytes */
	uint64_t	 pu_utime;	/* microseconds */
	uint64_t	 pu_stime;
};
int	 proc_usage(pid_t, struct proc_usage *);
uint64_t machine_idle_us(void);

#endif /* DR_DRLOAD_H */
