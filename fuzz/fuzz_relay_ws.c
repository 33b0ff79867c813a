/*
 * The front's stateful input path: relay_ws_input() (relay/relay_ws.c) on
 * one connection, with everything behind it: frame checks, reassembly,
 * UTF-8 across fragments, the frame budget, the close handshake, the
 * client messages against the state mirror (relay/relay_client.c,
 * relay_msg.c), the outbound JSON (relay_out.c) and the per-IP windows and
 * bans (relay_ip.c).
 *
 * relay.c's sockets and event loop are replaced by the stand-ins below,
 * which make the same state changes as the real functions.  A fake matcher
 * answers what the front sends it, as the real one would, between reads.
 *
 * Input: one byte of settings, one byte that seeds how the rest is cut
 * into reads and how much time passes between them, then the bytes a
 * client sends after the 101.
 *
 * Checked: the front never sends the matcher anything the matcher would
 * die of, nor anything after IMSG_SOCK_CLOSE; it takes the matcher's
 * answers without dying; what it writes to the client is well-framed
 * (unmasked, final, known opcodes, UTF-8 text, nothing after its close
 * frame); its buffers stay bounded and are gone once nothing more will be
 * read; the per-IP counts agree with the socket's state.  And, run again
 * with the clock stopped, the input in one read and in many must make the
 * front say exactly the same things.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "fuzz.h"

/* The first byte of input. */
#define CFG_STATE	0x03	/* 0, 1: hello; 2: ready; 3: in a room */
#define CFG_SLOW	0x04	/* a tiny MAX_OUTBUF: the client reads slowly */
#define CFG_KEYINUSE	0x08	/* joins are answered key_in_use */
#define CFG_NOMATCH	0x10	/* no partner at once: matched comes later */
#define CFG_RATE	0x20	/* msgs are answered with error rate */
#define CFG_BANSOON	0x40	/* BAN_AFTER_VIOLATIONS 3, not 1000 */
#define CFG_POW1	0x80	/* POW_BITS 1, not 0 */

#define CHALLENGE	"00112233445566778899aabbccddeeff"

enum run_mode {
	RUN_LIVE,
	RUN_WHOLE,
	RUN_PIECES
};

/* An answer of the fake matcher, waiting for the end of the read. */
struct reply {
	uint32_t	 rp_type;
	size_t		 rp_len;
	uint8_t		*rp_data;
};

/* What the fake matcher knows of the one socket. */
struct fake_matcher {
	int		 fm_queued;
	int		 fm_room;
	int		 fm_closed;	/* IMSG_SOCK_CLOSE heard */
	struct reply	*fm_replies;
	size_t		 fm_nreplies;
	size_t		 fm_size;
};

static struct front		 fake_front;
struct front			*front = &fake_front;
static struct settings		 conf;
static struct fake_matcher	 fm;
static uint8_t			 cfg;
static int			 close_sent;	/* our close frame went out */
static int			 run_mode;	/* enum run_mode */
static struct rbuf		*transcript;	/* what the front said */

static uint32_t	 rnd(uint32_t *);
static void	 fm_reply(uint32_t, const void *, size_t);
static void	 fm_error(enum dr_error);
static void	 fm_ended(enum dr_ended);
static void	 fm_matched(void);
static void	 fm_hear(uint32_t, const void *, size_t);
static void	 fm_deliver(struct conn *);
static void	 check_output(struct conn *);
static void	 check_conn(struct conn *, struct ipent *);
static void	 run(const uint8_t *, size_t, int, uint32_t);

/*
 * Stand-ins for relay.c, one for each of its functions the files under
 * test call (a missing one pulls in relay.o, and the link fails).  Writes
 * never happen: the output stays in c_out until the harness reads it
 * after each read, as if the client read everything at once, unless
 * CFG_SLOW makes the limit tiny.
 */
void
relay_close(struct conn *c, const char *reason)
{
	if (c->c_state == CS_DEAD)
		return;
	relay_detach(c);
	c->c_state = CS_DEAD;
}

int
relay_queue_flush(struct conn *c)
{
	if (c->c_state == CS_DEAD)
		return (-1);
	if (rbuf_len(c->c_out) <= front->f_conf->s_max_outbuf)
		return (0);
	relay_close(c, "slow reader");
	return (-1);
}

