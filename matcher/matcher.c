/*
 * The matcher process: IPC peers (the parent, each front), a timer for idle
 * rooms and one for saving counters, around the pure core of
 * matcher_handle.c.  After start-up it only reads and writes its
 * socketpairs, waits in epoll, reads the clock and draws random numbers.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "matcher.h"

struct matcher_proc {
	struct matcher		 mp_core;
	struct event_base	*mp_base;
	struct ipc_peer		 mp_parent;
	struct ipc_peer		 mp_front[PREFORK_MAX];
	char			 mp_names[PREFORK_MAX][16];	/* for logs */
	uint32_t		 mp_nfronts;
	uint32_t		 mp_nlive;	/* fronts still connected */
	struct event		 mp_ev_idle;
	struct event		 mp_ev_persist;
	uint64_t		 mp_idle_when;	/* deadline mp_ev_idle is for */
	int			 mp_idle_armed;
	int			 mp_shutdown;	/* the fronts are leaving */
	int			 mp_finishing;	/* final words queued */
};

static struct matcher_proc	 matcher_proc;

static void	 matcher_send_front(void *, uint32_t, uint64_t, const void *,
		    size_t);
static void	 matcher_idle_arm(struct matcher_proc *);
static void	 matcher_idle(evutil_socket_t, short, void *);
static void	 matcher_persist(evutil_socket_t, short, void *);
static void	 matcher_save(struct matcher_proc *, int);
static void	 matcher_finish(struct matcher_proc *);
static void	 matcher_written(struct bufferevent *, void *);
static void	 matcher_lost_front(struct ipc_peer *, void *);
static void	 matcher_test_stall(uint32_t);

