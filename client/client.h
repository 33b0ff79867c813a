/*
 * devroulette(1): the terminal client.  One WebSocket (client_conn.c, over
 * TLS with client_tls.c), the protocol session on top of it
 * (client_session.c), the commands a user types (client_cmd.c), the
 * full-screen interface (client_ui.c), the first-run notice
 * (client_config.c) and URL parsing (client_url.c).  Nothing received is
 * written to disk or executed; every received text is sanitised again
 * before it is drawn.
 *
 * The Claude Code integration: init and uninstall (client_init.c, with
 * client_settings.c for settings.json and client_setup.c for what init
 * records), status (client_status.c), the hooks (client_hook.c), the
 * agent (client_agent.c, its tasks in client_task.c, its directory and
 * socket in client_rundir.c, its windows in client_window.c) and the chat
 * window that attaches to it (client_attach.c).
 */

#ifndef DR_CLIENT_H
#define DR_CLIENT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdint.h>
#include <time.h>
#include <wchar.h>

#include "common.h"

struct event;
struct event_base;
struct evdns_base;
struct evdns_getaddrinfo_request;
struct evutil_addrinfo;
struct ssl_st;
struct ssl_ctx_st;
struct bio_st;
struct sockaddr_un;

#define CLIENT_VERSION		"0.1.0"
#define CLIENT_SUBPROTOCOL	"devroulette.v1"
#define TERMS_VERSION		"1"

/* Margins under the server's defaults, so the client never trips them. */
#define BEAT_INTERVAL_MS	10000
#define SEND_INTERVAL_MS	1100	/* server: 1000, measured on arrival */
#define SKIP_GAP_MS		600	/* server: 500 */
#define INSIGHTS_GAP_MS		1100	/* server: one per second */
#define JOIN_WINDOW_MS		60000
#define JOINS_PER_WINDOW	5	/* server: JOINS_PER_MIN */
#define MSG_MAX_CP		500	/* server: MSG_MAX_CHARS */

#define INPUT_MAX_CP		4096	/* the input line, before the check */
#define PENDING_MAX		64	/* lines waiting for their turn */
#define SCROLLBACK_MAX		2000	/* lines kept on screen, in memory */
#define HANDLE_MAX		32	/* [a-z-]{3,32} */
#define MATCH_KEY_HEX		64

#define CONNECT_TIMEOUT_MS	10000	/* TCP, per address */
#define UPGRADE_TIMEOUT_MS	10000	/* TLS and HTTP, together */
#define DONE_WAIT_MS		1500	/* for the server's close after done */
#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		30000
#define HTTP_HEAD_MAX		8192
#define WS_MSG_MAX		(64 * 1024)
#define POW_BITS_LIMIT		28	/* more is a server we do not trust */
#define KEY_RETRY_MS		1000	/* key_in_use in task mode */
#define KEY_TRIES_MAX		5

/* client_url.c */
struct url {
	int		 u_tls;
	char		 u_host[256];		/* no brackets */
	char		 u_port[6];
	char		 u_path[1024];		/* path and query */
	char		 u_hostport[272];	/* the Host header */
};
int	 url_parse(const char *, struct url *, const char **);
int	 url_host_loopback(const char *);
int	 url_addr_loopback(const struct sockaddr *);

/* client_conn.c: one WebSocket, over TCP or TLS */
enum conn_state {
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_TLS,
	CONN_UPGRADE,
	CONN_OPEN,
	CONN_DEAD
};

enum conn_error {
	CONN_RESOLVE,		/* the name did not resolve */
	CONN_UNREACHABLE,	/* no address accepted the connection */
	CONN_NOTLOOPBACK,	/* ws:// to a remote host without --insecure */
	CONN_TLSFAIL,		/* handshake or certificate */
	CONN_HTTP,		/* an answer other than 101: cr_status */
	CONN_HANDSHAKE,		/* a 101 that is not a valid upgrade */
	CONN_TIMEOUT,		/* TLS or upgrade too slow */
	CONN_PROTOCOL,		/* the server broke RFC 6455: cr_code */
	CONN_LOST,		/* TCP closed without a close frame */
	CONN_CLOSED		/* a close frame: cr_code */
};

struct conn_result {
	enum conn_error	 cr_error;
	int		 cr_status;
	int		 cr_code;
	char		 cr_why[256];	/* our words, never the server's */
};

struct conn_cb {
	void		(*cc_open)(void *);
	void		(*cc_text)(void *, const uint8_t *, size_t);
	void		(*cc_end)(void *, const struct conn_result *);
	void		*cc_arg;
};

