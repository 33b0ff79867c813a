/*
 * The agent: one background process per machine and user that the hooks
 * start and tell about Claude Code tasks.  It holds a lock in its private
 * runtime directory and listens on a socket there (mode 0600) for the
 * hooks, devroulette status and the chat window.
 *
 * A task that has run for the delay (30 s), has not stopped and whose
 * transcript is still growing gets the agent's one queue place: it
 * connects, solves the proof of work and joins in task mode with the
 * task's match key, and beats only while that transcript keeps growing.
 * Nothing is shown.  If the task stops first, the agent sends done.  On
 * matched it opens the chat window, which attaches over the socket: the
 * agent keeps the connection and its session, the window is their screen
 * and keyboard (the session's lines and status go to the window, the
 * lines typed there come back).  From then on the chat is the user's:
 * it lasts until they leave or close the window, which ends the
 * connection.  If no window can be shown, the agent does not queue at all.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "client.h"

#define AGENT_IDLE_MS		(10 * 60 * 1000)	/* then it exits */
#define AGENT_CLOSE_MS		1000	/* nameless, still accepting */
#define AGENT_TICK_MAX_MS	1000
#define AGENT_PEERS_MAX		32
#define PEER_TIMEOUT_MS		5000	/* hooks and status; not the window */
#define WINDOW_ATTACH_MS	20000	/* from matched to the window */
#define TASK_DELAY_MS		30000
#define TASK_STALE_MS		(60 * 60 * 1000)
/* Longer than an agent takes to close (agent_closing). */
#define HANDOFF_WAIT_MS		(AGENT_CLOSE_MS + 2 * AGENT_TICK_MAX_MS + 2000)

enum agent_state {
	A_IDLE,		/* no connection */
	A_QUEUING,	/* connecting, or queued, for a_task: nothing shown */
	A_MATCHED,	/* opening the window */
	A_CHAT,		/* the window is attached */
	A_LEAVING	/* done sent, waiting for the server's close */
};

struct agent;

struct agent_peer {
	struct ipc_peer		 ap_ipc;
	struct agent		*ap_agent;
	struct event		*ap_timer;
	int			 ap_closed;	/* freed on the next turn */
	TAILQ_ENTRY(agent_peer)	 ap_entry;
};
TAILQ_HEAD(agent_peers, agent_peer);

struct agent {
	struct event_base	*a_base;
	struct evdns_base	*a_dns;
	struct ssl_ctx_st	*a_ctx;
	struct url		 a_url;
	char			 a_urltext[1024];
	int			 a_urlok;
	char			 a_self[PATH_MAX];
	char			 a_sock[PATH_MAX];
	uint8_t			 a_salt[SALT_LEN];
	int			 a_lockfd;
	int			 a_listenfd;

	struct event		*a_accept_ev;
	struct event		*a_tick_ev;
	struct event		*a_reap_ev;
	struct event		*a_attach_ev;
	struct event		*a_sig_ev[4];

	enum agent_state	 a_state;
	struct session		*a_session;
	struct session		*a_dead;	/* freed on the next turn */
	struct task		*a_task;	/* whose key the session uses */
	struct window		 a_win;
	struct agent_peer	*a_window;
	struct agent_peers	 a_peers;
	int			 a_npeers;
	struct tasklist		 a_tasks;

	uint64_t		 a_delay_ms;
	uint64_t		 a_beat_ms;
	uint64_t		 a_grow_ms;	/* "still growing": within this */
	uint64_t		 a_retry_at;
	int			 a_backoff_ms;
	uint64_t		 a_idle_since;
	uint64_t		 a_idle_ms;
	uint64_t		 a_attach_ms;	/* from matched to the window */
	uint64_t		 a_pause_ms;	/* tests: a slow agent closing */
	uint64_t		 a_closing;	/* when the socket's name went */
	int			 a_reopen;	/* someone came while closing */
	int			 a_stopping;
	char			 a_last[512];	/* what went wrong last */
};

static int	agent_exec(int, char **, const char *);
static void	agent_setup(struct agent *);
static int	agent_lock(struct agent *);
static void	agent_pid(struct agent *);
static int	agent_listen(struct agent *);
static int	agent_handoff(uint8_t *, size_t, size_t *);
static void	agent_forward(struct agent *, const uint8_t *, size_t);
static void	agent_accept(evutil_socket_t, short, void *);
static int	agent_take(struct agent *, int);
static void	agent_closing(struct agent *);
static void	agent_close(struct agent *);
static void	agent_reopen(struct agent *);
static void	agent_peer_timeout(evutil_socket_t, short, void *);
static void	agent_peer_close(struct agent_peer *);
static void	agent_peer_lost(struct ipc_peer *, void *);
static void	agent_dispatch(struct ipc_peer *, struct ipc_hdr *, uint8_t *,
		    void *);
static void	agent_message(struct agent *, struct agent_peer *, uint32_t,
		    const uint8_t *, size_t);
