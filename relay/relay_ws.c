/*
 * RFC 6455, the server's side (PROTOCOL.md section 1, docs/PROTOCOL.md
 * D9-D13): frames in, checked as soon as their header is in; text
 * messages reassembled and checked as UTF-8 while their bytes arrive;
 * control frames, the frame budget and the close handshake; frames out.
 *
 * Input arrives in the front's shared read buffer and is parsed where it
 * lies.  Only a frame cut short by the end of a read is copied, into
 * c_in, and then only its own bytes, so c_in never holds more than one
 * frame; only a fragmented message is copied into c_msg.  Payloads are
 * unmasked in place.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <string.h>

#include "relay.h"

static int	 relay_ws_reading(const struct conn *);
static size_t	 relay_ws_need(const uint8_t *, size_t);
static size_t	 relay_ws_frames(struct conn *, uint8_t *, size_t);
static void	 relay_ws_partial(struct conn *, const struct ws_frame *,
		    uint8_t *, size_t);
static void	 relay_ws_frame(struct conn *, const struct ws_frame *,
		    uint8_t *);
static void	 relay_ws_data(struct conn *, const struct ws_frame *,
		    uint8_t *, int);
static void	 relay_ws_peer_close(struct conn *, const uint8_t *, size_t);
static void	 relay_ws_msg_reset(struct conn *);
static const char *relay_ws_reason(int);

static const struct {
	int		 cr_code;
	const char	*cr_reason;
} relay_ws_reasons[] = {
	{ 1000, "" },
	{ 1001, "server shutting down" },
	{ 1002, "protocol error" },
	{ 1003, "binary frames are not accepted" },
	{ 1007, "invalid UTF-8" },
	{ 1009, "message too big" },
	{ 4000, "missed heartbeats" },
	{ 4001, "no proof of work in time" },
	{ 4002, "banned" },
	{ 4003, "debug mode refused" },
	{ 4005, "unsupported protocol version" }
};

static const char *
relay_ws_reason(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(relay_ws_reasons) /
	    sizeof(relay_ws_reasons[0]); i++)
		if (relay_ws_reasons[i].cr_code == code)
			return (relay_ws_reasons[i].cr_reason);
	return ("");
}

/* Open, or closing and still looking for the peer's close frame. */
static int
relay_ws_reading(const struct conn *c)
{
	return (CS_ISOPEN(c->c_state) || c->c_state == CS_CLOSING);
}

void
relay_ws_input(struct conn *c, uint8_t *p, size_t n)
{
	size_t	 take, used;

	/*
	 * Finish the frame a previous read cut short, feeding it only its
	 * own bytes: the rest is parsed where it lies.
	 */
	while (rbuf_len(c->c_in) > 0 && n > 0 && relay_ws_reading(c)) {
		take = relay_ws_need(rbuf_ptr(c->c_in), rbuf_len(c->c_in));
		if (take > n)
			take = n;
		rbuf_add(&c->c_in, p, take);
		p += take;
		n -= take;
		used = relay_ws_frames(c, rbuf_ptr(c->c_in),
		    rbuf_len(c->c_in));
		if (!relay_ws_reading(c))
			goto done;
		rbuf_drain(&c->c_in, used);
	}
	if (n == 0 || !relay_ws_reading(c))
		goto done;
	used = relay_ws_frames(c, p, n);
	if (relay_ws_reading(c) && used < n)
		rbuf_add(&c->c_in, p + used, n - used);
 done:
	/* Nothing more will be parsed: let the buffers go now. */
	if (!relay_ws_reading(c)) {
		rbuf_free(&c->c_in);
		rbuf_free(&c->c_msg);
	}
}

/* Bytes still missing from the frame (or header) at the start of buf. */
static size_t
relay_ws_need(const uint8_t *buf, size_t len)
{
	struct ws_frame	 wf;
	size_t		 hdrlen;
	int		 r;

	if (len < 2)
		return (2 - len);
	r = ws_frame_parse(buf, len, &wf);
	if (r == 0) {
		hdrlen = 2 + ((buf[1] & 0x7f) == 126 ? 2 :
		    (buf[1] & 0x7f) == 127 ? 8 : 0) + ((buf[1] & 0x80) ? 4 : 0);
		return (hdrlen - len);
	}
	/* A bad header was failed before it was kept; be safe anyway. */
	if (r < 0 || wf.wf_hdrlen + wf.wf_len <= len)
		return (1);
	return (wf.wf_hdrlen + wf.wf_len - len);
}

/*
 * Handle the complete frames at the start of buf; judge the header (and
 * the text so far) of an incomplete last one.  Returns the bytes of the
 * complete frames.  The connection may be closing or gone on return.
 */
