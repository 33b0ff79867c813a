/*
 * Per client IP (PROTOCOL.md sections 1, 3 and 6): the open WebSockets it
 * holds, its violations and accepted joins in the last WINDOW_MS, and its
 * ban.  Pure: every function takes the time, so the windows can be tested
 * with a made-up clock.
 *
 * An entry exists while it has anything to remember and is freed by the
 * periodic sweep once it has not, so the table holds the clients seen in
 * the last minute (or banned), never all clients ever seen.  It also has a
 * hard cap, it_max (docs/PROTOCOL.md D41): a client admitted when the
 * table is full makes room by evicting entries that hold no socket.
 * Entries are freed only by the sweep and by that eviction, which runs
 * just before a new entry is made for a connection that has none, so a
 * pointer taken in one event callback stays good through it.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

#define IP_TABLE_MIN	64

static void	 ts_prune(struct tsring *, uint64_t);
static void	 ts_push(struct tsring *, uint64_t);
static void	 ts_clear(struct tsring *);
static void	 ip_resize(struct iptable *, uint32_t);
static void	 ip_free(struct ipent *);
static uint32_t	 ip_evict(struct iptable *, uint64_t, uint32_t, int);

/* Drop the instants that left the window: at now - WINDOW_MS or before. */
static void
ts_prune(struct tsring *ts, uint64_t now)
{
	while (ts->ts_len > 0 && now - ts->ts_t[ts->ts_head] >= WINDOW_MS) {
		ts->ts_head = (ts->ts_head + 1) & (ts->ts_size - 1);
		ts->ts_len--;
	}
	if (ts->ts_len == 0)
		ts->ts_head = 0;
}

/*
 * The callers keep ts_len at most their limit (a ban empties the ring, a
 * join is refused at the limit), so the ring grows to that and no further.
 */
static void
ts_push(struct tsring *ts, uint64_t now)
{
	uint64_t	*t;
	uint32_t	 size, i;

	if (ts->ts_len == ts->ts_size) {
		size = ts->ts_size == 0 ? 4 : ts->ts_size * 2;
		if (size < ts->ts_size)
			fatalx("%s: window overflow", __func__);
		t = xreallocarray(NULL, size, sizeof(*t));
		for (i = 0; i < ts->ts_len; i++)
			t[i] = ts->ts_t[(ts->ts_head + i) & (ts->ts_size - 1)];
		free(ts->ts_t);
		ts->ts_t = t;
		ts->ts_size = size;
		ts->ts_head = 0;
	}
	ts->ts_t[(ts->ts_head + ts->ts_len) & (ts->ts_size - 1)] = now;
	ts->ts_len++;
}

static void
ts_clear(struct tsring *ts)
{
	free(ts->ts_t);
	memset(ts, 0, sizeof(*ts));
}

void
ip_table_init(struct iptable *it)
{
	it->it_size = IP_TABLE_MIN;
	it->it_count = 0;
	it->it_max = UINT32_MAX;
	it->it_cursor = 0;
	it->it_bucket = xcalloc(it->it_size, sizeof(*it->it_bucket));
}

void
ip_table_free(struct iptable *it)
{
	struct ipent	*ie;
	uint32_t	 i;

	for (i = 0; i < it->it_size; i++) {
		while ((ie = it->it_bucket[i]) != NULL) {
			it->it_bucket[i] = ie->ie_next;
			ip_free(ie);
		}
	}
	free(it->it_bucket);
	memset(it, 0, sizeof(*it));
}

static void
ip_free(struct ipent *ie)
{
	ts_clear(&ie->ie_viol);
	ts_clear(&ie->ie_joins);
	free(ie);
}

static void
ip_resize(struct iptable *it, uint32_t size)
{
	struct ipent	**nb, *ie;
	uint32_t	  i, h;

	nb = xcalloc(size, sizeof(*nb));
	for (i = 0; i < it->it_size; i++) {
		while ((ie = it->it_bucket[i]) != NULL) {
			it->it_bucket[i] = ie->ie_next;
			h = addr_hash(&ie->ie_key) & (size - 1);
			ie->ie_next = nb[h];
			nb[h] = ie;
		}
	}
	free(it->it_bucket);
	it->it_bucket = nb;
	it->it_size = size;
}

struct ipent *
ip_find(struct iptable *it, const struct ipkey *key)
{
	struct ipent	*ie;

	for (ie = it->it_bucket[addr_hash(key) & (it->it_size - 1)];
	    ie != NULL; ie = ie->ie_next)
		if (addr_equal(&ie->ie_key, key))
			return (ie);
	return (NULL);
}

struct ipent *
ip_get(struct iptable *it, const struct ipkey *key)
{
	struct ipent	*ie;
	uint32_t	 h;

	if ((ie = ip_find(it, key)) != NULL)
		return (ie);
	if (it->it_count >= it->it_size && it->it_size * 2 > it->it_size)
		ip_resize(it, it->it_size * 2);
	ie = xcalloc(1, sizeof(*ie));
	ie->ie_key = *key;
	LIST_INIT(&ie->ie_socks);
	h = addr_hash(key) & (it->it_size - 1);
	ie->ie_next = it->it_bucket[h];
	it->it_bucket[h] = ie;
	it->it_count++;
	return (ie);
}

/* A ban that ran out is forgotten here. */
int
ip_banned(struct ipent *ie, uint64_t now)
{
	if (ie->ie_banned == 0)
		return (0);
	if (now < ie->ie_banned)
		return (1);
	ie->ie_banned = 0;
	return (0);
}

