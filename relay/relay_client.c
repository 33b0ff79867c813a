/*
 * The state mirror (docs/DESIGN.md, "Who decides what"): each client
 * message is checked for its schema, then against the state the client
 * has been told, then by its own checks (PROTOCOL.md section 3, D14), and
 * what passes goes to the matcher.  The matcher's replies move the mirror
 * before they are forwarded, so the mirror is exactly what the client
 * knows.
 */

#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "relay.h"

#define ST(s)		(1U << (s))
#define ST_AFTER_READY	(ST(CS_READY) | ST(CS_JOINING) | ST(CS_QUEUED) | \
			    ST(CS_ROOM))

typedef void (*relay_cmd_fn)(struct conn *, const struct client_msg *,
    uint64_t);

static void	 relay_cmd_pow(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_cmd_join(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_cmd_beat(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_cmd_msg(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_cmd_forward(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_cmd_done(struct conn *, const struct client_msg *,
		    uint64_t);
static void	 relay_challenge_hex(const struct conn *, char *);
static void	 relay_reply_state(const struct conn *, uint32_t, uint32_t);
static void	 relay_reply_matched(struct conn *, const uint8_t *);
static void	 relay_reply_ended(struct conn *, const uint8_t *);
static void	 relay_reply_error(struct conn *, const uint8_t *);

/* What a client may send, and when (D16). */
static const struct relay_cmd {
	int		 rc_type;	/* enum cmsg_type */
	uint32_t	 rc_states;
	uint32_t	 rc_imsg;	/* forwarded, stamped, or 0 */
	relay_cmd_fn	 rc_fn;
} relay_cmds[] = {
	{ CMSG_POW,	 ST(CS_HELLO),	 0,		relay_cmd_pow },
	{ CMSG_JOIN,	 ST(CS_READY),	 0,		relay_cmd_join },
	{ CMSG_BEAT,	 ST_AFTER_READY, 0,		relay_cmd_beat },
	{ CMSG_MSG,	 ST(CS_ROOM),	 0,		relay_cmd_msg },
	{ CMSG_SKIP,	 ST(CS_ROOM),	 IMSG_SKIP,	relay_cmd_forward },
	{ CMSG_REPORT,	 ST(CS_ROOM),	 IMSG_REPORT,	relay_cmd_forward },
	{ CMSG_INSIGHTS, ST_AFTER_READY, IMSG_INSIGHTS,	relay_cmd_forward },
	{ CMSG_DONE,	 ST_AFTER_READY, 0,		relay_cmd_done }
};

#define RELAY_NCMDS	(sizeof(relay_cmds) / sizeof(relay_cmds[0]))

/* A msg's text, unescaped: never longer than the message it came in. */
static uint8_t	 relay_text[WS_MAX_MESSAGE];

void
relay_client_message(struct conn *c, const uint8_t *buf, size_t len)
{
	struct client_msg	 cm;
	const struct relay_cmd	*rc = NULL;
	size_t			 i;

	if (cmsg_parse(buf, len, &cm, relay_text, sizeof(relay_text)) == -1) {
		relay_error(c, ERR_BAD_FRAME);
		return;
	}
	for (i = 0; i < RELAY_NCMDS; i++)
		if (relay_cmds[i].rc_type == cm.cm_type)
			rc = &relay_cmds[i];
	if (rc == NULL)
		fatalx("%s: message type %d", __func__, cm.cm_type);
	if ((rc->rc_states & ST(c->c_state)) == 0)
		relay_error(c, ERR_STATE);
	else
		rc->rc_fn(c, &cm, mono_ms());
	explicit_bzero(&cm, sizeof(cm));
}

/* Refuse a message; count it unless it can happen innocently. */
void
relay_error(struct conn *c, enum dr_error code)
{
	struct ipent	*ie = c->c_ip;

	relay_out_error(c, code);
	if (dr_error_is_violation(code))
		relay_violation(ie);
}

static void
relay_challenge_hex(const struct conn *c, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < sizeof(c->c_challenge); i++) {
		out[2 * i] = hex[c->c_challenge[i] >> 4];
		out[2 * i + 1] = hex[c->c_challenge[i] & 0xf];
	}
	out[2 * i] = '\0';
}

/* Kept as 16 bytes rather than 33 characters: it lives in every conn. */
void
relay_challenge_set(struct conn *c, const char *hex)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < sizeof(c->c_challenge); i++) {
		hi = hex[2 * i];
		lo = hex[2 * i + 1];
		hi = hi >= 'a' ? hi - 'a' + 10 : hi - '0';
		lo = lo >= 'a' ? lo - 'a' + 10 : lo - '0';
		c->c_challenge[i] = (hi << 4) | lo;
	}
}

static void
relay_cmd_pow(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	char	 challenge[POW_CHALLENGE_LEN + 1];

	relay_challenge_hex(c, challenge);
	if (!pow_check(challenge, cm->cm_nonce, cm->cm_noncelen,
	    (int)front->f_conf->s_pow_bits)) {
		relay_error(c, ERR_POW);
		return;
	}
	/* From ready on only the beat clock bounds the socket (D17). */
	c->c_state = CS_READY;
	c->c_deadline = now + front->f_conf->s_beat_timeout_ms;
	relay_timer_arm(c);
	relay_out_ready(c);
}

static void
relay_cmd_join(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	const struct settings	*conf = front->f_conf;
	struct ipc_join		 j;

	if (cm->cm_v != 1) {
		relay_ws_close(c, 4005, NULL);
		return;
	}
	if (cm->cm_mode == MODE_DEBUG && !conf->s_allow_debug) {
		relay_ws_close(c, 4003, NULL);
		return;
	}
	if (!ip_join_allowed(c->c_ip, now, conf->s_joins_per_min)) {
		relay_error(c, ERR_JOIN_RATE);
		return;
	}
	ip_join_pend(c->c_ip);
	c->c_state = CS_JOINING;
	memset(&j, 0, sizeof(j));
	memcpy(j.j_key, cm->cm_key, sizeof(j.j_key));
	j.j_mode = cm->cm_mode;
	relay_send_matcher(c, IMSG_JOIN, &j, sizeof(j));
	explicit_bzero(&j, sizeof(j));
}

/* beat never crosses IPC: the beat clock is the front's. */
static void
relay_cmd_beat(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	/* Later than before: the timer notices when it fires. */
	c->c_deadline = now + front->f_conf->s_beat_timeout_ms;
}

/*
 * IPC carries 1 or more bytes of text.  An empty text is sent as one
 * space: both sanitise to nothing but spaces, so the matcher answers
 * `empty` after its rate check exactly as it would for "".
 */
static void
relay_cmd_msg(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	if (cm->cm_textlen == 0)
		relay_send_stamped(c, IMSG_MSG, now, " ", 1);
	else
		relay_send_stamped(c, IMSG_MSG, now, cm->cm_text,
		    cm->cm_textlen);
}

static void
relay_cmd_forward(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	const struct relay_cmd	*rc;
	size_t			 i;

	for (i = 0; i < RELAY_NCMDS; i++) {
		rc = &relay_cmds[i];
		if (rc->rc_type == cm->cm_type) {
			relay_send_stamped(c, rc->rc_imsg, now, NULL, 0);
			return;
		}
	}
}

/* IMSG_SOCK_CLOSE, sent by the close, has the effect of done. */
static void
relay_cmd_done(struct conn *c, const struct client_msg *cm, uint64_t now)
{
	relay_ws_close(c, 1000, NULL);
}

/* The mirror and the matcher disagree: a bug in one of them. */
static void
relay_reply_state(const struct conn *c, uint32_t type, uint32_t want)
{
	if ((want & ST(c->c_state)) == 0)
		fatalx("matcher sent message type %u for socket %llu in "
		    "state %d", type, (unsigned long long)c->c_id, c->c_state);
}

static void
relay_reply_matched(struct conn *c, const uint8_t *data)
{
	struct ipc_matched	 m;

	memcpy(&m, data, sizeof(m));
	if (!out_handle_valid(m.m_you, sizeof(m.m_you)) ||
	    !out_handle_valid(m.m_peer, sizeof(m.m_peer)))
		fatalx("matcher sent a malformed handle");
	if (c != NULL) {
		relay_reply_state(c, IMSG_MATCHED, ST(CS_QUEUED));
		c->c_state = CS_ROOM;
		relay_out_matched(c, &m);
	}
	explicit_bzero(&m, sizeof(m));
}

static void
relay_reply_ended(struct conn *c, const uint8_t *data)
{
	struct ipc_ended	 e;

	memcpy(&e, data, sizeof(e));
	if (e.e_reason < ENDED_SKIP || e.e_reason >= ENDED_MAX)
		fatalx("matcher sent end reason %u", e.e_reason);
	if (c == NULL)
		return;
	relay_reply_state(c, IMSG_ENDED, ST(CS_ROOM));
	c->c_state = CS_READY;
	relay_out_ended(c, e.e_reason);
}

static void
relay_reply_error(struct conn *c, const uint8_t *data)
{
	struct ipc_error	 er;

	memcpy(&er, data, sizeof(er));
	if (er.er_code < ERR_BAD_FRAME || er.er_code >= ERR_MAX)
		fatalx("matcher sent error code %u", er.er_code);
	if (c == NULL)
		return;
	/*
	 * key_in_use answers a join.  Other errors answer a msg, skip,
	 * report or insights and may arrive in any state after ready (a msg
	 * refused after its room ended).
	 */
	if (er.er_code == ERR_KEY_IN_USE) {
		relay_reply_state(c, IMSG_ERROR, ST(CS_JOINING));
		c->c_state = CS_READY;
		ip_join_release(c->c_ip);
	} else
		relay_reply_state(c, IMSG_ERROR, ST_AFTER_READY);
	relay_error(c, er.er_code);
}

/*
 * A reply from the matcher, its size already checked.  Its content is
 * checked even when its socket is gone (c NULL), which is the normal race
 * of a close crossing a reply: then it is dropped.
 */
void
relay_client_reply(struct conn *c, uint32_t type, const uint8_t *data,
    size_t len)
{
	struct ipc_queued	 q;
	struct ipc_insights	 in;

	switch (type) {
	case IMSG_QUEUED:
		memcpy(&q, data, sizeof(q));
		if (c == NULL)
			return;
		relay_reply_state(c, type, ST(CS_JOINING));
		c->c_state = CS_QUEUED;
		ip_join_accept(c->c_ip, mono_ms());
		relay_out_queued(c, q.q_waiting);
		return;
	case IMSG_MATCHED:
		relay_reply_matched(c, data);
		return;
	case IMSG_RELAY:
		if (!utf8_valid(data, len))
			fatalx("matcher sent text that is not UTF-8");
		if (c == NULL)
			return;
		relay_reply_state(c, type, ST(CS_ROOM));
		relay_out_msg(c, data, len);
		return;
	case IMSG_ENDED:
		relay_reply_ended(c, data);
		return;
	case IMSG_INSIGHTS_REPLY:
		memcpy(&in, data, sizeof(in));
		if (c == NULL)
			return;
		relay_reply_state(c, type, ST_AFTER_READY);
		relay_out_insights(c, &in);
		return;
	case IMSG_ERROR:
		relay_reply_error(c, data);
		return;
	}
	fatalx("%s: message type %u", __func__, type);
}