static size_t
relay_ws_frames(struct conn *c, uint8_t *buf, size_t len)
{
	struct ws_frame	 wf;
	size_t		 off = 0, avail;
	int		 r, code;

	while (off < len && relay_ws_reading(c)) {
		r = ws_frame_parse(buf + off, len - off, &wf);
		if (r == 0)
			break;
		if (r < 0) {
			relay_ws_fail(c, 1002);
			break;
		}
		if (c->c_state == CS_CLOSING)
			/* Only skipped now, but never kept if it is huge. */
			code = wf.wf_len > WS_MAX_MESSAGE ? 1009 : 0;
		else
			code = relay_ws_check(&wf, c->c_msglen, c->c_nframes);
		if (code != 0) {
			relay_ws_fail(c, code);
			break;
		}
		avail = len - off - wf.wf_hdrlen;
		if (avail < wf.wf_len) {
			relay_ws_partial(c, &wf, buf + off + wf.wf_hdrlen, avail);
			break;
		}
		relay_ws_frame(c, &wf, buf + off + wf.wf_hdrlen);
		off += wf.wf_hdrlen + wf.wf_len;
	}
	return (off);
}

/*
 * The checks a frame header allows on its own, in the order of section 1:
 * 0 if the frame may proceed, else the close code.  msglen and nframes
 * describe the text message in progress (0 and 0: none).
 */
int
relay_ws_check(const struct ws_frame *wf, uint32_t msglen, uint32_t nframes)
{
	if (wf->wf_rsv != 0 || !ws_opcode_known(wf->wf_opcode) ||
	    !wf->wf_masked)
		return (1002);
	if (wf->wf_opcode >= WS_OP_CLOSE)
		return (!wf->wf_fin || wf->wf_len > WS_CONTROL_MAX ? 1002 : 0);
	if ((wf->wf_opcode == WS_OP_CONT) != (nframes > 0))
		return (1002);		/* no start, or a start mid-message */
	if (wf->wf_opcode == WS_OP_BINARY)
		return (1003);
	if (msglen > WS_MAX_MESSAGE || wf->wf_len > WS_MAX_MESSAGE - msglen)
		return (1009);
	if (nframes >= WS_MAX_FRAMES)
		return (1009);
	return (0);
}

/* A text frame's bytes so far: an invalid sequence fails at once. */
static void
relay_ws_partial(struct conn *c, const struct ws_frame *wf, uint8_t *payload,
    size_t avail)
{
	if (!CS_ISOPEN(c->c_state) || wf->wf_opcode >= WS_OP_CLOSE ||
	    avail <= c->c_fed)
		return;
	ws_unmask(payload + c->c_fed, avail - c->c_fed, wf->wf_mask, c->c_fed);
	if (utf8_stream_feed(&c->c_utf8, payload + c->c_fed,
	    avail - c->c_fed) == -1) {
		relay_ws_fail(c, 1007);
		return;
	}
	c->c_fed = avail;
}

static void
relay_ws_frame(struct conn *c, const struct ws_frame *wf, uint8_t *payload)
{
	uint64_t	 now = mono_ms();
	size_t		 fed = c->c_fed;
	int		 over;

	c->c_fed = 0;
	c->c_seen = now;
	if (wf->wf_len > fed)
		ws_unmask(payload + fed, wf->wf_len - fed, wf->wf_mask, fed);

	if (c->c_state == CS_CLOSING) {
		/* The answer to our close: nothing else matters now. */
		if (wf->wf_opcode == WS_OP_CLOSE)
			relay_drain(c);
		return;
	}
	if (wf->wf_opcode == WS_OP_CLOSE) {
		relay_ws_peer_close(c, payload, wf->wf_len);
		return;
	}

	/* Invalid text is a protocol error whatever the budget says. */
	if (wf->wf_opcode < WS_OP_CLOSE &&
	    (utf8_stream_feed(&c->c_utf8, payload + fed, wf->wf_len - fed) ==
	    -1 || (wf->wf_fin && !utf8_stream_complete(&c->c_utf8)))) {
		relay_ws_fail(c, 1007);
		return;
	}

	over = !relay_budget_take(&c->c_budget, (uint32_t)now);
	if (over) {
		relay_violation(c->c_ip);
		if (!CS_ISOPEN(c->c_state))
			return;		/* that violation was the ban */
	}

	switch (wf->wf_opcode) {
	case WS_OP_PING:
		if (!over)
			relay_ws_send(c, WS_OP_PONG, payload, wf->wf_len);
		break;
	case WS_OP_PONG:
		break;
	default:
		relay_ws_data(c, wf, payload, over);
		break;
	}
}

/*
 * A text frame, first or continuation.  A message with any frame over
 * the budget is dropped whole when it ends (a fragment cannot be dropped
 * alone): its bytes are counted but no longer kept.
 */
static void
relay_ws_data(struct conn *c, const struct ws_frame *wf, uint8_t *payload,
    int over)
{
	if (over)
		c->c_flags |= CF_MSGDROP;
	c->c_nframes++;
	c->c_msglen += wf->wf_len;
	if (!wf->wf_fin) {
		if (!(c->c_flags & CF_MSGDROP))
			rbuf_add(&c->c_msg, payload, wf->wf_len);
		return;
	}
	if (!(c->c_flags & CF_MSGDROP)) {
		/* Earlier fragments that were all empty leave c_msg NULL. */
		if (c->c_msg == NULL)
			relay_client_message(c, payload, wf->wf_len);
		else {
			rbuf_add(&c->c_msg, payload, wf->wf_len);
			relay_client_message(c, rbuf_ptr(c->c_msg),
			    rbuf_len(c->c_msg));
		}
	}
	relay_ws_msg_reset(c);
}

