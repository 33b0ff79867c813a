/*
 * The IPC decoder (common/ipc.c) and the matcher's core behind it
 * (matcher/matcher_handle.c and the files it drives).  The input is a byte
 * stream as the front writes it to the matcher: records of a 16-byte
 * header and a payload.  Each is decoded as ipc_readcb() does and handed
 * to matcher_handle() as matcher_dispatch_front() does, with the room
 * timer fired first whenever it is due.
 *
 * The harness owns the clock and the socket ids: the low 48 bits of a
 * header's peer id are the socket id, the high 16 the milliseconds that
 * pass before the record arrives.
 *
 * A record that breaks the front's contract (an unknown type, a size the
 * type cannot have, socket 0, an unknown or reopened socket, a bad join
 * mode, text that is not UTF-8) is fatal in the matcher by design.  The
 * harness predicts that from its own model of the open sockets; fatalx()
 * unwinds back here (the matcher checks before it changes anything), and
 * a fatal answer where none was due, or none where one was, is a finding.
 *
 * After every record the matcher's structures must hold together, and
 * everything it said must be something the front accepts without dying
 * (relay_client_reply()): known types, exact sizes, valid handles, codes
 * and reasons, sanitised UTF-8, and only to open sockets in the state its
 * own earlier replies put them in.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "matcher.h"
#include "fuzz.h"

#define ID_BITS		48
#define ID_MASK		((1ULL << ID_BITS) - 1)
#define MODEL_MAX	1024

RB_PROTOTYPE(matcher_keys, msock, ms_kentry, matcher_key_cmp);

/* What the front knows of a socket, from the matcher's replies alone. */
enum model_state {
	MS_READY,
	MS_QUEUED,
	MS_ROOM
};

struct model {
	uint64_t	 md_id;
	int		 md_state;	/* enum model_state */
	int		 md_debug;	/* joined the debug queue */
	uint64_t	 md_peer;	/* partner in the room, or the last one */
};

static struct model	 models[MODEL_MAX];
static size_t		 nmodels;
static uint64_t		 current;	/* the record's socket; 0: timer */
static uint32_t		 current_type;
static int		 current_debug;	/* a JOIN for the debug queue */
static struct model	*half;		/* first of a MATCHED pair */
static struct ipc_matched half_m;
static struct settings	 conf;
static struct matcher	 mt;

static struct model	*model_find(uint64_t);
static int		 model_fatal(uint32_t, uint64_t, const uint8_t *,
			    size_t);
static int		 handle_valid(const char *, size_t);
static void		 check_reply(void *, uint32_t, uint64_t, const void *,
			    size_t);
static void		 check_header(const uint8_t *, size_t, int,
			    const struct ipc_hdr *);
static void		 check_matcher(struct matcher *);

static struct model *
model_find(uint64_t id)
{
	size_t	 i;

	for (i = 0; i < nmodels; i++)
		if (models[i].md_id == id)
			return (&models[i]);
	return (NULL);
}

/* Whether the matcher must refuse this record as a broken contract. */
static int
model_fatal(uint32_t type, uint64_t id, const uint8_t *p, size_t len)
{
	struct ipc_join	 j;
	int		 open = model_find(id) != NULL;

	switch (type) {
	case IMSG_SOCK_OPEN:
		return (len != 0 || id == 0 || open);
	case IMSG_SOCK_CLOSE:
	case IMSG_SKIP:
	case IMSG_REPORT:
	case IMSG_INSIGHTS:
		return (len != 0 || id == 0 || !open);
	case IMSG_JOIN:
		if (len != sizeof(j) || id == 0 || !open)
			return (1);
		memcpy(&j, p, sizeof(j));
		return (j.j_mode < MODE_TASK || j.j_mode >= MODE_MAX);
	case IMSG_MSG:
		return (len < 1 || len > IPC_TEXT_MAX || id == 0 || !open ||
		    !utf8_valid(p, len));
	}
	return (1);
}

/* [a-z-]{3,HANDLE_MAX}, NUL-terminated within the field. */
static int
handle_valid(const char *h, size_t size)
{
	size_t	 n, i;

	n = strnlen(h, size);
	if (n == size || n < 3 || n > HANDLE_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || h[i] == '-'))
			return (0);
	return (1);
}