static void	agent_task_start(struct agent *, const uint8_t *, size_t);
static void	agent_task_stop(struct agent *, const uint8_t *, size_t);
static void	agent_status(struct agent *, struct agent_peer *);
static void	agent_attach(struct agent *, struct agent_peer *);
static void	agent_tick(evutil_socket_t, short, void *);
static void	agent_queue(struct agent *, struct task *);
static void	agent_leave(struct agent *, const char *);
static void	agent_teardown(struct agent *);
static void	agent_spend(struct agent *);
static void	agent_reap(evutil_socket_t, short, void *);
static int	agent_session_hook(struct session *, enum session_event);
static int	agent_beat_ok(struct session *);
static void	agent_window(struct agent *);
static void	agent_attach_timeout(evutil_socket_t, short, void *);
static void	agent_signal(evutil_socket_t, short, void *);
static void	agent_children(struct agent *);
static void	agent_exit_window(struct agent *, int, const char *);
static void	agent_ui_line(void *, const struct line *);
static void	agent_ui_status(void *, const char *);
static void	agent_ui_mark(void *, uint32_t, int);
static uint64_t	agent_env_ms(const char *, uint64_t, uint64_t, uint64_t);
static void	agent_arm(struct event *, uint64_t);

const struct client_cmd cmd_agent_entry = {
	.cc_name = "agent",
	.cc_usage = "agent [-d]",
	.cc_argmax = 2,
	.cc_exec = agent_exec,
};

