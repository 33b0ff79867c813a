/*
 * Queues (PROTOCOL.md section 4): first in, first out; task and open share
 * one, debug has its own.  A newcomer meets the longest-waiting socket it
 * may meet, so a queue never holds more than two sockets once matching is
 * done: two former partners, waiting for a third.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <string.h>

#include "matcher.h"

static int	 matcher_may_meet(const struct msock *, const struct msock *);

/*
 * Neither was the other's partner in its own most recent room.  Same keys
 * need no check here: key_in_use keeps a second holder out of the queues.
 */
static int
matcher_may_meet(const struct msock *a, const struct msock *b)
{
	return (a->ms_lastpeer != b->ms_id && b->ms_lastpeer != a->ms_id);
}

void
matcher_queue_join(struct matcher *m, struct msock *s, enum matcher_qid qid,
    uint64_t now)
{
	struct mqueue		*q = &m->m_queue[qid];
	struct msock		*c;
	struct ipc_queued	 qd;

	TAILQ_INSERT_TAIL(&q->mq_socks, s, ms_qentry);
	q->mq_len++;
	s->ms_queue = q;

	/* Sent even when matched follows at once; it counts the partner. */
	memset(&qd, 0, sizeof(qd));
	qd.q_waiting = (uint32_t)q->mq_len;
	m->m_send(m->m_arg, IMSG_QUEUED, s->ms_id, &qd, sizeof(qd));

	/* s is at the tail, so the walk ends there at the latest. */
	for (c = TAILQ_FIRST(&q->mq_socks); c != s;
	    c = TAILQ_NEXT(c, ms_qentry)) {
		if (matcher_may_meet(c, s)) {
			matcher_room_new(m, c, s, now);
			break;
		}
	}
}

/* The key stays held: the socket is either matched or being closed. */
void
matcher_queue_leave(struct matcher *m, struct msock *s)
{
	struct mqueue	*q = s->ms_queue;

	TAILQ_REMOVE(&q->mq_socks, s, ms_qentry);
	q->mq_len--;
	s->ms_queue = NULL;
}

size_t
matcher_queue_waiting(const struct matcher *m)
{
	size_t	 n = 0;
	int	 i;

	for (i = 0; i < MQ_COUNT; i++)
		n += m->m_queue[i].mq_len;
	return (n);
}
