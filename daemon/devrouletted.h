/*
 * devrouletted: the nouns every process of the daemon shares.
 *
 * Three processes: the privileged parent (daemon/), the front that speaks
 * HTTP and WebSocket (relay/), and the matcher that owns queues and rooms
 * (matcher/).  Each child keeps its private structures in its own header
 * (relay/relay.h, matcher/matcher.h); what crosses a socketpair is here.
 */

#ifndef DEVROULETTED_H
#define DEVROULETTED_H

#include <sys/types.h>

#include <stdint.h>

#include "common.h"

#define DR_USER			"_devroulette"
#define DR_CHROOT		"/var/empty"
#define DR_COUNTERS_FILE	"counters"
#define DR_PERSIST_MS		10000	/* counters written this often */
#define DR_SHUTDOWN_GRACE_MS	2000	/* close handshakes at shutdown */

#define MATCH_KEY_LEN		32	/* bytes; 64 hex on the wire */
#define HANDLE_MAX		32	/* [a-z-]{3,32} */
#define WS_MAX_MESSAGE		(16 * 1024)
#define WS_MAX_FRAMES		64
#define HTTP_HEAD_MAX		8192
#define FRAME_BUDGET		20	/* frames per socket per second */
#define WINDOW_MS		60000	/* joins and violations */
#define INSIGHTS_INTERVAL_MS	1000

/*
 * PREFORK (D43): the front may run as several processes.  A socket id
 * carries its front's index in its low bits, so that the matcher knows
 * where to answer and no front can speak for another's sockets.
 */
#define PREFORK_MAX		16
#define SOCKID_FRONT_BITS	4
#define SOCKID_FRONT(id)	((uint32_t)((id) & (PREFORK_MAX - 1)))

/* PROTOCOL.md section 8, read by the parent before anything else. */
struct settings {
	char		 s_host[256];
	uint16_t	 s_port;
	uint32_t	 s_trusted_proxy_hops;
	uint32_t	 s_prefork;	/* front processes */
	uint32_t	 s_max_total_sockets;
	uint32_t	 s_max_sockets_per_ip;
	uint32_t	 s_joins_per_min;
	uint32_t	 s_pow_bits;
	uint32_t	 s_pow_deadline_ms;
	uint32_t	 s_handshake_timeout_ms;
	uint32_t	 s_ping_interval_ms;
	uint32_t	 s_beat_timeout_ms;
	uint32_t	 s_msg_interval_ms;
	uint32_t	 s_msg_max_chars;
	uint32_t	 s_skip_interval_ms;
	uint32_t	 s_room_max_msgs;
	uint32_t	 s_room_idle_ms;
	uint32_t	 s_ban_after_violations;
	uint64_t	 s_ban_ms;
	uint64_t	 s_max_outbuf;
	int		 s_allow_debug;
	char		 s_state_dir[1024];
	char		 s_control_socket[108];
};

/* Aggregate, all-time counters: the only thing written to disk. */
struct counters {
	uint64_t	 c_connections;	/* WebSockets accepted (101) */
	uint64_t	 c_convos;	/* rooms made */
	uint64_t	 c_messages;	/* messages relayed */
	uint64_t	 c_reports;
};

/* Error codes of PROTOCOL.md section 3, in wire order of that table. */
enum dr_error {
	ERR_BAD_FRAME = 1,
	ERR_STATE,
	ERR_POW,
	ERR_RATE,
	ERR_TOO_LONG,
	ERR_EMPTY,
	ERR_SKIP_RATE,
	ERR_JOIN_RATE,
	ERR_KEY_IN_USE,
	ERR_INSIGHTS_RATE,
	ERR_MAX
};

enum dr_ended {
	ENDED_SKIP = 1,
	ENDED_REPORT,
	ENDED_PEER_LEFT,
	ENDED_IDLE,
	ENDED_LIMIT,
	ENDED_MAX
};

enum dr_mode {
	MODE_TASK = 1,
	MODE_OPEN,
	MODE_DEBUG,
	MODE_MAX
};

/*
 * IPC message types, in ranges by direction.  ih_peerid names the client
 * socket (assigned by its front, never reused, SOCKID_FRONT() is that
 * front's index) or is 0.  Every payload has
 * an exact size, or a bounded one where noted; anything else is fatal.
 */
