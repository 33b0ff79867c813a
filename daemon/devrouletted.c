/*
 * devrouletted: the privileged parent.  It reads the settings, opens the
 * listening sockets and the state directory, forks the fronts (PREFORK of
 * them) and the matcher, logs for them and writes the aggregate counters
 * to disk.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "devrouletted.h"

/* p_child[0 .. PREFORK-1] are the fronts, then the matcher. */
#define PROC_MAX	(PREFORK_MAX + 1)

struct child {
	char		 ch_title[16];
	pid_t		 ch_pid;
	int		 ch_fd;		/* parent's end of the socketpair */
	int		 ch_exited;
	struct ipc_peer	 ch_peer;
};

struct parent {
	struct event_base	*p_base;
	struct child		 p_child[PROC_MAX];
	int			 p_nchild;
	int			 p_matcher;	/* its index in p_child */
	struct counters		 p_counters;
	int			 p_statefd;
	int			 p_ctlfd;
	int			 p_shutdown;
	struct event		*p_ev_sig[4];
	struct event		*p_ev_grace;
};

static void	 usage(void) __attribute__((__noreturn__));
static void	 proc_child_signals(void);
static void	 parent_block_signals(void);
static void	 parent_loop_init(struct parent *);
static void	 parent_listen(const struct settings *, int *, uint32_t);
static int	 parent_socket(const struct addrinfo *, int);
static void	 parent_sndbuf(int, int);
static void	 parent_mesh(uint32_t, int [PREFORK_MAX][PREFORK_MAX]);
static void	 parent_fork(struct parent *, const int *);
static void	 parent_mesh_close(int [PREFORK_MAX][PREFORK_MAX], uint32_t,
		    int);
static void	 parent_fork_front(struct parent *, struct front_setup *,
		    int [PREFORK_MAX][PREFORK_MAX], const int *,
		    int [PREFORK_MAX][2], uint32_t);
static void	 parent_dispatch(struct ipc_peer *, struct ipc_hdr *,
		    uint8_t *, void *);
static void	 parent_lost(struct ipc_peer *, void *);
static void	 parent_sig(evutil_socket_t, short, void *);
static void	 parent_shutdown_step(struct parent *);
static void	 parent_grace(evutil_socket_t, short, void *);
static void	 parent_reap(struct parent *, int);
static void	 parent_fail(struct parent *, const char *, ...)
		    __attribute__((__noreturn__))
		    __attribute__((__format__ (printf, 2, 3)));


static struct settings	 settings;
static sigset_t		 oldmask;	/* restored once handlers exist */

