/*
 * The matcher's core, driven without an event loop: every message the
 * front may send, with the time passed in, and everything the matcher says
 * captured in order.  Queues (FIFO, debug apart, key_in_use, no immediate
 * rematch), rooms (msg checks, limit, skip, report, close, idle), insights,
 * counters, handles, the socket table under churn, and the fatal answers
 * to a front that breaks its contract.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "matcher.h"
#include "unit.h"

#define OUT_MAX		64
#define OUT_DATA	4096

struct sent {
	uint32_t	 se_type;
	uint64_t	 se_id;
	size_t		 se_len;
	uint8_t		 se_data[OUT_DATA];
};

static struct sent	 out[OUT_MAX];
static size_t		 nout;
static struct matcher	 mt;
static struct settings	 conf;

static void
capture(void *arg, uint32_t type, uint64_t id, const void *data, size_t len)
{
	if (nout == OUT_MAX || len > OUT_DATA) {
		fprintf(stderr, "capture overflow\n");
		abort();
	}
	out[nout].se_type = type;
	out[nout].se_id = id;
	out[nout].se_len = len;
	if (len > 0)
		memcpy(out[nout].se_data, data, len);
	nout++;
}

static void
setup(void)
{
	memset(&conf, 0, sizeof(conf));
	conf.s_msg_interval_ms = 100;
	conf.s_msg_max_chars = 5;
	conf.s_skip_interval_ms = 50;
	conf.s_room_max_msgs = 3;
	conf.s_room_idle_ms = 1000;
	matcher_init(&mt, &conf, capture, NULL);
	nout = 0;
}

static void
teardown(void)
{
	matcher_free(&mt);
}

static void
cmd(uint32_t type, uint64_t id, uint64_t now)
{
	matcher_handle(&mt, type, id, NULL, 0, now);
}

static void
join(uint64_t id, uint8_t keybyte, uint32_t mode, uint64_t now)
{
	struct ipc_join	 j;

	memset(&j, 0, sizeof(j));
	memset(j.j_key, keybyte, sizeof(j.j_key));
	j.j_mode = mode;
	matcher_handle(&mt, IMSG_JOIN, id, (uint8_t *)&j, sizeof(j), now);
}

static void
msg(uint64_t id, const char *text, uint64_t now)
{
	matcher_handle(&mt, IMSG_MSG, id, (const uint8_t *)text, strlen(text),
	    now);
}

/* Open ids first..last, and forget what was said. */
static void
open_range(uint64_t first, uint64_t last)
{
	uint64_t	 id;

	for (id = first; id <= last; id++)
		cmd(IMSG_SOCK_OPEN, id, 0);
	nout = 0;
}

/* Index of the first message of that type to id, or -1. */
static int
find(uint32_t type, uint64_t id)
{
	size_t	 i;

	for (i = 0; i < nout; i++)
		if (out[i].se_type == type && out[i].se_id == id)
			return ((int)i);
	return (-1);
}

static int
count(uint32_t type)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < nout; i++)
		if (out[i].se_type == type)
			n++;
	return (n);
}

static int
is_error(size_t i, uint64_t id, enum dr_error code)
{
	struct ipc_error	 er;

	if (i >= nout || out[i].se_type != IMSG_ERROR || out[i].se_id != id ||
	    out[i].se_len != sizeof(er))
		return (0);
	memcpy(&er, out[i].se_data, sizeof(er));
	return (er.er_code == code);
}

/* Exactly one message was said, and it is that error. */
static int
only_error(uint64_t id, enum dr_error code)
{
	return (nout == 1 && is_error(0, id, code));
}

static int
ended(uint64_t id, enum dr_ended why)
{
	struct ipc_ended	 e;
	int			 i;

	if ((i = find(IMSG_ENDED, id)) == -1 || out[i].se_len != sizeof(e))
		return (0);
	memcpy(&e, out[i].se_data, sizeof(e));
	return (e.e_reason == why);
}

static uint32_t
waiting(uint64_t id)
{
	struct ipc_queued	 q;
	int			 i;

	if ((i = find(IMSG_QUEUED, id)) == -1 || out[i].se_len != sizeof(q))
		return (0);
	memcpy(&q, out[i].se_data, sizeof(q));
	return (q.q_waiting);
}

