/*
 * The per-address table (relay/relay_ip.c, docs/PROTOCOL.md D41), driven
 * the way relay/relay.c drives it, against a model kept here.
 *
 * The input: four bytes of settings (the cap it_max from 1 to 64, so that
 * the table is full nearly all the time; the violation and join limits,
 * sockets per address, the ban's length, how many sockets in all), then
 * operations, one byte each and an argument byte or two: admit an address
 * (ip_find, ip_banned, then ip_make_room and ip_get for a new one, and a
 * socket, as relay_admit() and relay_open() do), admit a crowd of fresh
 * addresses that each do one thing and leave or stay, detach a socket (a
 * join in flight is accepted, as relay_detach() does), a violation (a ban
 * closes the address's sockets), a join asked for, accepted or refused by
 * the matcher, time passing, a sweep, ip_bans(), ip_banned() and
 * ip_idle().  A socket may also leave its join in flight, settled later:
 * relay.c does not do that today, but the table promises to keep such an
 * entry as it keeps one with a socket, and this is how that is tried.
 *
 * After every operation the table must be what the model says: the same
 * entries, each reachable from its own bucket, it_count their number,
 * the counts and bans the model has.  ip_make_room() must sweep exactly
 * the idle entries, then evict exactly as many as bring the table down to
 * the cap less an eighth, never one holding a socket or a join in flight,
 * and a banned one only once no entry that is neither pinned so nor
 * banned is left (D41's order).  Above the cap only when every entry is
 * pinned; the table grows only on admission.  ip_sweep() frees exactly
 * the idle entries, ip_bans() counts exactly the bans still running and
 * gives their remaining times, the windows never outgrow their limits.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "fuzz.h"

#define M_MAX		320	/* model entries: the cap, pinned ones, one */
#define S_MAX		128	/* sockets in all, at most */
#define P_MAX		64	/* joins in flight without a socket */
#define W_MAX		8	/* the violation and join limits, at most */
#define BANS_MAX	128
#define T0		1000000

/*
 * The model and the checks walk every entry after every step: not
 * instrumented for libFuzzer, they would cost most of the time and add
 * features that say nothing about the table.
 */
#define ORACLE		__attribute__((__no_sanitize__("coverage")))

enum op {
	OP_ADMIT,		/* 2 bytes: an address */
	OP_ADMIT_AGAIN,		/* 1 byte: an address the table holds */
	OP_CROWD,		/* 1 byte: how many, what each does */
	OP_DETACH,		/* 1 byte: a socket */
	OP_VIOLATION,		/* 1 byte: a socket */
	OP_JOIN,		/* 1 byte: a socket */
	OP_ACCEPT,		/* 1 byte: a socket */
	OP_RELEASE,		/* 1 byte: a socket */
	OP_TIME,		/* 1 byte: how long */
	OP_SWEEP,
	OP_BANS,		/* 1 byte: the caller's array */
	OP_QUERY,		/* 1 byte: an entry */
	OP_ORPHAN,		/* 1 byte: a socket */
	OP_SETTLE,		/* 1 byte: an orphaned join, accept or not */
	OP_MAX
};

/* What a member of a crowd does once admitted. */
enum crowd {
	CR_LEAVE,
	CR_ORPHAN,		/* leave with a join in flight, orphaned */
	CR_VIOLATE,		/* one violation, then leave */
	CR_BAN,			/* violations until banned */
	CR_JOIN,		/* a join accepted, then leave */
	CR_JOIN_LEAVE,		/* leave with a join in flight */
	CR_STAY,
	CR_STAY_JOIN		/* stay with a join in flight */
};

/* The model of one entry; m_ie NULL: the slot is free. */
struct ment {
	struct ipkey	 m_key;
	struct ipent	*m_ie;
	uint32_t	 m_nsocks;
	uint32_t	 m_pending;
	uint64_t	 m_ban;		/* ie_banned as last set */
	uint64_t	 m_viol[W_MAX];
	uint32_t	 m_nviol;
	uint64_t	 m_joins[W_MAX];
	uint32_t	 m_njoins;
};

struct msock {
	struct ment	*s_m;
	int		 s_joining;	/* a join in flight (CS_JOINING) */
};