static void
agent_arm(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* A setting for tests, in milliseconds; the default if unset or bad. */
static uint64_t
agent_env_ms(const char *name, uint64_t def, uint64_t min, uint64_t max)
{
	const char	*v = getenv(name);
	uint64_t	 ms;

	if (v == NULL || str_to_u64(v, min, max, &ms) == -1)
		return (def);
	return (ms);
}

/* The task a hook handed over on AGENT_HANDOFF_FD, if any. */
static int
agent_handoff(uint8_t *buf, size_t len, size_t *got)
{
	struct ipc_hdr	 hdr;
	ssize_t		 n;

	*got = 0;
	while (*got < len) {
		n = read(AGENT_HANDOFF_FD, buf + *got, len - *got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*got += n;
	}
	close(AGENT_HANDOFF_FD);
	if (ipc_decode(buf, *got, &hdr) != 1 ||
	    *got != IPC_HDR_SIZE + hdr.ih_len)
		*got = 0;
	return (*got > 0 ? 0 : -1);
}

/* 0: the lock is ours; 1: another agent has it; -1: cannot tell. */
static int
agent_lock(struct agent *a)
{
	char	path[PATH_MAX];

	if (rundir_path(path, sizeof(path), AGENT_LOCK, 1) == -1)
		return (-1);
	if (a->a_lockfd == -1 && (a->a_lockfd = open(path, O_RDWR | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return (-1);
	if (flock(a->a_lockfd, LOCK_EX | LOCK_NB) == -1)
		return (errno == EWOULDBLOCK ? 1 : -1);
	return (0);
}

/* The lock file says who holds it (after daemon(), which forks). */
static void
agent_pid(struct agent *a)
{
	char	pid[32];
	int	n;

	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(a->a_lockfd, 0) == -1 ||
	    pwrite(a->a_lockfd, pid, n, 0) != n)
		log_warn("%s", __func__);
}

/* Another agent won the race: give it our task, or take over. */
static void
agent_forward(struct agent *a, const uint8_t *msg, size_t len)
{
	uint64_t	deadline = mono_ms() + HANDOFF_WAIT_MS;
	int		fd;

	while (mono_ms() < deadline) {
		if ((fd = agent_connect(a->a_sock)) != -1) {
			agent_write(fd, msg, len, deadline);
			close(fd);
			exit(0);
		}
		if (agent_lock(a) == 0)
			return;
		usleep(20 * 1000);
	}
	exit(0);
}

/* A listening socket at a_sock, or -1. */
static int
agent_listen(struct agent *a)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd, r;

	if (agent_sockaddr(&sun, a->a_sock) == -1 ||
	    (fd = sock_local()) == -1) {
		log_warn("%s: %s", __func__, a->a_sock);
		return (-1);
	}
	/* The lock is ours: a socket left there is a dead agent's. */
	unlink(a->a_sock);
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1 || chmod(a->a_sock, 0600) == -1 || listen(fd, 16) == -1) {
		log_warn("%s: %s", __func__, a->a_sock);
		close(fd);
		return (-1);
	}
	return (fd);
}

/* What does not change while the agent runs: the server and the salt. */
static void
agent_setup(struct agent *a)
{
	const char	*err;
	char		 buf[256];
	int		 recorded;

	config_url(a->a_urltext, sizeof(a->a_urltext), &recorded);
	if (url_parse(a->a_urltext, &a->a_url, &err) == -1)
		snprintf(a->a_last, sizeof(a->a_last), "the server URL is "
		    "not valid: %s", err);
	else if (!a->a_url.u_tls && !url_host_loopback(a->a_url.u_host))
		snprintf(a->a_last, sizeof(a->a_last), "ws:// is only "
		    "allowed to this machine; run devroulette init wss://...");
	else if (a->a_url.u_tls && (a->a_ctx = tls_ctx_new(buf,
	    sizeof(buf))) == NULL)
		snprintf(a->a_last, sizeof(a->a_last), "%s", buf);
	else
		a->a_urlok = 1;
	if (config_salt(a->a_salt, sizeof(a->a_salt), 1) == -1)
		fatal("cannot read or make the salt");
	a->a_delay_ms = agent_env_ms("DEVROULETTE_TASK_DELAY_MS",
	    TASK_DELAY_MS, 0, 86400000);
	a->a_beat_ms = agent_env_ms("DEVROULETTE_BEAT_MS", BEAT_INTERVAL_MS,
	    100, 60000);
	a->a_grow_ms = 2 * a->a_beat_ms;
	a->a_idle_ms = agent_env_ms("DEVROULETTE_IDLE_MS", AGENT_IDLE_MS, 100,
	    86400000);
	a->a_attach_ms = agent_env_ms("DEVROULETTE_ATTACH_MS",
	    WINDOW_ATTACH_MS, 100, 600000);
	a->a_pause_ms = agent_env_ms("DEVROULETTE_IDLE_PAUSE_MS", 0, 0, 60000);
}

static int
agent_exec(int argc, char **argv, const char *prog)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct agent		 a;
	uint8_t			 msg[IPC_HDR_SIZE + AGENT_MSG_MAX];
	size_t			 msglen = 0, i;
	int			 debug = 0, handoff = 0, r;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "-d") == 0)
			debug = 1;
		else if (strcmp(argv[i], "--handoff") == 0)
			handoff = 1;
		else {
			fprintf(stderr, "usage: devroulette agent [-d]\n");
			return (1);
		}
	}
	if (handoff && agent_handoff(msg, sizeof(msg), &msglen) == -1)
		return (0);
	log_init(debug, LOG_USER);
	if (!debug)
		openlog("devroulette", LOG_PID | LOG_NDELAY, LOG_USER);
	signal(SIGPIPE, SIG_IGN);
	/* The chat's text is kept as wide characters: UTF-8 is needed. */
	if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0 &&
	    setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		setlocale(LC_CTYPE, "UTF-8");	/* macOS */

	memset(&a, 0, sizeof(a));
	a.a_lockfd = a.a_listenfd = -1;
	TAILQ_INIT(&a.a_peers);
	TAILQ_INIT(&a.a_tasks);
	if (rundir_path(a.a_sock, sizeof(a.a_sock), AGENT_SOCK, 1) == -1) {
		log_warn("no private runtime directory");
		return (handoff ? 0 : 1);
	}
	if ((r = agent_lock(&a)) == -1) {
		log_warn("agent lock");
		return (handoff ? 0 : 1);
	}
	if (r == 1) {
		if (!handoff) {
			fprintf(stderr, "devroulette: an agent is already "
			    "running\n");
			return (1);
		}
		agent_forward(&a, msg, msglen);
	}
	if (self_path(a.a_self, sizeof(a.a_self), prog) == -1)
		fatalx("cannot tell where this program is installed");
	/* Started in a project's directory: do not keep it busy. */
	if (chdir("/") == -1)
		fatal("chdir /");
	if (!debug && !handoff && detach() == -1)
		fatal("cannot go into the background");
	agent_pid(&a);
	agent_setup(&a);
	if ((a.a_listenfd = agent_listen(&a)) == -1)
		fatalx("cannot listen on %s", a.a_sock);

	if ((a.a_base = event_base_new()) == NULL)
		fatalx("cannot start the event loop");
	if ((a.a_dns = evdns_base_new(a.a_base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (a.a_dns = evdns_base_new(a.a_base, 0)) == NULL)
		fatalx("cannot start the resolver");
	ui_headless();
	a.a_accept_ev = event_new(a.a_base, a.a_listenfd, EV_READ |
	    EV_PERSIST, agent_accept, &a);
	a.a_tick_ev = event_new(a.a_base, -1, EV_PERSIST, agent_tick, &a);
	a.a_reap_ev = evtimer_new(a.a_base, agent_reap, &a);
	a.a_attach_ev = evtimer_new(a.a_base, agent_attach_timeout, &a);
	if (a.a_accept_ev == NULL || a.a_tick_ev == NULL ||
	    a.a_reap_ev == NULL || a.a_attach_ev == NULL ||
	    event_add(a.a_accept_ev, NULL) == -1)
		fatalx("%s: out of memory", __func__);
	agent_arm(a.a_tick_ev, a.a_beat_ms / 4 < 50 ? 50 :
	    a.a_beat_ms / 4 > AGENT_TICK_MAX_MS ? AGENT_TICK_MAX_MS :
	    a.a_beat_ms / 4);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		a.a_sig_ev[i] = evsignal_new(a.a_base, sigs[i], agent_signal,
		    &a);
		if (a.a_sig_ev[i] == NULL || event_add(a.a_sig_ev[i], NULL) ==
		    -1)
			fatalx("%s: cannot watch signals", __func__);
	}
	a.a_idle_since = mono_ms();
	log_info("agent started (delay %llu ms)",
	    (unsigned long long)a.a_delay_ms);
	if (msglen > 0) {
		struct ipc_hdr	hdr;

		if (ipc_decode(msg, msglen, &hdr) == 1 &&
		    hdr.ih_peerid == AGENT_VERSION)
			agent_message(&a, NULL, hdr.ih_type,
			    msg + IPC_HDR_SIZE, hdr.ih_len);
	}

	event_base_dispatch(a.a_base);

	log_info("agent exiting");
	/* Nobody new: the last turn below only frees what is closed. */
	event_del(a.a_accept_ev);
	unlink(a.a_sock);
	if (a.a_session != NULL) {
		session_free(a.a_session);
		free(a.a_session);
	}
	if (a.a_dead != NULL) {
		session_free(a.a_dead);
		free(a.a_dead);
	}
	while (!TAILQ_EMPTY(&a.a_peers))
		agent_peer_close(TAILQ_FIRST(&a.a_peers));
	while (!TAILQ_EMPTY(&a.a_tasks)) {
		struct task *t = TAILQ_FIRST(&a.a_tasks);

		TAILQ_REMOVE(&a.a_tasks, t, t_entry);
		task_free(t);
	}
	ui_clear();
	event_base_loop(a.a_base, EVLOOP_NONBLOCK);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(a.a_sig_ev[i]);
	event_free(a.a_accept_ev);
	event_free(a.a_tick_ev);
	event_free(a.a_reap_ev);
	event_free(a.a_attach_ev);
	evdns_base_free(a.a_dns, 0);
	event_base_free(a.a_base);
	if (a.a_ctx != NULL)
		SSL_CTX_free(a.a_ctx);
	close(a.a_listenfd);
	close(a.a_lockfd);
	explicit_bzero(a.a_salt, sizeof(a.a_salt));
	return (0);
}