static int
handle_ok(const char *h)
{
	size_t	 len = strnlen(h, HANDLE_MAX + 1);

	if (len < 3 || len > HANDLE_MAX)
		return (0);
	return (strspn(h, "abcdefghijklmnopqrstuvwxyz-") == len);
}

static int
matched(uint64_t a, uint64_t b)
{
	struct ipc_matched	 ma, mb;
	int			 i, j;

	if ((i = find(IMSG_MATCHED, a)) == -1 ||
	    (j = find(IMSG_MATCHED, b)) == -1 ||
	    out[i].se_len != sizeof(ma) || out[j].se_len != sizeof(mb))
		return (0);
	memcpy(&ma, out[i].se_data, sizeof(ma));
	memcpy(&mb, out[j].se_data, sizeof(mb));
	return (handle_ok(ma.m_you) && handle_ok(ma.m_peer) &&
	    strcmp(ma.m_you, ma.m_peer) != 0 &&
	    strcmp(ma.m_you, mb.m_peer) == 0 &&
	    strcmp(ma.m_peer, mb.m_you) == 0);
}

static struct ipc_insights
insights(uint64_t id, uint64_t now)
{
	struct ipc_insights	 in;
	int			 i;

	memset(&in, 0xff, sizeof(in));
	nout = 0;
	cmd(IMSG_INSIGHTS, id, now);
	if ((i = find(IMSG_INSIGHTS_REPLY, id)) != -1 &&
	    out[i].se_len == sizeof(in))
		memcpy(&in, out[i].se_data, sizeof(in));
	return (in);
}

/* Put a and b (fresh, not yet joined) in a room at time now. */
static void
pair(uint64_t a, uint64_t b, uint64_t now)
{
	join(a, (uint8_t)a, MODE_TASK, now);
	join(b, (uint8_t)b, MODE_TASK, now);
	nout = 0;
}

static void
test_fifo(void)
{
	setup();
	open_range(1, 4);

	join(1, 1, MODE_TASK, 0);
	CHECK(nout == 1 && waiting(1) == 1,
	    "fifo: first join queued, waiting 1");
	nout = 0;
	join(2, 2, MODE_OPEN, 0);
	CHECK(find(IMSG_QUEUED, 2) == 0 && waiting(2) == 2,
	    "fifo: queued before matched, waiting counts the partner");
	CHECK(nout == 3 && matched(1, 2), "fifo: task and open share a queue");
	CHECK(mt.m_nrooms == 1 && matcher_queue_waiting(&mt) == 0,
	    "fifo: one room, nobody waiting");
	nout = 0;
	join(3, 3, MODE_TASK, 0);
	join(4, 4, MODE_TASK, 0);
	CHECK(waiting(3) == 1 && matched(3, 4), "fifo: next pair");
	CHECK(mt.m_counters.c_convos == 2, "fifo: convos counted");
	teardown();
}

static void
test_debug_queue(void)
{
	setup();
	open_range(1, 4);
	join(1, 1, MODE_DEBUG, 0);
	join(2, 2, MODE_TASK, 0);
	CHECK(waiting(1) == 1 && waiting(2) == 1 && count(IMSG_MATCHED) == 0,
	    "debug: a queue of its own");
	nout = 0;
	join(3, 3, MODE_DEBUG, 0);
	CHECK(matched(1, 3) && find(IMSG_MATCHED, 2) == -1,
	    "debug: debug meets debug");
	nout = 0;
	join(4, 4, MODE_OPEN, 0);
	CHECK(matched(2, 4), "debug: task meets open");
	teardown();
}

static void
test_key_in_use(void)
{
	setup();
	open_range(1, 5);
	join(1, 0xaa, MODE_TASK, 0);
	nout = 0;
	join(2, 0xaa, MODE_TASK, 0);
	CHECK(only_error(2, ERR_KEY_IN_USE), "key: held in a queue");
	nout = 0;
	join(3, 0xaa, MODE_DEBUG, 0);
	CHECK(only_error(3, ERR_KEY_IN_USE), "key: across queues");
	nout = 0;
	join(2, 0xbb, MODE_TASK, 0);
	CHECK(matched(1, 2), "key: refusal left no trace, other key matches");
	nout = 0;
	join(4, 0xbb, MODE_TASK, 0);
	CHECK(only_error(4, ERR_KEY_IN_USE), "key: held in a room");
	nout = 0;
	cmd(IMSG_SKIP, 1, 0);
	join(4, 0xbb, MODE_TASK, 0);
	join(5, 0xaa, MODE_TASK, 0);
	CHECK(waiting(4) == 1 && matched(4, 5),
	    "key: released when the room ends");
	teardown();
}