static struct fz {
	struct iptable	 f_it;
	struct ment	 f_m[M_MAX];
	uint32_t	 f_nm;		/* entries */
	uint32_t	 f_hi;		/* slots ever used */
	struct msock	 f_s[S_MAX];
	uint32_t	 f_ns;
	struct ment	*f_p[P_MAX];	/* orphaned joins */
	uint32_t	 f_np;
	uint32_t	 f_maxsocks;	/* MAX_TOTAL_SOCKETS */
	uint32_t	 f_ipsocks;	/* MAX_SOCKETS_PER_IP */
	uint32_t	 f_viollim;	/* BAN_AFTER_VIOLATIONS */
	uint32_t	 f_joinlim;	/* JOINS_PER_MIN */
	uint64_t	 f_banms;
	uint64_t	 f_now;
	uint32_t	 f_crowd;	/* the next fresh address */
	const uint8_t	*f_in;
	size_t		 f_left;
} fz;

static uint8_t	 next(void);
static uint32_t	 next_sock(void);
static void	 key_make(struct ipkey *, int, uint32_t);
static void	 win_prune(uint64_t *, uint32_t *, uint64_t);
static void	 win_push(uint64_t *, uint32_t *, uint64_t);
static int	 m_pinned(const struct ment *);
static int	 m_banned(const struct ment *);
static int	 m_idle(struct ment *);
static struct ment *m_find(const struct ipkey *);
static struct ment *m_slot(void);
static struct ment *m_pick(uint8_t);
static void	 m_gone(struct ment *);
static uint32_t	 ring_max(uint32_t);
static void	 check_table(void);
static void	 check_size(void);
static void	 make_room(void);
static int	 admit(const struct ipkey *);
static void	 detach(uint32_t);
static void	 violation(uint32_t);
static void	 join(uint32_t);
static void	 join_end(uint32_t, int);
static void	 orphan(uint32_t);
static void	 settle(uint8_t);
static void	 crowd(uint8_t);
static void	 time_pass(uint8_t);
static void	 sweep(void);
static void	 bans(uint8_t);
static void	 query(uint8_t);

/*
 * addr_hash() keys itself once per process with arc4random_buf(): a fixed
 * key here, so that which entries share a bucket, and so the order of
 * eviction, depends on the input alone and a crash replays.
 */
void
arc4random_buf(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
}

static uint8_t
next(void)
{
	if (fz.f_left == 0)
		return (0);
	fz.f_left--;
	return (*fz.f_in++);
}

/* One of the open sockets; there is one. */
static uint32_t
next_sock(void)
{
	return (next() % fz.f_ns);
}

/* Addresses from the input are 10.0/16 or 2001:db8::/48; a crowd's apart. */
static void
key_make(struct ipkey *ik, int crowdkey, uint32_t v)
{
	memset(ik, 0, sizeof(*ik));
	if (crowdkey) {
		ik->ik_family = AF_INET6;
		ik->ik_addr[0] = 0x20;
		ik->ik_addr[1] = 0x01;
		ik->ik_addr[2] = 0x0d;
		ik->ik_addr[3] = 0xb9;
		ik->ik_addr[4] = v >> 24;
		ik->ik_addr[5] = v >> 16;
		ik->ik_addr[6] = v >> 8;
		ik->ik_addr[7] = v;
	} else if (v & 0x8000) {
		ik->ik_family = AF_INET6;
		ik->ik_addr[0] = 0x20;
		ik->ik_addr[1] = 0x01;
		ik->ik_addr[2] = 0x0d;
		ik->ik_addr[3] = 0xb8;
		ik->ik_addr[6] = (v >> 8) & 0x7f;
		ik->ik_addr[7] = v;
	} else {
		ik->ik_family = AF_INET;
		ik->ik_addr[0] = 10;
		ik->ik_addr[2] = v >> 8;
		ik->ik_addr[3] = v;
	}
}

/* The model's windows: instants oldest first, gone at WINDOW_MS. */
ORACLE static void
win_prune(uint64_t *t, uint32_t *n, uint64_t now)
{
	uint32_t	 i = 0;

	while (i < *n && now - t[i] >= WINDOW_MS)
		i++;
	memmove(t, t + i, (*n - i) * sizeof(*t));
	*n -= i;
}