void
relay_timer_arm(struct conn *c)
{
	/* Timers never fire here: reads are all that happens. */
}

void
relay_detach(struct conn *c)
{
	struct ipent	*ie = c->c_ip;

	if (!CS_ISOPEN(c->c_state))
		return;
	if (c->c_state == CS_JOINING)
		ip_join_accept(ie, mono_ms());
	LIST_REMOVE(c, c_ipentry);
	ie->ie_nsocks--;
	c->c_ip = NULL;
	front->f_nopen--;
	relay_send_matcher(c, IMSG_SOCK_CLOSE, NULL, 0);
	c->c_state = CS_CLOSING;
	c->c_deadline = mono_ms() + RELAY_GRACE_MS;
}

void
relay_violation(struct ipent *ie)
{
	struct conn	*c;

	if (ie == NULL || !ip_violation(ie, mono_ms(),
	    conf.s_ban_after_violations, conf.s_ban_ms))
		return;
	while ((c = LIST_FIRST(&ie->ie_socks)) != NULL)
		relay_ws_close(c, 4002, NULL);
}

void
relay_drain(struct conn *c)
{
	if (c->c_state == CS_DEAD || c->c_state == CS_DRAIN)
		return;
	relay_detach(c);
	c->c_state = CS_DRAIN;
}

int
relay_send_matcher(struct conn *c, uint32_t type, const void *data,
    size_t len)
{
	FUZZ_CHECK(c->c_id == 1, "socket id %llu",
	    (unsigned long long)c->c_id);
	fm_hear(type, data, len);
	return (0);
}

int
relay_send_stamped(struct conn *c, uint32_t type, uint64_t now,
    const void *data, size_t len)
{
	static uint8_t	 buf[IPC_STAMP_LEN + IPC_TEXT_MAX];

	FUZZ_CHECK(len <= IPC_TEXT_MAX, "stamped type %u of %zu bytes", type,
	    len);
	memcpy(buf, &now, IPC_STAMP_LEN);
	if (len > 0)
		memcpy(buf + IPC_STAMP_LEN, data, len);
	return (relay_send_matcher(c, type, buf, IPC_STAMP_LEN + len));
}

/* xorshift32: cuts and delays from one input byte. */
static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (*x);
}

static void
fm_reply(uint32_t type, const void *data, size_t len)
{
	struct reply	*rp;

	if (fm.fm_nreplies == fm.fm_size) {
		fm.fm_size = fm.fm_size == 0 ? 8 : fm.fm_size * 2;
		fm.fm_replies = xreallocarray(fm.fm_replies, fm.fm_size,
		    sizeof(*fm.fm_replies));
	}
	rp = &fm.fm_replies[fm.fm_nreplies++];
	rp->rp_type = type;
	rp->rp_len = len;
	rp->rp_data = xmalloc(len > 0 ? len : 1);
	memcpy(rp->rp_data, data, len);
}

static void
fm_error(enum dr_error code)
{
	struct ipc_error	 er;

	memset(&er, 0, sizeof(er));
	er.er_code = code;
	fm_reply(IMSG_ERROR, &er, sizeof(er));
}

static void
fm_ended(enum dr_ended why)
{
	struct ipc_ended	 e;

	memset(&e, 0, sizeof(e));
	e.e_reason = why;
	fm_reply(IMSG_ENDED, &e, sizeof(e));
	fm.fm_room = 0;
}

static void
fm_matched(void)
{
	struct ipc_matched	 m;

	memset(&m, 0, sizeof(m));
	strlcpy(m.m_you, "quiet-otter", sizeof(m.m_you));
	strlcpy(m.m_peer, "brave-badger", sizeof(m.m_peer));
	fm_reply(IMSG_MATCHED, &m, sizeof(m));
	fm.fm_queued = 0;
	fm.fm_room = 1;
}

/*
 * The matcher's side of the contract first (what matcher_handle() would
 * die of), then its answer, as matcher_handle.c would give it.
 */