static void
test_state(void)
{
	setup();
	open_range(1, 3);
	join(1, 1, MODE_TASK, 0);
	nout = 0;
	join(1, 9, MODE_TASK, 0);
	CHECK(only_error(1, ERR_STATE), "state: join while queued");
	nout = 0;
	msg(1, "hi", 0);
	CHECK(only_error(1, ERR_STATE), "state: msg while queued");
	nout = 0;
	cmd(IMSG_SKIP, 1, 0);
	CHECK(only_error(1, ERR_STATE), "state: skip while queued");
	nout = 0;
	cmd(IMSG_REPORT, 3, 0);
	CHECK(only_error(3, ERR_STATE), "state: report while ready");
	join(2, 2, MODE_TASK, 0);
	nout = 0;
	join(2, 8, MODE_TASK, 0);
	CHECK(only_error(2, ERR_STATE), "state: join while in a room");
	CHECK(matcher_key_holder(&mt, (const uint8_t *)"\x08\x08\x08\x08"
	    "\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08"
	    "\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08") == NULL,
	    "state: a refused join holds no key");
	teardown();
}

static void
test_no_rematch(void)
{
	struct ipc_insights	 in;

	setup();
	open_range(1, 5);
	pair(1, 2, 0);
	cmd(IMSG_SKIP, 1, 0);
	nout = 0;
	join(1, 1, MODE_TASK, 10);
	join(2, 2, MODE_TASK, 10);
	CHECK(waiting(1) == 1 && waiting(2) == 2 && count(IMSG_MATCHED) == 0,
	    "rematch: former partners both wait");
	in = insights(3, 10);
	CHECK(in.i_waiting == 2 && in.i_rooms == 0, "rematch: two waiting");
	nout = 0;
	join(3, 3, MODE_TASK, 10);
	CHECK(waiting(3) == 3 && matched(1, 3) && find(IMSG_MATCHED, 2) == -1,
	    "rematch: a third joiner meets the earlier");

	/* 1's last partner is now 3, but 2's is still 1. */
	cmd(IMSG_SKIP, 1, 100);
	nout = 0;
	join(1, 1, MODE_TASK, 200);
	CHECK(waiting(1) == 2 && count(IMSG_MATCHED) == 0,
	    "rematch: checked on both sides");
	nout = 0;
	join(5, 5, MODE_TASK, 200);
	CHECK(matched(2, 5), "rematch: newcomer meets the longest waiting");
	nout = 0;
	join(3, 3, MODE_TASK, 200);
	CHECK(count(IMSG_MATCHED) == 0, "rematch: 1 and 3 do not meet again");
	nout = 0;
	join(4, 4, MODE_TASK, 200);
	CHECK(matched(1, 4), "rematch: a new room clears the rule");
	teardown();
}

static void
test_msg_rate(void)
{
	struct settings	*c = &conf;
	int		 i;

	setup();
	c->s_room_max_msgs = 10;
	open_range(1, 2);
	pair(1, 2, 0);
	msg(1, "a", 1000);
	CHECK(nout == 1 && (i = find(IMSG_RELAY, 2)) == 0 &&
	    out[i].se_len == 1 && out[i].se_data[0] == 'a',
	    "rate: first message relayed to the partner");
	nout = 0;
	msg(1, "b", 1099);
	CHECK(only_error(1, ERR_RATE), "rate: 99 ms later refused");
	nout = 0;
	msg(1, "c", 1100);
	CHECK(nout == 1 && find(IMSG_RELAY, 2) == 0,
	    "rate: the refusal moved no clock");
	nout = 0;
	msg(2, "d", 1100);
	CHECK(nout == 1 && find(IMSG_RELAY, 1) == 0, "rate: per socket");
	CHECK(mt.m_counters.c_messages == 3, "rate: accepted messages counted");
	teardown();

	setup();
	c->s_msg_interval_ms = 0;
	c->s_room_max_msgs = 10;
	open_range(1, 2);
	pair(1, 2, 0);
	msg(1, "a", 5);
	msg(1, "b", 5);
	msg(1, "c", 5);
	CHECK(count(IMSG_RELAY) == 3 && count(IMSG_ERROR) == 0,
	    "rate: 0 disables the limit");
	teardown();
}

