/*
 * Socket records and the key map.  Ids come from a counter in the front, so
 * a multiplicative hash spreads them well; keys are chosen by clients, so
 * they go into a red-black tree, which no choice of keys can degrade.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"

#define MATCHER_TABLE_MIN	64

static size_t	 matcher_table_home(const struct msock_table *, uint64_t);
static void	 matcher_table_grow(struct msock_table *);
static void	 matcher_table_put(struct msock_table *, struct msock *);
static size_t	 matcher_table_slot(const struct msock_table *, uint64_t);

/* Plain RB_GENERATE: libbsd's __unused is disabled, so _STATIC warns. */
RB_PROTOTYPE(matcher_keys, msock, ms_kentry, matcher_key_cmp);

static int
matcher_key_cmp(struct msock *a, struct msock *b)
{
	return (memcmp(a->ms_key, b->ms_key, sizeof(a->ms_key)));
}

RB_GENERATE(matcher_keys, msock, ms_kentry, matcher_key_cmp);

static size_t
matcher_table_home(const struct msock_table *st, uint64_t id)
{
	uint64_t	 h;

	h = id * 0x9e3779b97f4a7c15ULL;
	return ((size_t)(h ^ (h >> 29)) & (st->st_size - 1));
}

/* The slot holding id, or st_size if it is absent. */
static size_t
matcher_table_slot(const struct msock_table *st, uint64_t id)
{
	size_t	 i;

	if (st->st_size == 0)
		return (0);
	for (i = matcher_table_home(st, id); st->st_slot[i] != NULL;
	    i = (i + 1) & (st->st_size - 1))
		if (st->st_slot[i]->ms_id == id)
			return (i);
	return (st->st_size);
}

static void
matcher_table_put(struct msock_table *st, struct msock *s)
{
	size_t	 i;

	for (i = matcher_table_home(st, s->ms_id); st->st_slot[i] != NULL;
	    i = (i + 1) & (st->st_size - 1))
		;
	st->st_slot[i] = s;
	st->st_count++;
}

/* Keep the load at most one half, so probe runs stay short. */
static void
matcher_table_grow(struct msock_table *st)
{
	struct msock	**old;
	size_t		  oldsize, i;

	old = st->st_slot;
	oldsize = st->st_size;
	st->st_size = oldsize ? oldsize * 2 : MATCHER_TABLE_MIN;
	st->st_slot = xcalloc(st->st_size, sizeof(*st->st_slot));
	st->st_count = 0;
	for (i = 0; i < oldsize; i++)
		if (old[i] != NULL)
			matcher_table_put(st, old[i]);
	free(old);
}

struct msock *
matcher_sock_find(struct matcher *m, uint64_t id)
{
	struct msock_table	*st = &m->m_socks;
	size_t			 i;

	i = matcher_table_slot(st, id);
	return (i < st->st_size ? st->st_slot[i] : NULL);
}

struct msock *
matcher_sock_new(struct matcher *m, uint64_t id)
{
	struct msock_table	*st = &m->m_socks;
	struct msock		*s;

	if ((st->st_count + 1) * 2 > st->st_size)
		matcher_table_grow(st);
	s = xcalloc(1, sizeof(*s));
	s->ms_id = id;
	s->ms_msg_at = s->ms_skip_at = s->ms_insights_at = MATCHER_NEVER;
	matcher_table_put(st, s);
	return (s);
}

/*
 * Remove by shifting back every later entry of the probe run that may move,
 * so lookups never need tombstones.  The caller has taken s out of its queue
 * or room.
 */
void
matcher_sock_free(struct matcher *m, struct msock *s)
{
	struct msock_table	*st = &m->m_socks;
	size_t			 mask, i, j, k;

	mask = st->st_size - 1;
	if ((i = matcher_table_slot(st, s->ms_id)) == st->st_size)
		fatalx("%s: socket %llu not in the table", __func__,
		    (unsigned long long)s->ms_id);
	for (j = i;;) {
		j = (j + 1) & mask;
		if (st->st_slot[j] == NULL)
			break;
		k = matcher_table_home(st, st->st_slot[j]->ms_id);
		/* An entry whose home lies cyclically in (i, j] stays. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		st->st_slot[i] = st->st_slot[j];
		i = j;
	}
	st->st_slot[i] = NULL;
	st->st_count--;
	free(s);
}

void
matcher_table_free(struct matcher *m)
{
	struct msock_table	*st = &m->m_socks;
	size_t			 i;

	for (i = 0; i < st->st_size; i++)
		free(st->st_slot[i]);
	free(st->st_slot);
	memset(st, 0, sizeof(*st));
}

struct msock *
matcher_key_holder(struct matcher *m, const uint8_t *key)
{
	struct msock	 find;

	memcpy(find.ms_key, key, sizeof(find.ms_key));
	return (RB_FIND(matcher_keys, &m->m_keys, &find));
}

void
matcher_key_take(struct matcher *m, struct msock *s, const uint8_t *key)
{
	memcpy(s->ms_key, key, sizeof(s->ms_key));
	if (RB_INSERT(matcher_keys, &m->m_keys, s) != NULL)
		fatalx("%s: key already held", __func__);
}

void
matcher_key_release(struct matcher *m, struct msock *s)
{
	RB_REMOVE(matcher_keys, &m->m_keys, s);
	explicit_bzero(s->ms_key, sizeof(s->ms_key));
}