struct conn {
	struct event_base	*c_base;
	struct evdns_base	*c_dns;
	struct url		 c_url;
	int			 c_insecure;
	struct conn_cb		 c_cb;
	enum conn_state		 c_state;

	struct evdns_getaddrinfo_request *c_req;
	struct evutil_addrinfo	*c_ai;
	struct evutil_addrinfo	*c_next;
	int			 c_tried;
	char			 c_lasterr[128];

	struct bufferevent	*c_bev;
	struct event		*c_timer;
	struct event		*c_reaper;

	struct ssl_ctx_st	*c_sslctx;
	struct ssl_st		*c_ssl;
	struct bio_st		*c_rbio;	/* network to OpenSSL */
	struct bio_st		*c_wbio;	/* OpenSSL to network */

	struct evbuffer		*c_in;		/* plaintext from the server */
	struct evbuffer		*c_msg;		/* a message being reassembled */
	int			 c_msgop;
	int			 c_close_sent;
	char			 c_key[WS_KEY_LEN + 1];
};

struct conn	*conn_new(struct event_base *, struct evdns_base *,
		    const struct url *, int, struct ssl_ctx_st *,
		    const struct conn_cb *);
void		 conn_start(struct conn *);
void		 conn_free(struct conn *);
int		 conn_send_text(struct conn *, const char *, size_t);
void		 conn_send_close(struct conn *, int);
void		 conn_output(struct conn *, const void *, size_t);
void		 conn_fail(struct conn *, enum conn_error, int, const char *,
		    ...) __attribute__((__format__ (printf, 4, 5)));
void		 conn_upgrade(struct conn *);

/* client_tls.c */
struct ssl_ctx_st *tls_ctx_new(char *, size_t);
int		 tls_start(struct conn *);
int		 tls_input(struct conn *, struct evbuffer *);
void		 tls_write(struct conn *, const void *, size_t);
void		 tls_free(struct conn *);

/* client_session.c: the protocol on top of the connection */
enum session_state {
	S_CONNECTING,	/* resolving, TCP, TLS, upgrade */
	S_HELLO,	/* waiting for hello */
	S_POW,		/* solving, or pow sent and waiting for ready */
	S_READY,	/* not queued: about to join */
	S_QUEUED,	/* join sent or queued */
	S_ROOM,
	S_ASK,		/* after idle or limit: the user decides */
	S_RETRY,	/* waiting to reconnect */
	S_QUITTING
};

enum line_kind {
	LINE_SYSTEM,
	LINE_ERROR,
	LINE_PEER,
	LINE_SELF
};

/* What a session tells its owner (s_hook); 1: handled. */
enum session_event {
	SE_MATCHED,	/* a room was made */
	SE_LOST,	/* the connection failed; 0: retry as usual */
	SE_FINISHED	/* quit or fatal; 0: leave the event loop */
};

struct outmsg {
	uint32_t		 om_id;		/* its line on screen */
	char			*om_text;	/* UTF-8, checked */
	size_t			 om_len;
	TAILQ_ENTRY(outmsg)	 om_entry;
};
TAILQ_HEAD(outq, outmsg);

struct session {
	struct event_base	*s_base;
	struct evdns_base	*s_dns;
	struct ssl_ctx_st	*s_sslctx;
	struct url		 s_url;
	int			 s_insecure;
	int			 s_debug;	/* join in debug mode */
	int			 s_task;	/* join in task mode with s_key */
	int			 s_beat_ms;
	int			(*s_beat_ok)(struct session *);
	int			(*s_hook)(struct session *, enum session_event);
	void			*s_arg;		/* the owner's */
	int			 s_finished;
	int			 s_key_tries;

	enum session_state	 s_state;
	struct conn		*s_conn;
	char			 s_key[MATCH_KEY_HEX + 1];
	char			 s_you[HANDLE_MAX + 1];
	char			 s_peer[HANDLE_MAX + 1];
	int			 s_waiting;
	int			 s_leaving;	/* skip sent, ended not yet */
	char			 s_note[64];	/* "partner left", for status */
	char			 s_why[256];	/* why we are retrying */

	char			 s_challenge[POW_CHALLENGE_LEN + 1];
	int			 s_bits;
	int			 s_pow_tries;
	uint64_t		 s_pow_next;
	uint64_t		 s_pow_deadline;
	struct event		*s_pow_ev;

	struct event		*s_beat_ev;
	struct event		*s_retry_ev;
	struct event		*s_join_ev;
	struct event		*s_send_ev;
	struct event		*s_quit_ev;
	int			 s_backoff_ms;
	uint64_t		 s_retry_at;