static void
test_content(void)
{
	int	 i;

	setup();
	conf.s_msg_interval_ms = 0;
	conf.s_room_max_msgs = 100;
	open_range(1, 2);
	pair(1, 2, 0);
	msg(1, "   ", 0);
	CHECK(only_error(1, ERR_EMPTY), "content: spaces are empty");
	nout = 0;
	msg(1, "\x1b[31m\r\n", 0);
	CHECK(only_error(1, ERR_EMPTY), "content: empty after sanitising");
	nout = 0;
	msg(1, "\t", 0);
	CHECK(only_error(1, ERR_EMPTY), "content: a tab is a space");
	nout = 0;
	msg(1, "            ", 0);
	CHECK(only_error(1, ERR_EMPTY), "content: empty before too_long");
	nout = 0;
	msg(1, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0);
	CHECK(nout == 1 && (i = find(IMSG_RELAY, 2)) == 0 &&
	    out[i].se_len == 10, "content: 5 two-byte code points fit");
	nout = 0;
	msg(1, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0);
	CHECK(only_error(1, ERR_TOO_LONG), "content: 6 code points too long");
	nout = 0;
	msg(1, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 0);
	CHECK(nout == 1 && find(IMSG_RELAY, 2) == 0,
	    "content: 20 bytes, 5 code points fit");
	nout = 0;
	msg(1, "ab\x1b[1mcd\x07" "e", 0);
	CHECK(nout == 1 && (i = find(IMSG_RELAY, 2)) == 0 &&
	    out[i].se_len == 5 && memcmp(out[i].se_data, "abcde", 5) == 0,
	    "content: counted and relayed after sanitising");
	nout = 0;
	msg(1, "\xe2\x80\xae" "abc", 0);
	CHECK(nout == 1 && (i = find(IMSG_RELAY, 2)) == 0 &&
	    out[i].se_len == 3, "content: bidi controls removed");
	CHECK(mt.m_counters.c_messages == 4 && mt.m_queue[0].mq_len == 0,
	    "content: only accepted messages counted");
	teardown();
}

static void
test_limit(void)
{
	int	 r, e1, e2;

	setup();
	open_range(1, 2);
	pair(1, 2, 0);
	msg(1, "one", 0);
	msg(2, "two", 0);
	nout = 0;
	msg(1, "three", 100);
	r = find(IMSG_RELAY, 2);
	e1 = find(IMSG_ENDED, 1);
	e2 = find(IMSG_ENDED, 2);
	CHECK(nout == 3 && r == 0 && e1 > r && e2 > r,
	    "limit: the last message is relayed, then the room ends");
	CHECK(ended(1, ENDED_LIMIT) && ended(2, ENDED_LIMIT),
	    "limit: both told limit");
	CHECK(mt.m_nrooms == 0 && mt.m_counters.c_messages == 3,
	    "limit: room gone, messages counted");
	nout = 0;
	msg(2, "late", 200);
	CHECK(only_error(2, ERR_STATE), "limit: a late msg is a state error");
	teardown();
}

