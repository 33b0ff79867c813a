/*
 * relay_ip.c: the per-IP table with a made-up clock: violations and joins
 * in a sliding WINDOW_MS, bans and their expiry, pending join slots, the
 * sweep that frees idle entries, and the table growing and shrinking.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

static void	test_violations(void);
static void	test_ban(void);
static void	test_joins(void);
static void	test_sweep(void);
static void	test_table(void);
static void	test_cap(void);
static struct ipkey *key4(uint32_t);

static struct ipkey	 k;

static struct ipkey *
key4(uint32_t a)
{
	memset(&k, 0, sizeof(k));
	k.ik_family = AF_INET;
	memcpy(k.ik_addr, &a, sizeof(a));
	return (&k);
}

static void
test_violations(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint64_t	 t0 = 1000000;
	int		 i, banned = 0;

	ip_table_init(&it);
	ie = ip_get(&it, key4(1));
	/* Nine in the window: no ban. */
	for (i = 0; i < 9; i++)
		banned |= ip_violation(ie, t0 + i * 1000, 10, 5000);
	CHECK(!banned, "9 violations within 60 s do not ban");
	/* The first of them leaves the window at t0 + WINDOW_MS exactly. */
	CHECK(!ip_violation(ie, t0 + WINDOW_MS, 10, 5000),
	    "the 10th arrives as the 1st leaves the window: no ban");
	CHECK(ip_violation(ie, t0 + WINDOW_MS + 500, 10, 5000),
	    "10 within the window ban");
	CHECK(ie->ie_viol.ts_len == 0, "issuing a ban resets the count");
	ip_table_free(&it);

	ip_table_init(&it);
	ie = ip_get(&it, key4(2));
	for (i = 0; i < 30; i++)
		banned = ip_violation(ie, t0 + i * 7000, 10, 5000);
	CHECK(!banned, "one violation every 7 s never bans (9 per window)");
	CHECK(ie->ie_viol.ts_len <= 10, "the window holds at most the limit");
	CHECK(ip_violation(ie, t0 + 29 * 7000, 1, 5000),
	    "a limit of 1 bans at the first violation");
	ip_table_free(&it);
}

static void
test_ban(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint64_t	 t0 = 5000;

	ip_table_init(&it);
	ie = ip_get(&it, key4(3));
	CHECK(!ip_banned(ie, t0), "not banned at first");
	CHECK(ip_violation(ie, t0, 1, 900000), "banned");
	CHECK(ip_banned(ie, t0 + 899999), "banned until the last ms");
	CHECK(!ip_banned(ie, t0 + 900000), "the ban ends after BAN_MS");
	CHECK(ie->ie_banned == 0, "an ended ban is forgotten");
	CHECK(ip_violation(ie, t0, 1, UINT64_MAX) && ip_banned(ie, UINT64_MAX - 1),
	    "a ban past the clock's end saturates");
	ip_table_free(&it);
}

static void
test_joins(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint64_t	 t0 = 70000;
	int		 i;

	ip_table_init(&it);
	ie = ip_get(&it, key4(4));
	for (i = 0; i < 5; i++) {
		CHECK(ip_join_allowed(ie, t0 + i, 5), "join %d allowed", i + 1);
		ip_join_pend(ie);
		ip_join_accept(ie, t0 + i);
	}
	CHECK(!ip_join_allowed(ie, t0 + 100, 5), "the 6th within 60 s is not");
	CHECK(!ip_join_allowed(ie, t0 + WINDOW_MS - 1, 5),
	    "nor 1 ms before the first leaves the window");
	CHECK(ip_join_allowed(ie, t0 + WINDOW_MS, 5),
	    "allowed once the first has left it");
	ip_table_free(&it);

	/* Pending slots: two in flight cannot both take the last place. */
	ip_table_init(&it);
	ie = ip_get(&it, key4(5));
	for (i = 0; i < 4; i++) {
		ip_join_pend(ie);
		ip_join_accept(ie, t0);
	}
	CHECK(ip_join_allowed(ie, t0, 5), "one place left");
	ip_join_pend(ie);
	CHECK(!ip_join_allowed(ie, t0, 5), "taken by a join in flight");
	ip_join_release(ie);
	CHECK(ip_join_allowed(ie, t0, 5), "key_in_use gives it back");
	ip_join_pend(ie);
	ip_join_accept(ie, t0 + 10);
	CHECK(!ip_join_allowed(ie, t0 + 10, 5) && ie->ie_pending == 0,
	    "an accepted join keeps it");
	ip_table_free(&it);
}

