/*
 * The matcher's core: one function per message from the front, checked
 * against a table of exact payload sizes first.  The front has already
 * validated the client's message and made the state decision its mirror
 * allows, so a malformed message here is a bug in the front and fatal; a
 * refusal the front could not foresee (a room ended a moment ago, a rate,
 * the content) goes back as IMSG_ERROR and changes nothing else.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"

typedef void (*matcher_cmd_fn)(struct matcher *, struct msock *,
    const uint8_t *, size_t, uint64_t);

static void	 matcher_open(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_close(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_join(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_msg(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_skip(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_report(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_insights(struct matcher *, struct msock *,
		    const uint8_t *, size_t, uint64_t);
static void	 matcher_leave(struct matcher *, struct msock *, uint64_t,
		    enum dr_ended);
static void	 matcher_error(struct matcher *, struct msock *,
		    enum dr_error);
static int	 matcher_too_soon(uint64_t, uint64_t, uint64_t);

/* What the front may send, with the payload sizes it may have. */
static const struct matcher_cmd {
	uint32_t	 mc_type;
	const char	*mc_name;
	size_t		 mc_min;
	size_t		 mc_max;
	matcher_cmd_fn	 mc_fn;
} matcher_cmds[] = {
	{ IMSG_SOCK_OPEN, "SOCK_OPEN", 0, 0, matcher_open },
	{ IMSG_SOCK_CLOSE, "SOCK_CLOSE", 0, 0, matcher_close },
	{ IMSG_JOIN, "JOIN", sizeof(struct ipc_join), sizeof(struct ipc_join),
	    matcher_join },
	{ IMSG_MSG, "MSG", 1, IPC_TEXT_MAX, matcher_msg },
	{ IMSG_SKIP, "SKIP", 0, 0, matcher_skip },
	{ IMSG_REPORT, "REPORT", 0, 0, matcher_report },
	{ IMSG_INSIGHTS, "INSIGHTS", 0, 0, matcher_insights }
};

#define MATCHER_NCMDS	(sizeof(matcher_cmds) / sizeof(matcher_cmds[0]))

void
matcher_init(struct matcher *m, const struct settings *conf,
    matcher_send_fn send, void *arg)
{
	int	 i;

	memset(m, 0, sizeof(*m));
	m->m_conf = conf;
	m->m_send = send;
	m->m_arg = arg;
	RB_INIT(&m->m_keys);
	for (i = 0; i < MQ_COUNT; i++)
		TAILQ_INIT(&m->m_queue[i].mq_socks);
	TAILQ_INIT(&m->m_rooms);
}

/* Forget everything without telling anyone: for tests and leak checks. */
void
matcher_free(struct matcher *m)
{
	struct mroom	*r;

	while ((r = TAILQ_FIRST(&m->m_rooms)) != NULL) {
		TAILQ_REMOVE(&m->m_rooms, r, mr_entry);
		free(r);
	}
	matcher_table_free(m);
	RB_INIT(&m->m_keys);
	explicit_bzero(m->m_text, sizeof(m->m_text));
}

void
matcher_handle(struct matcher *m, uint32_t type, uint64_t id,
    const uint8_t *data, size_t len, uint64_t now)
{
	const struct matcher_cmd	*mc = NULL;
	struct msock			*s;
	size_t				 i;

	for (i = 0; i < MATCHER_NCMDS; i++)
		if (matcher_cmds[i].mc_type == type)
			mc = &matcher_cmds[i];
	if (mc == NULL)
		fatalx("front sent unknown message type %u (%zu bytes)",
		    type, len);
	if (len < mc->mc_min || len > mc->mc_max)
		fatalx("front sent %s (type %u) with %zu bytes", mc->mc_name,
		    type, len);
	if (id == 0)
		fatalx("front sent %s for socket 0", mc->mc_name);

	s = matcher_sock_find(m, id);
	if (type == IMSG_SOCK_OPEN) {
		if (s != NULL)
			fatalx("front opened socket %llu twice",
			    (unsigned long long)id);
		s = matcher_sock_new(m, id);
	} else if (s == NULL)
		fatalx("front sent %s for unknown socket %llu", mc->mc_name,
		    (unsigned long long)id);
	mc->mc_fn(m, s, data, len, now);
}

static void
matcher_error(struct matcher *m, struct msock *s, enum dr_error code)
{
	struct ipc_error	 er;

	memset(&er, 0, sizeof(er));
	er.er_code = code;
	m->m_send(m->m_arg, IMSG_ERROR, s->ms_id, &er, sizeof(er));
}

/* A clock that never ran, or an interval of 0, never refuses. */
static int
matcher_too_soon(uint64_t last, uint64_t now, uint64_t interval)
{
	return (last != MATCHER_NEVER && now >= last && now - last < interval);
}

static void
matcher_open(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	m->m_counters.c_connections++;
	m->m_dirty = 1;
}

/* Any close has the effect of done: the sender is told nothing. */
static void
matcher_close(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	if (s->ms_queue != NULL) {
		matcher_queue_leave(m, s);
		matcher_key_release(m, s);
	} else if (s->ms_room != NULL)
		matcher_room_leave(m, s, 0);
	matcher_sock_free(m, s);
}

