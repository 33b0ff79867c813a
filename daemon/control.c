/*
 * The control socket devroulettectl(8) talks to.  The parent opens it before
 * any privilege is dropped; each request is checked like any other input,
 * a few clients at most are served, and each is gone after a short time
 * whatever it does.  Answers are aggregates only: no address ever leaves.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "devrouletted.h"

#define CTL_TIMEOUT_S	10

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 cc_entry;
	uint64_t		 cc_id;
	struct ipc_peer		 cc_peer;
	struct event		*cc_timer;
	int			 cc_pending;	/* child answers awaited */
	uint32_t		 cc_type;	/* request being answered */
	struct ctl_stats	 cc_stats;
};

TAILQ_HEAD(ctl_conns, ctl_conn);

static struct {
	struct event_base	*c_base;
	struct event		*c_ev;
	struct ipc_peer		*c_front[PREFORK_MAX];
	int			 c_nfronts;
	struct ipc_peer		*c_matcher;
	uint64_t		 c_started;
	uint64_t		 c_nextid;
	int			 c_nclients;
	struct ctl_conns	 c_conns;
} control;

static void	control_accept(evutil_socket_t, short, void *);
static void	control_dispatch(struct ipc_peer *, struct ipc_hdr *,
		    uint8_t *, void *);
static void	control_lost(struct ipc_peer *, void *);
static void	control_timeout(evutil_socket_t, short, void *);
static void	control_close(struct ctl_conn *);

/*
 * Called as root before the children exist.  A live daemon already on the
 * path is not displaced; a stale socket file is replaced.
 */