static void
test_sweep(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint64_t	 t0 = 100000;

	ip_table_init(&it);
	ie = ip_get(&it, key4(6));		/* idle at once */
	ie = ip_get(&it, key4(7));
	ie->ie_nsocks = 1;			/* holds a socket */
	ie = ip_get(&it, key4(8));
	(void)ip_violation(ie, t0, 10, 1000);	/* a violation in the window */
	ie = ip_get(&it, key4(9));
	(void)ip_violation(ie, t0, 1, 2 * WINDOW_MS);	/* banned */
	ie = ip_get(&it, key4(10));
	ip_join_pend(ie);			/* a join in flight */
	CHECK(it.it_count == 5, "5 entries");
	CHECK(ip_sweep(&it, t0) == 1 && it.it_count == 4,
	    "the sweep frees only the idle one");
	CHECK(ip_find(&it, key4(6)) == NULL && ip_find(&it, key4(7)) != NULL,
	    "the right one");
	CHECK(ip_sweep(&it, t0 + WINDOW_MS) == 1 &&
	    ip_find(&it, key4(8)) == NULL, "a violation ages out");
	CHECK(ip_sweep(&it, t0 + 2 * WINDOW_MS) == 1 &&
	    ip_find(&it, key4(9)) == NULL, "a ban runs out");
	ie = ip_find(&it, key4(7));
	ie->ie_nsocks = 0;
	ie = ip_find(&it, key4(10));
	ip_join_accept(ie, t0 + 2 * WINDOW_MS);
	CHECK(ip_sweep(&it, t0 + 2 * WINDOW_MS) == 1 && it.it_count == 1,
	    "a socket gone frees; an accepted join is kept for its window");
	CHECK(ip_sweep(&it, t0 + 3 * WINDOW_MS) == 1 && it.it_count == 0,
	    "then freed");
	ip_table_free(&it);
}

static void
test_table(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint32_t	 i, found = 0, size;

	ip_table_init(&it);
	for (i = 0; i < 10000; i++) {
		ie = ip_get(&it, key4(i));
		ie->ie_nsocks = i % 2;
	}
	CHECK(it.it_count == 10000, "10000 addresses");
	CHECK(it.it_size >= 8192, "the table grew (%u buckets)", it.it_size);
	for (i = 0; i < 10000; i++)
		if (ip_find(&it, key4(i)) != NULL &&
		    ip_get(&it, key4(i)) == ip_find(&it, key4(i)))
			found++;
	CHECK(found == 10000, "each found, and ip_get finds it too");
	size = it.it_size;
	CHECK(ip_sweep(&it, 1) == 5000, "the idle half is freed");
	for (i = 1; i < 10000; i += 2)
		ip_find(&it, key4(i))->ie_nsocks = 0;
	CHECK(ip_sweep(&it, 1) == 5000 && it.it_count == 0, "then the rest");
	CHECK(it.it_size < size && it.it_size >= 64, "the table shrank (%u)",
	    it.it_size);
	ip_table_free(&it);
}

/* D41: at the cap, idle entries go, then sockless ones, banned last. */
static void
test_cap(void)
{
	struct iptable	 it;
	struct ipent	*ie;
	uint64_t	 t0 = 100000;
	uint32_t	 i, n, round, held = 0, banned = 0, other = 0;

	ip_table_init(&it);
	it.it_max = 1000;
	CHECK(ip_make_room(&it, t0) == 0, "nothing to do below the cap");
	for (i = 0; i < 1000; i++) {
		ie = ip_get(&it, key4(i));
		if (i % 10 == 0)
			ie->ie_nsocks = 1;		/* 100 hold sockets */
		else if (i % 10 == 1)
			ip_join_pend(ie);		/* 100 joins in flight */
		else if (i % 10 < 5)
			(void)ip_violation(ie, t0, 1, WINDOW_MS);  /* 300 */
		else
			(void)ip_violation(ie, t0, 10, 1000);	/* 500 */
	}
	CHECK(it.it_count == 1000, "at the cap");
	n = ip_make_room(&it, t0);
	CHECK(n == 125 && it.it_count == 875, "an eighth evicted (%u, %u)",
	    n, it.it_count);
	for (i = 0; i < 1000; i++) {
		if ((ie = ip_find(&it, key4(i))) == NULL)
			continue;
		if (ie->ie_nsocks > 0 || ie->ie_pending > 0)
			held++;
		else if (ip_banned(ie, t0))
			banned++;
	}
	CHECK(held == 200, "sockets and joins in flight kept (%u)", held);
	CHECK(banned == 300, "bans kept while others can go (%u)", banned);
	/* More bans keep coming: the unbanned go first, then the banned. */
	for (i = 1000, round = 0; round < 6; round++) {
		for (; it.it_count < 1000; i++)
			(void)ip_violation(ip_get(&it, key4(i)), t0, 1,
			    WINDOW_MS);
		n = ip_make_room(&it, t0);
		CHECK(n == 125 && it.it_count == 875, "round %u: %u evicted",
		    round, n);
	}
	held = 0;
	for (i = 0; i < 1000; i++) {
		if ((ie = ip_find(&it, key4(i))) == NULL)
			continue;
		if (ie->ie_nsocks > 0 || ie->ie_pending > 0)
			held++;
		else if (!ip_banned(ie, t0))
			other++;
	}
	CHECK(held == 200 && other == 0,
	    "those holding sockets stay, the unbanned went first");
	ip_table_free(&it);

	ip_table_init(&it);
	it.it_max = 64;
	for (i = 0; i < 64; i++)
		(void)ip_get(&it, key4(i));		/* all idle */
	CHECK(ip_make_room(&it, t0) == 0 && it.it_count == 0,
	    "the sweep alone makes room");
	ip_table_free(&it);
}

int
main(void)
{
	test_violations();
	test_ban();
	test_joins();
	test_sweep();
	test_table();
	test_cap();
	return (unit_done());
}