/* --- peers: hooks, status, the window ----------------------------------- */

static void
agent_accept(evutil_socket_t fd, short ev, void *arg)
{
	agent_take(arg, fd);
}

/* One connection from the backlog of fd; 0 if none was waiting. */
static int
agent_take(struct agent *a, int fd)
{
	struct agent_peer	*ap;
	uid_t			 uid;
	int			 s;

	if ((s = sock_accept(fd)) == -1)
		return (0);
	/* The directory is private already; the kernel says who it is. */
	if (sock_peer_uid(s, &uid) == -1 || uid != getuid() ||
	    a->a_npeers >= AGENT_PEERS_MAX) {
		close(s);
		return (1);
	}
	ap = xcalloc(1, sizeof(*ap));
	ap->ap_agent = a;
	ipc_peer_init(&ap->ap_ipc, a->a_base, s, "agent peer",
	    agent_dispatch, ap);
	ap->ap_ipc.ip_untrusted = 1;
	ap->ap_ipc.ip_lost = agent_peer_lost;
	ap->ap_timer = evtimer_new(a->a_base, agent_peer_timeout, ap);
	if (ap->ap_timer == NULL)
		fatalx("%s: out of memory", __func__);
	agent_arm(ap->ap_timer, PEER_TIMEOUT_MS);
	TAILQ_INSERT_TAIL(&a->a_peers, ap, ap_entry);
	a->a_npeers++;
	a->a_idle_since = mono_ms();
	if (a->a_closing != 0)
		a->a_reopen = 1;
	return (1);
}

/*
 * Idle long enough: the socket's name goes first, so that a hook from now
 * on finds no agent and starts one, which waits for our lock
 * (agent_forward).  A hook that found the name just before may still be
 * connecting and writing: the socket is kept, nameless, for
 * AGENT_CLOSE_MS, far longer than a hook may live (its watchdog,
 * HOOK_WATCHDOG_MS), and anyone who comes in that time keeps the agent
 * (agent_reopen).  So no hook's task falls between two agents.
 */
static void
agent_closing(struct agent *a)
{
	uint64_t	until;

	log_info("idle for %llu s: closing",
	    (unsigned long long)a->a_idle_ms / 1000);
	/* Tests: an agent that is slow between its decision and unlink. */
	until = mono_ms() + a->a_pause_ms;
	while (mono_ms() < until)
		poll(NULL, 0, (int)(until - mono_ms()));
	unlink(a->a_sock);
	log_debug("%s: the socket has no name now", __func__);
	a->a_closing = mono_ms();
}

/* The last look at the backlog, then exit, unless someone came. */
static void
agent_close(struct agent *a)
{
	while (agent_take(a, a->a_listenfd))
		;
	if (a->a_reopen)
		agent_reopen(a);
	else
		event_base_loopexit(a->a_base, NULL);
}

