/*
 * The matcher process: queues, rooms, handles, key_in_use, the message
 * checks that need a room (rate, sanitise, empty, too_long, limit, idle),
 * skip_rate, insights and the aggregate counters (docs/DESIGN.md).
 *
 * The core below is pure: it is driven by matcher_handle() with the time
 * passed in, and everything it says to the front goes through m_send.  The
 * event loop, the IPC peers and the timers live in matcher.c only, so the
 * core runs in unit tests without them.
 */

#ifndef DR_MATCHER_H
#define DR_MATCHER_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

#include "devrouletted.h"

/* A rate clock that never ran: no interval has to pass. */
#define MATCHER_NEVER		UINT64_MAX

enum matcher_qid {
	MQ_MAIN = 0,		/* task and open */
	MQ_DEBUG,
	MQ_COUNT
};

struct mqueue;
struct mroom;

/* One open WebSocket, as the matcher knows it.  No buffers. */
struct msock {
	uint64_t		 ms_id;		/* the front's socket id */
	uint64_t		 ms_lastpeer;	/* partner in the last room */
	uint64_t		 ms_msg_at;	/* last accepted msg */
	uint64_t		 ms_skip_at;	/* last accepted skip/report */
	uint64_t		 ms_insights_at; /* last accepted insights */
	struct mroom		*ms_room;	/* in a room */
	struct mqueue		*ms_queue;	/* waiting */
	TAILQ_ENTRY(msock)	 ms_qentry;
	/* In m_keys exactly while queued or in a room. */
	RB_ENTRY(msock)		 ms_kentry;
	uint8_t			 ms_key[MATCH_KEY_LEN];
};

TAILQ_HEAD(msock_list, msock);
RB_HEAD(matcher_keys, msock);

struct mqueue {
	struct msock_list	 mq_socks;	/* first in, first out */
	size_t			 mq_len;
};

struct mroom {
	struct msock		*mr_sock[2];
	uint64_t		 mr_created;	/* matched */
	uint64_t		 mr_active;	/* matched or last relay */
	uint32_t		 mr_msgs;	/* relayed */
	/* m_rooms is ordered by mr_active: the head idles out first. */
	TAILQ_ENTRY(mroom)	 mr_entry;
};

TAILQ_HEAD(mroom_list, mroom);

/* Socket ids to records: open addressing, linear probing. */
struct msock_table {
	struct msock		**st_slot;
	size_t			 st_size;	/* a power of two, or 0 */
	size_t			 st_count;
};

/* Everything the matcher sends to the front goes through this. */
typedef void (*matcher_send_fn)(void *, uint32_t, uint64_t, const void *,
    size_t);

struct matcher {
	const struct settings	*m_conf;
	matcher_send_fn		 m_send;
	void			*m_arg;
	struct msock_table	 m_socks;
	struct matcher_keys	 m_keys;
	struct mqueue		 m_queue[MQ_COUNT];
	struct mroom_list	 m_rooms;
	size_t			 m_nrooms;
	struct counters		 m_counters;
	int			 m_dirty;	/* counters not saved yet */
	int			 m_loaded;	/* COUNTERS_LOAD seen */
	uint8_t			 m_text[IPC_TEXT_MAX];	/* sanitise output */
};

/* matcher.c: the process */
void	 matcher_dispatch_parent(struct ipc_peer *, struct ipc_hdr *,
	    uint8_t *, void *);
void	 matcher_dispatch_front(struct ipc_peer *, struct ipc_hdr *,
	    uint8_t *, void *);

/* matcher_handle.c: the pure core */
void	 matcher_init(struct matcher *, const struct settings *,
	    matcher_send_fn, void *);
void	 matcher_free(struct matcher *);
void	 matcher_handle(struct matcher *, uint32_t, uint64_t,
	    const uint8_t *, size_t, uint64_t);
void	 matcher_counters_load(struct matcher *, const struct counters *);
int	 matcher_counters_dirty(struct matcher *, struct counters *);
void	 matcher_stats(const struct matcher *, struct stats_matcher *);

/* matcher_sock.c: socket records and the key map */
struct msock	*matcher_sock_new(struct matcher *, uint64_t);
struct msock	*matcher_sock_find(struct matcher *, uint64_t);
void		 matcher_sock_free(struct matcher *, struct msock *);
struct msock	*matcher_key_holder(struct matcher *, const uint8_t *);
void		 matcher_key_take(struct matcher *, struct msock *,
		    const uint8_t *);
void		 matcher_key_release(struct matcher *, struct msock *);
void		 matcher_table_free(struct matcher *);

/* matcher_queue.c */
void	 matcher_queue_join(struct matcher *, struct msock *,
	    enum matcher_qid, uint64_t);
void	 matcher_queue_leave(struct matcher *, struct msock *);
size_t	 matcher_queue_waiting(const struct matcher *);

/* matcher_room.c */
void	 matcher_room_new(struct matcher *, struct msock *, struct msock *,
	    uint64_t);
void	 matcher_room_end(struct matcher *, struct mroom *, enum dr_ended);
void	 matcher_room_leave(struct matcher *, struct msock *, enum dr_ended);
void	 matcher_room_touch(struct matcher *, struct mroom *, uint64_t);
struct msock	*matcher_room_partner(const struct mroom *,
		    const struct msock *);
int	 matcher_room_deadline(const struct matcher *, uint64_t *);
void	 matcher_room_expire(struct matcher *, uint64_t);
void	 matcher_handle_draw(char *, char *);

#endif /* DR_MATCHER_H */
