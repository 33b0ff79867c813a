/*
 * devroulette chat --attach [SOCKET]: the chat window the agent opens
 * when a task's queue place finds a partner.  It is the screen and
 * keyboard of the agent's session: the agent keeps the connection and
 * sends what the session would draw (lines, the status, a line's pending
 * mark); the window sends back the lines typed and "leave".  Everything
 * is drawn by client_ui.c, which checks the text again, as it does the
 * server's.  Closing the window (or Ctrl-C, /quit) ends the agent's
 * connection.
 */

#include <sys/types.h>

#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "client.h"

#define ATTACH_MAP	(PENDING_MAX * 2)	/* pending lines we can mark */
#define LEAVE_WAIT_MS	(DONE_WAIT_MS + 1500)

struct attach {
	struct event_base	*at_base;
	struct ipc_peer		 at_ipc;
	struct event		*at_leave_ev;
	int			 at_leaving;
	int			 at_exit;
	char			 at_why[512];
	struct {
		uint32_t	 am_theirs;	/* the agent's line id */
		uint32_t	 am_ours;
	}			 at_map[ATTACH_MAP];
	size_t			 at_nmap;
};

static int	attach_exec(int, char **, const char *);
static void	attach_dispatch(struct ipc_peer *, struct ipc_hdr *, uint8_t *,
		    void *);
static void	attach_lost(struct ipc_peer *, void *);
static void	attach_line(void *, const uint8_t *, size_t);
static void	attach_quit(void *);
static void	attach_hangup(void *);
static void	attach_leave_cb(evutil_socket_t, short, void *);
static void	attach_ui_line(struct attach *, const uint8_t *, size_t);
static void	attach_wait_enter(void);

const struct client_cmd cmd_chat_entry = {
	.cc_name = "chat",
	.cc_usage = "chat --attach [SOCKET]",
	.cc_argmin = 1,
	.cc_argmax = 2,
	.cc_exec = attach_exec,
};

static void
attach_line(void *arg, const uint8_t *text, size_t len)
{
	struct attach	*at = arg;

	ipc_send(&at->at_ipc, AGENT_INPUT, AGENT_VERSION, text, len);
}

/* Ask the agent to leave; twice, or no answer, and we go anyway. */
static void
attach_quit(void *arg)
{
	struct attach	*at = arg;
	struct timeval	 tv = { LEAVE_WAIT_MS / 1000,
			    (LEAVE_WAIT_MS % 1000) * 1000 };

	if (at->at_leaving++) {
		event_base_loopexit(at->at_base, NULL);
		return;
	}
	ipc_send(&at->at_ipc, AGENT_LEAVE, AGENT_VERSION, NULL, 0);
	evtimer_add(at->at_leave_ev, &tv);
	ui_status("leaving...");
}

/* The terminal is gone: our socket closing tells the agent. */
static void
attach_hangup(void *arg)
{
	struct attach	*at = arg;

	event_base_loopexit(at->at_base, NULL);
}

static void
attach_leave_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct attach	*at = arg;

	event_base_loopexit(at->at_base, NULL);
}

static void
attach_lost(struct ipc_peer *p, void *arg)
{
	struct attach	*at = arg;

	if (at->at_why[0] == '\0' && !at->at_leaving) {
		at->at_exit = 1;
		strlcpy(at->at_why, "the devroulette agent went away",
		    sizeof(at->at_why));
	}
	ipc_peer_free(&at->at_ipc);
	event_base_loopexit(at->at_base, NULL);
}

static void
attach_ui_line(struct attach *at, const uint8_t *p, size_t len)
{
	struct agent_line	 al;
	char			 who[HANDLE_MAX + 1];
	uint32_t		 id;

	if (len < sizeof(al))
		return;
	memcpy(&al, p, sizeof(al));
	if (al.al_kind > LINE_SELF || al.al_wholen > HANDLE_MAX ||
	    len - sizeof(al) < al.al_wholen || al.al_pending < -1 ||
	    al.al_pending > 1)
		return;
	memcpy(who, p + sizeof(al), al.al_wholen);
	who[al.al_wholen] = '\0';
	if (strlen(who) != al.al_wholen)
		return;
	p += sizeof(al) + al.al_wholen;
	len -= sizeof(al) + al.al_wholen;
	id = ui_add((enum line_kind)al.al_kind, who[0] != '\0' ? who : NULL,
	    p, len, al.al_pending);
	if (al.al_pending > 0) {
		at->at_map[at->at_nmap % ATTACH_MAP].am_theirs = al.al_id;
		at->at_map[at->at_nmap % ATTACH_MAP].am_ours = id;
		at->at_nmap++;
	}
}