static void
win_push(uint64_t *t, uint32_t *n, uint64_t now)
{
	FUZZ_CHECK(*n < W_MAX, "model window full");
	t[(*n)++] = now;
}

ORACLE static int
m_pinned(const struct ment *m)
{
	return (m->m_nsocks > 0 || m->m_pending > 0);
}

ORACLE static int
m_banned(const struct ment *m)
{
	return (m->m_ban > fz.f_now);
}

/* What D41 lets the sweep forget. */
ORACLE static int
m_idle(struct ment *m)
{
	win_prune(m->m_viol, &m->m_nviol, fz.f_now);
	win_prune(m->m_joins, &m->m_njoins, fz.f_now);
	return (!m_pinned(m) && !m_banned(m) && m->m_nviol == 0 &&
	    m->m_njoins == 0);
}

/* Not addr_equal(): libFuzzer would trace each memcmp(). */
ORACLE static struct ment *
m_find(const struct ipkey *ik)
{
	const struct ment	*m;
	uint32_t		 i, j;

	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		if (m->m_ie == NULL || m->m_key.ik_family != ik->ik_family)
			continue;
		for (j = 0; j < sizeof(ik->ik_addr); j++)
			if (m->m_key.ik_addr[j] != ik->ik_addr[j])
				break;
		if (j == sizeof(ik->ik_addr))
			return (&fz.f_m[i]);
	}
	return (NULL);
}

ORACLE static struct ment *
m_slot(void)
{
	uint32_t	 i;

	for (i = 0; i < fz.f_hi; i++)
		if (fz.f_m[i].m_ie == NULL)
			return (&fz.f_m[i]);
	FUZZ_CHECK(fz.f_hi < M_MAX, "more than %d entries", M_MAX);
	return (&fz.f_m[fz.f_hi++]);
}

static void
m_gone(struct ment *m)
{
	memset(m, 0, sizeof(*m));
	fz.f_nm--;
}

/* ts_push() doubles from 4: the ring a limit of n needs. */
ORACLE static uint32_t
ring_max(uint32_t n)
{
	uint32_t	 size = 4;

	while (size < n)
		size *= 2;
	return (size);
}

/* The table holds exactly the model's entries, as the model has them. */
ORACLE static void
check_table(void)
{
	struct iptable	*it = &fz.f_it;
	struct ipent	*ie;
	struct ment	*m;
	uint32_t	 i, n = 0;

	FUZZ_CHECK(it->it_size >= 64 && (it->it_size & (it->it_size - 1)) ==
	    0, "table size %u", it->it_size);
	FUZZ_CHECK(it->it_count <= it->it_size, "%u entries in %u buckets",
	    it->it_count, it->it_size);
	/*
	 * As many as the model's, each found by ip_find() in its own bucket
	 * below: so the buckets hold just those, each once, where it should.
	 */
	for (i = 0; i < it->it_size; i++)
		for (ie = it->it_bucket[i]; ie != NULL; ie = ie->ie_next)
			FUZZ_CHECK(++n <= it->it_count, "more than it_count "
			    "(%u) entries in the buckets", it->it_count);
	FUZZ_CHECK(n == it->it_count, "it_count %u, %u in the buckets",
	    it->it_count, n);
	FUZZ_CHECK(n == fz.f_nm, "%u entries, the model has %u", n, fz.f_nm);

	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		if (m->m_ie == NULL)
			continue;
		ie = m->m_ie;
		FUZZ_CHECK(ip_find(it, &m->m_key) == ie, "entry %u lost", i);
		FUZZ_CHECK(ie->ie_nsocks == m->m_nsocks && ie->ie_pending ==
		    m->m_pending, "entry %u: %u sockets %u pending, model "
		    "%u %u", i, ie->ie_nsocks, ie->ie_pending, m->m_nsocks,
		    m->m_pending);
		FUZZ_CHECK(ie->ie_banned == m->m_ban || (ie->ie_banned == 0 &&
		    !m_banned(m)), "entry %u: ban %llu, model %llu", i,
		    (unsigned long long)ie->ie_banned,
		    (unsigned long long)m->m_ban);
		FUZZ_CHECK(ie->ie_viol.ts_len < fz.f_viollim &&
		    ie->ie_viol.ts_size <= ring_max(fz.f_viollim),
		    "entry %u: %u violations in a ring of %u", i,
		    ie->ie_viol.ts_len, ie->ie_viol.ts_size);
		FUZZ_CHECK(ie->ie_joins.ts_len <= fz.f_joinlim &&
		    ie->ie_joins.ts_size <= ring_max(fz.f_joinlim),
		    "entry %u: %u joins in a ring of %u", i,
		    ie->ie_joins.ts_len, ie->ie_joins.ts_size);
	}
}

