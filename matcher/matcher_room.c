/*
 * Rooms: made from two queued sockets, ended by skip, report, a close, the
 * message limit or idleness.  Handles are drawn for each room and forgotten
 * once matched is sent, so nobody can be followed from room to room.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"

static const char *const matcher_adjectives[] = {
	"amber", "azure", "brave", "breezy", "bright", "calm", "clever",
	"cosy", "curious", "daring", "eager", "fancy", "gentle", "glad",
	"golden", "happy", "honest", "humble", "jolly", "keen", "kind",
	"lively", "lucky", "mellow", "merry", "mighty", "misty", "modest",
	"nimble", "noble", "patient", "plucky", "polite", "proud", "quick",
	"quiet", "rapid", "rosy", "rustic", "shy", "silent", "silver",
	"sleepy", "smooth", "snowy", "sober", "solid", "spry", "steady",
	"stout", "sunny", "swift", "tidy", "tiny", "vivid", "warm", "wise",
	"witty", "young", "zesty"
};

static const char *const matcher_animals[] = {
	"badger", "beaver", "bison", "crane", "crow", "deer", "dingo",
	"dolphin", "eagle", "egret", "falcon", "ferret", "finch", "fox",
	"gecko", "gibbon", "goose", "hare", "hawk", "heron", "ibis",
	"jackal", "jaguar", "koala", "lemur", "lynx", "magpie", "marten",
	"mole", "moose", "newt", "ocelot", "osprey", "otter", "owl", "panda",
	"parrot", "pelican", "puffin", "quail", "rabbit", "raven", "robin",
	"salmon", "seal", "shrew", "sloth", "sparrow", "squid", "stoat",
	"swan", "tapir", "tiger", "toad", "trout", "turtle", "walrus",
	"weasel", "wombat", "zebra"
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void	 matcher_handle_one(char *);
static void	 matcher_room_close(struct matcher *, struct mroom *,
		    enum dr_ended, enum dr_ended);
static void	 matcher_room_ended(struct matcher *, struct msock *,
		    enum dr_ended);

static void
matcher_handle_one(char *buf)
{
	const char	*adj, *animal;

	adj = matcher_adjectives[arc4random_uniform(
	    NITEMS(matcher_adjectives))];
	animal = matcher_animals[arc4random_uniform(NITEMS(matcher_animals))];
	(void)snprintf(buf, HANDLE_MAX + 1, "%s-%s", adj, animal);
}

/* Two handles, HANDLE_MAX + 1 bytes each, distinct from each other. */
void
matcher_handle_draw(char *you, char *peer)
{
	matcher_handle_one(you);
	do {
		matcher_handle_one(peer);
	} while (strcmp(you, peer) == 0);
}

/* a has waited longer than b; both are still queued. */
void
matcher_room_new(struct matcher *m, struct msock *a, struct msock *b,
    uint64_t now)
{
	struct mroom		*r;
	struct ipc_matched	 ma, mb;

	matcher_queue_leave(m, a);
	matcher_queue_leave(m, b);

	r = xcalloc(1, sizeof(*r));
	r->mr_sock[0] = a;
	r->mr_sock[1] = b;
	r->mr_created = r->mr_active = now;
	TAILQ_INSERT_TAIL(&m->m_rooms, r, mr_entry);
	m->m_nrooms++;
	a->ms_room = b->ms_room = r;
	a->ms_lastpeer = b->ms_id;
	b->ms_lastpeer = a->ms_id;
	m->m_counters.c_convos++;
	m->m_dirty = 1;

	memset(&ma, 0, sizeof(ma));
	memset(&mb, 0, sizeof(mb));
	matcher_handle_draw(ma.m_you, ma.m_peer);
	memcpy(mb.m_you, ma.m_peer, sizeof(mb.m_you));
	memcpy(mb.m_peer, ma.m_you, sizeof(mb.m_peer));
	m->m_send(m->m_arg, IMSG_MATCHED, a->ms_id, &ma, sizeof(ma));
	m->m_send(m->m_arg, IMSG_MATCHED, b->ms_id, &mb, sizeof(mb));
	explicit_bzero(&ma, sizeof(ma));
	explicit_bzero(&mb, sizeof(mb));

	log_debug("%s: %zu rooms, %zu waiting", __func__, m->m_nrooms,
	    matcher_queue_waiting(m));
}

struct msock *
matcher_room_partner(const struct mroom *r, const struct msock *s)
{
	return (r->mr_sock[0] == s ? r->mr_sock[1] : r->mr_sock[0]);
}

static void
matcher_room_ended(struct matcher *m, struct msock *s, enum dr_ended why)
{
	struct ipc_ended	 e;

	memset(&e, 0, sizeof(e));
	e.e_reason = why;
	m->m_send(m->m_arg, IMSG_ENDED, s->ms_id, &e, sizeof(e));
}

/*
 * Both sockets leave the room and give up their keys; r0 and r1 are what
 * mr_sock[0] and mr_sock[1] are told, 0 for nothing (a closed socket).
 */
static void
matcher_room_close(struct matcher *m, struct mroom *r, enum dr_ended r0,
    enum dr_ended r1)
{
	int	 i;

	TAILQ_REMOVE(&m->m_rooms, r, mr_entry);
	m->m_nrooms--;
	for (i = 0; i < 2; i++) {
		r->mr_sock[i]->ms_room = NULL;
		matcher_key_release(m, r->mr_sock[i]);
	}
	if (r0 != 0)
		matcher_room_ended(m, r->mr_sock[0], r0);
	if (r1 != 0)
		matcher_room_ended(m, r->mr_sock[1], r1);
	free(r);

	log_debug("%s: %zu rooms, %zu waiting", __func__, m->m_nrooms,
	    matcher_queue_waiting(m));
}

/* Idle or limit: both are told the same reason. */
void
matcher_room_end(struct matcher *m, struct mroom *r, enum dr_ended why)
{
	matcher_room_close(m, r, why, why);
}

/* s ends its room: it is told mine (0: nothing), its partner peer_left. */
void
matcher_room_leave(struct matcher *m, struct msock *s, enum dr_ended mine)
{
	struct mroom	*r = s->ms_room;

	if (r->mr_sock[0] == s)
		matcher_room_close(m, r, mine, ENDED_PEER_LEFT);
	else
		matcher_room_close(m, r, ENDED_PEER_LEFT, mine);
}

/* A relayed message restarts the idle clock: the room goes to the tail. */
void
matcher_room_touch(struct matcher *m, struct mroom *r, uint64_t now)
{
	r->mr_active = now;
	TAILQ_REMOVE(&m->m_rooms, r, mr_entry);
	TAILQ_INSERT_TAIL(&m->m_rooms, r, mr_entry);
}

/* When the next room idles out; 0 if there is no room. */
int
matcher_room_deadline(const struct matcher *m, uint64_t *when)
{
	const struct mroom	*r;

	if ((r = TAILQ_FIRST(&m->m_rooms)) == NULL)
		return (0);
	*when = r->mr_active + m->m_conf->s_room_idle_ms;
	return (1);
}

void
matcher_room_expire(struct matcher *m, uint64_t now)
{
	struct mroom	*r;

	while ((r = TAILQ_FIRST(&m->m_rooms)) != NULL &&
	    now >= r->mr_active + m->m_conf->s_room_idle_ms)
		matcher_room_end(m, r, ENDED_IDLE);
}