void
matcher_main(const struct settings *conf, int fd_parent, const int *fd_front,
    uint32_t nfronts)
{
	struct matcher_proc	*mp = &matcher_proc;
	struct timeval		 tv;
	uint32_t		 i;

	if ((mp->mp_base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	ipc_peer_init(&mp->mp_parent, mp->mp_base, fd_parent, "parent",
	    matcher_dispatch_parent, mp);
	mp->mp_parent.ip_lost = ipc_lost_exit;
	for (i = 0; i < nfronts; i++) {
		if (nfronts == 1)
			strlcpy(mp->mp_names[i], "front",
			    sizeof(mp->mp_names[i]));
		else
			snprintf(mp->mp_names[i], sizeof(mp->mp_names[i]),
			    "front%u", i);
		ipc_peer_init(&mp->mp_front[i], mp->mp_base, fd_front[i],
		    mp->mp_names[i], matcher_dispatch_front, mp);
		mp->mp_front[i].ip_lost = matcher_lost_front;
		ipc_peer_batch(&mp->mp_front[i]);
	}
	mp->mp_nfronts = mp->mp_nlive = nfronts;
	proc_log_to(&mp->mp_parent);

	proc_drop();

	matcher_init(&mp->mp_core, conf, matcher_send_front, mp);
	evtimer_assign(&mp->mp_ev_idle, mp->mp_base, matcher_idle, mp);
	event_assign(&mp->mp_ev_persist, mp->mp_base, -1, EV_PERSIST,
	    matcher_persist, mp);
	tv.tv_sec = DR_PERSIST_MS / 1000;
	tv.tv_usec = (DR_PERSIST_MS % 1000) * 1000;
	if (event_add(&mp->mp_ev_persist, &tv) == -1)
		fatalx("%s: event_add", __func__);

	/* Seed the random stream while getrandom(2) is certainly allowed. */
	(void)arc4random();
	sandbox_matcher();
	log_debug("%s: started", __func__);

	event_base_dispatch(mp->mp_base);
	fatalx("%s: event loop ended", __func__);
}

/* A socket's id names its front (SOCKID_FRONT). */
static void
matcher_send_front(void *arg, uint32_t type, uint64_t id, const void *data,
    size_t len)
{
	struct matcher_proc	*mp = arg;
	uint32_t		 idx = SOCKID_FRONT(id);

	if (idx >= mp->mp_nfronts)
		fatalx("%s: socket %llu of no front", __func__,
		    (unsigned long long)id);
	/* Once that front is gone there is nobody to tell. */
	(void)ipc_send(&mp->mp_front[idx], type, id, data, len);
}

void
matcher_dispatch_front(struct ipc_peer *peer, struct ipc_hdr *hdr,
    uint8_t *data, void *arg)
{
	struct matcher_proc	*mp = arg;

	uint64_t		 now, at;
	size_t			 len = hdr->ih_len;

	matcher_test_stall(hdr->ih_type);
	now = mono_ms();

	/* A front speaks only for its own sockets. */
	if (hdr->ih_peerid != 0 &&
	    &mp->mp_front[SOCKID_FRONT(hdr->ih_peerid)] != peer)
		fatalx("%s sent type %u for socket %llu of another front",
		    peer->ip_name, hdr->ih_type,
		    (unsigned long long)hdr->ih_peerid);
	/*
	 * D45: a rate-limited command is judged at the time the front read
	 * it.  The fronts read the same clock; a time ahead of ours is not
	 * believed.
	 */
	if (IPC_STAMPED(hdr->ih_type)) {
		if (len < IPC_STAMP_LEN)
			fatalx("%s sent type %u with %zu bytes", peer->ip_name,
			    hdr->ih_type, len);
		memcpy(&at, data, IPC_STAMP_LEN);
		if (at < now)
			now = at;
		data += IPC_STAMP_LEN;
		len -= IPC_STAMP_LEN;
	}
	matcher_handle(&mp->mp_core, hdr->ih_type, hdr->ih_peerid, data, len,
	    now);
	matcher_idle_arm(mp);
}

void
matcher_dispatch_parent(struct ipc_peer *peer, struct ipc_hdr *hdr,
    uint8_t *data, void *arg)
{
	struct matcher_proc	*mp = arg;
	struct counters		 c;
	struct stats_matcher	 sm;
	int32_t			 v;

	switch (hdr->ih_type) {
	case IMSG_COUNTERS_LOAD:
		if (hdr->ih_len != sizeof(c))
			break;
		memcpy(&c, data, sizeof(c));
		matcher_counters_load(&mp->mp_core, &c);
		return;
	case IMSG_VERBOSE:
		if (hdr->ih_len != sizeof(v))
			break;
		memcpy(&v, data, sizeof(v));
		log_setverbose(v);
		return;
	case IMSG_STATS_REQ:
		if (hdr->ih_len != 0)
			break;
		matcher_stats(&mp->mp_core, &sm);
		/* The answer names the parent's request by its peer id. */
		(void)ipc_send(&mp->mp_parent, IMSG_STATS_MATCHER,
		    hdr->ih_peerid, &sm, sizeof(sm));
		return;
	case IMSG_SHUTDOWN:
		if (hdr->ih_len != 0)
			break;
		mp->mp_shutdown = 1;
		if (mp->mp_nlive == 0)
			matcher_finish(mp);
		else
			log_debug("%s: shutting down, waiting for %u front%s",
			    __func__, mp->mp_nlive, mp->mp_nlive == 1 ? "" :
			    "s");
		return;
	default:
		break;
	}
	fatalx("parent sent message type %u with %u bytes", hdr->ih_type,
	    hdr->ih_len);
}

/*
 * regress: DR_TEST_MATCHER_STALL_MS makes the matcher busy for that long
 * before its first MSG, as a burst of work ahead of it would (D45).
 */
static void
matcher_test_stall(uint32_t type)
{
#ifdef DR_TESTHOOKS
	static int	 stalled;
	const char	*v;
	uint64_t	 until;

	if (type != IMSG_MSG || stalled ||
	    (v = getenv("DR_TEST_MATCHER_STALL_MS")) == NULL)
		return;
	stalled = 1;
	until = mono_ms() + strtoull(v, NULL, 10);
	while (mono_ms() < until)
		;
#endif
}

/*
 * One timer for all rooms: m_rooms is ordered by idle deadline, so only
 * the head matters.  Re-armed after everything that may change the head.
 */
static void
matcher_idle_arm(struct matcher_proc *mp)
{
	struct timeval	 tv;
	uint64_t	 when, now, ms;

	if (!matcher_room_deadline(&mp->mp_core, &when)) {
		if (mp->mp_idle_armed)
			evtimer_del(&mp->mp_ev_idle);
		mp->mp_idle_armed = 0;
		return;
	}
	if (mp->mp_idle_armed && mp->mp_idle_when == when)
		return;
	now = mono_ms();
	ms = when > now ? when - now : 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(&mp->mp_ev_idle, &tv) == -1)
		fatalx("%s: evtimer_add", __func__);
	mp->mp_idle_when = when;
	mp->mp_idle_armed = 1;
}

static void
matcher_idle(evutil_socket_t fd, short events, void *arg)
{
	struct matcher_proc	*mp = arg;

	mp->mp_idle_armed = 0;
	matcher_room_expire(&mp->mp_core, mono_ms());
	matcher_idle_arm(mp);
}

/* always: send even when nothing changed (the final save). */
static void
matcher_save(struct matcher_proc *mp, int always)
{
	struct counters	 c;

	if (!matcher_counters_dirty(&mp->mp_core, &c)) {
		if (!always)
			return;
		c = mp->mp_core.m_counters;
	}
	(void)ipc_send(&mp->mp_parent, IMSG_COUNTERS_SAVE, 0, &c, sizeof(c));
}

static void
matcher_persist(evutil_socket_t fd, short events, void *arg)
{
	matcher_save(arg, 0);
}

/*
 * The final counters, then SHUTDOWN_DONE; exit once the parent's socket
 * has taken them.  The write callback fires when the output buffer has
 * drained, which needs no blocking write from inside a callback.
 */
static void
matcher_finish(struct matcher_proc *mp)
{
	struct bufferevent	*bev = mp->mp_parent.ip_bev;
	bufferevent_data_cb	 readcb;
	bufferevent_event_cb	 eventcb;
	void			*cbarg;

	if (mp->mp_finishing)
		return;
	mp->mp_finishing = 1;
	matcher_save(mp, 1);
	(void)ipc_send(&mp->mp_parent, IMSG_SHUTDOWN_DONE, 0, NULL, 0);
	bufferevent_getcb(bev, &readcb, NULL, &eventcb, &cbarg);
	bufferevent_setcb(bev, readcb, matcher_written, eventcb, cbarg);
}

static void
matcher_written(struct bufferevent *bev, void *arg)
{
	exit(0);
}

/*
 * Expected during shutdown: the last front gone, the final counters go.
 * Otherwise a front died: save what was counted and wait, since the
 * parent sees it too and either asks for the final counters or goes away,
 * which ends us.
 */
static void
matcher_lost_front(struct ipc_peer *peer, void *arg)
{
	struct matcher_proc	*mp = arg;

	ipc_peer_free(peer);
	if (--mp->mp_nlive > 0 && mp->mp_shutdown)
		return;
	if (mp->mp_idle_armed)
		evtimer_del(&mp->mp_ev_idle);
	mp->mp_idle_armed = 0;
	if (mp->mp_shutdown) {
		matcher_finish(mp);
		return;
	}
	log_warnx("lost %s; waiting for the parent", peer->ip_name);
	matcher_save(mp, 0);
}