static void
usage(void)
{
	fprintf(stderr, "usage: devrouletted [-dnv]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct parent	 p;
	char		 errbuf[512];
	int		 lfd[PREFORK_MAX];
	int		 ch, debug = 0, verbose = 0, noaction = 0;
	uint32_t	 i;

	while ((ch = getopt(argc, argv, "dnv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();

	env = &settings;
	if (settings_load(env, errbuf, sizeof(errbuf)) == -1)
		errx(1, "%s", errbuf);
	memset(&p, 0, sizeof(p));
	if ((p.p_statefd = open(env->s_state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		err(1, "STATE_DIR: %s", env->s_state_dir);
	if (counters_read(p.p_statefd, &p.p_counters, errbuf,
	    sizeof(errbuf)) == -1)
		errx(1, "%s", errbuf);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}

	parent_block_signals();

	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("parent");
	settings_log(env);
	proc_user_init(DR_USER);
	/* The control socket first: a listening TCP port means ready. */
	p.p_ctlfd = control_init(env->s_control_socket, DR_USER);
	for (i = 0; i < PREFORK_MAX; i++)
		lfd[i] = -1;
	parent_listen(env, lfd, env->s_prefork);

	if (!debug && daemon(1, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	parent_fork(&p, lfd);
	for (i = 0; i < env->s_prefork; i++)
		close(lfd[i]);

	parent_loop_init(&p);
	event_base_dispatch(p.p_base);
	fatalx("event loop ended");
}

/*
 * A signal that comes before the event loop's handlers are in place waits
 * for them instead of killing the daemon half started.
 */
static void
parent_block_signals(void)
{
	sigset_t	 mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) == -1)
		err(1, "sigprocmask");
}

/* The parent's event loop: the children, the signals, the control socket. */
static void
parent_loop_init(struct parent *p)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct ipc_peer		*fronts[PREFORK_MAX];
	struct child		*c;
	int			 i;

	if ((p->p_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (i = 0; i < p->p_nchild; i++) {
		c = &p->p_child[i];
		ipc_peer_init(&c->ch_peer, p->p_base, c->ch_fd, c->ch_title,
		    parent_dispatch, p);
		c->ch_peer.ip_lost = parent_lost;
	}
	for (i = 0; i < 4; i++) {
		p->p_ev_sig[i] = evsignal_new(p->p_base, sigs[i], parent_sig,
		    p);
		if (p->p_ev_sig[i] == NULL ||
		    evsignal_add(p->p_ev_sig[i], NULL) == -1)
			fatalx("evsignal_add");
	}
	if (sigprocmask(SIG_SETMASK, &oldmask, NULL) == -1)
		fatal("sigprocmask");
	ipc_send(&p->p_child[p->p_matcher].ch_peer, IMSG_COUNTERS_LOAD, 0,
	    &p->p_counters, sizeof(p->p_counters));
	for (i = 0; i < p->p_matcher; i++)
		fronts[i] = &p->p_child[i].ch_peer;
	control_start(p->p_base, p->p_ctlfd, fronts, p->p_matcher,
	    &p->p_child[p->p_matcher].ch_peer);
}

/*
 * The parent orchestrates shutdown: a terminal's ^C or a service manager's
 * SIGTERM to the whole group must not cut a child short.  A parent that
 * dies closes the children's socketpairs, which ends them.
 */
static void
proc_child_signals(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (sigprocmask(SIG_SETMASK, &oldmask, NULL) == -1)
		fatal("sigprocmask");
}

/*
 * One listening socket per front.  With several, each joins an
 * SO_REUSEPORT group and the kernel spreads connections over them; a
 * plain bind first makes sure nobody holds the address already, since a
 * group would otherwise quietly share it with another daemon of ours.
 */
static void
parent_listen(const struct settings *s, int *lfd, uint32_t n)
{
	struct addrinfo		 hints, *res;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 port[8], host[NI_MAXHOST], serv[NI_MAXSERV];
	int			 probe, e;
	uint32_t		 i;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", s->s_port);
	if ((e = getaddrinfo(s->s_host, port, &hints, &res)) != 0)
		fatalx("HOST %s: %s", s->s_host, gai_strerror(e));
	if (n > 1 && s->s_port != 0) {
		probe = parent_socket(res, 0);
		close(probe);
	}
	lfd[0] = parent_socket(res, n > 1);
	freeaddrinfo(res);
	if (getsockname(lfd[0], (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host),
	    serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		fatal("getsockname");
	/* PORT=0: the others join the port the kernel chose. */
	hints.ai_flags |= AI_NUMERICHOST;
	if ((e = getaddrinfo(host, serv, &hints, &res)) != 0)
		fatalx("%s port %s: %s", host, serv, gai_strerror(e));
	for (i = 1; i < n; i++)
		lfd[i] = parent_socket(res, 1);
	freeaddrinfo(res);
	/* The daemon's own address, not a client's: tests read the port. */
	log_info("listening on %s:%s", host, serv);
}

static int
parent_socket(const struct addrinfo *ai, int reuseport)
{
	int	 fd, on = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK,
	    ai->ai_protocol);
	if (fd == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		fatal("SO_REUSEPORT");
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		fatal("bind %s port %u", env->s_host, env->s_port);
	if (listen(fd, 1024) == -1)
		fatal("listen");
	return (fd);
}

/*
 * Room for a burst of handoffs in flight (a few hundred bytes each, plus
 * the kernel's overhead), beyond net.core.wmem_max if we may; a handoff
 * that does not fit waits in its front for room.
 */
static void
parent_sndbuf(int fd, int sz)
{
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) ==
	    -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* hand[i][j]: front i's end of the handoff socket it shares with j. */
static void
parent_mesh(uint32_t n, int hand[PREFORK_MAX][PREFORK_MAX])
{
	int		 sp[2], sz = 4 * 1024 * 1024;
	uint32_t	 i, j;

	for (i = 0; i < PREFORK_MAX; i++)
		for (j = 0; j < PREFORK_MAX; j++)
			hand[i][j] = -1;
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK,
			    0, sp) == -1)
				fatal("socketpair");
			parent_sndbuf(sp[0], sz);
			parent_sndbuf(sp[1], sz);
			hand[i][j] = sp[0];
			hand[j][i] = sp[1];
		}
	}
}

/*
 * The matcher first, then the fronts: each child closes every descriptor
 * of the parent's that is not its own (the parent's IPC ends, the other
 * fronts' sockets), so that a socketpair closes when its owner dies.
 */
static void
parent_fork(struct parent *p, const int *lfd)
{
	struct front_setup	 fu;
	struct front_shared	*sh;
	int			 hand[PREFORK_MAX][PREFORK_MAX];
	int			 pm[2], fm[PREFORK_MAX][2], mfd[PREFORK_MAX];
	uint32_t		 i, n = env->s_prefork;
	struct child		*m;
	pid_t			 pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fatal("mmap");
	memset(&fu, 0, sizeof(fu));
	fu.fu_shared = sh;
	fu.fu_count = n;
	fu.fu_ownermul = arc4random() | 1;
	if (n > 1)
		steer_attach(lfd[0], fu.fu_ownermul, n);
	parent_mesh(n, hand);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pm) == -1)
		fatal("socketpair");
	for (i = 0; i < n; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fm[i]) == -1)
			fatal("socketpair");

	p->p_nchild = n + 1;
	p->p_matcher = n;
	m = &p->p_child[p->p_matcher];
	strlcpy(m->ch_title, "matcher", sizeof(m->ch_title));
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(pm[0]);
		for (i = 0; i < n; i++) {
			close(fm[i][0]);
			close(lfd[i]);
			mfd[i] = fm[i][1];
		}
		parent_mesh_close(hand, n, -1);
		(void)munmap(sh, sizeof(*sh));
		close(p->p_statefd);
		close(p->p_ctlfd);
		proc_child_signals();
		log_procinit("matcher");
		matcher_main(env, pm[1], mfd, n);
	}
	m->ch_pid = pid;
	m->ch_fd = pm[0];
	close(pm[1]);
	for (i = 0; i < n; i++)
		close(fm[i][1]);

	for (i = 0; i < n; i++) {
		fu.fu_matcher = fm[i][0];
		parent_fork_front(p, &fu, hand, lfd, fm, i);
		close(fm[i][0]);
	}
	parent_mesh_close(hand, n, -1);
	(void)munmap(sh, sizeof(*sh));
}

/* Close the handoff sockets, all of them or all but front keep's. */
static void
parent_mesh_close(int hand[PREFORK_MAX][PREFORK_MAX], uint32_t n, int keep)
{
	uint32_t	 i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			if ((int)i != keep && hand[i][j] != -1)
				close(hand[i][j]);
}

/*
 * Front idx: its own listening socket, its handoff sockets, its end of
 * the matcher's socketpair and of the parent's.
 */
static void
parent_fork_front(struct parent *p, struct front_setup *fu,
    int hand[PREFORK_MAX][PREFORK_MAX], const int *lfd,
    int fm[PREFORK_MAX][2], uint32_t idx)
{
	struct child	*c = &p->p_child[idx];
	int		 pf[2];
	uint32_t	 k, n = fu->fu_count;
	pid_t		 pid;

	if (n == 1)
		strlcpy(c->ch_title, "front", sizeof(c->ch_title));
	else
		snprintf(c->ch_title, sizeof(c->ch_title), "front%u", idx);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pf) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(pf[0]);
		close(p->p_child[p->p_matcher].ch_fd);
		for (k = 0; k < idx; k++)
			close(p->p_child[k].ch_fd);
		for (k = idx + 1; k < n; k++)
			close(fm[k][0]);
		for (k = 0; k < n; k++)
			if (k != idx)
				close(lfd[k]);
		parent_mesh_close(hand, n, (int)idx);
		close(p->p_statefd);
		close(p->p_ctlfd);
		proc_child_signals();
		log_procinit(c->ch_title);
		fu->fu_parent = pf[1];
		fu->fu_listen = lfd[idx];
		fu->fu_index = idx;
		memcpy(fu->fu_hand, hand[idx], sizeof(fu->fu_hand));
		relay_main(env, fu);
	}
	close(pf[1]);
	c->ch_pid = pid;
	c->ch_fd = pf[0];
}