static void
test_skip_report(void)
{
	struct counters	 c;

	setup();
	open_range(1, 6);
	pair(1, 2, 0);
	cmd(IMSG_SKIP, 1, 0);
	CHECK(nout == 2 && ended(1, ENDED_SKIP) && ended(2, ENDED_PEER_LEFT),
	    "skip: skip to the sender, peer_left to the partner");
	CHECK(mt.m_nrooms == 0 && mt.m_counters.c_reports == 0,
	    "skip: room gone, no report");
	nout = 0;
	pair(3, 4, 0);
	cmd(IMSG_REPORT, 4, 0);
	CHECK(nout == 2 && ended(4, ENDED_REPORT) && ended(3, ENDED_PEER_LEFT),
	    "report: report to the sender, peer_left to the partner");
	CHECK(matcher_counters_dirty(&mt, &c) && c.c_reports == 1,
	    "report: counted");

	/* 5 skips, meets someone new at once, reports too soon. */
	pair(5, 6, 1000);
	cmd(IMSG_SKIP, 5, 1000);
	join(5, 5, MODE_TASK, 1000);
	join(1, 1, MODE_TASK, 1000);
	nout = 0;
	cmd(IMSG_REPORT, 5, 1049);
	CHECK(only_error(5, ERR_SKIP_RATE),
	    "skip_rate: report shares the clock");
	nout = 0;
	cmd(IMSG_SKIP, 5, 1049);
	CHECK(only_error(5, ERR_SKIP_RATE), "skip_rate: skip too soon");
	nout = 0;
	cmd(IMSG_SKIP, 1, 1049);
	CHECK(ended(1, ENDED_SKIP), "skip_rate: per socket");
	join(5, 5, MODE_TASK, 1049);
	join(3, 3, MODE_TASK, 1049);
	nout = 0;
	cmd(IMSG_REPORT, 5, 1050);
	CHECK(ended(5, ENDED_REPORT) && mt.m_counters.c_reports == 2,
	    "skip_rate: refusals moved no clock");
	teardown();

	setup();
	conf.s_skip_interval_ms = 0;
	open_range(1, 3);
	pair(1, 2, 0);
	cmd(IMSG_SKIP, 1, 0);
	join(1, 1, MODE_TASK, 0);
	join(3, 3, MODE_TASK, 0);
	nout = 0;
	cmd(IMSG_SKIP, 1, 0);
	CHECK(ended(1, ENDED_SKIP), "skip_rate: 0 disables the limit");
	teardown();
}

static void
test_insights(void)
{
	struct ipc_insights	 in;

	setup();
	open_range(1, 5);
	pair(1, 2, 10000);
	join(3, 3, MODE_DEBUG, 10000);
	msg(1, "x", 10500);
	in = insights(4, 12999);
	CHECK(in.i_online == 5 && in.i_waiting == 1 && in.i_rooms == 1 &&
	    in.i_convos == 1 && in.i_messages == 1 && in.i_in_room == 0 &&
	    in.i_room_messages == 0 && in.i_room_seconds == 0,
	    "insights: totals for a socket outside a room");
	in = insights(1, 12999);
	CHECK(in.i_in_room == 1 && in.i_room_messages == 1 &&
	    in.i_room_seconds == 2, "insights: room numbers, seconds floored");
	nout = 0;
	cmd(IMSG_INSIGHTS, 1, 13998);
	CHECK(only_error(1, ERR_INSIGHTS_RATE), "insights: one per second");
	in = insights(1, 13999);
	CHECK(in.i_room_seconds == 3, "insights: the refusal moved no clock");
	teardown();
}

static void
test_close(void)
{
	struct ipc_insights	 in;

	setup();
	open_range(1, 6);
	join(1, 0x11, MODE_TASK, 0);
	nout = 0;
	cmd(IMSG_SOCK_CLOSE, 1, 0);
	CHECK(nout == 0 && matcher_queue_waiting(&mt) == 0,
	    "close: leaves the queue silently");
	join(2, 0x11, MODE_TASK, 0);
	CHECK(waiting(2) == 1, "close: the key is free again");
	join(3, 3, MODE_TASK, 0);
	nout = 0;
	cmd(IMSG_SOCK_CLOSE, 2, 0);
	CHECK(nout == 1 && ended(3, ENDED_PEER_LEFT),
	    "close: partner told peer_left, nothing to the closer");
	in = insights(4, 0);
	CHECK(in.i_online == 4 && in.i_rooms == 0 && in.i_waiting == 0,
	    "close: online and rooms go down");
	nout = 0;
	join(4, 0x11, MODE_TASK, 0);
	join(5, 3, MODE_TASK, 0);
	CHECK(matched(4, 5), "close: both keys of the room are free");
	cmd(IMSG_SOCK_CLOSE, 6, 0);
	CHECK(mt.m_socks.st_count == 3, "close: a ready socket goes quietly");
	teardown();
}