static void
fm_hear(uint32_t type, const void *data, size_t len)
{
	struct ipc_join		 j;
	struct ipc_queued	 q;
	struct ipc_insights	 in;
	uint8_t			 clean[IPC_TEXT_MAX];
	size_t			 n;

	FUZZ_CHECK(!fm.fm_closed, "type %u after SOCK_CLOSE", type);
	if (IPC_STAMPED(type)) {	/* D45: when the front read it */
		FUZZ_CHECK(len >= IPC_STAMP_LEN, "type %u of %zu bytes", type,
		    len);
		data = (const uint8_t *)data + IPC_STAMP_LEN;
		len -= IPC_STAMP_LEN;
	}
	if (run_mode != RUN_LIVE) {
		rbuf_add(&transcript, &type, sizeof(type));
		rbuf_add(&transcript, &len, sizeof(len));
		rbuf_add(&transcript, data, len);
	}
	switch (type) {
	case IMSG_SOCK_CLOSE:
		FUZZ_CHECK(len == 0, "SOCK_CLOSE of %zu bytes", len);
		fm.fm_closed = 1;
		return;
	case IMSG_JOIN:
		FUZZ_CHECK(len == sizeof(j), "JOIN of %zu bytes", len);
		memcpy(&j, data, sizeof(j));
		FUZZ_CHECK(j.j_mode >= MODE_TASK && j.j_mode < MODE_MAX,
		    "JOIN mode %u", j.j_mode);
		if (fm.fm_queued || fm.fm_room)
			fm_error(ERR_STATE);
		else if (cfg & CFG_KEYINUSE)
			fm_error(ERR_KEY_IN_USE);
		else {
			memset(&q, 0, sizeof(q));
			q.q_waiting = 1;
			fm_reply(IMSG_QUEUED, &q, sizeof(q));
			fm.fm_queued = 1;
			if (!(cfg & CFG_NOMATCH))
				fm_matched();
		}
		return;
	case IMSG_MSG:
		FUZZ_CHECK(len >= 1 && len <= IPC_TEXT_MAX &&
		    utf8_valid(data, len), "MSG of %zu bytes", len);
		if (!fm.fm_room)
			fm_error(ERR_STATE);
		else if (cfg & CFG_RATE)
			fm_error(ERR_RATE);
		else {
			/* The partner says the same back. */
			n = sanitise(data, len, clean, NULL);
			if (sanitise_empty(clean, n))
				fm_error(ERR_EMPTY);
			else
				fm_reply(IMSG_RELAY, clean, n);
		}
		return;
	case IMSG_SKIP:
	case IMSG_REPORT:
		FUZZ_CHECK(len == 0, "SKIP or REPORT of %zu bytes", len);
		if (!fm.fm_room)
			fm_error(ERR_STATE);
		else
			fm_ended(type == IMSG_SKIP ? ENDED_SKIP : ENDED_REPORT);
		return;
	case IMSG_INSIGHTS:
		FUZZ_CHECK(len == 0, "INSIGHTS of %zu bytes", len);
		memset(&in, 0, sizeof(in));
		in.i_online = 2;
		in.i_in_room = fm.fm_room;
		fm_reply(IMSG_INSIGHTS_REPLY, &in, sizeof(in));
		return;
	}
	FUZZ_CHECK(0, "type %u to the matcher", type);
}

/*
 * Answers arrive between reads, as they would from another process.  A
 * socket no longer open is gone from the front's id table, so its
 * answers are checked and dropped (c NULL), as in relay_dispatch_matcher().
 */
static void
fm_deliver(struct conn *c)
{
	struct reply	*rp;
	size_t		 i;

	for (i = 0; i < fm.fm_nreplies; i++) {
		rp = &fm.fm_replies[i];
		relay_client_reply(CS_ISOPEN(c->c_state) ? c : NULL,
		    rp->rp_type, rp->rp_data, rp->rp_len);
		free(rp->rp_data);
	}
	fm.fm_nreplies = 0;
}