static struct child *
parent_child(struct parent *p, struct ipc_peer *peer)
{
	int	 i;

	for (i = 0; i < p->p_nchild; i++)
		if (peer == &p->p_child[i].ch_peer)
			return (&p->p_child[i]);
	fatalx("%s: unknown peer", __func__);
}

static void
parent_dispatch(struct ipc_peer *peer, struct ipc_hdr *hdr, uint8_t *data,
    void *arg)
{
	struct parent	*p = arg;
	struct child	*c = parent_child(p, peer);
	struct child	*m = &p->p_child[p->p_matcher];

	switch (hdr->ih_type) {
	case IMSG_LOG:
		proc_log_record(c->ch_title, data, hdr->ih_len);
		return;
	case IMSG_STATS_FRONT:
	case IMSG_BANS_REPLY:
		if (c == m)
			break;
		control_reply(hdr->ih_type, hdr->ih_peerid, data,
		    hdr->ih_len);
		return;
	case IMSG_STATS_MATCHER:
		if (c != m)
			break;
		control_reply(hdr->ih_type, hdr->ih_peerid, data,
		    hdr->ih_len);
		return;
	case IMSG_COUNTERS_SAVE:
	case IMSG_SHUTDOWN_DONE:
		if (c != m)
			break;
		if (hdr->ih_type == IMSG_SHUTDOWN_DONE) {
			if (hdr->ih_len != 0)
				break;
			return;
		}
		if (hdr->ih_len != sizeof(p->p_counters))
			break;
		memcpy(&p->p_counters, data, sizeof(p->p_counters));
		counters_write(p->p_statefd, &p->p_counters);
		return;
	default:
		break;
	}
	parent_fail(p, "unexpected message type %u (%u bytes) from %s",
	    hdr->ih_type, hdr->ih_len, c->ch_title);
}