/* After a sweep: shrunk as far as a quarter full allows. */
static void
check_size(void)
{
	struct iptable	*it = &fz.f_it;

	FUZZ_CHECK(it->it_size == 64 || it->it_count >= it->it_size / 4,
	    "%u entries in %u buckets after a sweep", it->it_count,
	    it->it_size);
}

/* ip_make_room() against the model: D41's sweep, amount and order. */
ORACLE static void
make_room(void)
{
	struct iptable	*it = &fz.f_it;
	struct ment	*m;
	struct ipent	*ie;
	uint32_t	 i, before = it->it_count, want, n, left;
	uint32_t	 nidle = 0, npin = 0, nfree = 0, nban = 0, expect;
	uint32_t	 gfree = 0, gban = 0;
	int		 idle[M_MAX] = { 0 };

	if (before < it->it_max) {
		FUZZ_CHECK(ip_make_room(it, fz.f_now) == 0 &&
		    it->it_count == before, "room made below the cap");
		return;
	}
	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		if (m->m_ie == NULL)
			continue;
		if ((idle[i] = m_idle(m)))
			nidle++;
		else if (m_pinned(m))
			npin++;
		else if (m_banned(m))
			nban++;
		else
			nfree++;
	}
	want = it->it_max - it->it_max / 8;
	if (want == it->it_max)
		want--;
	left = before - nidle;
	expect = 0;
	if (left > want)
		expect = left - want < nfree + nban ? left - want :
		    nfree + nban;

	n = ip_make_room(it, fz.f_now);
	FUZZ_CHECK(n == expect, "%u evicted, expected %u (%u entries, "
	    "%u idle, %u pinned, %u free, %u banned, want %u)", n, expect,
	    before, nidle, npin, nfree, nban, want);
	FUZZ_CHECK(it->it_count == left - expect, "%u entries left, "
	    "expected %u", it->it_count, left - expect);

	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		if (m->m_ie == NULL)
			continue;
		ie = ip_find(it, &m->m_key);
		FUZZ_CHECK(ie == NULL || ie == m->m_ie, "entry %u replaced",
		    i);
		if (ie != NULL) {
			FUZZ_CHECK(!idle[i], "idle entry %u not swept", i);
			continue;
		}
		FUZZ_CHECK(!m_pinned(m), "entry %u evicted with %u sockets, "
		    "%u joins in flight", i, m->m_nsocks, m->m_pending);
		if (!idle[i]) {
			if (m_banned(m))
				gban++;
			else
				gfree++;
		}
		m_gone(m);
	}
	FUZZ_CHECK(gfree + gban == n, "%u + %u evicted, said %u", gfree,
	    gban, n);
	FUZZ_CHECK(gban == 0 || gfree == nfree, "%u banned evicted before "
	    "%u of %u not banned", gban, nfree - gfree, nfree);
	FUZZ_CHECK(it->it_count <= want || it->it_count == npin,
	    "%u entries above %u, %u of them pinned", it->it_count, want,
	    npin);
}

/*
 * relay_admit() then relay_open(): the socket's index, or -1 if refused
 * (403 banned, 503 all sockets taken, 429 the address's taken).
 */