/* What the client reads: well-framed, and nothing after our close. */
static void
check_output(struct conn *c)
{
	struct ws_frame	 wf;
	const uint8_t	*p = rbuf_ptr(c->c_out);
	size_t		 len = rbuf_len(c->c_out), off;
	int		 r;

	for (off = 0; off < len; off += wf.wf_hdrlen + wf.wf_len) {
		FUZZ_CHECK(!close_sent, "a frame after our close");
		r = ws_frame_parse(p + off, len - off, &wf);
		FUZZ_CHECK(r > 0 && wf.wf_hdrlen + wf.wf_len <= len - off,
		    "a partial frame queued");
		FUZZ_CHECK(wf.wf_fin && wf.wf_rsv == 0 && !wf.wf_masked,
		    "frame bits");
		switch (wf.wf_opcode) {
		case WS_OP_TEXT:
			FUZZ_CHECK(utf8_valid(p + off + r, wf.wf_len) &&
			    wf.wf_len >= 2 && p[off + r] == '{' &&
			    p[off + r + wf.wf_len - 1] == '}', "text frame");
			break;
		case WS_OP_CLOSE:
			FUZZ_CHECK(wf.wf_len != 1 && wf.wf_len <= WS_CONTROL_MAX,
			    "close of %llu", (unsigned long long)wf.wf_len);
			if (wf.wf_len >= 2)
				FUZZ_CHECK(ws_close_code_valid(
				    (p[off + r] << 8) | p[off + r + 1]) &&
				    utf8_valid(p + off + r + 2, wf.wf_len - 2),
				    "close payload");
			close_sent = 1;
			break;
		case WS_OP_PING:
		case WS_OP_PONG:
			FUZZ_CHECK(wf.wf_len <= WS_CONTROL_MAX, "control size");
			break;
		default:
			FUZZ_CHECK(0, "opcode %d", wf.wf_opcode);
		}
	}
	rbuf_free(&c->c_out);
}

static void
check_conn(struct conn *c, struct ipent *ie)
{
	int	 reading;

	reading = CS_ISOPEN(c->c_state) || c->c_state == CS_CLOSING;
	if (reading) {
		/* At most one frame kept, and one message. */
		FUZZ_CHECK(rbuf_len(c->c_in) < WS_HDR_MAX + WS_MAX_MESSAGE,
		    "c_in holds %zu", rbuf_len(c->c_in));
		FUZZ_CHECK(rbuf_len(c->c_msg) <= WS_MAX_MESSAGE &&
		    c->c_msglen <= WS_MAX_MESSAGE &&
		    c->c_nframes <= WS_MAX_FRAMES, "message of %u bytes",
		    c->c_msglen);
	} else if (c->c_state != CS_DEAD)
		/* A dead one is freed whole by relay_flush(), read or not. */
		FUZZ_CHECK(c->c_in == NULL && c->c_msg == NULL,
		    "buffers kept in state %d", c->c_state);
	FUZZ_CHECK(CS_ISOPEN(c->c_state) == (c->c_ip != NULL) &&
	    ie->ie_nsocks == (CS_ISOPEN(c->c_state) ? 1 : 0) &&
	    front->f_nopen == ie->ie_nsocks, "open counts");
	FUZZ_CHECK(ie->ie_pending == (c->c_state == CS_JOINING ? 1 : 0),
	    "%u joins pending in state %d", ie->ie_pending, c->c_state);
	FUZZ_CHECK(CS_ISOPEN(c->c_state) == !fm.fm_closed,
	    "SOCK_CLOSE %s in state %d", fm.fm_closed ? "sent" : "missing",
	    c->c_state);
}

/*
 * One connection through the input.  RUN_LIVE is the realistic run: reads
 * of varied sizes, time passing, the client reading everything and the
 * matcher answering between reads.  RUN_WHOLE and RUN_PIECES freeze the
 * clock, hold the matcher's answers and the client's reading, and feed
 * the input in one read or in many: what the front says (to the client
 * and to the matcher) is recorded, and must not depend on where TCP cut
 * the stream.
 */