/* A child's socketpair closed: expected at shutdown, fatal otherwise. */
static void
parent_lost(struct ipc_peer *peer, void *arg)
{
	struct parent	*p = arg;
	struct child	*c = parent_child(p, peer);
	int		 i;

	ipc_peer_free(peer);
	/* Give the child a moment to exit so its status can be reported. */
	for (i = 0; i < 100 && !c->ch_exited; i++) {
		parent_reap(p, 0);
		if (!c->ch_exited)
			usleep(10000);
	}
	if (p->p_shutdown)
		parent_shutdown_step(p);
	else
		parent_fail(p, "lost connection to %s", c->ch_title);
}

static void
parent_sig(evutil_socket_t sig, short events, void *arg)
{
	struct parent	*p = arg;
	int		 i;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (p->p_shutdown)
			return;
		log_info("shutting down");
		p->p_shutdown = 1;
		/*
		 * The fronts close every WebSocket and exit; the matcher
		 * waits for the fronts to be gone, then sends its final
		 * counters and exits.
		 */
		for (i = 0; i < p->p_nchild; i++)
			ipc_send(&p->p_child[i].ch_peer, IMSG_SHUTDOWN, 0,
			    NULL, 0);
		p->p_ev_grace = evtimer_new(p->p_base, parent_grace, p);
		if (p->p_ev_grace == NULL)
			fatalx("evtimer_new");
		{
			struct timeval tv = { DR_SHUTDOWN_GRACE_MS / 1000 + 3,
			    0 };

			evtimer_add(p->p_ev_grace, &tv);
		}
		break;
	case SIGHUP:
		/* Settings are read once at start: say so, and save. */
		log_info("SIGHUP: settings are only read at start; counters "
		    "saved");
		counters_write(p->p_statefd, &p->p_counters);
		break;
	case SIGCHLD:
		parent_reap(p, 1);
		break;
	}
}

/* A child that ignores shutdown is killed; the counters are still saved. */
static void
parent_grace(evutil_socket_t fd, short events, void *arg)
{
	struct parent	*p = arg;
	int		 i;

	log_warnx("children did not finish in time; killing them");
	for (i = 0; i < p->p_nchild; i++)
		if (!p->p_child[i].ch_exited)
			kill(p->p_child[i].ch_pid, SIGKILL);
	counters_write(p->p_statefd, &p->p_counters);
	exit(1);
}

/* Every child gone: the matcher's last counters are in. */
static void
parent_shutdown_step(struct parent *p)
{
	int	 i;

	for (i = 0; i < p->p_nchild; i++)
		if (p->p_child[i].ch_peer.ip_bev != NULL)
			return;
	counters_write(p->p_statefd, &p->p_counters);
	unlink(env->s_control_socket);
	log_info("exiting");
	exit(0);
}

static void
parent_reap(struct parent *p, int report)
{
	struct child	*c;
	pid_t		 pid;
	int		 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0, c = NULL; i < p->p_nchild; i++)
			if (p->p_child[i].ch_pid == pid)
				c = &p->p_child[i];
		if (c == NULL)
			continue;
		c->ch_exited = 1;
		if (WIFSIGNALED(status))
			log_warnx("%s (pid %d) was killed by signal %d (%s)",
			    c->ch_title, (int)pid, WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warnx("%s (pid %d) exited with status %d",
			    c->ch_title, (int)pid, WEXITSTATUS(status));
		if (report && !p->p_shutdown)
			parent_fail(p, "%s is gone", c->ch_title);
	}
}

/* A child failing takes the whole daemon down: it never limps on. */
static void
parent_fail(struct parent *p, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;
	int	 i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = 0; i < p->p_nchild; i++)
		if (!p->p_child[i].ch_exited && p->p_child[i].ch_pid > 0)
			kill(p->p_child[i].ch_pid, SIGTERM);
	counters_write(p->p_statefd, &p->p_counters);
	fatalx("%s; exiting", msg);
}