/* Not idle any more: the agent stays, under its socket's name again. */
static void
agent_reopen(struct agent *a)
{
	int	old = a->a_listenfd, fd;

	a->a_reopen = 0;
	if ((fd = agent_listen(a)) == -1) {
		/* Nameless: it serves who it has, then exits when idle. */
		a->a_closing = mono_ms();
		return;
	}
	log_info("not idle any more: staying");
	a->a_closing = 0;
	/* The name is bound again: what is left in the old backlog is ours. */
	while (agent_take(a, old))
		;
	event_free(a->a_accept_ev);
	close(old);
	a->a_listenfd = fd;
	if ((a->a_accept_ev = event_new(a->a_base, fd, EV_READ | EV_PERSIST,
	    agent_accept, a)) == NULL || event_add(a->a_accept_ev, NULL) == -1)
		fatalx("%s: out of memory", __func__);
}

/*
 * Safe from the peer's own callbacks: the socket goes now, the memory on
 * the next turn (ipc_readcb still looks at the peer when we return).
 */
static void
agent_peer_close(struct agent_peer *ap)
{
	struct agent	*a = ap->ap_agent;

	if (ap->ap_closed)
		return;
	if (a->a_window == ap) {
		a->a_window = NULL;
		ui_setsink(NULL);
	}
	TAILQ_REMOVE(&a->a_peers, ap, ap_entry);
	a->a_npeers--;
	ipc_peer_free(&ap->ap_ipc);
	ap->ap_closed = 1;
	agent_arm(ap->ap_timer, 0);
}

static void
agent_peer_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_peer	*ap = arg;

	if (!ap->ap_closed) {
		agent_peer_close(ap);
		return;
	}
	event_free(ap->ap_timer);
	free(ap);
}

/* A peer went away; the window going away ends the chat. */
static void
agent_peer_lost(struct ipc_peer *p, void *arg)
{
	struct agent_peer	*ap = arg;
	struct agent		*a = ap->ap_agent;
	int			 window = a->a_window == ap;

	agent_peer_close(ap);
	if (window && a->a_session != NULL) {
		log_info("the chat window was closed");
		agent_leave(a, NULL);
	}
}

static void
agent_dispatch(struct ipc_peer *p, struct ipc_hdr *hdr, uint8_t *buf,
    void *arg)
{
	struct agent_peer	*ap = arg;

	if (hdr->ih_peerid != AGENT_VERSION || hdr->ih_len > AGENT_MSG_MAX) {
		log_warnx("a peer speaks another version (%llu); dropped",
		    (unsigned long long)hdr->ih_peerid);
		agent_peer_close(ap);
		return;
	}
	agent_message(ap->ap_agent, ap, hdr->ih_type, buf, hdr->ih_len);
}

/* One message; ap is NULL for the task a hook handed over at start. */
static void
agent_message(struct agent *a, struct agent_peer *ap, uint32_t type,
    const uint8_t *p, size_t len)
{
	a->a_idle_since = mono_ms();
	switch (type) {
	case AGENT_TASK_START:
		agent_task_start(a, p, len);
		break;
	case AGENT_TASK_STOP:
		agent_task_stop(a, p, len);
		break;
	case AGENT_STATUS:
		if (ap != NULL)
			agent_status(a, ap);
		return;
	case AGENT_ATTACH:
		if (ap != NULL)
			agent_attach(a, ap);
		return;
	case AGENT_INPUT:
		if (ap == NULL || ap != a->a_window || a->a_session == NULL)
			break;
		if (len <= INPUT_MAX_CP * 4 && utf8_valid(p, len) &&
		    memchr(p, '\0', len) == NULL) {
			uint8_t *text = xmalloc(len + 1);

			memcpy(text, p, len);
			text[len] = '\0';
			cmd_line(a->a_session, text, len);
			free(text);
		}
		return;
	case AGENT_LEAVE:
		if (ap != NULL && ap == a->a_window && a->a_session != NULL) {
			a->a_state = A_LEAVING;
			session_quit(a->a_session);
		}
		return;
	default:
		log_warnx("unknown message %u from a peer; dropped", type);
		break;
	}
	/* Hooks say one thing and go. */
	if (ap != NULL && ap != a->a_window)
		agent_peer_close(ap);
}

/* --- tasks ---------------------------------------------------------------- */

static void
agent_task_start(struct agent *a, const uint8_t *p, size_t len)
{
	struct task	*t, *old;
	size_t		 i;

	if ((t = task_new(a->a_salt, sizeof(a->a_salt), p, len)) == NULL) {
		log_warnx("a malformed task; ignored");
		return;
	}
	if ((old = task_find(&a->a_tasks, t->t_key)) != NULL) {
		/* A new prompt in the same Claude session. */
		free(old->t_path);
		old->t_path = t->t_path;
		t->t_path = NULL;
		for (i = 0; i < TASK_ENV_MAX; i++) {
			free(old->t_env[i]);
			old->t_env[i] = t->t_env[i];
			t->t_env[i] = NULL;
		}
		if (old != a->a_task) {
			old->t_start = t->t_start;
			old->t_grew = 0;
		}
		old->t_stopped = old->t_spent = 0;
		task_free(t);
		log_debug("task again");
		return;
	}
	TAILQ_INSERT_TAIL(&a->a_tasks, t, t_entry);
	log_debug("task started");
}