enum imsg_type {
	IMSG_NONE = 0,

	/* parent -> children */
	IMSG_SHUTDOWN = 100,		/* empty */
	IMSG_COUNTERS_LOAD,		/* parent -> matcher: struct counters */
	IMSG_VERBOSE,			/* int32_t verbosity */
	IMSG_STATS_REQ,			/* empty; peerid: request id */
	IMSG_BANS_REQ,			/* parent -> front: empty; peerid too */

	/* front -> matcher */
	IMSG_SOCK_OPEN = 200,		/* empty: a 101 was sent */
	IMSG_SOCK_CLOSE,		/* empty: closed, any reason (done) */
	IMSG_JOIN,			/* struct ipc_join */
	IMSG_MSG,			/* stamp, 1..IPC_TEXT_MAX bytes UTF-8 */
	IMSG_SKIP,			/* stamp */
	IMSG_REPORT,			/* stamp */
	IMSG_INSIGHTS,			/* stamp */

	/* matcher -> front */
	IMSG_QUEUED = 300,		/* struct ipc_queued */
	IMSG_MATCHED,			/* struct ipc_matched */
	IMSG_RELAY,			/* 1..IPC_TEXT_MAX bytes, sanitised */
	IMSG_ENDED,			/* struct ipc_ended */
	IMSG_INSIGHTS_REPLY,		/* struct ipc_insights */
	IMSG_ERROR,			/* struct ipc_error */

	/* children -> parent, answers carry the request's peerid */
	IMSG_COUNTERS_SAVE = 400,	/* matcher: struct counters */
	IMSG_SHUTDOWN_DONE,		/* matcher: empty, final counters sent */
	IMSG_STATS_FRONT,		/* front: struct stats_front */
	IMSG_STATS_MATCHER,		/* matcher: struct stats_matcher */
	IMSG_BANS_REPLY,		/* front: uint64_t remaining ms[] */

	/* any child -> parent */
	IMSG_LOG = 500,			/* int32_t priority, then text */

	/* devroulettectl -> parent: struct ctl_req */
	IMSG_CTL_STATS = 600,
	IMSG_CTL_LOG_VERBOSE,
	IMSG_CTL_LOG_BRIEF,
	IMSG_CTL_BANS,

	/* parent -> devroulettectl */
	IMSG_CTL_STATS_REPLY = 650,	/* struct ctl_stats */
	IMSG_CTL_BAN,			/* struct ctl_ban, one per ban */
	IMSG_CTL_OK,			/* empty */
	IMSG_CTL_END,			/* empty: the answer is complete */
	IMSG_CTL_ERROR,			/* uint32_t daemon's version, text */
};

/* The control protocol's version: tool and daemon must agree. */
#define CTL_VERSION		1
#define CTL_MAX_CLIENTS		8
#define CTL_BANS_MAX		(IPC_MAX_PAYLOAD / sizeof(uint64_t))

struct stats_front {
	uint64_t	 sf_open;	/* open WebSockets */
	uint64_t	 sf_bans;	/* active bans */
};

struct stats_matcher {
	uint64_t	 sm_waiting;
	uint64_t	 sm_rooms;
	struct counters	 sm_counters;
};

struct ctl_req {
	uint32_t	 cr_version;	/* CTL_VERSION */
};

struct ctl_stats {
	uint64_t	 cs_uptime;	/* seconds */
	uint64_t	 cs_open;
	uint64_t	 cs_max_sockets;
	uint64_t	 cs_waiting;
	uint64_t	 cs_rooms;
	uint64_t	 cs_bans;
	struct counters	 cs_counters;
};

struct ctl_ban {
	uint64_t	 cb_remaining_ms;
};

/*
 * The commands whose rate the matcher limits start with when the front
 * read them (mono_ms(), a uint64_t): the intervals are measured on arrival
 * (D45), not after waiting behind other work for the matcher.  The
 * matcher's core sees the rest, with that time as its clock.
 */
#define IPC_STAMP_LEN		sizeof(uint64_t)
#define IPC_STAMPED(t)		((t) == IMSG_MSG || (t) == IMSG_SKIP || \
				    (t) == IMSG_REPORT || (t) == IMSG_INSIGHTS)

/* Longest UTF-8 text that crosses IPC: 16 KiB of JSON unescapes to less. */
#define IPC_TEXT_MAX		WS_MAX_MESSAGE
#define IPC_LOG_MAX		1024