static int
admit(const struct ipkey *ik)
{
	struct iptable	*it = &fz.f_it;
	struct ipent	*ie;
	struct ment	*m;
	uint32_t	 before, i;

	ie = ip_find(it, ik);
	m = m_find(ik);
	FUZZ_CHECK((m == NULL && ie == NULL) || (m != NULL && ie == m->m_ie),
	    "ip_find differs from the model");
	if (ie != NULL && ip_banned(ie, fz.f_now)) {
		FUZZ_CHECK(m_banned(m), "banned, model says not");
		return (-1);
	}
	FUZZ_CHECK(m == NULL || !m_banned(m), "not banned, model says so");
	if (fz.f_ns >= fz.f_maxsocks)
		return (-1);
	if (ie != NULL && ie->ie_nsocks >= fz.f_ipsocks)
		return (-1);
	if (ie == NULL) {
		make_room();
		before = it->it_count;
		ie = ip_get(it, ik);
		FUZZ_CHECK(it->it_count == before + 1, "ip_get: %u entries, "
		    "were %u", it->it_count, before);
		FUZZ_CHECK(addr_equal(&ie->ie_key, ik) && ie->ie_nsocks == 0 &&
		    ie->ie_pending == 0 && ie->ie_banned == 0 &&
		    ie->ie_viol.ts_len == 0 && ie->ie_joins.ts_len == 0,
		    "new entry not empty");
		m = m_slot();
		m->m_key = *ik;
		m->m_ie = ie;
		fz.f_nm++;
		/* Over the cap only with every other entry pinned. */
		for (i = 0; it->it_count > it->it_max && i < fz.f_hi; i++)
			FUZZ_CHECK(fz.f_m[i].m_ie == NULL || m == &fz.f_m[i] ||
			    m_pinned(&fz.f_m[i]), "%u entries over a cap of "
			    "%u, entry %u not pinned", it->it_count,
			    it->it_max, i);
	}
	ie->ie_nsocks++;
	m->m_nsocks++;
	fz.f_s[fz.f_ns].s_m = m;
	fz.f_s[fz.f_ns].s_joining = 0;
	return ((int)fz.f_ns++);
}

/* relay_detach(): a join in flight counts as accepted. */
static void
detach(uint32_t s)
{
	struct msock	*ms = &fz.f_s[s];
	struct ment	*m = ms->s_m;

	if (ms->s_joining)
		join_end(s, 1);
	m->m_ie->ie_nsocks--;
	m->m_nsocks--;
	fz.f_s[s] = fz.f_s[--fz.f_ns];
}

/* relay_violation(): a ban closes every socket of the address. */
static void
violation(uint32_t s)
{
	struct ment	*m = fz.f_s[s].s_m;
	uint32_t	 i;
	int		 ban = 0, r;

	win_prune(m->m_viol, &m->m_nviol, fz.f_now);
	win_push(m->m_viol, &m->m_nviol, fz.f_now);
	if (m->m_nviol >= fz.f_viollim) {
		m->m_nviol = 0;
		m->m_ban = fz.f_now + fz.f_banms;
		if (m->m_ban < fz.f_now)
			m->m_ban = UINT64_MAX;
		ban = 1;
	}
	r = ip_violation(m->m_ie, fz.f_now, fz.f_viollim, fz.f_banms);
	FUZZ_CHECK(r == ban, "ip_violation %d, model %d", r, ban);
	if (!ban)
		return;
	for (i = fz.f_ns; i-- > 0; )
		if (fz.f_s[i].s_m == m)
			detach(i);
}

/* relay_client.c's join: refused at the limit, else in flight. */
static void
join(uint32_t s)
{
	struct msock	*ms = &fz.f_s[s];
	struct ment	*m = ms->s_m;
	int		 ok, r;

	if (ms->s_joining)
		return;
	win_prune(m->m_joins, &m->m_njoins, fz.f_now);
	ok = m->m_njoins + m->m_pending < fz.f_joinlim;
	r = ip_join_allowed(m->m_ie, fz.f_now, fz.f_joinlim);
	FUZZ_CHECK(r == ok, "ip_join_allowed %d, model %d (%u joins, "
	    "%u pending)", r, ok, m->m_njoins, m->m_pending);
	if (!ok)
		return;
	ip_join_pend(m->m_ie);
	m->m_pending++;
	ms->s_joining = 1;
}

/* The matcher's answer: queued (accepted) or key_in_use (released). */
static void
join_end(uint32_t s, int accept)
{
	struct msock	*ms = &fz.f_s[s];
	struct ment	*m = ms->s_m;

	if (!ms->s_joining)
		return;
	ms->s_joining = 0;
	m->m_pending--;
	if (accept) {
		win_prune(m->m_joins, &m->m_njoins, fz.f_now);
		win_push(m->m_joins, &m->m_njoins, fz.f_now);
		ip_join_accept(m->m_ie, fz.f_now);
	} else
		ip_join_release(m->m_ie);
}