static void
agent_task_stop(struct agent *a, const uint8_t *p, size_t len)
{
	struct task	*t;
	char		 key[MATCH_KEY_HEX + 1];

	if (len == 0 || p[len - 1] != '\0' || strlen((const char *)p) + 1 !=
	    len)
		return;
	task_key(a->a_salt, sizeof(a->a_salt), (const char *)p, key);
	if ((t = task_find(&a->a_tasks, key)) == NULL)
		return;
	t->t_stopped = 1;
	log_debug("task stopped");
	if (t == a->a_task && a->a_state == A_QUEUING)
		agent_leave(a, "the task ended before a partner was found");
}

/* Every tick: look at the transcripts, forget old tasks, maybe queue. */
static void
agent_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct agent	*a = arg;
	struct task	*t, *next, *pick = NULL;
	uint64_t	 now = mono_ms();
	int		 busy;

	for (t = TAILQ_FIRST(&a->a_tasks); t != NULL; t = next) {
		next = TAILQ_NEXT(t, t_entry);
		task_poll(t, now);
		if (t != a->a_task && (t->t_stopped || now - (t->t_grew != 0 ?
		    t->t_grew : t->t_start) > TASK_STALE_MS)) {
			TAILQ_REMOVE(&a->a_tasks, t, t_entry);
			task_free(t);
			continue;
		}
		if (pick == NULL && !t->t_spent && !t->t_stopped &&
		    now - t->t_start >= a->a_delay_ms &&
		    task_growing(t, now, a->a_grow_ms) && window_can_show(t))
			pick = t;
	}
	if (a->a_state == A_IDLE && pick != NULL && a->a_dead == NULL &&
	    now >= a->a_retry_at && a->a_urlok && !a->a_stopping &&
	    terms_accepted())
		agent_queue(a, pick);

	busy = a->a_state != A_IDLE || !TAILQ_EMPTY(&a->a_tasks) ||
	    a->a_npeers > 0;
	if (a->a_closing != 0 && (busy || a->a_reopen)) {
		agent_reopen(a);
		a->a_idle_since = mono_ms();
		return;
	}
	if (busy)
		a->a_idle_since = now;
	else if (a->a_closing != 0) {
		if (now - a->a_closing >= AGENT_CLOSE_MS)
			agent_close(a);
	} else if (now - a->a_idle_since >= a->a_idle_ms)
		agent_closing(a);
}

/* --- the connection ------------------------------------------------------ */

static void
agent_queue(struct agent *a, struct task *t)
{
	struct session	*s;

	log_info("a long task: looking for a partner");
	s = xcalloc(1, sizeof(*s));
	session_init(s, a->a_base, a->a_dns, a->a_ctx, &a->a_url, 0, 0);
	s->s_task = 1;
	strlcpy(s->s_key, t->t_key, sizeof(s->s_key));
	s->s_beat_ms = (int)a->a_beat_ms;
	s->s_beat_ok = agent_beat_ok;
	s->s_hook = agent_session_hook;
	s->s_arg = a;
	a->a_session = s;
	a->a_task = t;
	a->a_state = A_QUEUING;
	ui_clear();
	session_start(s);
}

/* While nothing is shown, beats follow the transcript. */
static int
agent_beat_ok(struct session *s)
{
	struct agent	*a = s->s_arg;
	uint64_t	 now = mono_ms();

	if (a->a_state != A_QUEUING || a->a_task == NULL)
		return (1);
	task_poll(a->a_task, now);
	if (task_growing(a->a_task, now, a->a_grow_ms))
		return (1);
	log_debug("transcript not growing: no beat");
	return (0);
}

/* Say done (if there is a server to say it to) and wait for its close. */
static void
agent_leave(struct agent *a, const char *why)
{
	if (a->a_session == NULL)
		return;
	if (why != NULL)
		log_info("%s: leaving", why);
	a->a_state = A_LEAVING;
	session_quit(a->a_session);
}

/* Every task known now has had its chance. */
static void
agent_spend(struct agent *a)
{
	struct task	*t;

	for (t = TAILQ_FIRST(&a->a_tasks); t != NULL; t = TAILQ_NEXT(t,
	    t_entry))
		t->t_spent = 1;
}