struct ipc_join {
	uint8_t		 j_key[MATCH_KEY_LEN];
	uint32_t	 j_mode;	/* enum dr_mode */
};

struct ipc_queued {
	uint32_t	 q_waiting;
};

struct ipc_matched {
	char		 m_you[HANDLE_MAX + 1];		/* NUL terminated */
	char		 m_peer[HANDLE_MAX + 1];
};

struct ipc_ended {
	uint32_t	 e_reason;	/* enum dr_ended */
};

struct ipc_insights {
	uint64_t	 i_online;
	uint64_t	 i_waiting;
	uint64_t	 i_rooms;
	uint64_t	 i_convos;
	uint64_t	 i_messages;
	uint32_t	 i_in_room;	/* 1: the two below are meaningful */
	uint32_t	 i_pad;
	uint64_t	 i_room_messages;
	uint64_t	 i_room_seconds;
};

struct ipc_error {
	uint32_t	 er_code;	/* enum dr_error */
};

/*
 * What the parent gives each front.  The shared page (MAP_SHARED, made
 * before the fork) holds the one count every front must agree on: open
 * WebSockets, for MAX_TOTAL_SOCKETS.  The handoff sockets (SOCK_SEQPACKET,
 * one per other front) carry a connection to the front that owns its
 * client's address, so that per-IP limits stay exact (D43).
 */
/*
 * The front that owns a client address: fold it to 32 bits (IPv4: the
 * address; IPv6: the two words of the /64 XORed, both read big-endian),
 * multiply by an odd secret, keep bits 16-31, modulo PREFORK.  The fronts
 * compute it in C (addr_owner()), and the kernel in the classic BPF
 * program the parent attaches to the SO_REUSEPORT group (daemon/steer.c),
 * so that a direct connection usually lands on its owner at once.
 */
#define OWNER_OF(fold, mul, n)	((((uint32_t)(fold) * (mul)) >> 16) % (n))

struct front_shared {
	uint64_t	 sh_open;	/* __atomic only */
};

struct front_setup {
	int			 fu_parent;
	int			 fu_matcher;
	int			 fu_listen;
	uint32_t		 fu_index;
	uint32_t		 fu_count;
	int			 fu_hand[PREFORK_MAX];	/* -1 for itself */
	uint32_t		 fu_ownermul;	/* OWNER_OF()'s secret */
	struct front_shared	*fu_shared;
};

/* daemon/settings.c */
int	 settings_load(struct settings *, char *, size_t);
void	 settings_log(const struct settings *);

/* daemon/counters.c: the parent's persistence */
int	 counters_read(int, struct counters *, char *, size_t);
int	 counters_write(int, const struct counters *);
int	 counters_parse(const char *, size_t, struct counters *);

/* daemon/control.c */
struct event_base;
int	 control_init(const char *, const char *);
void	 control_start(struct event_base *, int, struct ipc_peer **, int,
	    struct ipc_peer *);
void	 control_reply(uint32_t, uint64_t, const uint8_t *, size_t);

/* daemon/proc.c: privilege separation engine */
void	 proc_user_init(const char *);	/* parent: look up the user */
void	 proc_drop(void);		/* child: chroot + setres[ug]id */
void	 proc_limits(int);		/* child: no new privs, rlimits */
void	 proc_log_to(struct ipc_peer *);	/* child: log via the parent */
void	 proc_log_record(const char *, const uint8_t *, size_t);

/* daemon/steer.c */
void	 steer_attach(int, uint32_t, uint32_t);

/* daemon/sandbox.c */
void	 sandbox_matcher(void);
void	 sandbox_front(void);

/* relay/relay.c: the front's entry point */
__attribute__((__noreturn__))
void	 relay_main(const struct settings *, const struct front_setup *);

/* matcher/matcher.c: the matcher's entry point */
__attribute__((__noreturn__))
void	 matcher_main(const struct settings *, int, const int *, uint32_t);

/* names on the wire */
const char	*dr_error_code(enum dr_error);
const char	*dr_error_text(enum dr_error);
int		 dr_error_is_violation(enum dr_error);
const char	*dr_ended_reason(enum dr_ended);

extern struct settings	*env;

#endif /* DEVROULETTED_H */