int
control_init(const char *path, const char *group)
{
	struct sockaddr_un	 sun;
	struct group		*gr;
	mode_t			 old;
	int			 fd, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("CONTROL_SOCKET: path too long");
	if ((probe = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		fatal("%s: socket", __func__);
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("CONTROL_SOCKET: %s: another devrouletted is running",
		    path);
	close(probe);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("CONTROL_SOCKET: unlink %s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		fatal("%s: socket", __func__);
	old = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("CONTROL_SOCKET: bind %s", path);
	umask(old);
	if (geteuid() == 0 && (gr = getgrnam(group)) != NULL &&
	    chown(path, 0, gr->gr_gid) == -1)
		fatal("CONTROL_SOCKET: chown %s", path);
	if (chmod(path, 0660) == -1)
		fatal("CONTROL_SOCKET: chmod %s", path);
	if (listen(fd, CTL_MAX_CLIENTS) == -1)
		fatal("CONTROL_SOCKET: listen");
	return (fd);
}

void
control_start(struct event_base *base, int fd, struct ipc_peer **fronts,
    int nfronts, struct ipc_peer *matcher)
{
	int	 i;

	control.c_base = base;
	for (i = 0; i < nfronts; i++)
		control.c_front[i] = fronts[i];
	control.c_nfronts = nfronts;
	control.c_matcher = matcher;
	control.c_started = mono_ms();
	TAILQ_INIT(&control.c_conns);
	control.c_ev = event_new(base, fd, EV_READ | EV_PERSIST,
	    control_accept, NULL);
	if (control.c_ev == NULL || event_add(control.c_ev, NULL) == -1)
		fatalx("%s: event_add", __func__);
}

static void
control_accept(evutil_socket_t lfd, short events, void *arg)
{
	struct ctl_conn	*cc;
	struct timeval	 tv = { CTL_TIMEOUT_S, 0 };
	int		 fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("%s", __func__);
		return;
	}
	if (control.c_nclients >= CTL_MAX_CLIENTS) {
		log_warnx("control: too many clients, refusing one");
		close(fd);
		return;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->cc_id = ++control.c_nextid;
	ipc_peer_init(&cc->cc_peer, control.c_base, fd, "control client",
	    control_dispatch, cc);
	cc->cc_peer.ip_lost = control_lost;
	cc->cc_peer.ip_untrusted = 1;
	cc->cc_timer = evtimer_new(control.c_base, control_timeout, cc);
	if (cc->cc_timer == NULL || evtimer_add(cc->cc_timer, &tv) == -1)
		fatalx("%s: evtimer", __func__);
	TAILQ_INSERT_TAIL(&control.c_conns, cc, cc_entry);
	control.c_nclients++;
}

static void
control_close(struct ctl_conn *cc)
{
	TAILQ_REMOVE(&control.c_conns, cc, cc_entry);
	event_free(cc->cc_timer);
	ipc_flush(&cc->cc_peer);
	ipc_peer_free(&cc->cc_peer);
	free(cc);
	control.c_nclients--;
}

static void
control_lost(struct ipc_peer *peer, void *arg)
{
	control_close(arg);
}

static void
control_timeout(evutil_socket_t fd, short events, void *arg)
{
	control_close(arg);
}

static void
control_error(struct ctl_conn *cc, const char *msg)
{
	uint32_t	 v = CTL_VERSION;

	struct timeval	 now = { 0, 0 };

	ipc_sendv(&cc->cc_peer, IMSG_CTL_ERROR, 0, &v, sizeof(v), msg,
	    strlen(msg));
	/* Not here: the IPC layer still holds this peer. */
	cc->cc_type = IMSG_CTL_ERROR;
	evtimer_add(cc->cc_timer, &now);
}

static void
control_verbose(int level)
{
	int32_t	 v = level;
	int	 i;

	log_setverbose(level);
	for (i = 0; i < control.c_nfronts; i++)
		ipc_send(control.c_front[i], IMSG_VERBOSE, 0, &v, sizeof(v));
	ipc_send(control.c_matcher, IMSG_VERBOSE, 0, &v, sizeof(v));
	log_info("control: logging %s", level ? "verbose" : "brief");
}

static void
control_dispatch(struct ipc_peer *peer, struct ipc_hdr *hdr, uint8_t *data,
    void *arg)
{
	struct ctl_conn	*cc = arg;
	struct ctl_req	 req;
	int		 i;

	if (hdr->ih_len != sizeof(req) || hdr->ih_peerid != 0 ||
	    cc->cc_type != 0) {
		log_warnx("control: malformed request refused");
		control_error(cc, "malformed request");
		return;
	}
	memcpy(&req, data, sizeof(req));
	if (req.cr_version != CTL_VERSION) {
		control_error(cc, "version mismatch");
		return;
	}
	cc->cc_type = hdr->ih_type;
	switch (hdr->ih_type) {
	case IMSG_CTL_STATS:
		/* Every front answers for its own sockets; they add up. */
		cc->cc_pending = control.c_nfronts + 1;
		for (i = 0; i < control.c_nfronts; i++)
			ipc_send(control.c_front[i], IMSG_STATS_REQ, cc->cc_id,
			    NULL, 0);
		ipc_send(control.c_matcher, IMSG_STATS_REQ, cc->cc_id, NULL,
		    0);
		break;
	case IMSG_CTL_BANS:
		/* An address's ban lives in the one front that owns it. */
		cc->cc_pending = control.c_nfronts;
		for (i = 0; i < control.c_nfronts; i++)
			ipc_send(control.c_front[i], IMSG_BANS_REQ, cc->cc_id,
			    NULL, 0);
		break;
	case IMSG_CTL_LOG_VERBOSE:
	case IMSG_CTL_LOG_BRIEF:
		control_verbose(hdr->ih_type == IMSG_CTL_LOG_VERBOSE);
		ipc_send(&cc->cc_peer, IMSG_CTL_OK, 0, NULL, 0);
		ipc_send(&cc->cc_peer, IMSG_CTL_END, 0, NULL, 0);
		break;
	default:
		log_warnx("control: unknown request %u refused",
		    hdr->ih_type);
		control_error(cc, "unknown request");
		break;
	}
}

static struct ctl_conn *
control_find(uint64_t id, uint32_t type)
{
	struct ctl_conn	*cc;

	TAILQ_FOREACH(cc, &control.c_conns, cc_entry)
		if (cc->cc_id == id && cc->cc_type == type &&
		    cc->cc_pending > 0)
			return (cc);
	return (NULL);	/* the client left meanwhile */
}

static void
control_answered(struct ctl_conn *cc)
{
	if (--cc->cc_pending > 0)
		return;
	if (cc->cc_type == IMSG_CTL_STATS) {
		cc->cc_stats.cs_uptime = (mono_ms() - control.c_started) /
		    1000;
		cc->cc_stats.cs_max_sockets = env->s_max_total_sockets;
		ipc_send(&cc->cc_peer, IMSG_CTL_STATS_REPLY, 0,
		    &cc->cc_stats, sizeof(cc->cc_stats));
	}
	ipc_send(&cc->cc_peer, IMSG_CTL_END, 0, NULL, 0);
}

/* A child's answer to a request made on a client's behalf. */
void
control_reply(uint32_t type, uint64_t id, const uint8_t *data, size_t len)
{
	struct stats_front	 sf;
	struct stats_matcher	 sm;
	struct ctl_conn		*cc;
	size_t			 i;

	switch (type) {
	case IMSG_STATS_FRONT:
		if (len != sizeof(sf))
			fatalx("%s: stats from front: %zu bytes", __func__,
			    len);
		if ((cc = control_find(id, IMSG_CTL_STATS)) == NULL)
			return;
		memcpy(&sf, data, sizeof(sf));
		cc->cc_stats.cs_open += sf.sf_open;
		cc->cc_stats.cs_bans += sf.sf_bans;
		break;
	case IMSG_STATS_MATCHER:
		if (len != sizeof(sm))
			fatalx("%s: stats from matcher: %zu bytes", __func__,
			    len);
		if ((cc = control_find(id, IMSG_CTL_STATS)) == NULL)
			return;
		memcpy(&sm, data, sizeof(sm));
		cc->cc_stats.cs_waiting = sm.sm_waiting;
		cc->cc_stats.cs_rooms = sm.sm_rooms;
		cc->cc_stats.cs_counters = sm.sm_counters;
		break;
	case IMSG_BANS_REPLY:
		if (len % sizeof(uint64_t) != 0)
			fatalx("%s: bans from front: %zu bytes", __func__,
			    len);
		if ((cc = control_find(id, IMSG_CTL_BANS)) == NULL)
			return;
		for (i = 0; i < len; i += sizeof(uint64_t))
			ipc_send(&cc->cc_peer, IMSG_CTL_BAN, 0, data + i,
			    sizeof(uint64_t));
		break;
	default:
		fatalx("%s: type %u", __func__, type);
	}
	control_answered(cc);
}