/* The session is over: its memory goes on the next turn. */
static void
agent_teardown(struct agent *a)
{
	/* Closing the chat ends it for the tasks running now too. */
	if (a->a_state == A_MATCHED || a->a_state == A_CHAT ||
	    (a->a_state == A_LEAVING && a->a_window != NULL))
		agent_spend(a);
	if (a->a_session != NULL) {
		a->a_dead = a->a_session;
		a->a_session = NULL;
		agent_arm(a->a_reap_ev, 0);
	}
	evtimer_del(a->a_attach_ev);
	a->a_task = NULL;
	a->a_state = A_IDLE;
	a->a_idle_since = mono_ms();
	ui_setsink(NULL);
	ui_clear();
	memset(&a->a_win, 0, sizeof(a->a_win));
	if (a->a_stopping)
		event_base_loopexit(a->a_base, NULL);
}

static void
agent_reap(evutil_socket_t fd, short ev, void *arg)
{
	struct agent	*a = arg;

	if (a->a_dead != NULL) {
		session_free(a->a_dead);
		free(a->a_dead);
		a->a_dead = NULL;
	}
}

static int
agent_session_hook(struct session *s, enum session_event ev)
{
	struct agent	*a = s->s_arg;

	switch (ev) {
	case SE_MATCHED:
		log_info("matched: opening the chat window");
		agent_spend(a);
		/* What came before was never meant to be seen. */
		ui_clear();
		a->a_state = A_MATCHED;
		memset(&a->a_win, 0, sizeof(a->a_win));
		agent_window(a);
		/* Once: the next way to open it does not give more time. */
		if (a->a_state == A_MATCHED)
			agent_arm(a->a_attach_ev, a->a_attach_ms);
		return (1);
	case SE_LOST:
		if (a->a_state != A_QUEUING)
			return (0);	/* the chat retries as usual */
		snprintf(a->a_last, sizeof(a->a_last), "%s", s->s_why);
		log_info("%s", s->s_why);
		a->a_retry_at = mono_ms() + a->a_backoff_ms;
		a->a_backoff_ms = a->a_backoff_ms == 0 ? BACKOFF_MIN_MS :
		    a->a_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    a->a_backoff_ms * 2;
		agent_teardown(a);
		return (1);
	case SE_FINISHED:
		if (s->s_exit != 0) {
			snprintf(a->a_last, sizeof(a->a_last), "%s",
			    s->s_fatal);
			log_warnx("%s", s->s_fatal);
			/* It will not go away by itself: not for these. */
			agent_spend(a);
		} else
			a->a_backoff_ms = 0;
		agent_exit_window(a, s->s_exit, s->s_fatal);
		agent_teardown(a);
		return (1);
	}
	return (0);
}

/* --- the window ---------------------------------------------------------- */

static void
agent_window(struct agent *a)
{
	char	*cmd[5];

	cmd[0] = a->a_self;
	cmd[1] = (char *)"chat";
	cmd[2] = (char *)"--attach";
	cmd[3] = a->a_sock;
	cmd[4] = NULL;
	if (a->a_task == NULL || window_open(&a->a_win, a->a_task, cmd) ==
	    -1) {
		snprintf(a->a_last, sizeof(a->a_last), "no chat window could "
		    "be opened");
		log_warnx("%s", a->a_last);
		agent_leave(a, NULL);
	}
}

static void
agent_attach_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct agent	*a = arg;

	if (a->a_state != A_MATCHED)
		return;
	snprintf(a->a_last, sizeof(a->a_last), "the chat window did not "
	    "come up");
	log_warnx("%s", a->a_last);
	agent_leave(a, NULL);
}

/* A launcher that failed before the window attached: the next way. */
static void
agent_children(struct agent *a)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != a->a_win.w_pid)
			continue;
		a->a_win.w_pid = 0;
		if (a->a_state != A_MATCHED || (WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0))
			continue;
		log_info("a way to open the window failed; trying the next");
		agent_window(a);
	}
}

static void
agent_attach(struct agent *a, struct agent_peer *ap)
{
	struct ui_sink	sink = { agent_ui_line, agent_ui_status,
			    agent_ui_mark, a };

	if (ap == a->a_window)
		return;
	if ((a->a_state != A_MATCHED && a->a_state != A_CHAT) ||
	    a->a_window != NULL || a->a_session == NULL) {
		struct agent_exit ae = { 1 };
		const char *why = "there is no chat to show: devroulette "
		    "opens this window by itself when a partner is found";

		ipc_sendv(&ap->ap_ipc, AGENT_UI_EXIT, AGENT_VERSION, &ae,
		    sizeof(ae), why, strlen(why));
		ipc_flush(&ap->ap_ipc);
		agent_peer_close(ap);
		return;
	}
	log_info("the chat window is attached");
	evtimer_del(ap->ap_timer);
	evtimer_del(a->a_attach_ev);
	a->a_window = ap;
	a->a_state = A_CHAT;
	ui_setsink(&sink);
	ui_replay();
}