/* The matcher's m_send: all it says to the front passes here. */
static void
check_reply(void *arg, uint32_t type, uint64_t id, const void *data,
    size_t len)
{
	struct model		*md = model_find(id);
	struct ipc_queued	 q;
	struct ipc_matched	 m;
	struct ipc_ended	 e;
	struct ipc_error	 er;
	uint8_t			 clean[IPC_TEXT_MAX];
	size_t			 n, i;

	FUZZ_CHECK(md != NULL && !(current_type == IMSG_SOCK_CLOSE &&
	    id == current), "type %u to socket %llu, not open", type,
	    (unsigned long long)id);
	/* Only rooms change on their own; answers go to the asker. */
	if (current == 0)
		FUZZ_CHECK(type == IMSG_ENDED, "type %u on a timer", type);
	if (type == IMSG_QUEUED || type == IMSG_INSIGHTS_REPLY ||
	    type == IMSG_ERROR)
		FUZZ_CHECK(id == current, "type %u to another socket", type);
	FUZZ_CHECK(half == NULL || type == IMSG_MATCHED,
	    "MATCHED without its pair");
	switch (type) {
	case IMSG_QUEUED:
		FUZZ_CHECK(len == sizeof(q), "QUEUED size");
		FUZZ_CHECK(md->md_state == MS_READY, "QUEUED when queued");
		md->md_state = MS_QUEUED;
		md->md_debug = current_debug;
		/* D19: everyone waiting in its queue, itself included. */
		for (i = 0, n = 0; i < nmodels; i++)
			if (models[i].md_state == MS_QUEUED &&
			    models[i].md_debug == md->md_debug)
				n++;
		memcpy(&q, data, sizeof(q));
		FUZZ_CHECK(q.q_waiting == n, "waiting %u, %zu queued",
		    q.q_waiting, n);
		break;
	case IMSG_MATCHED:
		FUZZ_CHECK(len == sizeof(m), "MATCHED size");
		memcpy(&m, data, sizeof(m));
		FUZZ_CHECK(handle_valid(m.m_you, sizeof(m.m_you)) &&
		    handle_valid(m.m_peer, sizeof(m.m_peer)) &&
		    strcmp(m.m_you, m.m_peer) != 0, "handles");
		FUZZ_CHECK(md->md_state == MS_QUEUED, "MATCHED, not queued");
		if (half == NULL) {
			half = md;
			half_m = m;
			break;
		}
		/*
		 * The pair: crossed handles, one queue, and not the partners
		 * of either one's last room (D23).
		 */
		FUZZ_CHECK(half != md && strcmp(m.m_you, half_m.m_peer) == 0 &&
		    strcmp(m.m_peer, half_m.m_you) == 0, "handles not crossed");
		FUZZ_CHECK(half->md_debug == md->md_debug, "queues mixed");
		FUZZ_CHECK(half->md_peer != md->md_id &&
		    md->md_peer != half->md_id, "rematched at once");
		half->md_state = md->md_state = MS_ROOM;
		half->md_peer = md->md_id;
		md->md_peer = half->md_id;
		half = NULL;
		break;
	case IMSG_RELAY:
		FUZZ_CHECK(len >= 1 && len <= IPC_TEXT_MAX &&
		    utf8_valid(data, len), "RELAY of %zu bytes", len);
		n = sanitise(data, len, clean, NULL);
		FUZZ_CHECK(n == len && memcmp(clean, data, len) == 0,
		    "RELAY text not sanitised");
		FUZZ_CHECK(!sanitise_empty(data, len), "RELAY of spaces");
		FUZZ_CHECK(md->md_state == MS_ROOM, "RELAY, not in a room");
		FUZZ_CHECK(current_type == IMSG_MSG && md->md_peer == current &&
		    id != current, "RELAY not to the sender's partner");
		break;
	case IMSG_ENDED:
		FUZZ_CHECK(len == sizeof(e), "ENDED size");
		memcpy(&e, data, sizeof(e));
		FUZZ_CHECK(e.e_reason >= ENDED_SKIP && e.e_reason < ENDED_MAX,
		    "end reason %u", e.e_reason);
		FUZZ_CHECK(md->md_state == MS_ROOM, "ENDED, not in a room");
		md->md_state = MS_READY;
		break;
	case IMSG_INSIGHTS_REPLY:
		FUZZ_CHECK(len == sizeof(struct ipc_insights), "INSIGHTS size");
		break;
	case IMSG_ERROR:
		FUZZ_CHECK(len == sizeof(er), "ERROR size");
		memcpy(&er, data, sizeof(er));
		FUZZ_CHECK(er.er_code >= ERR_BAD_FRAME && er.er_code < ERR_MAX,
		    "error code %u", er.er_code);
		FUZZ_CHECK(er.er_code != ERR_KEY_IN_USE ||
		    md->md_state == MS_READY, "key_in_use, not joining");
		break;
	default:
		FUZZ_CHECK(0, "type %u to the front", type);
	}
}