/* The socket goes, its join stays in flight (at most P_MAX of them). */
static void
orphan(uint32_t s)
{
	struct msock	*ms = &fz.f_s[s];

	if (ms->s_joining && fz.f_np < P_MAX) {
		ms->s_joining = 0;
		fz.f_p[fz.f_np++] = ms->s_m;
	}
	detach(s);
}

static void
settle(uint8_t arg)
{
	struct ment	*m;
	uint32_t	 p;

	if (fz.f_np == 0)
		return;
	p = (arg & 0x7f) % fz.f_np;
	m = fz.f_p[p];
	fz.f_p[p] = fz.f_p[--fz.f_np];
	m->m_pending--;
	if (arg & 0x80) {
		win_prune(m->m_joins, &m->m_njoins, fz.f_now);
		win_push(m->m_joins, &m->m_njoins, fz.f_now);
		ip_join_accept(m->m_ie, fz.f_now);
	} else
		ip_join_release(m->m_ie);
}

/* A crowd of new addresses: a flood the cap must hold. */
static void
crowd(uint8_t arg)
{
	struct ipkey	 ik;
	struct ment	*m;
	uint32_t	 n = 1 + (arg & 31), i;
	int		 s;

	for (i = 0; i < n; i++) {
		key_make(&ik, 1, fz.f_crowd++);
		if ((s = admit(&ik)) == -1) {
			check_table();
			continue;
		}
		m = fz.f_s[s].s_m;
		switch (arg >> 5) {
		case CR_LEAVE:
			detach(s);
			break;
		case CR_ORPHAN:
			join(s);
			orphan(s);
			break;
		case CR_VIOLATE:
			violation(s);
			if (m->m_nsocks > 0)
				detach(s);
			break;
		case CR_BAN:
			while (m->m_nsocks > 0)
				violation(s);
			break;
		case CR_JOIN:
			join(s);
			join_end(s, 1);
			detach(s);
			break;
		case CR_JOIN_LEAVE:
			join(s);
			detach(s);
			break;
		case CR_STAY:
			break;
		case CR_STAY_JOIN:
			join(s);
			break;
		}
		check_table();
	}
}

static void
time_pass(uint8_t v)
{
	uint64_t	 dt;

	if (v < 128)
		dt = v;
	else if (v < 192)
		dt = (uint64_t)(v - 128) * 1000;
	else if (v < 224)		/* around the window's end */
		dt = WINDOW_MS - 16 + (v - 192);
	else
		dt = (uint64_t)(v - 223) * 10000;
	fz.f_now += dt;
}

ORACLE static void
sweep(void)
{
	struct ment	*m;
	uint32_t	 i, nidle = 0, n;
	int		 idle[M_MAX] = { 0 };

	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		idle[i] = m->m_ie != NULL && m_idle(m);
		nidle += idle[i];
	}
	n = ip_sweep(&fz.f_it, fz.f_now);
	FUZZ_CHECK(n == nidle, "ip_sweep freed %u, %u idle", n, nidle);
	for (i = 0; i < fz.f_hi; i++) {
		m = &fz.f_m[i];
		if (m->m_ie == NULL)
			continue;
		FUZZ_CHECK((ip_find(&fz.f_it, &m->m_key) == NULL) == idle[i],
		    "entry %u %s", i, idle[i] ? "idle, kept" : "freed");
		if (idle[i])
			m_gone(m);
	}
	check_size();
}