/*
 * Count one violation.  Returns 1 if it is the one that bans the IP (the
 * caller closes its sockets); issuing the ban resets the count.
 */
int
ip_violation(struct ipent *ie, uint64_t now, uint32_t limit, uint64_t banms)
{
	ts_prune(&ie->ie_viol, now);
	ts_push(&ie->ie_viol, now);
	if (ie->ie_viol.ts_len < limit)
		return (0);
	ts_clear(&ie->ie_viol);
	ie->ie_banned = now + banms;
	if (ie->ie_banned < now)
		ie->ie_banned = UINT64_MAX;
	return (1);
}

/*
 * Joins still waiting for the matcher hold a slot, so that two joins in
 * flight from one IP cannot both pass the last free place.
 */
int
ip_join_allowed(struct ipent *ie, uint64_t now, uint32_t limit)
{
	ts_prune(&ie->ie_joins, now);
	return ((uint64_t)ie->ie_joins.ts_len + ie->ie_pending < limit);
}

void
ip_join_pend(struct ipent *ie)
{
	ie->ie_pending++;
}

/* The pending slot becomes an accepted join, counted from now. */
void
ip_join_accept(struct ipent *ie, uint64_t now)
{
	if (ie->ie_pending == 0)
		fatalx("%s: no join pending", __func__);
	ie->ie_pending--;
	ts_prune(&ie->ie_joins, now);
	ts_push(&ie->ie_joins, now);
}

void
ip_join_release(struct ipent *ie)
{
	if (ie->ie_pending == 0)
		fatalx("%s: no join pending", __func__);
	ie->ie_pending--;
}

/* Nothing left to remember: no sockets, no window, no ban. */
int
ip_idle(struct ipent *ie, uint64_t now)
{
	if (ie->ie_nsocks > 0 || ie->ie_pending > 0 || ip_banned(ie, now))
		return (0);
	ts_prune(&ie->ie_viol, now);
	ts_prune(&ie->ie_joins, now);
	return (ie->ie_viol.ts_len == 0 && ie->ie_joins.ts_len == 0);
}

/* Free every idle entry; shrink the table after a crowd has gone. */
uint32_t
ip_sweep(struct iptable *it, uint64_t now)
{
	struct ipent	**iep, *ie;
	uint32_t	  i, n = 0, size;

	for (i = 0; i < it->it_size; i++) {
		iep = &it->it_bucket[i];
		while ((ie = *iep) != NULL) {
			if (!ip_idle(ie, now)) {
				iep = &ie->ie_next;
				continue;
			}
			*iep = ie->ie_next;
			ip_free(ie);
			it->it_count--;
			n++;
		}
	}
	size = it->it_size;
	while (size > IP_TABLE_MIN && it->it_count < size / 4)
		size /= 2;
	if (size != it->it_size)
		ip_resize(it, size);
	return (n);
}

/*
 * Called before an entry is made for a new client.  At the cap, idle
 * entries go first (a sweep); then entries that hold no socket, those not
 * banned before the banned, in table order from where the last eviction
 * stopped (the hash is keyed, so nobody can choose who goes), until an
 * eighth of the cap is free, so a flood pays for a scan only once every
 * it_max / 8 new clients.  Entries with open WebSockets are never
 * evicted: the caller keeps it_max above MAX_TOTAL_SOCKETS.  Returns how
 * many entries were evicted (the sweep's are not counted).
 */
uint32_t
ip_make_room(struct iptable *it, uint64_t now)
{
	uint32_t	 want, n = 0;

	if (it->it_count < it->it_max)
		return (0);
	(void)ip_sweep(it, now);
	want = it->it_max - it->it_max / 8;
	if (want == it->it_max)
		want--;
	if (it->it_count > want)
		n += ip_evict(it, now, want, 0);
	if (it->it_count > want)
		n += ip_evict(it, now, want, 1);
	return (n);
}

static uint32_t
ip_evict(struct iptable *it, uint64_t now, uint32_t want, int banned)
{
	struct ipent	**iep, *ie;
	uint32_t	  i, b = 0, n = 0;

	for (i = 0; i < it->it_size && it->it_count > want; i++) {
		b = (it->it_cursor + i) & (it->it_size - 1);
		iep = &it->it_bucket[b];
		while ((ie = *iep) != NULL && it->it_count > want) {
			if (ie->ie_nsocks > 0 || ie->ie_pending > 0 ||
			    (!banned && ip_banned(ie, now))) {
				iep = &ie->ie_next;
				continue;
			}
			*iep = ie->ie_next;
			ip_free(ie);
			it->it_count--;
			n++;
		}
	}
	it->it_cursor = (b + 1) & (it->it_size - 1);
	return (n);
}

/*
 * Active bans for the operator: how many, and up to max remaining times.
 * Never the addresses: devroulettectl(8) shows counts and times only.
 */
uint32_t
ip_bans(struct iptable *it, uint64_t now, uint64_t *left, uint32_t max)
{
	struct ipent	*ie;
	uint32_t	 i, n = 0;

	for (i = 0; i < it->it_size; i++)
		for (ie = it->it_bucket[i]; ie != NULL; ie = ie->ie_next) {
			if (!ip_banned(ie, now))
				continue;
			if (left != NULL && n < max)
				left[n] = ie->ie_banned - now;
			n++;
		}
	return (n);
}