static void
test_idle(void)
{
	uint64_t	 when;

	setup();
	open_range(1, 4);
	CHECK(!matcher_room_deadline(&mt, &when), "idle: no room, no deadline");
	pair(1, 2, 1000);
	pair(3, 4, 1200);
	CHECK(matcher_room_deadline(&mt, &when) && when == 2000,
	    "idle: the first deadline runs from matched");
	msg(1, "hi", 1500);
	CHECK(matcher_room_deadline(&mt, &when) && when == 2200,
	    "idle: a relay restarts the clock, the other room is next");
	nout = 0;
	msg(3, "  ", 1700);
	CHECK(only_error(3, ERR_EMPTY), "idle: a refused message...");
	nout = 0;
	matcher_room_expire(&mt, 2199);
	CHECK(nout == 0, "idle: nothing before the deadline");
	matcher_room_expire(&mt, 2200);
	CHECK(nout == 2 && ended(3, ENDED_IDLE) && ended(4, ENDED_IDLE) &&
	    mt.m_nrooms == 1, "idle: ...is no activity; idle to both");
	CHECK(matcher_room_deadline(&mt, &when) && when == 2500,
	    "idle: the next deadline");
	nout = 0;
	matcher_room_expire(&mt, 5000);
	CHECK(nout == 2 && ended(1, ENDED_IDLE) && ended(2, ENDED_IDLE) &&
	    !matcher_room_deadline(&mt, &when), "idle: the last room");
	pair(1, 3, 6000);
	cmd(IMSG_SKIP, 1, 6000);
	CHECK(!matcher_room_deadline(&mt, &when),
	    "idle: a skipped room has no deadline");
	teardown();
}

static void
test_counters(void)
{
	struct counters		 c, load;
	struct stats_matcher	 sm;

	setup();
	CHECK(!matcher_counters_dirty(&mt, &c), "counters: clean at start");
	open_range(1, 2);
	memset(&load, 0, sizeof(load));
	load.c_connections = 100;
	load.c_convos = 20;
	load.c_messages = 300;
	load.c_reports = 4;
	matcher_counters_load(&mt, &load);
	pair(1, 2, 0);
	msg(1, "m", 0);
	cmd(IMSG_REPORT, 2, 0);
	CHECK(matcher_counters_dirty(&mt, &c) && c.c_connections == 102 &&
	    c.c_convos == 21 && c.c_messages == 301 && c.c_reports == 5,
	    "counters: loaded totals plus what was counted");
	CHECK(!matcher_counters_dirty(&mt, &c), "counters: clean after a save");
	cmd(IMSG_SOCK_CLOSE, 1, 0);
	CHECK(!matcher_counters_dirty(&mt, &c),
	    "counters: a close counts none");
	cmd(IMSG_SOCK_OPEN, 3, 0);
	CHECK(matcher_counters_dirty(&mt, &c) && c.c_connections == 103,
	    "counters: an open counts a connection");
	join(3, 3, MODE_DEBUG, 0);
	matcher_stats(&mt, &sm);
	CHECK(sm.sm_waiting == 1 && sm.sm_rooms == 0 &&
	    memcmp(&sm.sm_counters, &mt.m_counters, sizeof(c)) == 0,
	    "counters: stats for devroulettectl");
	teardown();
}

static void
test_handles(void)
{
	char	 a[HANDLE_MAX + 1], b[HANDLE_MAX + 1];
	int	 i, ok = 1;

	for (i = 0; i < 5000; i++) {
		matcher_handle_draw(a, b);
		if (!handle_ok(a) || !handle_ok(b) || strcmp(a, b) == 0 ||
		    strchr(a, '-') == NULL)
			ok = 0;
	}
	CHECK(ok, "handles: [a-z-]{3,32}, distinct in a room");
}