static void
relay_ws_msg_reset(struct conn *c)
{
	rbuf_free(&c->c_msg);
	c->c_msglen = 0;
	c->c_nframes = 0;
	c->c_flags &= ~CF_MSGDROP;
	utf8_stream_init(&c->c_utf8);
}

/*
 * The client closes (D13): an empty close is answered with an empty one,
 * a valid code is echoed, a 1-byte payload or a code RFC 6455 forbids on
 * the wire is a protocol error, and so is a reason that is not UTF-8
 * (1007).  Either way the socket stops being an open WebSocket now.
 */
static void
relay_ws_peer_close(struct conn *c, const uint8_t *payload, size_t len)
{
	uint8_t	 echo[2] = { 0, 0 };
	int	 code;

	if (len == 1) {
		relay_ws_fail(c, 1002);
		return;
	}
	if (len >= 2) {
		code = (payload[0] << 8) | payload[1];
		if (!ws_close_code_valid(code)) {
			relay_ws_fail(c, 1002);
			return;
		}
		if (!utf8_valid(payload + 2, len - 2)) {
			relay_ws_fail(c, 1007);
			return;
		}
		echo[0] = payload[0];
		echo[1] = payload[1];
	}
	relay_detach(c);
	if (relay_ws_send(c, WS_OP_CLOSE, echo, len >= 2 ? 2 : 0) == -1)
		return;
	relay_drain(c);
}

/*
 * The server closes: the socket stops being an open WebSocket at once
 * (IMSG_SOCK_CLOSE), the close frame goes out after anything queued, and
 * the peer has RELAY_GRACE_MS to answer before the TCP connection goes.
 */
void
relay_ws_close(struct conn *c, int code, const char *reason)
{
	uint8_t	 payload[2 + RELAY_CLOSE_REASON_MAX];
	size_t	 rlen;

	if (!CS_ISOPEN(c->c_state))
		return;
	if (reason == NULL)
		reason = relay_ws_reason(code);
	rlen = strlen(reason);
	if (rlen > RELAY_CLOSE_REASON_MAX)
		rlen = RELAY_CLOSE_REASON_MAX;
	payload[0] = (code >> 8) & 0xff;
	payload[1] = code & 0xff;
	memcpy(payload + 2, reason, rlen);

	log_debug("%s: socket %llu: close %d", __func__,
	    (unsigned long long)c->c_id, code);
	relay_detach(c);
	relay_ws_msg_reset(c);
	c->c_state = CS_CLOSING;
	c->c_deadline = mono_ms() + RELAY_GRACE_MS;
	if (relay_ws_send(c, WS_OP_CLOSE, payload, 2 + rlen) == -1)
		return;
	relay_timer_arm(c);
}

/*
 * A WebSocket protocol error: close with its code, count the violation,
 * and read no further (the stream cannot be trusted to be framed).  Once
 * closing, the peer gets nothing more: the connection just drains.
 */
void
relay_ws_fail(struct conn *c, int code)
{
	struct ipent	*ie;

	if (!CS_ISOPEN(c->c_state)) {
		relay_drain(c);
		return;
	}
	ie = c->c_ip;
	relay_ws_close(c, code, NULL);
	relay_drain(c);
	relay_violation(ie);
}

void
relay_ws_ping(struct conn *c)
{
	relay_ws_send(c, WS_OP_PING, NULL, 0);
}

/* One unfragmented frame.  Returns -1 if the socket was dropped. */
int
relay_ws_send(struct conn *c, int opcode, const void *payload, size_t len)
{
	uint8_t	 hdr[WS_HDR_MAX];
	size_t	 hlen;

	if (c->c_state == CS_DEAD)
		return (-1);
	hlen = ws_frame_header(hdr, 1, opcode, len, NULL);
	rbuf_add(&c->c_out, hdr, hlen);
	rbuf_add(&c->c_out, payload, len);
	return (relay_queue_flush(c));
}

/* Every ring slot starts one window ago: a fresh socket has its budget. */
void
relay_budget_init(struct budget *bu, uint32_t now)
{
	int	 i;

	for (i = 0; i < FRAME_BUDGET; i++)
		bu->bu_t[i] = now - RELAY_BUDGET_MS;
	bu->bu_next = 0;
}

/*
 * D9: a frame is within budget if fewer than FRAME_BUDGET frames within
 * budget arrived in the RELAY_BUDGET_MS before it, i.e. if the oldest of
 * the last FRAME_BUDGET is at least that old.  Frames over budget do not
 * use it up.  The clock is 32 bits: differences wrap correctly.
 */
int
relay_budget_take(struct budget *bu, uint32_t now)
{
	if ((uint32_t)(now - bu->bu_t[bu->bu_next]) < RELAY_BUDGET_MS)
		return (0);
	bu->bu_t[bu->bu_next] = now;
	bu->bu_next = (bu->bu_next + 1) % FRAME_BUDGET;
	return (1);
}
