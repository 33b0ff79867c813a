/*
 * devrouletted: the privileged parent.  It reads the settings, opens the
 * listening socket and the state directory, forks the front and the
 * matcher, logs for them and writes the aggregate counters to disk.
 */

#include <sys/types.h>
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

enum proc_id {
	PROC_FRONT,
	PROC_MATCHER,
	PROC_MAX
};

struct child {
	const char	*ch_title;
	pid_t		 ch_pid;
	int		 ch_fd;		/* parent's end of the socketpair */
	int		 ch_exited;
	struct ipc_peer	 ch_peer;
};

struct parent {
	struct event_base	*p_base;
	struct child		 p_child[PROC_MAX];
	struct counters		 p_counters;
	int			 p_statefd;
	int			 p_ctlfd;
	int			 p_shutdown;
	struct event		*p_ev_sig[4];
	struct event		*p_ev_grace;
};

static void	 usage(void) __attribute__((__noreturn__));
static void	 proc_child_signals(void);
static void	 parent_loop_init(struct parent *);
static int	 parent_listen(const struct settings *);
static void	 parent_fork(struct parent *, int);
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
	sigset_t	 mask;
	char		 errbuf[512];
	int		 ch, debug = 0, verbose = 0, noaction = 0, lfd;

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

	/*
	 * A signal that comes before the event loop's handlers are in
	 * place waits for them instead of killing the daemon half started.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) == -1)
		err(1, "sigprocmask");

	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("parent");
	settings_log(env);
	proc_user_init(DR_USER);
	/* The control socket first: a listening TCP port means ready. */
	p.p_ctlfd = control_init(env->s_control_socket, DR_USER);
	lfd = parent_listen(env);

	if (!debug && daemon(1, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	parent_fork(&p, lfd);
	close(lfd);

	parent_loop_init(&p);
	event_base_dispatch(p.p_base);
	fatalx("event loop ended");
}

/* The parent's event loop: both children, the signals, the control socket. */
static void
parent_loop_init(struct parent *p)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct child		*c;
	int			 i;

	if ((p->p_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (i = 0; i < PROC_MAX; i++) {
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
	ipc_send(&p->p_child[PROC_MATCHER].ch_peer, IMSG_COUNTERS_LOAD, 0,
	    &p->p_counters, sizeof(p->p_counters));
	control_start(p->p_base, p->p_ctlfd, &p->p_child[PROC_FRONT].ch_peer,
	    &p->p_child[PROC_MATCHER].ch_peer);
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

static int
parent_listen(const struct settings *s)
{
	struct addrinfo		 hints, *res;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 port[8], host[NI_MAXHOST], serv[NI_MAXSERV];
	int			 fd, on = 1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", s->s_port);
	if ((e = getaddrinfo(s->s_host, port, &hints, &res)) != 0)
		fatalx("HOST %s: %s", s->s_host, gai_strerror(e));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK,
	    res->ai_protocol);
	if (fd == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("bind %s port %s", s->s_host, port);
	freeaddrinfo(res);
	if (listen(fd, 1024) == -1)
		fatal("listen");
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host),
	    serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		fatal("getsockname");
	/* The daemon's own address, not a client's: tests read the port. */
	log_info("listening on %s:%s", host, serv);
	return (fd);
}

static void
parent_fork(struct parent *p, int lfd)
{
	int	 pf[2], pm[2], fm[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pf) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, pm) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fm) == -1)
		fatal("socketpair");

	p->p_child[PROC_FRONT].ch_title = "front";
	p->p_child[PROC_MATCHER].ch_title = "matcher";

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(pf[0]);
		close(pm[0]);
		close(pm[1]);
		close(fm[1]);
		close(p->p_statefd);
		close(p->p_ctlfd);
		proc_child_signals();
		log_procinit("front");
		relay_main(env, pf[1], fm[0], lfd);
	}
	p->p_child[PROC_FRONT].ch_pid = pid;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(pf[0]);
		close(pf[1]);
		close(pm[0]);
		close(fm[0]);
		close(lfd);
		close(p->p_statefd);
		close(p->p_ctlfd);
		proc_child_signals();
		log_procinit("matcher");
		matcher_main(env, pm[1], fm[1]);
	}
	p->p_child[PROC_MATCHER].ch_pid = pid;

	close(pf[1]);
	close(pm[1]);
	close(fm[0]);
	close(fm[1]);
	p->p_child[PROC_FRONT].ch_fd = pf[0];
	p->p_child[PROC_MATCHER].ch_fd = pm[0];
}

static struct child *
parent_child(struct parent *p, struct ipc_peer *peer)
{
	return (peer == &p->p_child[PROC_FRONT].ch_peer ?
	    &p->p_child[PROC_FRONT] : &p->p_child[PROC_MATCHER]);
}

static void
parent_dispatch(struct ipc_peer *peer, struct ipc_hdr *hdr, uint8_t *data,
    void *arg)
{
	struct parent	*p = arg;
	struct child	*c = parent_child(p, peer);

	switch (hdr->ih_type) {
	case IMSG_LOG:
		proc_log_record(c->ch_title, data, hdr->ih_len);
		return;
	case IMSG_STATS_FRONT:
	case IMSG_BANS_REPLY:
		if (c != &p->p_child[PROC_FRONT])
			break;
		control_reply(hdr->ih_type, hdr->ih_peerid, data,
		    hdr->ih_len);
		return;
	case IMSG_STATS_MATCHER:
		if (c != &p->p_child[PROC_MATCHER])
			break;
		control_reply(hdr->ih_type, hdr->ih_peerid, data,
		    hdr->ih_len);
		return;
	case IMSG_COUNTERS_SAVE:
	case IMSG_SHUTDOWN_DONE:
		if (c != &p->p_child[PROC_MATCHER])
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

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (p->p_shutdown)
			return;
		log_info("shutting down");
		p->p_shutdown = 1;
		/*
		 * The front closes every WebSocket and exits; the matcher
		 * waits for the front to be gone, then sends its final
		 * counters and exits.
		 */
		ipc_send(&p->p_child[PROC_FRONT].ch_peer, IMSG_SHUTDOWN, 0,
		    NULL, 0);
		ipc_send(&p->p_child[PROC_MATCHER].ch_peer, IMSG_SHUTDOWN, 0,
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
	for (i = 0; i < PROC_MAX; i++)
		if (!p->p_child[i].ch_exited)
			kill(p->p_child[i].ch_pid, SIGKILL);
	counters_write(p->p_statefd, &p->p_counters);
	exit(1);
}

/* Both children gone: the matcher's last counters are in. */
static void
parent_shutdown_step(struct parent *p)
{
	struct child	*f = &p->p_child[PROC_FRONT];
	struct child	*m = &p->p_child[PROC_MATCHER];

	if (f->ch_peer.ip_bev == NULL && m->ch_peer.ip_bev == NULL) {
		counters_write(p->p_statefd, &p->p_counters);
		unlink(env->s_control_socket);
		log_info("exiting");
		exit(0);
	}
}

static void
parent_reap(struct parent *p, int report)
{
	struct child	*c;
	pid_t		 pid;
	int		 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0, c = NULL; i < PROC_MAX; i++)
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
	for (i = 0; i < PROC_MAX; i++)
		if (!p->p_child[i].ch_exited && p->p_child[i].ch_pid > 0)
			kill(p->p_child[i].ch_pid, SIGTERM);
	counters_write(p->p_statefd, &p->p_counters);
	fatalx("%s; exiting", msg);
}