	uint64_t		 s_joins[JOINS_PER_WINDOW];
	size_t			 s_njoins;	/* ring position */
	uint64_t		 s_last_send;
	uint64_t		 s_last_skip;
	uint64_t		 s_last_insights;
	struct outq		 s_outq;
	size_t			 s_npending;

	int			 s_exit;	/* exit status once done */
	char			 s_fatal[512];	/* printed after the UI */
};

void	 session_init(struct session *, struct event_base *,
	    struct evdns_base *, struct ssl_ctx_st *, const struct url *,
	    int, int);
void	 session_start(struct session *);
void	 session_free(struct session *);
void	 session_quit(struct session *);
void	 session_hangup(struct session *);
void	 session_fatal(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 session_say(struct session *, const uint8_t *, size_t);
void	 session_skip(struct session *, int);
void	 session_insights(struct session *);
void	 session_again(struct session *);
void	 session_status(struct session *);

/* client_cmd.c: the words typed after a slash */
struct cmd_entry {
	const char	*ce_name;
	const char	*ce_help;
	void		(*ce_exec)(struct session *);
};
void	 cmd_line(struct session *, const uint8_t *, size_t);
void	 cmd_help(struct session *);

/* client_ui.c: ncursesw, the one place that draws */
struct line {
	uint32_t		 l_id;
	enum line_kind		 l_kind;
	int			 l_pending;
	char			 l_who[HANDLE_MAX + 1];
	wchar_t			*l_text;
	size_t			 l_len;
	TAILQ_ENTRY(line)	 l_entry;
};
TAILQ_HEAD(linelist, line);

/* What the screen asks of its owner: a session, or the agent. */
struct ui_ops {
	void	(*uo_line)(void *, const uint8_t *, size_t);	/* UTF-8 */
	void	(*uo_quit)(void *);	/* Ctrl-C, Ctrl-D, SIGINT, SIGTERM */
	void	(*uo_hangup)(void *);	/* the terminal is gone */
	void	*uo_arg;
};

/* Where the agent's headless screen sends what it would have drawn. */
struct ui_sink {
	void	(*us_line)(void *, const struct line *);
	void	(*us_status)(void *, const char *);
	void	(*us_mark)(void *, uint32_t, int);	/* l_pending */
	void	*us_arg;
};

void	 ui_start(struct event_base *, const struct ui_ops *);
void	 ui_stop(void);
void	 ui_headless(void);
void	 ui_setsink(const struct ui_sink *);
void	 ui_replay(void);
void	 ui_clear(void);
int	 ui_active(void);
uint32_t ui_add(enum line_kind, const char *, const uint8_t *, size_t, int);
void	 ui_addf(enum line_kind, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 ui_sent(uint32_t);
void	 ui_drop(uint32_t);
void	 ui_status(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 ui_redraw(void);
size_t	 ui_text_to_wide(const uint8_t *, size_t, wchar_t *, size_t);

/* client_config.c: the first-run notice */
int	 config_dir(char *, size_t);
int	 terms_accepted(void);
int	 terms_ask(void);
extern const char *terms_text;

/* The commands other than start, one file each (client_<name>.c). */
struct client_cmd {
	const char	*cc_name;
	const char	*cc_usage;
	int		 cc_argmin;	/* words after the name */
	int		 cc_argmax;
	int		(*cc_exec)(int, char **, const char *);
};
extern const struct client_cmd cmd_init_entry;
extern const struct client_cmd cmd_uninstall_entry;
extern const struct client_cmd cmd_status_entry;
extern const struct client_cmd cmd_agent_entry;
extern const struct client_cmd cmd_chat_entry;

/* client_setup.c: the URL, the salt, this program's path */
#define SALT_LEN	32
int	 mkdir_p(const char *, mode_t);
int	 file_replace(const char *, const void *, size_t, mode_t);
int	 file_slurp(const char *, char *, size_t);
int	 config_path(char *, size_t, const char *);
int	 config_save(const char *, const void *, size_t);
void	 config_url(char *, size_t, int *);
int	 config_url_save(const char *);
int	 config_salt(uint8_t *, size_t, int);
int	 self_path(char *, size_t, const char *);

/* client_settings.c: our hooks in Claude Code's settings.json */
int	 hook_command(char *, size_t, const char *, const char *);
int	 hook_command_ours(const char *, const char *);
int	 settings_edit(const char *, size_t, int, const char *, const char *,
	    char **, size_t *, char *, size_t);
int	 settings_installed(const char *, size_t);

/* client_init.c: init and uninstall */
int	 settings_path(char *, size_t);

/*
 * client_rundir.c: the agent's private directory, its socket, and its
 * messages (imsg-shaped: ipc.c's header, the version in ih_peerid).
 */
#define AGENT_SOCK		"agent.sock"
#define AGENT_LOCK		"agent.lock"
#define AGENT_HANDOFF_FD	3	/* a hook's task, to the agent it starts */
#define AGENT_VERSION		1
#define AGENT_MSG_MAX		65536

enum agent_msg {
	/* A hook to the agent. */
	AGENT_TASK_START = 1,	/* session id, transcript, NAME=value...: */
	AGENT_TASK_STOP,	/* session id; all NUL-terminated */
	/* devroulette status. */
	AGENT_STATUS = 10,
	AGENT_STATUS_LINE,	/* agent: a line of text */
	AGENT_STATUS_END,
	/* The chat window to the agent. */
	AGENT_ATTACH = 20,
	AGENT_INPUT,		/* a line typed, UTF-8 */
	AGENT_LEAVE,		/* Ctrl-C, /quit's twin */
	/* The agent to the chat window. */
	AGENT_UI_LINE = 30,	/* struct agent_line, the name, the text */
	AGENT_UI_STATUS,	/* text */
	AGENT_UI_MARK,		/* struct agent_mark */
	AGENT_UI_EXIT		/* struct agent_exit, why */
};

struct agent_line {
	uint32_t	 al_id;
	uint8_t		 al_kind;	/* enum line_kind */
	int8_t		 al_pending;
	uint8_t		 al_wholen;
	uint8_t		 al_pad;
};

struct agent_mark {
	uint32_t	 am_id;
	int32_t		 am_pending;
};

struct agent_exit {
	int32_t		 ae_status;
};

int	 rundir(char *, size_t, int);
int	 rundir_path(char *, size_t, const char *, int);
int	 agent_sockaddr(struct sockaddr_un *, const char *);
int	 agent_connect(const char *);
size_t	 agent_encode(uint8_t *, size_t, uint32_t, const void *, size_t);
int	 agent_write(int, const uint8_t *, size_t, uint64_t);
int	 agent_read(int, struct ipc_hdr *, uint8_t *, size_t, uint64_t);

/* client_compat.c: what Linux, macOS and the BSDs spell differently */
int	 sock_local(void);
int	 sock_accept(int);
int	 sock_peer_uid(int, uid_t *);
int	 pipe_cloexec(int [2]);
int	 exe_path(char *, size_t);
int	 detach(void);
#ifdef __APPLE__
void	 compat_closefrom(int);
void	 compat_explicit_bzero(void *, size_t);
#define closefrom(fd)		compat_closefrom(fd)
#define explicit_bzero(p, n)	compat_explicit_bzero(p, n)
#define st_mtim			st_mtimespec
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL		0	/* sock_local() set SO_NOSIGPIPE */
#endif

/* client_hook.c: what Claude Code runs; never prints, always exits 0 */
int	 hook_main(int, char **, const char *);

/* client_task.c: the tasks the agent watches */
#define TASK_ENV_MAX	8
struct task {
	char			 t_key[MATCH_KEY_HEX + 1];
	char			*t_path;	/* the transcript: stat() only */
	char			*t_env[TASK_ENV_MAX];	/* for a window */
	uint64_t		 t_start;
	uint64_t		 t_grew;	/* when it last grew; 0: not yet */
	off_t			 t_size;
	struct timespec		 t_mtime;
	int			 t_seen;
	int			 t_missing;
	int			 t_stopped;	/* the Stop hook came */
	int			 t_spent;	/* had its chance: never again */
	TAILQ_ENTRY(task)	 t_entry;
};
TAILQ_HEAD(tasklist, task);

void	 task_key(const uint8_t *, size_t, const char *, char *);
struct task *task_new(const uint8_t *, size_t, const uint8_t *, size_t);
void	 task_free(struct task *);
struct task *task_find(struct tasklist *, const char *);
int	 task_poll(struct task *, uint64_t);
int	 task_growing(const struct task *, uint64_t, uint64_t);
const char *task_getenv(const struct task *, const char *);

/* client_window.c: where the chat window can be shown */
struct window {
	size_t		 w_next;	/* the next way to try */
	pid_t		 w_pid;		/* its launcher */
};
extern const char *const window_env[];
int	 window_can_show(const struct task *);
int	 window_open(struct window *, const struct task *, char *const *);

#endif /* DR_CLIENT_H */