/* The session ended with the window open: tell it, then let it go. */
static void
agent_exit_window(struct agent *a, int status, const char *why)
{
	struct agent_peer	*ap = a->a_window;
	struct agent_exit	 ae;

	if (ap == NULL)
		return;
	ae.ae_status = status;
	ipc_sendv(&ap->ap_ipc, AGENT_UI_EXIT, AGENT_VERSION, &ae, sizeof(ae),
	    why, strlen(why));
	ipc_flush(&ap->ap_ipc);
	agent_peer_close(ap);
}

/* struct agent_line, the name, then the text as UTF-8. */
static void
agent_ui_line(void *arg, const struct line *l)
{
	struct agent		*a = arg;
	struct agent_line	 al;
	uint8_t			*buf;
	size_t			 i, n, wl = strlen(l->l_who);

	if (a->a_window == NULL)
		return;
	buf = xmalloc(sizeof(al) + wl + l->l_len * 4 + 1);
	memset(&al, 0, sizeof(al));
	al.al_id = l->l_id;
	al.al_kind = (uint8_t)l->l_kind;
	al.al_pending = (int8_t)l->l_pending;
	al.al_wholen = (uint8_t)wl;
	memcpy(buf, &al, sizeof(al));
	memcpy(buf + sizeof(al), l->l_who, wl);
	n = sizeof(al) + wl;
	for (i = 0; i < l->l_len && n + 4 <= AGENT_MSG_MAX; i++)
		n += utf8_encode((uint32_t)l->l_text[i], buf + n);
	ipc_send(&a->a_window->ap_ipc, AGENT_UI_LINE, AGENT_VERSION, buf, n);
	free(buf);
}

static void
agent_ui_status(void *arg, const char *text)
{
	struct agent	*a = arg;

	if (a->a_window != NULL)
		ipc_send(&a->a_window->ap_ipc, AGENT_UI_STATUS, AGENT_VERSION,
		    text, strlen(text));
}

static void
agent_ui_mark(void *arg, uint32_t id, int pending)
{
	struct agent		*a = arg;
	struct agent_mark	 am;

	if (a->a_window == NULL)
		return;
	am.am_id = id;
	am.am_pending = pending;
	ipc_send(&a->a_window->ap_ipc, AGENT_UI_MARK, AGENT_VERSION, &am,
	    sizeof(am));
}

/* --- status and signals -------------------------------------------------- */

static void
agent_status(struct agent *a, struct agent_peer *ap)
{
	static const char *const states[] = {
		"idle",
		"looking for a partner",
		"a partner was found: opening the chat window",
		"chatting (the window is open)",
		"leaving"
	};
	struct task	*t;
	uint64_t	 now = mono_ms();
	char		 line[640];
	int		 n = 0, waiting;

	snprintf(line, sizeof(line), "agent: running (pid %ld): %s",
	    (long)getpid(), states[a->a_state]);
	if (a->a_state == A_QUEUING && a->a_session != NULL) {
		waiting = a->a_session->s_waiting;
		if (a->a_session->s_state == S_QUEUED && waiting > 0)
			snprintf(line + strlen(line), sizeof(line) -
			    strlen(line), " (%d waiting)", waiting);
	}
	ipc_send(&ap->ap_ipc, AGENT_STATUS_LINE, AGENT_VERSION, line,
	    strlen(line));
	for (t = TAILQ_FIRST(&a->a_tasks); t != NULL; t = TAILQ_NEXT(t,
	    t_entry)) {
		snprintf(line, sizeof(line), "task %d: started %llu s ago, "
		    "transcript %s%s%s%s", ++n, (unsigned long long)(now -
		    t->t_start) / 1000, t->t_missing ? "missing" :
		    task_growing(t, now, a->a_grow_ms) ? "growing" :
		    "not growing", t->t_stopped ? ", stopped" : "",
		    t->t_spent ? ", done with" : "",
		    window_can_show(t) ? "" : ", no window can be shown");
		ipc_send(&ap->ap_ipc, AGENT_STATUS_LINE, AGENT_VERSION, line,
		    strlen(line));
	}
	if (!terms_accepted()) {
		snprintf(line, sizeof(line), "the terms are not accepted: run "
		    "devroulette init");
		ipc_send(&ap->ap_ipc, AGENT_STATUS_LINE, AGENT_VERSION, line,
		    strlen(line));
	}
	if (a->a_last[0] != '\0') {
		snprintf(line, sizeof(line), "last problem: %s", a->a_last);
		ipc_send(&ap->ap_ipc, AGENT_STATUS_LINE, AGENT_VERSION, line,
		    strlen(line));
	}
	ipc_send(&ap->ap_ipc, AGENT_STATUS_END, AGENT_VERSION, NULL, 0);
}

static void
agent_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct agent	*a = arg;

	switch (sig) {
	case SIGCHLD:
		agent_children(a);
		break;
	case SIGHUP:
		break;
	default:
		a->a_stopping = 1;
		if (a->a_session == NULL)
			event_base_loopexit(a->a_base, NULL);
		else
			agent_leave(a, "asked to stop");
		break;
	}
}