static void
run(const uint8_t *data, size_t size, int mode, uint32_t x)
{
	struct conn	 c;
	struct ipkey	 ik;
	struct ipent	*ie;
	uint8_t		*buf;
	size_t		 off, n;
	int		 st;

	memset(&conf, 0, sizeof(conf));
	conf.s_joins_per_min = 2;
	conf.s_pow_bits = (cfg & CFG_POW1) ? 1 : 0;
	conf.s_pow_deadline_ms = 10000;
	conf.s_ping_interval_ms = 15000;
	conf.s_beat_timeout_ms = 25000;
	conf.s_ban_after_violations = (cfg & CFG_BANSOON) ? 3 : 1000;
	conf.s_ban_ms = 60000;
	conf.s_max_outbuf = (cfg & CFG_SLOW) ? 64 : 1024 * 1024;
	memset(&fake_front, 0, sizeof(fake_front));
	front->f_conf = &conf;
	ip_table_init(&front->f_ips);
	memset(&fm, 0, sizeof(fm));
	close_sent = 0;
	run_mode = mode;
	/* The same clock every run; its low 32 bits wrap a few s in. */
	fuzz_now = (1ULL << 33) - 3000;

	/* As relay_open() leaves it, less the hello and SOCK_OPEN. */
	memset(&c, 0, sizeof(c));
	memset(&ik, 0, sizeof(ik));
	ik.ik_family = AF_INET;
	ik.ik_addr[0] = 127;
	ik.ik_addr[3] = 1;
	ie = ip_get(&front->f_ips, &ik);
	c.c_id = 1;
	c.c_ip = ie;
	LIST_INSERT_HEAD(&ie->ie_socks, &c, c_ipentry);
	ie->ie_nsocks++;
	front->f_nopen++;
	relay_challenge_set(&c, CHALLENGE);
	c.c_seen = fuzz_now;
	relay_budget_init(&c.c_budget, (uint32_t)fuzz_now);
	utf8_stream_init(&c.c_utf8);
	st = cfg & CFG_STATE;
	c.c_state = st <= 1 ? CS_HELLO : st == 2 ? CS_READY : CS_ROOM;
	fm.fm_room = c.c_state == CS_ROOM;

	for (off = 0; off < size; off += n) {
		if (mode == RUN_WHOLE)
			n = size;
		else if (mode == RUN_PIECES)
			n = 1 + rnd(&x) % 16;
		else {
			/* Mostly short reads, sometimes all at once. */
			n = rnd(&x) % 8 == 0 ? size - off : 1 + rnd(&x) % 200;
			fuzz_now += rnd(&x) % 120;
		}
		if (n > size - off)
			n = size - off;
		/* The front unmasks in its read buffer: a writable copy. */
		buf = xmalloc(n);
		memcpy(buf, data + off, n);
		relay_ws_input(&c, buf, n);
		free(buf);
		check_conn(&c, ie);
		if (mode != RUN_LIVE)
			continue;
		check_output(&c);

		/* Now and then the partner leaves, or turns up. */
		if (fm.fm_room && rnd(&x) % 16 == 0)
			fm_ended(ENDED_PEER_LEFT);
		else if (fm.fm_queued && rnd(&x) % 4 == 0)
			fm_matched();
		fm_deliver(&c);
		check_output(&c);
		check_conn(&c, ie);
		if (c.c_state == CS_DRAIN || c.c_state == CS_DEAD)
			break;
	}
	if (mode == RUN_LIVE)
		fm_deliver(&c);
	else {
		rbuf_add(&transcript, "out", 3);
		rbuf_add(&transcript, rbuf_ptr(c.c_out), rbuf_len(c.c_out));
		rbuf_add(&transcript, &c.c_state, sizeof(c.c_state));
	}
	check_output(&c);
	for (n = 0; n < fm.fm_nreplies; n++)
		free(fm.fm_replies[n].rp_data);
	free(fm.fm_replies);
	rbuf_free(&c.c_in);
	rbuf_free(&c.c_msg);
	rbuf_free(&c.c_out);
	ip_table_free(&front->f_ips);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rbuf	*whole;
	uint32_t	 x;

	if (size < 2)
		return (0);
	cfg = data[0];
	x = 0x9e3779b9U ^ data[1];
	run(data + 2, size - 2, RUN_LIVE, x);

	run(data + 2, size - 2, RUN_WHOLE, x);
	whole = transcript;
	transcript = NULL;
	run(data + 2, size - 2, RUN_PIECES, x);
	FUZZ_CHECK(rbuf_len(whole) == rbuf_len(transcript) &&
	    memcmp(rbuf_ptr(whole), rbuf_ptr(transcript), rbuf_len(whole)) == 0,
	    "one read and many differ");
	rbuf_free(&whole);
	rbuf_free(&transcript);
	return (0);
}