/* ipc_decode() against the raw bytes, and its header round trip. */
static void
check_header(const uint8_t *p, size_t len, int r, const struct ipc_hdr *h)
{
	struct ipc_hdr	 first;
	uint8_t		 raw[IPC_HDR_SIZE];
	int		 bad;

	if (len < IPC_HDR_SIZE) {
		FUZZ_CHECK(r == 0, "%d for %zu bytes", r, len);
		return;
	}
	bad = h->ih_type == 0 || h->ih_len > IPC_MAX_PAYLOAD;
	FUZZ_CHECK(r == (bad ? -1 : len - IPC_HDR_SIZE >= h->ih_len ? 1 : 0),
	    "%d for type %u length %u in %zu bytes", r, h->ih_type, h->ih_len,
	    len);
	ipc_encode_hdr(raw, h->ih_type, h->ih_len, h->ih_peerid);
	FUZZ_CHECK(memcmp(raw, p, IPC_HDR_SIZE) == 0, "header round trip");
	/* ipc_readcb() judges the header before the payload is in. */
	FUZZ_CHECK((ipc_decode(p, IPC_HDR_SIZE, &first) == -1) == bad,
	    "header alone judged otherwise");
}

/* The matcher's structures agree with each other and with the model. */
static void
check_matcher(struct matcher *m)
{
	struct msock_table	*st = &m->m_socks;
	struct model		*md;
	struct msock		*s, *t;
	struct mroom		*r, *prev = NULL;
	size_t			 i, n, placed = 0, keys = 0;
	int			 q;

	FUZZ_CHECK(st->st_count == nmodels, "%zu sockets, model %zu",
	    st->st_count, nmodels);
	/* What the replies said is where each socket is. */
	for (i = 0; i < nmodels; i++) {
		md = &models[i];
		s = matcher_sock_find(m, md->md_id);
		FUZZ_CHECK(s != NULL, "socket %llu lost",
		    (unsigned long long)md->md_id);
		FUZZ_CHECK((md->md_state == MS_QUEUED) == (s->ms_queue != NULL) &&
		    (md->md_state == MS_ROOM) == (s->ms_room != NULL),
		    "socket %llu: told %d, queued %d, in a room %d",
		    (unsigned long long)md->md_id, md->md_state,
		    s->ms_queue != NULL, s->ms_room != NULL);
		if (s->ms_queue != NULL)
			FUZZ_CHECK(s->ms_queue ==
			    &m->m_queue[md->md_debug ? MQ_DEBUG : MQ_MAIN],
			    "the wrong queue");
		if (s->ms_room != NULL)
			FUZZ_CHECK(matcher_room_partner(s->ms_room, s)->ms_id ==
			    md->md_peer, "told another partner");
	}
	for (i = 0, n = 0; i < st->st_size; i++) {
		if ((s = st->st_slot[i]) == NULL)
			continue;
		n++;
		FUZZ_CHECK(s->ms_queue == NULL || s->ms_room == NULL,
		    "queued and in a room");
		if (s->ms_room != NULL)
			FUZZ_CHECK(s->ms_room->mr_sock[0] == s ||
			    s->ms_room->mr_sock[1] == s, "room lost its socket");
		if (s->ms_queue != NULL || s->ms_room != NULL) {
			placed++;
			FUZZ_CHECK(matcher_key_holder(m, s->ms_key) == s,
			    "key not held by its socket");
		}
	}
	FUZZ_CHECK(n == st->st_count, "table count %zu, %zu found",
	    st->st_count, n);
	RB_FOREACH(s, matcher_keys, &m->m_keys) {
		FUZZ_CHECK(s->ms_queue != NULL || s->ms_room != NULL,
		    "a key held by a socket neither queued nor in a room");
		keys++;
	}
	FUZZ_CHECK(keys == placed, "%zu keys, %zu placed", keys, placed);

	for (q = 0; q < MQ_COUNT; q++) {
		n = 0;
		TAILQ_FOREACH(s, &m->m_queue[q].mq_socks, ms_qentry) {
			FUZZ_CHECK(s->ms_queue == &m->m_queue[q], "queue");
			n++;
		}
		FUZZ_CHECK(n == m->m_queue[q].mq_len, "queue length");
	}
	n = 0;
	TAILQ_FOREACH(r, &m->m_rooms, mr_entry) {
		s = r->mr_sock[0];
		t = r->mr_sock[1];
		FUZZ_CHECK(s != NULL && t != NULL && s != t &&
		    s->ms_room == r && t->ms_room == r, "room members");
		FUZZ_CHECK(prev == NULL || prev->mr_active <= r->mr_active,
		    "rooms out of idle order");
		prev = r;
		n++;
	}
	FUZZ_CHECK(n == m->m_nrooms, "%zu rooms, counted %zu", n,
	    m->m_nrooms);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_hdr	 hdr;
	struct ipc_join	 j;
	struct model	*md;
	jmp_buf		 jb;
	uint8_t		*payload;
	uint64_t	 now = 1000000, id, when;
	size_t		 off;
	int		 r, fatal;

	memset(&conf, 0, sizeof(conf));
	conf.s_msg_interval_ms = 100;
	conf.s_msg_max_chars = 20;
	conf.s_skip_interval_ms = 50;
	conf.s_room_max_msgs = 4;
	conf.s_room_idle_ms = 2000;
	matcher_init(&mt, &conf, check_reply, NULL);
	nmodels = 0;
	half = NULL;

	for (off = 0; off < size; off += IPC_HDR_SIZE + hdr.ih_len) {
		memset(&hdr, 0, sizeof(hdr));
		r = ipc_decode(data + off, size - off, &hdr);
		check_header(data + off, size - off, r, &hdr);
		if (r != 1)
			break;		/* short, or fatal in ipc_readcb() */

		id = hdr.ih_peerid & ID_MASK;
		now += hdr.ih_peerid >> ID_BITS;
		if (matcher_room_deadline(&mt, &when) && when <= now) {
			current = 0;
			current_type = 0;
			matcher_room_expire(&mt, now);
			check_matcher(&mt);
		}
		if (hdr.ih_type == IMSG_SOCK_OPEN && nmodels == MODEL_MAX &&
		    model_find(id) == NULL)
			continue;	/* past what the model can hold */

		/* Exactly the payload, so that ASan sees any overread. */
		if ((payload = malloc(hdr.ih_len)) == NULL && hdr.ih_len > 0)
			abort();
		memcpy(payload, data + off + IPC_HDR_SIZE, hdr.ih_len);
		fatal = model_fatal(hdr.ih_type, id, payload, hdr.ih_len);
		current = id;
		current_type = hdr.ih_type;
		current_debug = 0;
		if (!fatal && hdr.ih_type == IMSG_JOIN) {
			memcpy(&j, payload, sizeof(j));
			current_debug = j.j_mode == MODE_DEBUG;
		}
		if (setjmp(jb) == 0) {
			fuzz_fatal_jmp = &jb;
			matcher_handle(&mt, hdr.ih_type, id, payload,
			    hdr.ih_len, now);
			fuzz_fatal_jmp = NULL;
			FUZZ_CHECK(!fatal, "type %u (%u bytes) was not fatal",
			    hdr.ih_type, hdr.ih_len);
		} else
			FUZZ_CHECK(fatal, "unexpected fatalx: %s",
			    fuzz_fatal_msg);
		free(payload);

		FUZZ_CHECK(half == NULL, "MATCHED without its pair");
		if (!fatal && hdr.ih_type == IMSG_SOCK_OPEN) {
			memset(&models[nmodels], 0, sizeof(models[nmodels]));
			models[nmodels].md_id = id;
			models[nmodels++].md_state = MS_READY;
		} else if (!fatal && hdr.ih_type == IMSG_SOCK_CLOSE) {
			md = model_find(id);
			*md = models[--nmodels];
		}
		check_matcher(&mt);
	}
	matcher_free(&mt);
	return (0);
}