static void
attach_dispatch(struct ipc_peer *p, struct ipc_hdr *hdr, uint8_t *buf,
    void *arg)
{
	struct attach		*at = arg;
	struct agent_mark	 am;
	struct agent_exit	 ae;
	size_t			 i, n;

	if (hdr->ih_peerid != AGENT_VERSION) {
		at->at_exit = 1;
		strlcpy(at->at_why, "the running agent is another version of "
		    "devroulette", sizeof(at->at_why));
		event_base_loopexit(at->at_base, NULL);
		return;
	}
	switch (hdr->ih_type) {
	case AGENT_UI_LINE:
		attach_ui_line(at, buf, hdr->ih_len);
		break;
	case AGENT_UI_STATUS:
		if (hdr->ih_len < 256 && memchr(buf, '\0', hdr->ih_len) ==
		    NULL && utf8_valid(buf, hdr->ih_len))
			ui_status("%.*s", (int)hdr->ih_len, (char *)buf);
		break;
	case AGENT_UI_MARK:
		if (hdr->ih_len != sizeof(am))
			break;
		memcpy(&am, buf, sizeof(am));
		n = at->at_nmap < ATTACH_MAP ? at->at_nmap : ATTACH_MAP;
		for (i = 0; i < n; i++) {
			if (at->at_map[i].am_theirs != am.am_id)
				continue;
			if (am.am_pending == 0)
				ui_sent(at->at_map[i].am_ours);
			else
				ui_drop(at->at_map[i].am_ours);
			break;
		}
		break;
	case AGENT_UI_EXIT:
		if (hdr->ih_len < sizeof(ae))
			break;
		memcpy(&ae, buf, sizeof(ae));
		at->at_exit = ae.ae_status != 0;
		n = hdr->ih_len - sizeof(ae);
		if (n >= sizeof(at->at_why))
			n = sizeof(at->at_why) - 1;
		memcpy(at->at_why, buf + sizeof(ae), n);
		at->at_why[n] = '\0';
		for (i = 0; i < n; i++)
			if ((uint8_t)at->at_why[i] < 0x20)
				at->at_why[i] = ' ';
		event_base_loopexit(at->at_base, NULL);
		break;
	}
}

/* Enter, the terminal gone, or a minute. */
static void
attach_wait_enter(void)
{
	struct pollfd	pfd;
	char		c;

	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 60 * 1000) == 1 && read(STDIN_FILENO, &c, 1) ==
	    1 && c != '\n' && c != '\r')
		;
}

static int
attach_exec(int argc, char **argv, const char *prog)
{
	struct attach	 at;
	struct ui_ops	 ops = { attach_line, attach_quit, attach_hangup, &at };
	char		 path[PATH_MAX];
	int		 fd;

	if (strcmp(argv[1], "--attach") != 0) {
		fprintf(stderr, "devroulette: chat --attach is the window the "
		    "agent opens; to chat by hand, use devroulette start\n");
		return (1);
	}
	if (argc > 2)
		strlcpy(path, argv[2], sizeof(path));
	else if (rundir_path(path, sizeof(path), AGENT_SOCK, 0) == -1) {
		fprintf(stderr, "devroulette: no agent is running\n");
		return (1);
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "devroulette: needs a terminal\n");
		return (1);
	}
	if ((fd = agent_connect(path)) == -1) {
		fprintf(stderr, "devroulette: no agent is running at %s\n",
		    path);
		return (1);
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&at, 0, sizeof(at));
	if ((at.at_base = event_base_new()) == NULL ||
	    (at.at_leave_ev = evtimer_new(at.at_base, attach_leave_cb,
	    &at)) == NULL)
		fatalx("cannot start the event loop");
	ipc_peer_init(&at.at_ipc, at.at_base, fd, "agent", attach_dispatch,
	    &at);
	at.at_ipc.ip_untrusted = 1;
	at.at_ipc.ip_lost = attach_lost;
	ipc_send(&at.at_ipc, AGENT_ATTACH, AGENT_VERSION, NULL, 0);

	ui_start(at.at_base, &ops);
	event_base_dispatch(at.at_base);
	ui_stop();

	if (at.at_ipc.ip_bev != NULL) {
		ipc_flush(&at.at_ipc);
		ipc_peer_free(&at.at_ipc);
	}
	event_free(at.at_leave_ev);
	event_base_free(at.at_base);
	if (at.at_why[0] != '\0') {
		/* The window closes with us: give the reason time to be read. */
		fprintf(stderr, "devroulette: %s\nPress Enter to close this "
		    "window.\n", at.at_why);
		attach_wait_enter();
	}
	return (at.at_exit);
}