/* ip_bans(): the bans still running, their times, within max. */
ORACLE static void
bans(uint8_t arg)
{
	uint64_t	 model[M_MAX], *left = NULL;
	uint32_t	 i, j, n = 0, max = 0, r;

	for (i = 0; i < fz.f_hi; i++)
		if (fz.f_m[i].m_ie != NULL && m_banned(&fz.f_m[i]))
			model[n++] = fz.f_m[i].m_ban - fz.f_now;
	if (!(arg & 0x80)) {
		max = arg % BANS_MAX;
		/* Exactly max, so that AddressSanitizer sees a write past. */
		if ((left = malloc(max == 0 ? 1 : max * sizeof(*left))) ==
		    NULL)
			abort();
	}
	r = ip_bans(&fz.f_it, fz.f_now, left, max);
	FUZZ_CHECK(r == n, "ip_bans %u, %u banned", r, n);
	for (i = 0; left != NULL && i < n && i < max; i++) {
		for (j = 0; j < n; j++)
			if (model[j] == left[i])
				break;
		FUZZ_CHECK(j < n, "ban %u: %llu left, no such ban", i,
		    (unsigned long long)left[i]);
		model[j] = 0;	/* a running ban has more than 0 left */
	}
	free(left);
}

/* The entry the byte picks, in slot order; there is one. */
ORACLE static struct ment *
m_pick(uint8_t arg)
{
	uint32_t	 i, k = arg % fz.f_nm;

	for (i = 0; i < fz.f_hi; i++)
		if (fz.f_m[i].m_ie != NULL && k-- == 0)
			return (&fz.f_m[i]);
	fuzz_fail(__FILE__, __LINE__, "entry %u of %u", arg % fz.f_nm,
	    fz.f_nm);
}

ORACLE static void
query(uint8_t arg)
{
	struct ment	*m;

	if (fz.f_nm == 0)
		return;
	m = m_pick(arg);
	if (arg & 0x80)
		FUZZ_CHECK(ip_banned(m->m_ie, fz.f_now) == m_banned(m),
		    "ip_banned differs");
	else
		FUZZ_CHECK(ip_idle(m->m_ie, fz.f_now) == m_idle(m),
		    "ip_idle differs");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipkey	 ik;
	uint32_t	 v, lastcount;
	uint8_t		 b, op;

	memset(&fz, 0, sizeof(fz));
	fz.f_in = data;
	fz.f_left = size;
	fz.f_now = T0;
	ip_table_init(&fz.f_it);
	fz.f_it.it_max = 1 + next() % 64;
	b = next();
	fz.f_viollim = 1 + (b & 7);
	fz.f_joinlim = 1 + ((b >> 3) & 7);
	fz.f_ipsocks = 1 + (b >> 6);
	b = next();
	fz.f_banms = b == 0 ? 0 : b == 255 ? UINT64_MAX : (uint64_t)b * 1000;
	fz.f_maxsocks = 1 + next() % S_MAX;

	while (fz.f_left > 0) {
		lastcount = fz.f_it.it_count;
		op = next() % OP_MAX;
		switch (op) {
		case OP_ADMIT:
			v = next();
			v = v << 8 | next();
			key_make(&ik, 0, v);
			(void)admit(&ik);
			break;
		case OP_ADMIT_AGAIN:
			b = next();
			if (fz.f_nm == 0)
				break;
			ik = m_pick(b)->m_key;
			(void)admit(&ik);
			break;
		case OP_CROWD:
			crowd(next());
			break;
		case OP_DETACH:
			if (fz.f_ns > 0)
				detach(next_sock());
			break;
		case OP_VIOLATION:
			if (fz.f_ns > 0)
				violation(next_sock());
			break;
		case OP_JOIN:
			if (fz.f_ns > 0)
				join(next_sock());
			break;
		case OP_ACCEPT:
		case OP_RELEASE:
			if (fz.f_ns > 0)
				join_end(next_sock(), op == OP_ACCEPT);
			break;
		case OP_TIME:
			time_pass(next());
			break;
		case OP_SWEEP:
			sweep();
			break;
		case OP_BANS:
			bans(next());
			break;
		case OP_QUERY:
			query(next());
			break;
		case OP_ORPHAN:
			if (fz.f_ns > 0)
				orphan(next_sock());
			break;
		case OP_SETTLE:
			settle(next());
			break;
		}
		/* Only admission makes entries. */
		FUZZ_CHECK(op == OP_ADMIT || op == OP_ADMIT_AGAIN ||
		    op == OP_CROWD || fz.f_it.it_count <= lastcount,
		    "the table grew from %u to %u", lastcount,
		    fz.f_it.it_count);
		check_table();
	}
	ip_table_free(&fz.f_it);
	return (0);
}