static void
matcher_join(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	struct ipc_join	 j;

	memcpy(&j, data, sizeof(j));
	if (j.j_mode < MODE_TASK || j.j_mode >= MODE_MAX)
		fatalx("front sent JOIN with mode %u", j.j_mode);

	if (s->ms_queue != NULL || s->ms_room != NULL)
		matcher_error(m, s, ERR_STATE);
	else if (matcher_key_holder(m, j.j_key) != NULL)
		matcher_error(m, s, ERR_KEY_IN_USE);
	else {
		matcher_key_take(m, s, j.j_key);
		matcher_queue_join(m, s,
		    j.j_mode == MODE_DEBUG ? MQ_DEBUG : MQ_MAIN, now);
	}
	explicit_bzero(&j, sizeof(j));
}

/* Checks in the order of PROTOCOL.md section 3: state, rate, content. */
static void
matcher_msg(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	const struct settings	*conf = m->m_conf;
	struct mroom		*r = s->ms_room;
	size_t			 outlen, ncp;

	if (!utf8_valid(data, len))
		fatalx("front sent MSG that is not UTF-8 (%zu bytes)", len);
	if (r == NULL) {
		matcher_error(m, s, ERR_STATE);
		return;
	}
	if (matcher_too_soon(s->ms_msg_at, now, conf->s_msg_interval_ms)) {
		matcher_error(m, s, ERR_RATE);
		return;
	}
	outlen = sanitise(data, len, m->m_text, &ncp);
	if (sanitise_empty(m->m_text, outlen)) {
		matcher_error(m, s, ERR_EMPTY);
		return;
	}
	if (ncp > conf->s_msg_max_chars) {
		matcher_error(m, s, ERR_TOO_LONG);
		return;
	}

	s->ms_msg_at = now;
	r->mr_msgs++;
	m->m_counters.c_messages++;
	m->m_dirty = 1;
	matcher_room_touch(m, r, now);
	m->m_send(m->m_arg, IMSG_RELAY, matcher_room_partner(r, s)->ms_id,
	    m->m_text, outlen);
	/* The message that reaches the limit is relayed before ended. */
	if (r->mr_msgs >= conf->s_room_max_msgs)
		matcher_room_end(m, r, ENDED_LIMIT);
}

/* skip and report share one clock per socket. */
static void
matcher_leave(struct matcher *m, struct msock *s, uint64_t now,
    enum dr_ended mine)
{
	if (s->ms_room == NULL) {
		matcher_error(m, s, ERR_STATE);
		return;
	}
	if (matcher_too_soon(s->ms_skip_at, now,
	    m->m_conf->s_skip_interval_ms)) {
		matcher_error(m, s, ERR_SKIP_RATE);
		return;
	}
	s->ms_skip_at = now;
	if (mine == ENDED_REPORT) {
		m->m_counters.c_reports++;
		m->m_dirty = 1;
	}
	matcher_room_leave(m, s, mine);
}

static void
matcher_skip(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	matcher_leave(m, s, now, ENDED_SKIP);
}

static void
matcher_report(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	matcher_leave(m, s, now, ENDED_REPORT);
}

static void
matcher_insights(struct matcher *m, struct msock *s, const uint8_t *data,
    size_t len, uint64_t now)
{
	struct ipc_insights	 in;
	struct mroom		*r = s->ms_room;

	if (matcher_too_soon(s->ms_insights_at, now, INSIGHTS_INTERVAL_MS)) {
		matcher_error(m, s, ERR_INSIGHTS_RATE);
		return;
	}
	s->ms_insights_at = now;

	memset(&in, 0, sizeof(in));
	in.i_online = m->m_socks.st_count;
	in.i_waiting = matcher_queue_waiting(m);
	in.i_rooms = m->m_nrooms;
	in.i_convos = m->m_counters.c_convos;
	in.i_messages = m->m_counters.c_messages;
	if (r != NULL) {
		in.i_in_room = 1;
		in.i_room_messages = r->mr_msgs;
		in.i_room_seconds = (now - r->mr_created) / 1000;
	}
	m->m_send(m->m_arg, IMSG_INSIGHTS_REPLY, s->ms_id, &in, sizeof(in));
}

/*
 * The totals on disk plus whatever was counted before they arrived
 * (normally nothing: the parent sends them first).  Twice is a bug.
 */
void
matcher_counters_load(struct matcher *m, const struct counters *c)
{
	if (m->m_loaded)
		fatalx("parent sent COUNTERS_LOAD twice");
	m->m_loaded = 1;
	m->m_counters.c_connections += c->c_connections;
	m->m_counters.c_convos += c->c_convos;
	m->m_counters.c_messages += c->c_messages;
	m->m_counters.c_reports += c->c_reports;
}

/* Copy the totals out if they changed since the last call. */
int
matcher_counters_dirty(struct matcher *m, struct counters *c)
{
	if (!m->m_dirty)
		return (0);
	m->m_dirty = 0;
	*c = m->m_counters;
	return (1);
}

/* For devroulettectl stats, through the parent. */
void
matcher_stats(const struct matcher *m, struct stats_matcher *sm)
{
	memset(sm, 0, sizeof(*sm));
	sm->sm_waiting = matcher_queue_waiting(m);
	sm->sm_rooms = m->m_nrooms;
	sm->sm_counters = m->m_counters;
}