/* The id table grows, shrinks by deletion, and still finds everyone. */
static void
test_table(void)
{
	struct ipc_insights	 in;
	uint64_t		 id, n = 20000;
	int			 ok = 1;

	setup();
	for (id = 1; id <= n; id++)
		cmd(IMSG_SOCK_OPEN, id * 7919, 0);
	for (id = 1; id <= n; id += 2)
		cmd(IMSG_SOCK_CLOSE, id * 7919, 0);
	for (id = 2; id <= n; id += 2) {
		if (matcher_sock_find(&mt, id * 7919) == NULL)
			ok = 0;
		if (matcher_sock_find(&mt, (id - 1) * 7919) != NULL)
			ok = 0;
	}
	CHECK(ok, "table: lookups right after many deletions");
	in = insights(2 * 7919, 0);
	CHECK(in.i_online == n / 2, "table: online after churn");
	for (id = 2; id <= n; id += 2)
		cmd(IMSG_SOCK_CLOSE, id * 7919, 0);
	CHECK(mt.m_socks.st_count == 0, "table: empty again");
	teardown();
}

/* Run f in a child; its exit status, or -1 if it did not exit. */
static int
child_status(void (*f)(void))
{
	pid_t	 pid;
	int	 status, fd;

	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDERR_FILENO);
		setup();
		open_range(1, 2);
		f();
		_exit(0);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		return (-1);
	return (WEXITSTATUS(status));
}

/* A broken contract from the front (or the parent) must be fatal. */
static void
fatal_case(const char *name, void (*f)(void))
{
	CHECK(child_status(f) == 1, "fatal: %s", name);
}

static void
f_unknown(void)
{
	cmd(IMSG_QUEUED, 1, 0);
}

static void
f_size(void)
{
	uint8_t	 b[sizeof(struct ipc_join) + 1];

	memset(b, 1, sizeof(b));
	matcher_handle(&mt, IMSG_JOIN, 1, b, sizeof(b) - 2, 0);
}

static void
f_skip_payload(void)
{
	matcher_handle(&mt, IMSG_SKIP, 1, (const uint8_t *)"x", 1, 0);
}

static void
f_id0(void)
{
	cmd(IMSG_INSIGHTS, 0, 0);
}

static void
f_open_twice(void)
{
	cmd(IMSG_SOCK_OPEN, 2, 0);
}

static void
f_close_unknown(void)
{
	cmd(IMSG_SOCK_CLOSE, 3, 0);
}

static void
f_mode(void)
{
	join(1, 1, MODE_MAX, 0);
}

static void
f_mode0(void)
{
	join(1, 1, 0, 0);
}

static void
f_utf8(void)
{
	msg(1, "a\xc0\xafz", 0);
}

static void
f_empty_msg(void)
{
	matcher_handle(&mt, IMSG_MSG, 1, (const uint8_t *)"", 0, 0);
}

static void
f_long_msg(void)
{
	static uint8_t	 b[IPC_TEXT_MAX + 1];

	memset(b, 'a', sizeof(b));
	matcher_handle(&mt, IMSG_MSG, 1, b, sizeof(b), 0);
}

static void
f_load_twice(void)
{
	struct counters	 c;

	memset(&c, 0, sizeof(c));
	matcher_counters_load(&mt, &c);
	matcher_counters_load(&mt, &c);
}

static void
f_none(void)
{
	cmd(IMSG_INSIGHTS, 1, 0);
}

int
main(void)
{
	log_init(1, LOG_DAEMON);
	log_setverbose(0);

	test_fifo();
	test_debug_queue();
	test_key_in_use();
	test_state();
	test_no_rematch();
	test_msg_rate();
	test_content();
	test_limit();
	test_skip_report();
	test_insights();
	test_close();
	test_idle();
	test_counters();
	test_handles();
	test_table();

	fatal_case("unknown type", f_unknown);
	fatal_case("wrong payload size", f_size);
	fatal_case("payload on an empty message", f_skip_payload);
	fatal_case("socket id 0", f_id0);
	fatal_case("socket opened twice", f_open_twice);
	fatal_case("close of an unknown socket", f_close_unknown);
	fatal_case("join mode MODE_MAX", f_mode);
	fatal_case("join mode 0", f_mode0);
	fatal_case("msg not UTF-8", f_utf8);
	fatal_case("msg of 0 bytes", f_empty_msg);
	fatal_case("msg over IPC_TEXT_MAX", f_long_msg);
	fatal_case("counters loaded twice", f_load_twice);
	CHECK(child_status(f_none) == 0, "fatal: the harness sees a clean run");
	return (unit_done());
}
